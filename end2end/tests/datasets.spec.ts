import { expect, test } from '@playwright/test';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { open, screenshot, signIn, url } from './util';

const DATA = path.resolve(__dirname, '../../testdata');

/** credit_data.csv with a new `Home` category and incomes tripled: what validation must flag. */
function changedCredit(): string {
  const lines = fs.readFileSync(path.join(DATA, 'credit_data.csv'), 'utf8').trimEnd().split('\n');
  const header = lines[0].split(',');
  const home = header.indexOf('Home');
  const income = header.indexOf('Income');
  const out = [lines[0]];
  lines.slice(1).forEach((line, i) => {
    const cells = line.split(',');
    if (i % 10 === 0) cells[home] = 'castle';
    if (cells[income] !== '') cells[income] = String(Number(cells[income]) * 3);
    out.push(cells.join(','));
  });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-e2e-')), 'credit_data_2.csv');
  fs.writeFileSync(file, out.join('\n') + '\n');
  return file;
}

test('a user uploads credit data, reads its profile, edits the schema, uploads a changed version and validates it', async ({ page }) => {
  const name = `credit-${Date.now()}`;
  await signIn(page);
  await open(page, '/datasets');
  const form = page.getByTestId('new-dataset-form');
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Description').fill('Credit scoring applications (modeldata)');
  await page.locator('#new-dataset-file').setInputFiles(path.join(DATA, 'credit_data.csv'));
  await form.getByRole('button', { name: 'Upload' }).click();

  // The new version's page: numbers, a card per column with its chart, a preview.
  await expect(page).toHaveURL(/\/datasets\/[0-9a-f-]+\/versions\/1$/);
  await expect(page.getByTestId('rows')).toContainText('4 454');
  await expect(page.getByTestId('columns')).toContainText('14');
  const cards = page.getByTestId('column-card');
  await expect(cards).toHaveCount(14);
  await expect(page.locator('[data-column="Income"] svg.histogram')).toHaveCount(1);
  await expect(page.locator('[data-column="Home"] .topk li').first()).toContainText('owner');
  await expect(page.getByTestId('preview-table').getByRole('row')).toHaveCount(26);
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByTestId('preview-range')).toContainText('Rows 26–50 of 4 454');
  await screenshot(page, 'dataset-version');

  // The dataset page: edit the inferred schema (Status must always be present) and save it.
  await page.getByRole('link', { name }).click();
  const editor = page.getByTestId('schema-editor');
  await expect(editor).toContainText('Inferred from v1; not saved yet');
  await editor.getByLabel('Status may be missing').uncheck();
  await editor.getByTestId('save-schema').click();
  await expect(editor.getByRole('status')).toHaveText('Schema saved.');
  await expect(editor).toContainText('Saved by admin');

  // Upload the changed file as version 2, with the progress bar on the way.
  await page.locator('#version-file').setInputFiles(changedCredit());
  await page.getByTestId('new-version-form').getByRole('button', { name: 'Upload' }).click();
  await expect(page).toHaveURL(/\/versions\/2$/);
  await page.getByRole('link', { name }).click();
  await expect(page.getByTestId('versions-table').getByRole('row')).toHaveCount(3);
  await screenshot(page, 'dataset');

  // Validate v2 against v1: the new category and the income shift are flagged.
  await page.getByTestId('validations').getByRole('button', { name: 'Validate' }).click();
  await expect(page).toHaveURL(/\/validations\/[0-9a-f-]+$/);
  await expect(page.getByTestId('validation-status')).toHaveText('FAIL');
  await expect(page.getByTestId('anomalies-table')).toContainText('castle');
  const income = page.getByTestId('drift-table').getByRole('row').filter({ hasText: 'Income' });
  await expect(income).toContainText('fail');
  await expect(page.locator('[data-testid="overlay"][data-column="Income"] path.reference')).toHaveCount(1);
  await screenshot(page, 'validation');

  // The report is listed on the dataset page.
  await page.getByRole('link', { name }).click();
  await expect(page.getByTestId('validations-table').getByRole('row')).toHaveCount(2);
});

