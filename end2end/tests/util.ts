import { APIRequestContext, expect, Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

export const DATA = path.resolve(__dirname, '../../testdata');

/** Absolute URL on the server started by global-setup. */
export function url(p: string): string {
  const base = process.env.CAIRN_BASE_URL;
  if (!base) throw new Error('CAIRN_BASE_URL is not set: run through `make e2e`');
  return new URL(p, base).toString();
}

export const admin = () => ({ username: 'admin', password: process.env.CAIRN_ADMIN_PASSWORD! });

/** Signs the page's browser context in (the session cookie is shared with page.request). */
export async function signIn(page: Page, who = admin()) {
  const r = await page.request.post(url('/api/v1/login'), { data: who });
  expect(r.status(), await r.text()).toBe(200);
}

/** An API token for `who`, for requests outside the browser. */
export async function tokenFor(request: APIRequestContext, who = admin()): Promise<string> {
  const login = await request.post(url('/api/v1/login'), { data: who });
  expect(login.status()).toBe(200);
  const r = await request.post(url('/api/v1/tokens'), {
    data: { name: `e2e-${Date.now()}` },
    headers: { origin: new URL(url('/')).origin },
  });
  expect(r.status(), await r.text()).toBe(201);
  return (await r.json()).secret;
}

/** Opens a page and waits until the wasm has hydrated it (the app marks <body>). */
export async function open(page: Page, p: string) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto(url(p));
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  expect(errors, 'no uncaught errors in the browser').toEqual([]);
  return response;
}

/** Saves a screenshot under ../screenshots when SCREENSHOTS=1 (for people to look at). */
export async function screenshot(page: Page, name: string) {
  if (process.env.SCREENSHOTS) {
    await page.screenshot({ path: `../screenshots/${name}.png`, fullPage: true });
  }
}

/** Headers a cookie-authenticated write needs (the CSRF check wants the origin). */
export function sameOrigin(): Record<string, string> {
  return { origin: new URL(url('/')).origin };
}

/** A dataset holding credit_data.csv as v1, made through the REST API as the page's user. */
export async function creditDataset(page: Page): Promise<string> {
  const name = `credit-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const made = await page.request.post(url('/api/v1/datasets'), { data: { name, description: 'credit scoring' }, headers: sameOrigin() });
  expect(made.status(), await made.text()).toBe(201);
  await uploadVersion(page, name, fs.readFileSync(path.join(DATA, 'credit_data.csv')));
  return name;
}

/** Uploads CSV bytes as the dataset's next version. */
export async function uploadVersion(page: Page, dataset: string, csv: Buffer) {
  const up = await page.request.post(url(`/api/v1/datasets/${dataset}/versions?file_name=credit_data.csv`), {
    data: csv,
    headers: { ...sameOrigin(), 'content-type': 'application/octet-stream' },
  });
  expect(up.status(), await up.text()).toBe(201);
}
