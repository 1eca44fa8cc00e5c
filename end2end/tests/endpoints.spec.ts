import { expect, request as pwRequest, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { open, screenshot, signIn, url } from './util';

const DATA = path.resolve(__dirname, '../../testdata');

/** A credit model trained, registered and approved into production through the API. */
async function productionModel(page: import('@playwright/test').Page): Promise<string> {
  const tag = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const name = `credit-${tag}`;
  const headers = { origin: new URL(url('/')).origin };
  const post = async (p: string, data: unknown, status = 201) => {
    const r = await page.request.post(url(p), { data, headers });
    expect(r.status(), await r.text()).toBe(status);
    return r.json();
  };
  await post('/api/v1/datasets', { name });
  const up = await page.request.post(url(`/api/v1/datasets/${name}/versions?file_name=credit_data.csv`), {
    data: fs.readFileSync(path.join(DATA, 'credit_data.csv')),
    headers: { ...headers, 'content-type': 'application/octet-stream' },
  });
  expect(up.status(), await up.text()).toBe(201);
  const run = await post('/api/v1/training/runs', {
    dataset: name, target: 'Status', auto_prepare: true, algorithm: { name: 'logistic_regression' },
  });
  await expect.poll(async () => {
    const d = await (await page.request.get(url(`/api/v1/training/runs/${run.run_id}`))).json();
    return d.summary.state;
  }, { timeout: 120_000 }).toBe('finished');
  await post('/api/v1/models', { name });
  await post(`/api/v1/models/${name}/versions`, { source: run.run_id });
  const asked = await page.request.put(url(`/api/v1/models/${name}/aliases/production`), {
    data: { version: 1, comment: 'first credit model' }, headers,
  });
  expect(asked.status(), await asked.text()).toBe(202);
  const requestId = (await asked.json()).request.promotion_request_id;

  // Another user, an approver, approves it.
  const approver = { username: `appr-${tag}`, password: 'Correct-Horse-Battery-9' };
  await post('/api/v1/users', { ...approver, role: 'approver' });
  const other = await pwRequest.newContext();
  const login = await other.post(url('/api/v1/login'), { data: approver });
  expect(login.status(), await login.text()).toBe(200);
  const review = await other.post(url(`/api/v1/promotions/${requestId}/reviews`), {
    data: { decision: 'approve', comment: 'looks right' }, headers,
  });
  expect(review.status(), await review.text()).toBe(200);
  await other.dispose();
  return name;
}

/** The first rows of credit_data.csv as records by feature name (target left out). */
function creditRecords(n: number): Record<string, string | number>[] {
  const [head, ...rows] = fs.readFileSync(path.join(DATA, 'credit_data.csv'), 'utf8').trim().split('\n');
  const cols = head.split(',');
  return rows.slice(0, n).map((line) => {
    const rec: Record<string, string | number> = {};
    line.split(',').forEach((v, i) => {
      if (cols[i] === 'Status') return;
      const num = Number(v);
      rec[cols[i]] = v !== '' && !Number.isNaN(num) ? num : v;
    });
    return rec;
  });
}

test('an endpoint serves the production model; its page shows traffic, latency and the logged requests', async ({ page }) => {
  test.setTimeout(240_000);
  await signIn(page);
  const model = await productionModel(page);
  const endpoint = `ep-${model}`;

  await open(page, '/endpoints');
  const form = page.getByTestId('new-endpoint');
  await page.getByText('New endpoint').click();
  await form.getByLabel('Name').fill(endpoint);
  await form.getByLabel('Registered model').fill(model);
  await form.getByRole('button', { name: 'Create endpoint' }).click();
  await expect(page).toHaveURL(new RegExp(`/endpoints/${endpoint}$`));
  await expect(page.getByTestId('endpoint-name')).toHaveText(endpoint);
  const routes = page.getByTestId('routes');
  await expect(routes).toContainText('@production → v1');
  await expect(routes).toContainText('loaded', { timeout: 15_000 });

  // Predictions by feature name; they show up in the serving log on the page.
  const headers = { origin: new URL(url('/')).origin };
  for (const batch of [1, 1, 5]) {
    const r = await page.request.post(url(`/api/v1/endpoints/${endpoint}/predict`), {
      data: { records: creditRecords(batch) }, headers,
    });
    expect(r.status(), await r.text()).toBe(200);
    const body = await r.json();
    expect(body.model_version).toBe(1);
    expect(body.predictions).toHaveLength(batch);
  }
  // A bad request names the field, and the endpoint keeps serving.
  const bad = await page.request.post(url(`/api/v1/endpoints/${endpoint}/predict`), {
    data: { records: [{ ...creditRecords(1)[0], Seniority: 'many' }] }, headers,
  });
  expect(bad.status()).toBe(422);
  expect(await bad.text()).toContain('Seniority');

  const recent = page.getByTestId('recent-requests');
  // Header + three answered requests + the refused one (errors are logged too).
  await expect(recent.getByRole('row')).toHaveCount(5, { timeout: 20_000 });
  await expect(recent).toContainText('v1');
  await expect(recent).toContainText('422');
  await expect(page.getByTestId('endpoint-charts').locator('svg')).toHaveCount(3);
  await expect(page.getByTestId('stat-rate')).not.toContainText('—');
  await screenshot(page, 'endpoint');

  // The traffic editor refuses a split that does not add up, naming it.
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.getByTestId('edit-traffic').click();
  const editor = page.getByTestId('traffic-editor');
  await editor.getByRole('button', { name: 'Add route' }).click();
  await editor.getByLabel('traffic percent').last().fill('10');
  await expect(editor).toContainText('Live routes: 110% of 100%');
  await editor.getByTestId('save-traffic').click();
  await expect(page.getByTestId('traffic-error')).toContainText('sum to 100');
  await screenshot(page, 'endpoint-traffic-editor');
  // A shadow route of a pinned version is accepted.
  await editor.getByLabel('alias or version').last().fill('v1');
  await editor.getByLabel('shadow').last().check();
  await editor.getByTestId('save-traffic').click();
  await expect(routes).toContainText('v1 (pinned)');
  await expect(routes).toContainText('shadow');

  expect(errors, 'the editor runs without errors').toEqual([]);
  await open(page, '/endpoints');
  await expect(page.getByTestId('endpoints').getByRole('row').filter({ hasText: endpoint })).toContainText('serving');
  await screenshot(page, 'endpoints');
});
