import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BASE, api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, signupApi } from './lib.mjs';

/** The invitation link on this dashboard's origin (the server names its own public URL). */
function onBase(acceptUrl) {
  const u = new URL(acceptUrl);
  return `${BASE}${u.pathname}${u.hash}`;
}

test('the owner invites staff, who joins through the link and cannot change settings or grant apps', async () => {
  const owner = await signupApi('owner');
  const staffEmail = `staff-${randomUUID().slice(0, 8)}@example.cn`;
  const staffPassword = `staff-${randomUUID().slice(0, 8)} password`;

  // 1. The owner invites from the Users screen; the link is shown once.
  const ob = await openBrowser();
  let link;
  try {
    const { page } = ob;
    await gotoApp(page, '/settings/users');
    await loginUi(page, owner);
    await page.locator(`[data-testid=users-table] tr[data-user="${owner.email}"][data-role=owner]`).waitFor();
    assert.equal(await page.locator('[data-testid=user-role]').getAttribute('data-role'), 'owner');
    assert.equal(await page.locator('[data-testid=owner-only]').count(), 0, 'the owner sees no owner-only notes');
    await settle(page);
    await shootBoth(page, 'users');

    await page.locator('[data-testid=invite-open]').click();
    const dialog = page.locator('[data-testid=invite-dialog]');
    await dialog.locator('input[name=email]').fill(staffEmail);
    await dialog.locator('input[name=role][value=staff]').check();
    await shootBoth(page, 'users-invite', { fullPage: false });
    await dialog.locator('[data-testid=invite-submit]').click();
    link = await dialog.locator('[data-testid=invite-link]').innerText();
    assert.match(link, /\/invite#token=\S+$/);
    await shootBoth(page, 'users-invited', { fullPage: false });
    await dialog.locator('[data-testid=invite-done]').click();
    // Pending, listed without its link; the link is nowhere on the page any more.
    await page.locator(`[data-testid=invites-table] tr[data-invite="${staffEmail}"]`).waitFor();
    assert.ok(!(await page.locator('.content').innerText()).includes(new URL(link).hash.slice(7)));
    assertClean(ob);
  } finally {
    await ob.close();
  }

  // 2. The invited person opens the link in another browser, sets a password and is in.
  const sb = await openBrowser();
  try {
    const { page } = sb;
    await page.goto(onBase(link));
    const form = page.locator('[data-testid=invite-form]');
    await form.waitFor();
    await settle(page);
    await shootBoth(page, 'invite-accept');
    await form.locator('input[name=password]').fill(staffPassword);
    await form.locator('input[name=password_again]').fill(`${staffPassword}!`);
    await form.locator('[data-testid=invite-submit]').click();
    await form.locator('.field-error').filter({ hasText: '两次输入的密码不一致' }).waitFor();
    await form.locator('input[name=password_again]').fill(staffPassword);
    await form.locator('[data-testid=invite-submit]').click();
    // Logged in as the new user, on the overview.
    await page.locator('[data-testid=logout]').waitFor();
    await page.waitForURL(`${BASE}/`);
    assert.equal(await page.locator('[data-testid=user-email]').innerText(), staffEmail);
    assert.equal(await page.locator('[data-testid=user-role]').getAttribute('data-role'), 'staff');
    assert.equal(await page.locator('[data-testid=user-role]').innerText(), '员工');

    // Settings actions are disabled, with the reason beside them.
    await gotoApp(page, '/shops');
    await page.locator('[data-testid=shops] [data-testid=owner-only]').waitFor();
    assert.ok(await page.locator('[data-testid=connect-shop]').isDisabled(), 'connecting a shop is the owner’s');
    assert.match(await page.locator('[data-testid=connect-shop]').getAttribute('title'), /所有者/);
    await settle(page);
    await shootBoth(page, 'shops-staff', { fullPage: false });

    await gotoApp(page, '/invoices?tab=settings');
    await page.locator('[data-testid=invoice-settings] [data-testid=owner-only][data-scope="settings:write"]').waitFor();
    assert.ok(await page.locator('[data-testid=invoice-settings-save]').isDisabled());

    await gotoApp(page, '/shipping/carriers');
    await page.locator('[data-testid=carriers] [data-testid=owner-only]').waitFor();
    assert.ok(await page.locator('[data-testid=connect-account]').isDisabled());
    assert.ok(await page.locator('[data-testid=rules-save]').isDisabled());

    await gotoApp(page, '/holds');
    await page.locator('[data-testid=audit-rules-open]').click();
    await page.locator('[data-testid=audit-rules] [data-testid=owner-only]').waitFor();
    assert.ok(await page.locator('[data-testid=audit-rules-save]').isDisabled());
    await page.keyboard.press('Escape');

    // Staff see the users but cannot invite.
    await gotoApp(page, '/settings/users');
    await page.locator(`[data-testid=users-table] tr[data-user="${staffEmail}"][data-role=staff]`).waitFor();
    await page.locator(`[data-testid=users-table] tr[data-user="${owner.email}"][data-role=owner]`).waitFor();
    assert.ok(await page.locator('[data-testid=invite-open]').isDisabled());
    await page.locator('[data-testid=users] [data-testid=owner-only][data-scope="users:write"]').waitFor();
    assert.equal(await page.locator(`[data-testid=invites-table] tr[data-invite="${staffEmail}"]`).count(), 0, 'accepted');
    await settle(page);
    await shootBoth(page, 'users-staff', { fullPage: false });

    // Apps & access is the owner's alone.
    await page.locator('[data-nav="/settings/apps"]').click();
    const ownerOnly = page.locator('[data-testid=apps-owner-only]');
    await ownerOnly.waitFor();
    assert.match(await ownerOnly.innerText(), /只有账号所有者可以管理应用授权/);
    assert.equal(await page.locator('[data-testid=grants-table], [data-testid=apps-table]').count(), 0);
    await settle(page);
    await shootBoth(page, 'apps-staff', { fullPage: false });

    // So is the consent page: staff are told so before anything is asked of the server.
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: randomUUID(),
      redirect_uri: 'https://isv.example/cb',
      scope: 'orders:read',
      state: 's',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    await gotoApp(page, `/oauth/authorize?${q}`);
    await page.locator('[data-testid=consent-owner-only]').waitFor();
    assert.match(await page.locator('[data-testid=consent]').innerText(), /只有账号所有者可以授权应用/);
    await settle(page);
    await shootBoth(page, 'consent-staff', { fullPage: false });

    // Whatever the page believes, the server decides: with the role unknown to the page (as
    // with a token from before roles), the save is sent, and its 403 reads as the permission
    // it lacks.
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('cairn.session'));
      sessionStorage.setItem('cairn.session', JSON.stringify({ ...s, scopes: null, role: null }));
    });
    await gotoApp(page, '/invoices?tab=settings');
    const settings = page.locator('[data-testid=invoice-settings]');
    await settings.locator('input[name=seller_name]').fill('员工不能改的公司');
    await settings.locator('input[name=tax_id]').fill('91330106MA27XL5X2K');
    await settings.locator('[data-testid=invoice-settings-save]').click();
    const err = settings.locator('.error-text[data-code=insufficient_scope]');
    await err.waitFor();
    assert.match(await err.innerText(), /缺少权限：更改设置 \(settings:write\)/);
    await shootBoth(page, 'insufficient-scope', { fullPage: false });
    assertClean(sb);
  } finally {
    await sb.close();
  }

  // The server agrees: the staff token is refused settings and grants; the link worked once.
  const login = await api('/v1/auth/token', { method: 'POST', body: { email: staffEmail, password: staffPassword } });
  assert.equal(login.status, 200);
  assert.equal(login.body.role, 'staff');
  assert.ok(!login.body.scope.split(' ').includes('settings:write'));
  const token = new URL(link).hash.replace('#token=', '');
  const again = await api('/v1/invites/accept', { method: 'POST', body: { token, password: 'another password' } });
  assert.equal(again.status, 404);
  const users = await api('/v1/users', { token: owner.token });
  assert.deepEqual(users.body.users.map((u) => u.role).sort(), ['owner', 'staff']);
});

test('a used or broken invitation link says so', async () => {
  const b = await openBrowser();
  try {
    const { page } = b;
    await gotoApp(page, '/invite');
    await page.locator('[data-testid=invite-no-token]').waitFor();
    await gotoApp(page, `/invite#token=${randomUUID()}.nope`);
    const form = page.locator('[data-testid=invite-form]');
    await form.locator('input[name=password]').fill('long enough password');
    await form.locator('input[name=password_again]').fill('long enough password');
    await form.locator('[data-testid=invite-submit]').click();
    await form.locator('[data-testid=invite-invalid]').waitFor();
    assert.equal(await page.locator('[data-testid=logout]').count(), 0, 'nobody is logged in');
    await settle(page);
    await shootBoth(page, 'invite-invalid', { fullPage: false });
    assertClean(b);
  } finally {
    await b.close();
  }
});
