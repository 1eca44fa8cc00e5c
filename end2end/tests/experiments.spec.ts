import { APIRequestContext, expect, test } from '@playwright/test';
import { open, screenshot, signIn, tokenFor, url } from './util';

/** Logs an experiment with three runs the way the mlflow client does (REST 2.0). */
async function logExperiment(request: APIRequestContext, token: string, name: string) {
  const headers = { Authorization: `Bearer ${token}` };
  const call = async (path: string, data: object) => {
    const r = await request.post(url(`/api/2.0/mlflow/${path}`), { headers, data });
    expect(r.status(), `${path}: ${await r.text()}`).toBe(200);
    return r.json();
  };
  const exp = await call('experiments/create', { name });
  for (const [run, lr, final] of [['rf-small', '0.1', 0.81], ['rf-large', '0.01', 0.93], ['baseline', '1.0', 0.55]] as const) {
    const created = await call('runs/create', { experiment_id: exp.experiment_id, run_name: run, start_time: Date.now() });
    const id = created.run.info.run_id;
    const metrics = Array.from({ length: 20 }, (_, step) => ({ key: 'accuracy', value: (final * (step + 1)) / 20, timestamp: Date.now(), step }));
    await call('runs/log-batch', { run_id: id, metrics, params: [{ key: 'lr', value: lr }], tags: [] });
    await call('runs/update', { run_id: id, status: 'FINISHED', end_time: Date.now() + 1500 });
    // An artifact, as mlflow.log_dict sends it through the artifact proxy.
    const put = await request.put(url(`/api/2.0/mlflow-artifacts/artifacts/${exp.experiment_id}/${id.replace(/-/g, '')}/artifacts/eval/summary.json`), {
      headers, data: JSON.stringify({ run, accuracy: final }),
    });
    expect(put.status(), await put.text()).toBe(200);
  }
  return exp.experiment_id as string;
}

test('runs logged over the MLflow API are browsed, filtered and opened with their metric chart', async ({ page, request }) => {
  const name = `credit-${Date.now()}`;
  const expId = await logExperiment(request, await tokenFor(request), name);
  await signIn(page);
  await open(page, '/experiments');
  await page.getByTestId('experiments-table').getByRole('link', { name }).click();
  await expect(page).toHaveURL(url(`/experiments/${expId}`));
  const table = page.getByTestId('runs-table');
  await expect(table.getByRole('row')).toHaveCount(4);

  // Filter with MLflow's syntax; sort by a metric.
  await page.getByLabel('Filter').fill('metrics.accuracy > 0.6');
  await page.getByLabel('Order by').fill('metrics.accuracy DESC');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(table.getByRole('row')).toHaveCount(3);
  await expect(table.getByRole('row').nth(1)).toContainText('rf-large');
  await screenshot(page, 'runs');

  // A malformed filter says where it went wrong.
  await page.getByLabel('Filter').fill('metrics.accuracy >> 1');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByRole('alert')).toContainText(/position|column|at /i);

  // Compare all three: the differing param is marked, curves overlay with a legend.
  await page.goto(url(`/experiments/${expId}`));
  for (const run of ['rf-small', 'rf-large', 'baseline']) {
    await page.getByLabel(`Select ${run}`).check();
  }
  await page.getByRole('button', { name: 'Compare' }).click();
  await expect(page).toHaveURL(/\/compare\?runs=/);
  const compare = page.getByTestId('compare-table');
  await expect(compare.getByRole('row', { name: /params\.lr/ })).toHaveClass(/differs/);
  await expect(compare).toContainText('0.93');
  const legend = page.getByTestId('metric-chart').locator('.legend');
  await expect(legend).toContainText('rf-small');
  await expect(legend).toContainText('baseline');
  // Parameter vs metric: one point per run, lr on a numeric axis.
  const scatter = page.getByTestId('scatter');
  await expect(scatter.locator('circle.dot')).toHaveCount(3);
  await expect(scatter.locator('svg')).toHaveAttribute('aria-label', 'accuracy against lr for 3 runs');
  await screenshot(page, 'compare');

  // Open a run: params, latest metrics, the history chart.
  await page.goto(url(`/experiments/${expId}?order_by=metrics.accuracy+DESC`));
  await page.getByRole('link', { name: 'rf-large' }).click();
  await expect(page.getByTestId('run-status')).toHaveText('FINISHED');
  await expect(page.getByRole('navigation', { name: 'Breadcrumb' })).toContainText(name);
  await expect(page.getByTestId('params-table')).toContainText('0.01');
  await expect(page.getByTestId('metrics-table')).toContainText('0.93');
  await expect(page.getByTestId('metric-chart')).toContainText('20 points');
  const artifacts = page.getByTestId('artifacts');
  await expect(artifacts).toContainText('eval/summary.json');
  await artifacts.getByRole('row', { name: /summary\.json/ }).getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('artifact-preview')).toContainText('"accuracy": 0.93');
  await screenshot(page, 'run');
});
