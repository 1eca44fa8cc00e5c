import { expect, test } from '@playwright/test';
import * as path from 'path';
import { creditDataset, open, screenshot, signIn } from './util';

test('a user trains a random forest on credit data, watches it, and reads its evaluation and gates', async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page);
  const name = await creditDataset(page);
  await open(page, '/training');
  const form = page.getByTestId('training-form');
  await form.getByLabel('dataset').selectOption(name);
  await form.getByLabel('algorithm').selectOption('random_forest');
  await form.getByLabel('target').selectOption('Status');
  await form.getByLabel('n_trees').fill('40');
  await form.getByLabel('slice column').selectOption('Home');
  await form.getByLabel('gates').fill('roc_auc >= 0.75\naccuracy >= 0.99');
  await form.getByLabel('Run name (optional)').fill('credit-forest');
  await form.getByRole('button', { name: 'Train' }).click();

  // The run page follows the run live until it finishes.
  await expect(page).toHaveURL(/\/training\/runs\/[0-9a-f]{32}$/);
  await expect(page.getByTestId('run-name')).toHaveText('credit-forest');
  await expect(page.getByTestId('training-state')).toHaveText('finished', { timeout: 120_000 });
  await expect(page.getByTestId('training-log')).toContainText('finished');
  const evaluation = page.getByTestId('evaluation');
  await expect(evaluation).toContainText('roc_auc');
  await expect(page.getByTestId('roc-chart').locator('polyline')).toHaveCount(1);
  await expect(page.getByTestId('pr-chart')).toBeVisible();
  await expect(page.getByTestId('confusion-matrix')).toContainText('bad');
  await expect(page.getByTestId('calibration-chart')).toBeVisible();
  await expect(page.getByTestId('importance-chart')).toContainText('Seniority');
  await expect(page.getByTestId('slice-table')).toContainText('rent');
  const gates = page.getByTestId('gate-table');
  await expect(gates.getByRole('row').filter({ hasText: 'roc_auc >= 0.75' })).toContainText('passed');
  await expect(gates.getByRole('row').filter({ hasText: 'accuracy >= 0.99' })).toContainText('failed');
  await screenshot(page, 'training-run');

  // It is listed with its headline metric and gate verdict.
  await open(page, '/training');
  const row = page.getByTestId('training-runs').getByRole('row').filter({ hasText: 'credit-forest' });
  await expect(row).toContainText('finished');
  await expect(row).toContainText('roc_auc');
  await expect(row).toContainText('failed');
});

test('a user runs a 20-trial search and sees the best trial and the trials chart', async ({ page }) => {
  test.setTimeout(300_000);
  await signIn(page);
  const name = await creditDataset(page);
  await open(page, '/training');
  const form = page.getByTestId('training-form');
  await form.getByLabel('dataset').selectOption(name);
  await form.getByLabel('algorithm').selectOption('logistic_regression');
  await form.getByLabel('target').selectOption('Status');
  await form.getByTestId('search-toggle').check();
  await form.getByLabel('search alpha').check();
  await form.getByLabel('alpha from').fill('0.001');
  await form.getByLabel('alpha to').fill('100');
  await form.getByLabel('trials').fill('20');
  await form.getByLabel('gates').fill('roc_auc >= 0.8');
  await screenshot(page, 'training-form');
  await form.getByRole('button', { name: 'Start search' }).click();

  await expect(page).toHaveURL(/\/training\/runs\/[0-9a-f]{32}$/);
  await expect(page.getByTestId('training-state')).toHaveText('finished', { timeout: 240_000 });
  const trials = page.getByTestId('trials-table');
  await expect(trials.getByRole('row')).toHaveCount(21);
  await expect(trials.getByRole('row').nth(1)).toContainText('best');
  await expect(page.getByTestId('trial-scatter').locator('circle')).toHaveCount(20);
  await expect(page.getByTestId('gate-table')).toContainText('passed');
  await screenshot(page, 'training-search');

  // The best trial's own page.
  await trials.getByRole('row').nth(1).getByRole('link').click();
  await expect(page.getByTestId('training-state')).toHaveText('finished');
  await expect(page.getByTestId('roc-chart')).toBeVisible();
});

test('a training request the data cannot satisfy fails with the reason on the run page', async ({ page }) => {
  await signIn(page);
  const name = await creditDataset(page);
  await open(page, '/training');
  const form = page.getByTestId('training-form');
  await form.getByLabel('dataset').selectOption(name);
  await form.getByLabel('algorithm').selectOption('gaussian_nb');
  await form.getByLabel('target').selectOption('Status');
  // Without encoding, text columns cannot reach the model.
  await form.getByText('One-hot encode text columns').click();
  await form.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('training-state')).toHaveText('failed', { timeout: 60_000 });
  await expect(page.getByTestId('training-failure')).toContainText('one_hot');

  // A bad hyper-parameter never gets queued: the form says what is wrong.
  await open(page, '/training');
  await form.getByLabel('dataset').selectOption(name);
  await form.getByLabel('algorithm').selectOption('random_forest');
  await form.getByLabel('target').selectOption('Status');
  await form.getByLabel('n_trees').fill('0');
  await form.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('training-error')).toContainText('n_trees must be >= 1');
});

test('a user runs their own training script and reads its log and metrics', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  const name = await creditDataset(page);
  await open(page, '/training');
  const panel = page.getByTestId('new-command');
  await panel.locator('summary').click();
  await panel.getByLabel('command dataset').selectOption(name);
  await panel.getByLabel('command target').fill('Status');
  const script = path.resolve(__dirname, '../../examples/command-trainer/baseline.py');
  await panel.getByLabel('command', { exact: true }).fill(`python3 ${script}`);
  await panel.getByLabel('command params').fill('{"note": "e2e"}');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(page).toHaveURL(/\/training\/runs\/[0-9a-f]{32}$/);
  await expect(page.getByTestId('training-state')).toHaveText('finished', { timeout: 60_000 });
  await expect(page.getByTestId('training-log')).toContainText("majority class 'good'");
  await expect(page.getByText('accuracy', { exact: true })).toBeVisible();
  await screenshot(page, 'training-command');
});
