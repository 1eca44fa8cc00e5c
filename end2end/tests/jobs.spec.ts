import { expect, test } from '@playwright/test';
import { open, screenshot, signIn } from './util';

test('a self-check started from the Jobs page shows its log live, then succeeds', async ({ page }) => {
  await signIn(page);
  await open(page, '/jobs');
  await expect(page.getByTestId('schedules-table')).toContainText('Hourly cleanup');
  await page.getByRole('button', { name: 'Run self-check' }).click();

  // The job page opens; lines arrive over server-sent events while it runs.
  await expect(page).toHaveURL(/\/jobs\/[0-9a-f-]{36}$/);
  const log = page.getByTestId('job-log');
  const state = page.getByTestId('job-state');
  await expect(log).toContainText('probe 1/10');
  await expect(state).toHaveText('running');
  await expect(log).toContainText('probe 3/10');
  // Still running while more lines stream in: the page did not reload.
  await expect(state).toHaveText('running');
  await screenshot(page, 'job-running');
  await expect(log).toContainText('self-check passed', { timeout: 30_000 });
  await expect(state).toHaveText('succeeded');

  // The list shows it, with the state filter.
  await open(page, '/jobs?state=succeeded');
  await expect(page.getByTestId('jobs-table')).toContainText('system.selfcheck');
  await screenshot(page, 'jobs');
});

test('a running job is cancelled from its page', async ({ page }) => {
  await signIn(page);
  await open(page, '/jobs');
  await page.getByRole('button', { name: 'Run self-check' }).click();
  await expect(page.getByTestId('job-log')).toContainText('probe 1/10');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('job-log')).toContainText('cancelled: stopping the probes');
  await expect(page.getByTestId('job-state')).toHaveText('cancelled');
  await expect(page.getByTestId('job-log')).not.toContainText('probe 10/10');
});

test('a schedule is added and paused from the Jobs page', async ({ page }) => {
  await signIn(page);
  await open(page, '/jobs');
  const name = `Nightly ${Date.now()}`;
  await page.getByLabel('Schedule name').fill(name);
  await page.getByLabel('Cron').fill('0 3 * * *');
  await page.getByLabel('Time zone').fill('Europe/Berlin');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  const row = page.getByTestId('schedules-table').getByRole('row', { name: new RegExp(name) });
  await expect(row).toContainText('Europe/Berlin');
  await expect(row).toContainText('enabled');
  await page.getByRole('button', { name: `Pause ${name}` }).click();
  await expect(row).toContainText('paused');

  // A bad cron is refused next to the form.
  await page.getByLabel('Schedule name').fill(`${name} bad`);
  await page.getByLabel('Cron').fill('every night');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'cron' })).toBeVisible();
});
