import { expect, Page, test } from '@playwright/test';
import { open, screenshot, signIn } from './util';

// A diamond of `sh` command steps: emit → (left, right) → report. `emit` logs a
// greeting and sleeps a second so the live view is seen before it finishes.
function spec(name: string): string {
  return `name: ${name}
description: e2e diamond of sh steps
parameters:
  n: {type: int, default: 3}
  greeting: {type: string, default: hello}
components:
  e2e-emit:
    command: [sh, -c, 'echo "{{inputs.greeting}} from emit"; sleep 1; echo "{{inputs.n}}" > {{outputs.value}}']
    inputs: {n: {type: int}, greeting: {type: string}}
    outputs: {value: {type: int}}
  e2e-double:
    command: [sh, -c, 'echo doubling {{inputs.x}}; echo $(( {{inputs.x}} * 2 )) > {{outputs.y}}']
    inputs: {x: {type: int}}
    outputs: {y: {type: int}}
  e2e-report:
    command: [sh, -c, 'echo "{\\"sum\\": $(( {{inputs.a}} + {{inputs.b}} ))}" > {{outputs.metrics}}; echo report > {{outputs.report}}']
    inputs: {a: {type: int}, b: {type: int}}
    outputs: {metrics: {type: metrics}, report: {type: file}}
steps:
  - {name: emit, component: e2e-emit, inputs: {n: "{{ params.n }}", greeting: "{{ params.greeting }}"}}
  - {name: left, component: e2e-double, inputs: {x: "{{ steps.emit.outputs.value }}"}}
  - {name: right, component: e2e-double, inputs: {x: "{{ steps.emit.outputs.value }}"}}
  - {name: report, component: e2e-report, inputs: {a: "{{ steps.left.outputs.y }}", b: "{{ steps.right.outputs.y }}"}}
`;
}

const node = (page: Page, step: string) => page.getByTestId('run-dag').locator(`g[data-node="${step}"]`);

async function startRun(page: Page, n: string) {
  await page.getByLabel(/^n\b/).fill(n);
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/pipelines\/runs\/[0-9a-f-]{36}$/);
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

test('a pipeline is submitted, run live, re-run from the cache and scheduled from the browser', async ({ page }) => {
  test.setTimeout(120_000);
  await signIn(page);
  const name = `e2e-diamond-${Date.now()}`;

  // Bad specs are refused with the step and field named.
  await open(page, '/pipelines');
  await screenshot(page, 'pipelines-empty');
  await page.getByRole('button', { name: 'New pipeline' }).click();
  await page.locator('#pipeline-spec').fill(spec(name).replace('steps.left.outputs.y', 'steps.nowhere.outputs.y'));
  await page.getByRole('button', { name: 'Submit pipeline' }).click();
  await expect(page.getByTestId('form-error')).toContainText('steps.report.inputs.a');
  await expect(page.getByTestId('form-error')).toContainText("'nowhere'");
  await screenshot(page, 'pipelines-new-error');

  // A good one opens the pipeline's page with its DAG and a typed run form.
  await page.locator('#pipeline-spec').fill(spec(name));
  await page.getByRole('button', { name: 'Submit pipeline' }).click();
  await expect(page).toHaveURL(new RegExp(`/pipelines/${name}$`));
  const dag = page.getByTestId('pipeline-dag');
  for (const s of ['emit', 'left', 'right', 'report']) await expect(dag.locator(`g[data-node="${s}"]`)).toBeVisible();
  await expect(page.getByLabel(/^n\b/)).toHaveValue('3');
  await expect(page.getByLabel(/^greeting\b/)).toHaveValue('hello');
  await screenshot(page, 'pipeline');

  // Run it: the live view fills in without a reload.
  await startRun(page, '4');
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const state = page.getByTestId('run-state');
  await expect(state).not.toHaveText('succeeded');
  await expect(page.getByTestId('run-trigger')).toContainText('started by admin');
  await expect(node(page, 'emit')).toHaveClass(/state-(queued|running|succeeded)/);
  await screenshot(page, 'pipeline-run-live');
  await expect(state).toHaveText('succeeded', { timeout: 60_000 });
  for (const s of ['emit', 'left', 'right', 'report']) await expect(node(page, s)).toHaveClass(/state-succeeded/);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await expect(page.getByTestId('run-progress')).toHaveText('4/4');
  await expect(page.getByTestId('run-parameters')).toContainText('4');

  // A step's panel: outputs and its log.
  await node(page, 'emit').click();
  await expect(page.getByTestId('step-panel')).toContainText('emit');
  await expect(page.getByTestId('step-outputs')).toContainText('4');
  await expect(page.getByTestId('step-log')).toContainText('hello from emit');
  await node(page, 'report').click();
  await expect(page.getByTestId('step-outputs')).toContainText('sum');
  await screenshot(page, 'pipeline-run-succeeded');

  // The report file's lineage: back to the steps that made it.
  await page.getByTestId('step-outputs').getByRole('link', { name: 'lineage' }).click();
  await expect(page).toHaveURL(/\/lineage\?artifact=file/);
  const graph = page.getByTestId('lineage-graph');
  await expect(graph).toContainText('pipeline step');
  await expect(page.getByTestId('lineage-nodes')).toContainText(`${name}/report`);
  await screenshot(page, 'lineage');

  // The same parameters again: the steps come from the cache.
  await open(page, `/pipelines/${name}`);
  await startRun(page, '4');
  await expect(page.getByTestId('run-state')).toHaveText('succeeded', { timeout: 60_000 });
  await expect(node(page, 'emit')).toHaveClass(/state-cached/);
  await node(page, 'emit').click();
  await expect(page.getByTestId('cached-badge')).toBeVisible();
  await expect(page.getByTestId('step-panel').getByRole('link', { name: /^run [0-9a-f]{8}$/ })).toBeVisible();
  await screenshot(page, 'pipeline-run-cached');
  // At a phone's width the DAG scrolls sideways inside its frame.
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, 'pipeline-run-phone');
  await page.setViewportSize({ width: 1280, height: 720 });

  // Runs history with the state filter.
  await open(page, `/pipelines/${name}`);
  const runs = page.getByTestId('runs-table');
  await expect(runs.locator('tbody tr')).toHaveCount(2);
  await page.getByTestId('run-state-filter').selectOption('failed');
  await expect(page.getByText('No runs match.')).toBeVisible();
  await page.getByTestId('run-state-filter').selectOption('succeeded');
  await expect(runs.locator('tbody tr')).toHaveCount(2);

  // Schedules: add, edit (cron and time zone), disable, delete.
  const schedules = page.getByTestId('schedules');
  await schedules.getByLabel('Cron').fill('0 3 * * *');
  await schedules.getByLabel('Time zone').fill('UTC');
  await schedules.getByRole('button', { name: 'Add schedule' }).click();
  const row = schedules.getByTestId('schedule-row');
  await expect(row).toContainText('0 3 * * *');
  await row.getByRole('button', { name: /^Edit schedule/ }).click();
  await row.getByLabel('Cron').fill('30 4 * * 1-5');
  await row.getByLabel('Time zone').fill('Europe/Paris');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(schedules.getByTestId('schedule-message')).toContainText('saved');
  await expect(row).toContainText('30 4 * * 1-5');
  await expect(row).toContainText('Europe/Paris');
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('disabled');
  await screenshot(page, 'pipeline-schedules');
  // A bad cron is refused next to the form.
  await row.getByRole('button', { name: /^Edit schedule/ }).click();
  await row.getByLabel('Cron').fill('every night');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(schedules.getByRole('alert')).toContainText('cron');
  await row.getByRole('button', { name: 'Cancel' }).click();
  await row.getByRole('button', { name: 'Delete…' }).click();
  await row.getByRole('button', { name: 'Delete' }).click();
  await expect(schedules.getByTestId('schedule-row')).toHaveCount(0);

  // The list.
  await open(page, '/pipelines');
  const list = page.getByTestId('pipelines-table');
  await expect(list).toContainText(name);
  await expect(list.getByRole('row', { name: new RegExp(name) })).toContainText('succeeded');
  await page.getByLabel('Filter pipelines by name').fill('no-such-pipeline');
  await expect(list.getByRole('row', { name: new RegExp(name) })).toBeHidden();
  await page.getByLabel('Filter pipelines by name').fill(name);
  await expect(list.getByRole('row', { name: new RegExp(name) })).toBeVisible();
  await screenshot(page, 'pipelines');
});