test('penguins upload shows missing values and categories; a bad file gets a clear error', async ({ page }) => {
  await signIn(page);
  await open(page, '/datasets');
  const penguins = `penguins-${Date.now()}`;
  await page.getByTestId('new-dataset-form').getByLabel('Name').fill(penguins);
  await page.locator('#new-dataset-file').setInputFiles(path.join(DATA, 'penguins.csv'));
  await page.getByTestId('new-dataset-form').getByRole('button', { name: 'Upload' }).click();
  await expect(page).toHaveURL(/\/versions\/1$/);
  await expect(page.locator('[data-column="sex"]')).toContainText('3.2%');
  await expect(page.locator('[data-column="species"] .topk')).toContainText('Adelie');
  await expect(page.getByTestId('preview-table')).toContainText('missing');
  await screenshot(page, 'dataset-penguins');

  // Prepare: fit a transform on the version; the train split becomes a new dataset
  // whose lineage points back here.
  await page.getByRole('heading', { name: 'Prepare' }).click();
  await page.getByLabel('transform spec').fill([
    'steps:',
    '  - op: impute',
    '    strategy: median',
    '  - op: one_hot',
    '    columns: [island, sex]',
    'split:',
    '  method: stratified',
    '  column: species',
    '  test_fraction: 0.25',
    '  seed: 7',
  ].join('\n'));
  await page.getByTestId('prepare-form').getByRole('button', { name: 'Prepare' }).click();
  await expect(page).toHaveURL(/\/versions\/1$/);
  await expect(page.locator('h1')).toContainText('-prepared v1');
  await expect(page.getByTestId('rows')).toContainText('258');
  await expect(page.locator('[data-column="island_Biscoe"]')).toContainText('float');
  const lineage = page.getByTestId('lineage');
  await expect(lineage).toContainText('prepare');
  await expect(lineage.getByRole('link', { name: /penguins-\d+ v1/ })).toBeVisible();
  await screenshot(page, 'dataset-prepared');
  await lineage.getByRole('link', { name: /penguins-\d+ v1/ }).click();
  await expect(page.getByTestId('lineage')).toContainText('Used by');

  // A ragged CSV as a new version: the error names the line, nothing is stored.
  await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: penguins, exact: true }).click();
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-e2e-')), 'bad.csv');
  fs.writeFileSync(bad, 'a,b\n1,2\n3\n');
  await page.locator('#version-file').setInputFiles(bad);
  await page.getByTestId('new-version-form').getByRole('button', { name: 'Upload' }).click();
  await expect(page.getByTestId('upload-error')).toContainText('line 3');
  await expect(page.getByTestId('version-count')).toContainText('1');
});

test('the datasets API takes a streamed upload and answers bad input with clear errors', async ({ request }) => {
  const login = await request.post(url('/api/v1/login'), { data: { username: 'admin', password: process.env.CAIRN_ADMIN_PASSWORD } });
  expect(login.status()).toBe(200);
  const headers = { origin: new URL(url('/')).origin };
  const name = `iris-${Date.now()}`;
  const made = await request.post(url('/api/v1/datasets'), { data: { name }, headers });
  expect(made.status()).toBe(201);
  const body = fs.readFileSync(path.join(DATA, 'iris.csv'));
  const up = await request.post(url(`/api/v1/datasets/${name}/versions?file_name=iris.csv`), { data: body, headers });
  expect(up.status(), await up.text()).toBe(201);
  const again = await request.post(url(`/api/v1/datasets/${name}/versions?file_name=iris.csv`), { data: body, headers });
  expect(again.status()).toBe(200);
  expect((await again.json()).created).toBe(false);
  const bad = await request.post(url(`/api/v1/datasets/${name}/versions?types=species=int`), { data: body, headers });
  expect(bad.status()).toBe(422);
  expect((await bad.json()).error.message).toContain('species');
});

test('versions are imported from a registered SQL source and from a file on the server', async ({ page }) => {
  const source = `e2e-${Date.now()}`;
  await signIn(page);
  await open(page, '/datasets');
  const sources = page.locator('section').filter({ hasText: 'SQL data sources' });
  await sources.getByLabel('Name').fill(source);
  await sources.getByLabel('Connection').fill(process.env.CAIRN_E2E_DB_URL!);
  await sources.getByRole('button', { name: 'Register' }).click();
  await expect(sources.getByRole('cell', { name: source })).toBeVisible();
  await screenshot(page, 'datasets');

  const name = `imported-${Date.now()}`;
  await page.getByTestId('new-dataset-form').getByLabel('Name').fill(name);
  await page.locator('#new-dataset-file').setInputFiles(path.join(DATA, 'iris.csv'));
  await page.getByTestId('new-dataset-form').getByRole('button', { name: 'Upload' }).click();
  await expect(page).toHaveURL(/\/versions\/1$/);
  await page.getByRole('link', { name }).click();

  // From SQL: a read-only query against the registered source.
  const form = page.getByTestId('import-form');
  await form.getByLabel('data source').selectOption(source);
  await form.getByLabel('Query (read-only)').fill('select n, n * 0.5 as half, n % 3 = 0 as fizz from generate_series(1, 120) as n');
  await form.getByRole('button', { name: 'Import' }).click();
  await expect(page).toHaveURL(/\/versions\/2$/);
  await expect(page.getByTestId('rows')).toContainText('120');
  await screenshot(page, 'dataset-from-sql');
  await expect(page.locator('[data-column="fizz"]')).toContainText('bool');

  // A write is refused with the reason; nothing is stored.
  await page.getByRole('link', { name }).click();
  await form.getByLabel('data source').selectOption(source);
  await form.getByLabel('Query (read-only)').fill('delete from dataset returning *');
  await form.getByRole('button', { name: 'Import' }).click();
  await expect(page.getByTestId('import-error')).toContainText('read-only');

  // From a path under CAIRN_DATA_PATH_ALLOW.
  await form.getByLabel('import from').selectOption('path');
  await form.getByLabel('Path').fill(path.join(DATA, 'wine.csv'));
  await form.getByRole('button', { name: 'Import' }).click();
  await expect(page).toHaveURL(/\/versions\/3$/);
  await expect(page.getByTestId('rows')).toContainText('178');
});
