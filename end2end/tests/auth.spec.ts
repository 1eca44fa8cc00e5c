import { expect, test } from '@playwright/test';
import { admin, open, screenshot, url } from './util';

async function signInWithForm(page: import('@playwright/test').Page, username: string, password: string) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('admin signs in, creates a viewer and a token; the viewer is refused an editor action in the UI and over the API', async ({ page, request }) => {
  // Signed out: every page leads to the login form, which remembers where we were going.
  await page.goto(url('/projects'));
  await expect(page).toHaveURL(/\/login\?next=%2Fprojects/);
  await screenshot(page, 'login');

  // A wrong password is refused with a clear message.
  await signInWithForm(page, 'admin', 'not-the-password');
  await expect(page.getByRole('alert')).toContainText('wrong username or password');

  // The printed admin password works and lands on the page we asked for.
  await signInWithForm(page, 'admin', admin().password);
  await expect(page).toHaveURL(url('/projects'));
  await expect(page.getByTestId('current-user')).toContainText('admin');

  // Settings: create a viewer; the generated password is shown once.
  await open(page, '/settings');
  const viewer = `viewer-${Date.now()}`;
  const users = page.locator('section', { has: page.getByRole('heading', { name: 'Users' }) });
  await users.getByLabel('Username').fill(viewer);
  await users.getByLabel('New user role').selectOption('viewer');
  await users.getByRole('button', { name: 'Create user' }).click();
  const viewerPassword = (await page.getByTestId('new-password').textContent())!.trim();
  expect(viewerPassword).toHaveLength(20);
  await expect(page.getByTestId('users-table')).toContainText(viewer);

  // And a token for the admin, shown once.
  const tokens = page.locator('section', { has: page.getByRole('heading', { name: 'API tokens' }) });
  await tokens.getByLabel('Token name').fill('ci');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('new-token')).toHaveText(/^cairn_[A-Za-z0-9_-]{43}$/);
  await expect(page.getByTestId('tokens-table')).toContainText('ci');
  await screenshot(page, 'settings');

  // Sign out, sign in as the viewer.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await signInWithForm(page, viewer, viewerPassword);
  await expect(page.getByTestId('current-user')).toContainText('viewer');
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' })).toHaveCount(0);

  // The viewer may read projects but not create one: refused by the server, said plainly.
  await open(page, '/projects');
  await page.getByLabel('Name').fill(`by-viewer-${Date.now()}`);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'editor role' })).toBeVisible();
  await screenshot(page, 'viewer-refused');

  // The viewer's own token: reading works, writing is 403, nothing is created.
  await open(page, '/settings');
  await page.getByLabel('Token name').fill('viewer-script');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('new-token').textContent())!.trim();
  const auth = { Authorization: `Bearer ${secret}` };
  const list = await request.get(url('/api/v1/projects'), { headers: auth });
  expect(list.status()).toBe(200);
  const before = (await list.json()).length;
  const refused = await request.post(url('/api/v1/projects'), { headers: auth, data: { name: 'nope' } });
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.message).toContain('editor role');
  const after = (await (await request.get(url('/api/v1/projects'), { headers: auth })).json()).length;
  expect(after).toBe(before);

  // A bad token is a 401, not a silent anonymous request.
  const bad = await request.get(url('/api/v1/projects'), { headers: { Authorization: 'Bearer cairn_nope' } });
  expect(bad.status()).toBe(401);

  // The audit page is for admins: the viewer is refused even by URL.
  await open(page, '/audit');
  await expect(page.getByRole('alert')).toContainText('admin role');
});

test('the audit log shows logins and user changes to admins, with filters', async ({ page }) => {
  await page.goto(url('/login'));
  await signInWithForm(page, 'admin', 'wrong-password-here');
  await signInWithForm(page, 'admin', admin().password);
  await expect(page.getByTestId('current-user')).toContainText('admin');
  await open(page, '/audit?action=login');
  const table = page.getByTestId('audit-table');
  await expect(table).toContainText('login.failed');
  await expect(table).toContainText('login.ok');
  await expect(table).not.toContainText('user.create');
  await screenshot(page, 'audit');
  await page.getByLabel('Outcome').selectOption('failed');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/outcome=failed/);
  await expect(table).not.toContainText('login.ok');
});

test('an admin disables a user, who can then no longer sign in', async ({ page, request }) => {
  await page.goto(url('/login'));
  await signInWithForm(page, 'admin', admin().password);
  await open(page, '/settings');
  const name = `leaver-${Date.now()}`;
  const users = page.locator('section', { has: page.getByRole('heading', { name: 'Users' }) });
  await users.getByLabel('Username').fill(name);
  await users.getByRole('button', { name: 'Create user' }).click();
  const password = (await page.getByTestId('new-password').textContent())!.trim();
  expect((await request.post(url('/api/v1/login'), { data: { username: name, password } })).status()).toBe(200);

  await page.getByRole('button', { name: `Disable ${name}` }).click();
  await expect(page.getByRole('button', { name: `Enable ${name}` })).toBeVisible();
  const refused = await request.post(url('/api/v1/login'), { data: { username: name, password } });
  expect(refused.status()).toBe(401);
});
