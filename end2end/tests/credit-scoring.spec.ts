import { expect, Page, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, screenshot, signIn } from './util';

// The "done when": from the browser, start the credit-scoring example, watch
// the DAG fill in live, open a step's logs, see a re-run hit the cache, edit the
// schedule, and walk the lineage from the registered model back to the CSV.

const node = (page: Page, step: string) => page.getByTestId('run-dag').locator(`g[data-node="${step}"]`);

/** The example as committed, under a name of its own and without its dataset
 *  trigger (other specs upload datasets called `credit`). */
function example(name: string): string {
  const text = fs.readFileSync(path.resolve(__dirname, '../../examples/credit-scoring/pipeline.yaml'), 'utf8');
  const renamed = text.replace(/^name: credit-scoring$/m, `name: ${name}`);
  const untriggered = renamed.replace(/^ {2}datasets:\n(?: {4}.*\n)+/m, '');
  expect(untriggered).not.toContain('parameter: new_version');
  return untriggered;
}

async function startRun(page: Page, own: string) {
  await page.getByLabel(/^dataset\b/).fill(own);
  await page.getByLabel(/^model_name\b/).fill(own);
  await page.getByLabel(/^baseline\b/).fill(`models:/${own}@production`);
  await page.getByLabel(/^trials\b/).fill('2');
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/pipelines\/runs\/[0-9a-f-]{36}$/);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

test('the credit-scoring example runs live, re-runs from the cache, and its model walks back to the CSV', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await signIn(page);
  const name = `credit-e2e-${Date.now()}`;
  const steps = [
    'extract', 'validate-data', 'prepare', 'tune', 'train', 'evaluate', 'validate-model', 'register-model',
    'request-promotion',
  ];

  await open(page, '/pipelines');
  await page.getByRole('button', { name: 'New pipeline' }).click();
  await page.locator('#pipeline-spec').fill(example(name));
  await page.getByRole('button', { name: 'Submit pipeline' }).click();
  await expect(page).toHaveURL(new RegExp(`/pipelines/${name}$`));
  for (const s of steps) await expect(page.getByTestId('pipeline-dag').locator(`g[data-node="${s}"]`)).toBeVisible();
  await screenshot(page, 'credit-pipeline');

  // Run it and watch the DAG fill in without a reload.
  await startRun(page, name);
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const state = page.getByTestId('run-state');
  await expect(node(page, 'tune')).toHaveClass(/state-(queued|running|waiting)/, { timeout: 120_000 });
  await expect(node(page, 'extract')).toHaveClass(/state-succeeded/);
  await screenshot(page, 'credit-run-live');
  await expect(state).toHaveText('succeeded', { timeout: 240_000 });
  for (const s of steps) await expect(node(page, s)).toHaveClass(/state-succeeded/);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // A step's log.
  await node(page, 'train').click();
  await expect(page.getByTestId('step-panel')).toContainText('train');
  await expect(page.getByTestId('step-log')).toContainText(/train/i);
  await expect(page.getByTestId('step-outputs')).toContainText('roc_auc');
  await screenshot(page, 'credit-run-succeeded');

  // The same parameters again: everything after extract comes from the cache.
  await open(page, `/pipelines/${name}`);
  await startRun(page, name);
  await expect(page.getByTestId('run-state')).toHaveText('succeeded', { timeout: 120_000 });
  for (const s of ['prepare', 'tune', 'train', 'evaluate']) await expect(node(page, s)).toHaveClass(/state-cached/);
  await screenshot(page, 'credit-run-cached');

  // The daily schedule the spec declared: move it to 05:30 Berlin time.
  await open(page, `/pipelines/${name}`);
  const row = page.getByTestId('schedules').getByTestId('schedule-row');
  await expect(row).toContainText('0 6 * * *');
  await row.getByRole('button', { name: /^Edit schedule/ }).click();
  await row.getByLabel('Cron').fill('30 5 * * *');
  await row.getByLabel('Time zone').fill('Europe/Berlin');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('schedules').getByTestId('schedule-message')).toContainText('saved');
  await expect(row).toContainText('Europe/Berlin');

  // The registered model version walks back to the imported CSV.
  await open(page, `/models/${name}/versions/1`);
  await page.getByTestId('lineage-graph-link').click();
  await expect(page).toHaveURL(/\/lineage\?artifact=model_version/);
  const nodes = page.getByTestId('lineage-nodes');
  for (const s of ['extract', 'prepare', 'train', 'register-model']) await expect(nodes).toContainText(`${name}/${s}`);
  await expect(nodes).toContainText(`${name} v1`);
  await expect(nodes).toContainText('credit_data.csv');
  await screenshot(page, 'credit-lineage');

  // The run asked for production; withdraw that request so approvers in the other
  // specs see only their own.
  await open(page, `/models/${name}`);
  await page.getByTestId('request-link').first().click();
  await expect(page).toHaveURL(/\/approvals\/[0-9a-f-]{36}$/);
  await page.getByRole('button', { name: 'Withdraw request' }).click();
  await expect(page.getByTestId('decision-result')).toContainText('Withdrawn');
});
