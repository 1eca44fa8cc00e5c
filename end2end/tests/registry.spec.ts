// The model registry as its users meet it: an editor trains and registers a model
// and asks for production; an approver finds the request in the inbox, reads the
// evidence side by side and decides; a viewer and the requester cannot approve;
// a second version is promoted and rolled back.
import { Browser, expect, Page, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { creditDataset, DATA, open, sameOrigin, screenshot, signIn, uploadVersion, url } from './util';

const laptop = { width: 1366, height: 768 };
test.use({ viewport: laptop });

type Who = { username: string; password: string };

/** A user with the role, made by the admin through the API. */
async function makeUser(admin: Page, role: string): Promise<Who> {
  const who = { username: `${role}-${Date.now().toString(36).slice(-5)}`, password: 'correct-horse-battery-e2e' };
  const r = await admin.request.post(url('/api/v1/users'), { data: { ...who, role }, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  return who;
}

async function pageFor(browser: Browser, who: Who): Promise<Page> {
  const page = await (await browser.newContext({ viewport: laptop })).newPage();
  await signIn(page, who);
  return page;
}

/** A finished built-in training run on the dataset (REST), polled until it ends. */
async function train(page: Page, dataset: string, algorithm: object, version?: number): Promise<string> {
  const spec = { dataset, version, target: 'Status', algorithm, auto_prepare: true, gates: ['accuracy >= 0.5'], slice_column: 'Home' };
  const r = await page.request.post(url('/api/v1/training/runs'), { data: spec, headers: sameOrigin() });
  expect(r.status(), await r.text()).toBe(201);
  const runId: string = (await r.json()).run_id;
  await expect
    .poll(async () => (await (await page.request.get(url(`/api/v1/training/runs/${runId}`))).json()).summary.state, { timeout: 120_000 })
    .toBe('finished');
  return runId;
}

function nav(page: Page) {
  return page.getByRole('navigation', { name: 'Main' });
}

test('an editor asks for production, an approver decides from the evidence, and rolls a later version back', async ({ page, browser }) => {
  test.setTimeout(300_000);
  await signIn(page);
  const editorWho = await makeUser(page, 'editor');
  const approverWho = await makeUser(page, 'approver');
  const viewerWho = await makeUser(page, 'viewer');
  const editor = await pageFor(browser, editorWho);
  const approver = await pageFor(browser, approverWho);
  const viewer = await pageFor(browser, viewerWho);

  // The editor trains on credit data, then creates the model and registers the run in the UI.
  const dataset = await creditDataset(editor);
  const run1 = await train(editor, dataset, { name: 'gaussian_nb' });
  const model = `credit-risk-${Date.now().toString(36).slice(-5)}`;
  await open(editor, '/models');
  const newModel = editor.getByTestId('new-model');
  await newModel.locator('summary').click();
  await newModel.getByLabel('Model name').fill(model);
  await newModel.getByLabel('Model description').fill('Who repays a loan: scores applications for the credit desk');
  await newModel.getByRole('button', { name: 'Create model' }).click();
  await newModel.getByRole('link', { name: model }).click();
  await expect(editor).toHaveURL(url(`/models/${model}`));
  await expect(editor.getByTestId('policy-card')).toContainText('production');
  await expect(editor.getByTestId('policy-card')).toContainText('1 approval');
  const register = editor.getByTestId('register-version');
  await register.getByLabel('Version source').fill(`runs:/${run1}/model`);
  await register.getByLabel('Version description').fill('naive Bayes baseline');
  await register.getByRole('button', { name: 'Register version' }).click();
  const versions = editor.getByTestId('versions-table');
  const row1 = versions.locator('tr[data-version="1"]');
  await expect(row1).toContainText('servable');
  await expect(row1).toContainText('passed');
  await expect(versions.getByRole('columnheader', { name: 'roc_auc' })).toBeVisible();

  // An unprotected alias moves at once.
  await row1.getByRole('button', { name: 'Set alias' }).click();
  await versions.getByLabel('Alias name').fill('staging');
  await versions.getByRole('button', { name: 'Set alias' }).last().click();
  await expect(editor.getByTestId('flash')).toContainText('staging now points at v1');
  await expect(editor.getByTestId('alias-staging')).toHaveText('v1');

  // Production is protected: the editor's request waits for an approver.
  await editor.locator('tr[data-version="1"]').getByRole('button', { name: 'Request promotion' }).click();
  await editor.getByLabel('Promotion comment').fill('First model for the credit desk; accuracy well above the gate');
  await editor.getByTestId('promote-form').getByRole('button', { name: 'Request promotion' }).click();
  const flash = editor.getByTestId('flash');
  await expect(flash).toContainText('promotion request for v1 created');
  await expect(editor.getByTestId('alias-production')).toHaveCount(0);
  await expect(editor.getByTestId('model-requests')).toContainText('pending');
  await screenshot(editor, 'registry-model');
  await flash.getByRole('link', { name: 'Open the request' }).click();
  await expect(editor).toHaveURL(/\/approvals\/[0-9a-f-]{36}$/);
  const requestUrl = editor.url();
  // The requester cannot approve their own request, but may withdraw it.
  await expect(editor.getByTestId('request-state')).toHaveText('pending');
  await expect(editor.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await expect(editor.getByTestId('why-no-review')).toContainText('You asked for this promotion');
  await expect(editor.getByRole('button', { name: 'Withdraw request' })).toBeVisible();
  await expect(nav(editor).getByTestId('approvals-count')).toHaveCount(0);

  // A viewer sees the evidence but no decision.
  await open(viewer, new URL(requestUrl).pathname);
  await expect(viewer.getByTestId('metrics-table')).toContainText('accuracy');
  await expect(viewer.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await expect(viewer.getByTestId('why-no-review')).toContainText('Only approvers');
  await screenshot(viewer, 'registry-request-viewer');

  // The approver sees the count in the navigation, and the request in the inbox.
  await open(approver, '/models');
  await expect(nav(approver).getByTestId('approvals-count')).toHaveText('1');
  await expect(approver.getByTestId('unread-count')).toHaveText('1');
  await expect(approver.getByTestId('models-table')).toContainText(model);
  await screenshot(approver, 'registry-models');
  await nav(approver).getByRole('link', { name: /Approvals/ }).click();
  await expect(approver).toHaveURL(url('/approvals'));
  const waiting = approver.getByTestId('waiting-table');
  await expect(waiting).toContainText(model);
  await expect(waiting).toContainText(editorWho.username);
  await expect(waiting).toContainText('0 of 1');
  await screenshot(approver, 'registry-approvals');
  await waiting.getByRole('row').filter({ hasText: model }).getByTestId('request-link').click();
  await expect(approver.getByTestId('candidate-card')).toContainText('Candidate v1');
  await expect(approver.getByTestId('current-card')).toContainText('nothing yet');
  await expect(approver.getByTestId('candidate-evaluation').getByTestId('roc-chart')).toBeVisible();
  await expect(approver.getByTestId('training-drift')).toContainText('nothing is in production yet');
  await screenshot(approver, 'registry-request-first');
  await approver.getByLabel('Review comment').fill('Metrics hold; first production model');
  await approver.getByRole('button', { name: 'Approve' }).click();
  await expect(approver.getByTestId('request-state')).toHaveText('approved');
  await expect(approver.getByTestId('decision-result')).toContainText('now points at v1');
  await expect(approver.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  await expect(approver.getByTestId('reviews')).toContainText('Metrics hold; first production model');
  await expect(nav(approver).getByTestId('approvals-count')).toHaveCount(0);

  // The model page shows production → v1; the requester hears about it.
  await open(editor, `/models/${model}`);
  await expect(editor.getByTestId('alias-production')).toHaveText('v1');
  await expect(editor.getByTestId('production-card')).toContainText('v1');
  await expect(editor.getByTestId('unread-count')).toHaveText('1');
  await editor.getByTestId('notifications-button').click();
  await expect(editor.getByTestId('notifications')).toContainText('approved');
  await screenshot(editor, 'registry-notifications');
  await expect(editor.getByTestId('unread-count')).toHaveCount(0);
  await editor.getByTestId('notifications').getByRole('link').first().click();
  await expect(editor).toHaveURL(requestUrl);

  // The version page: signature, lineage, evaluation, and a markdown model card
  // whose raw HTML is shown as text, never run.
  await open(editor, `/models/${model}/versions/1`);
  await expect(editor.getByTestId('signature')).toContainText('Seniority');
  await expect(editor.getByTestId('signature')).toContainText('good');
  await expect(editor.getByTestId('dataset-link').getByRole('link')).toHaveText(`${dataset} v1`);
  await expect(editor.getByTestId('evaluation').getByTestId('roc-chart')).toBeVisible();
  const card = editor.getByTestId('model-card');
  await card.getByRole('button', { name: 'Edit' }).click();
  await card.getByLabel('Model card markdown').fill(
    '## Intended use\n\nScores **loan applications**.\n\n| metric | value |\n|---|---|\n| accuracy | good |\n\n<script>window.pwned = 1</script>',
  );
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(card.getByRole('heading', { name: 'Intended use' })).toBeVisible();
  await expect(card.locator('table')).toContainText('accuracy');
  await expect(card).toContainText('<script>window.pwned = 1</script>');
  await open(editor, `/models/${model}/versions/1`);
  expect(await editor.evaluate(() => (window as any).pwned)).toBeUndefined();
  await expect(editor.getByTestId('model-card').locator('strong')).toHaveText('loan applications');
  await screenshot(editor, 'registry-version');

  // A second version, trained on newer data with another algorithm, asked for by REST.
  const lines = fs.readFileSync(path.join(DATA, 'credit_data.csv'), 'utf8').trimEnd().split('\n');
  await uploadVersion(editor, dataset, Buffer.from(lines.slice(0, 2500).join('\n') + '\n'));
  const run2 = await train(editor, dataset, { name: 'logistic_regression' }, 2);
  const v2 = await editor.request.post(url(`/api/v1/models/${model}/versions`), { data: { source: run2, description: 'logistic regression on the newer data' }, headers: sameOrigin() });
  expect(v2.status(), await v2.text()).toBe(201);
  const asked = await editor.request.post(url(`/api/v1/models/${model}/promotions`), { data: { version: 2, comment: 'better calibrated' }, headers: sameOrigin() });
  expect(asked.status(), await asked.text()).toBe(201);

  await open(approver, '/approvals');
  await expect(nav(approver).getByTestId('approvals-count')).toHaveText('1');
  await approver.getByTestId('waiting-table').getByRole('row').filter({ hasText: 'v1 → v2' }).getByTestId('request-link').click();
  await expect(approver.getByTestId('current-card')).toContainText('Current v1');
  const metrics = approver.getByTestId('metrics-table');
  await expect(metrics.locator('tr[data-metric="accuracy"] td').nth(2)).toHaveClass(/delta-(better|worse|same)/);
  await expect(approver.getByTestId('params-diff').locator('tr.differs').first()).toContainText('algorithm');
  await expect(approver.getByTestId('current-evaluation').getByTestId('roc-chart')).toBeVisible();
  await expect(approver.getByTestId('candidate-evaluation').getByTestId('roc-chart')).toBeVisible();
  await expect(approver.getByTestId('drift-table')).toContainText('Seniority');
  // Rejecting needs a reason: the server's message shows next to the buttons.
  await approver.getByRole('button', { name: 'Reject' }).click();
  await expect(approver.getByTestId('decision-error')).toContainText('comment');
  await screenshot(approver, 'registry-request-compare');
  await approver.getByLabel('Review comment').fill('Fine on the newer data');
  await approver.getByRole('button', { name: 'Approve' }).click();
  await expect(approver.getByTestId('request-state')).toHaveText('approved');

  // The approver rolls production back to v1 from the model page, after confirming.
  await open(approver, `/models/${model}`);
  await expect(approver.getByTestId('alias-production')).toHaveText('v2');
  const aliases = approver.getByTestId('aliases');
  await aliases.getByRole('button', { name: 'Roll back' }).click();
  await aliases.getByRole('button', { name: 'Confirm roll back' }).click();
  await expect(approver.getByTestId('flash')).toContainText('Rolled production back to v1');
  await expect(approver.getByTestId('alias-production')).toHaveText('v1');
  await expect(approver.getByTestId('alias-history').getByRole('row').nth(1)).toContainText('rollback');
  await screenshot(approver, 'registry-model-after-rollback');

  // Editors cannot roll back; they never see the button.
  await open(editor, `/models/${model}`);
  await expect(editor.getByTestId('aliases').getByRole('button', { name: 'Roll back' })).toHaveCount(0);
});
