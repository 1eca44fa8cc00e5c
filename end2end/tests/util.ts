import { expect, Page } from '@playwright/test';

/** Absolute URL on the server started by global-setup. */
export function url(p: string): string {
  const base = process.env.CAIRN_BASE_URL;
  if (!base) throw new Error('CAIRN_BASE_URL is not set: run through `make e2e`');
  return new URL(p, base).toString();
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
