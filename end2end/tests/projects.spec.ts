import { expect, test } from '@playwright/test';
import { open, screenshot, signIn } from './util';

test('create a project in the browser and see it listed', async ({ page }) => {
  await signIn(page);
  await open(page, '/projects');
  const name = `churn-${Date.now()}`;
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Description').fill('Predict who leaves');
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.getByRole('status')).toContainText(`Created project ${name}`);
  const row = page.getByTestId('projects-table').getByRole('row', { name: new RegExp(name) });
  await expect(row).toContainText('Predict who leaves');
  await screenshot(page, 'projects');

  // The same name again is refused, next to the field, and nothing is added.
  const rows = await page.getByTestId('projects-table').getByRole('row').count();
  await page.getByLabel('Name').fill(name.toUpperCase());
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator('#name-error')).toContainText('already exists');
  await expect(page.getByTestId('projects-table').getByRole('row')).toHaveCount(rows);
});

test('a name with leading spaces gets a clear error', async ({ page }) => {
  await signIn(page);
  await open(page, '/projects');
  await page.getByLabel('Name').fill('  padded');
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator('#name-error')).toContainText('must not start or end with spaces');
});