test('a failed run names the failing step and is re-run from it', async ({ page }) => {
  test.setTimeout(90_000);
  await signIn(page);
  const name = `e2e-flaky-${Date.now()}`;
  const flag = `/tmp/cairn-e2e-${Date.now()}-ready`;
  // `check` fails until the flag file exists; `prepare` before it succeeds.
  const yaml = `name: ${name}
components:
  e2e-one:
    command: [sh, -c, 'echo 1 > {{outputs.v}}']
    outputs: {v: {type: int}}
  e2e-check:
    command: [sh, -c, 'echo checking; test -f ${flag} || { echo "not ready" >&2; exit 3; }; echo 2 > {{outputs.v}}']
    inputs: {x: {type: int}}
    outputs: {v: {type: int}}
steps:
  - {name: prepare, component: e2e-one}
  - {name: check, component: e2e-check, inputs: {x: "{{ steps.prepare.outputs.v }}"}}
`;
  await open(page, '/pipelines');
  await page.getByRole('button', { name: 'New pipeline' }).click();
  await page.locator('#pipeline-spec').fill(yaml);
  await page.getByRole('button', { name: 'Submit pipeline' }).click();
  await expect(page).toHaveURL(new RegExp(`/pipelines/${name}$`));
  await page.getByRole('button', { name: 'Start run' }).click();
  await expect(page).toHaveURL(/\/pipelines\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('run-state')).toHaveText('failed', { timeout: 60_000 });
  await expect(node(page, 'check')).toHaveClass(/state-failed/);
  await expect(node(page, 'prepare')).toHaveClass(/state-succeeded/);
  // The failed step opens by itself, with its error and its log.
  await expect(page.getByTestId('step-panel')).toContainText('check');
  await expect(page.getByTestId('step-error')).toBeVisible();
  await expect(page.getByTestId('step-log')).toContainText('not ready');
  await screenshot(page, 'pipeline-run-failed');
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'pipeline-run-failed-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Fix the cause, re-run from the failed step: prepare is reused, check runs.
  require('fs').writeFileSync(flag, 'ok');
  await page.getByRole('button', { name: 'Re-run from failed step' }).click();
  await expect(page.getByTestId('run-trigger')).toContainText('re-run by admin');
  await expect(page.getByTestId('run-state')).toHaveText('succeeded', { timeout: 60_000 });
  await expect(node(page, 'prepare')).toHaveClass(/state-cached/);
  await expect(node(page, 'check')).toHaveClass(/state-succeeded/);
  require('fs').unlinkSync(flag);
});
