import { expect, test } from '@playwright/test';
import { open, screenshot, signIn, tokenFor, url } from './util';

test('home page shows numbers read from Postgres', async ({ page, request }) => {
  const auth = { Authorization: `Bearer ${await tokenFor(request)}` };
  const before = await (await request.get(url('/api/v1/projects'), { headers: auth })).json();
  await signIn(page);
  await open(page, '/');
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  const projects = page.getByTestId('stat-projects').locator('.stat-value');
  await expect(projects).toHaveText(String(before.length));
  await expect(page.getByTestId('stat-migrations').locator('.stat-value')).toHaveText(/^[1-9]\d*$/);
  await expect(page.getByTestId('stat-db-size')).toContainText('PostgreSQL');

  // A project created through the API shows up in the count: the number is live.
  const created = await request.post(url('/api/v1/projects'), { data: { name: `home-${Date.now()}` }, headers: auth });
  expect(created.status()).toBe(201);
  await page.reload();
  await expect(projects).toHaveText(String(before.length + 1));
  await screenshot(page, 'home');
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, 'home-phone');
});

test('navigation reaches About, which shows the version', async ({ page }) => {
  await signIn(page);
  await open(page, '/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'About' }).click();
  await expect(page).toHaveURL(url('/about'));
  await expect(page.getByTestId('version')).toHaveText(/^\d+\.\d+\.\d+/);
  await expect(page.getByRole('link', { name: 'About' })).toHaveAttribute('aria-current', 'page');
  await screenshot(page, 'about');
});

test('an unknown page is a 404 with a way back', async ({ page }) => {
  await signIn(page);
  const response = await page.goto(url('/no/such/page'));
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await expect(page.getByRole('main').getByRole('link', { name: 'Overview' })).toBeVisible();
});
