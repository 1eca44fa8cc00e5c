// Endpoints as their users meet them: create one for a production model, call it,
// read its traffic; and the "done when": while a load runs, an approver
// approves a new version in the browser and the endpoint swaps to it with no failed
// request.
import { expect, Page, request as pwRequest, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { creditDataset, DATA, open, sameOrigin, screenshot, signIn, url } from './util';

type Who = { username: string; password: string };

/** A finished logistic-regression run on the dataset (REST), polled until it ends. */
async function train(page: Page, dataset: string, alpha: number): Promise<string> {
  const spec = { dataset, target: 'Status', auto_prepare: true, algorithm: { name: 'logistic_regression', alpha } };
  const r = await page.request.post(url('/api/v1/training/runs'), { data: spec, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  const runId: string = (await r.json()).run_id;
  await expect
    .poll(async () => (await (await page.request.get(url(`/api/v1/training/runs/${runId}`))).json()).summary.state, { timeout: 120_000 })
    .toBe('finished');
  return runId;
}

/** Registers the run as the model's next version; returns its number. */
async function register(page: Page, model: string, runId: string): Promise<number> {
  const r = await page.request.post(url(`/api/v1/models/${model}/versions`), { data: { source: runId }, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  return (await r.json()).version;
}

/** Asks for production (the page's user is the requester); returns the request id. */
async function requestProduction(page: Page, model: string, version: number): Promise<string> {
  const r = await page.request.put(url(`/api/v1/models/${model}/aliases/production`), {
    data: { version, comment: `v${version} for the credit desk` }, headers: sameOrigin(),
  });
  expect(r.status(), await r.text()).toBe(202);
  return (await r.json()).request.promotion_request_id;
}

async function makeApprover(page: Page): Promise<Who> {
  const who = { username: `appr-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`, password: 'Correct-Horse-Battery-9' };
  const r = await page.request.post(url('/api/v1/users'), { data: { ...who, role: 'approver' }, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  return who;
}

/** A credit model trained, registered and approved into production through the API. */
async function productionModel(page: Page): Promise<{ model: string; dataset: string; approver: Who }> {
  const dataset = await creditDataset(page);
  const model = dataset;
  const runId = await train(page, dataset, 1.0);
  const made = await page.request.post(url('/api/v1/models'), { data: { name: model }, headers: sameOrigin() });
  expect(made.status(), await made.text()).toBe(201);
  const requestId = await requestProduction(page, model, await register(page, model, runId));
  const approver = await makeApprover(page);
  const other = await pwRequest.newContext();
  expect((await other.post(url('/api/v1/login'), { data: approver })).status()).toBe(200);
  const review = await other.post(url(`/api/v1/promotions/${requestId}/reviews`), {
    data: { decision: 'approve', comment: 'looks right' }, headers: sameOrigin(),
  });
  expect(review.status(), await review.text()).toBe(200);
  await other.dispose();
  return { model, dataset, approver };
}

async function createEndpoint(page: Page, name: string, model: string) {
  const r = await page.request.post(url('/api/v1/endpoints'), { data: { name, model }, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  await expect
    .poll(async () => (await (await page.request.get(url(`/api/v1/endpoints/${name}`))).json()).ready, { timeout: 15_000 })
    .toBe(true);
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
  const { model } = await productionModel(page);
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
  const headers = sameOrigin();
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

test('an approved promotion swaps the endpoint to the new version under load, with no failed request', async ({ page, browser }) => {
  test.setTimeout(300_000);
  await signIn(page);
  const { model, dataset, approver } = await productionModel(page);
  const endpoint = `swap-${model}`;
  await createEndpoint(page, endpoint, model);
  const v2 = await register(page, model, await train(page, dataset, 0.01));

  // The requester asks for production in the browser.
  await open(page, `/models/${model}`);
  await page.locator(`tr[data-version="${v2}"]`).getByRole('button', { name: 'Request promotion' }).click();
  await page.getByLabel('Promotion comment').fill('Lower regularisation, better calibrated');
  await page.getByTestId('promote-form').getByRole('button', { name: 'Request promotion' }).click();
  await expect(page.getByTestId('flash')).toContainText(`promotion request for v${v2} created`);
  await page.getByTestId('flash').getByRole('link', { name: 'Open the request' }).click();
  await expect(page).toHaveURL(/\/approvals\/[0-9a-f-]{36}$/);
  const requestId = page.url().split('/').pop()!;
  // The requester cannot approve their own request.
  await expect(page.getByRole('button', { name: 'Approve' })).toHaveCount(0);

  // A load of 8 concurrent clients until told to stop.
  const records = creditRecords(3);
  const seen: { status: number; version?: number }[] = [];
  let stop = false;
  const client = async () => {
    while (!stop) {
      const r = await page.request.post(url(`/api/v1/endpoints/${endpoint}/predict`), { data: { records }, headers: sameOrigin() });
      const body = r.ok() ? await r.json() : undefined;
      seen.push({ status: r.status(), version: body?.model_version });
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, client));
  await expect.poll(() => seen.length, { timeout: 30_000 }).toBeGreaterThan(50);

  // The approver approves in the browser.
  const approverPage = await (await browser.newContext()).newPage();
  await signIn(approverPage, approver);
  await open(approverPage, `/approvals/${requestId}`);
  await approverPage.getByLabel('Review comment').fill('Better calibrated; ship it');
  await approverPage.getByRole('button', { name: 'Approve' }).click();
  await expect(approverPage.getByTestId('request-state')).toHaveText('approved');

  // The endpoint follows production: answers switch to v2 while the load goes on.
  await expect.poll(() => seen.filter((s) => s.version === v2).length, { timeout: 30_000 }).toBeGreaterThan(50);
  stop = true;
  await load;
  const failed = seen.filter((s) => s.status !== 200);
  expect(failed, `failed requests during the swap (of ${seen.length})`).toEqual([]);
  expect(seen.filter((s) => s.version === 1).length).toBeGreaterThan(0);

  // The endpoint page shows the new version and its traffic.
  await open(page, `/endpoints/${endpoint}`);
  await expect(page.getByTestId('routes')).toContainText(`@production → v${v2}`);
  await expect(page.getByTestId('recent-requests')).toContainText(`v${v2}`, { timeout: 20_000 });
  await expect(page.getByTestId('endpoint-charts')).toContainText(`v${v2}`);
  await screenshot(page, 'endpoint-after-swap');
});
