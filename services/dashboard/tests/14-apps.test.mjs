import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { BASE, DEMO, api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, signupApi, tokenFor, until } from './lib.mjs';

/** A tiny app backend: records every request to its redirect URI and answers a page. */
async function callbackServer() {
  const hits = [];
  const server = createServer((req, res) => {
    // Only the callback counts: the browser also asks this origin for /favicon.ico, late.
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/cb') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>ISV callback</title><p>Back at the app.</p>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { hits, base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** PKCE (RFC 7636): a random verifier and its S256 challenge. */
function pkce() {
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function authorizePath({ clientId, redirectUri, scope, state, challenge, responseType = 'code' }) {
  const q = new URLSearchParams({ response_type: responseType, client_id: clientId, redirect_uri: redirectUri, state });
  if (scope) q.set('scope', scope);
  if (challenge) {
    q.set('code_challenge', challenge);
    q.set('code_challenge_method', 'S256');
  }
  return `/oauth/authorize?${q}`;
}

/** `POST /v1/oauth/token`, form-encoded, the client authenticated with HTTP Basic. */
async function tokenCall(client, form) {
  const res = await fetch(`${BASE}/v1/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

test('an ISV registers an app; a seller grants it access on the consent page, and revoking ends its token', async () => {
  const cb = await callbackServer();
  const redirectUri = `${cb.base}/cb`;
  const isv = await signupApi('isv');
  const appName = `账本同步 ${isv.tenantId.slice(0, 4)}`;
  const client = {};

  // 1. The ISV registers its app from the Apps & access screen: the secret is shown once.
  const ib = await openBrowser();
  try {
    const { page } = ib;
    await gotoApp(page, '/settings/apps');
    await loginUi(page, isv);
    await page.locator('[data-testid=grants-table] [data-state=empty]').waitFor();
    await page.locator('[data-testid=app-register]').click();
    const dialog = page.locator('[data-testid=register-dialog]');
    await dialog.locator('input[name=name]').fill(appName);
    await dialog.locator('textarea[name=redirect_uris]').fill(`http://isv.example/cb`);
    // The browser says what the server would: http:// only on this machine.
    await dialog.locator('.field-error').filter({ hasText: 'localhost' }).waitFor();
    assert.ok(await dialog.locator('[data-testid=register-submit]').isDisabled());
    await dialog.locator('textarea[name=redirect_uris]').fill(redirectUri);
    // Only grantable scopes are offered.
    const offered = await dialog.locator('input[name=scope]').evaluateAll((xs) => xs.map((x) => x.value));
    for (const never of ['grants:read', 'grants:write', 'apps:read', 'apps:write', 'users:write']) {
      assert.ok(!offered.includes(never), `${never} is not offered`);
    }
    assert.ok(offered.includes('settings:write') && offered.includes('orders:read'));
    await dialog.locator('input[name=scope][value="stock:read"]').check();
    await dialog.locator('input[name=rate_limit_per_minute]').fill('600');
    await shootBoth(page, 'apps-register', { fullPage: false });
    await dialog.locator('[data-testid=register-submit]').click();
    client.id = await dialog.locator('[data-testid=app-client-id]').innerText();
    const first = await dialog.locator('[data-testid=app-secret]').innerText();
    assert.match(first, /^cs_/);
    await shootBoth(page, 'apps-registered', { fullPage: false });
    await dialog.locator('[data-testid=register-done]').click();
    const row = page.locator(`[data-testid=apps-table] tr[data-app="${client.id}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /查看订单[\s\S]*查看库存/);
    assert.match(await row.innerText(), /600 次\/分钟/);
    assert.ok(!(await page.locator('.content').innerText()).includes(first), 'the secret is not shown again');

    // Rotating shows the new secret once; the old one stops authenticating the client.
    await row.locator('[data-testid=app-rotate]').click();
    const rotate = page.locator('[data-testid=rotate-dialog]');
    await rotate.locator('[data-testid=rotate-confirm]').click();
    client.secret = await rotate.locator('[data-testid=app-secret]').innerText();
    assert.notEqual(client.secret, first);
    await rotate.locator('[data-testid=rotate-done]').click();
    await settle(page);
    await shootBoth(page, 'apps-isv');
    const old = await tokenCall({ id: client.id, secret: first }, { grant_type: 'client_credentials', tenant_id: isv.tenantId });
    assert.equal(old.status, 401);
    assert.equal(old.body.code, 'invalid_client');
    assertClean(ib);
  } finally {
    await ib.close();
  }

  // 2. The seller (the demo tenant, which has orders) is sent to the consent page by the app.
  const seller = await tokenFor();
  const sellerTenant = JSON.parse(Buffer.from(seller.split('.')[1], 'base64url').toString()).tenant_id;
  const sb = await openBrowser();
  try {
    const { page } = sb;
    const { verifier, challenge } = pkce();
    const state = `st-${randomBytes(6).toString('hex')}`;
    await gotoApp(page, authorizePath({ clientId: client.id, redirectUri, scope: 'orders:read stock:read', state, challenge }));
    // Not logged in: the login comes first and says why, then the same request again.
    await page.locator('[data-testid=login-for-consent]').waitFor();
    await shootBoth(page, 'consent-login', { fullPage: false });
    await page.locator('[data-testid=login-form] input[name=email]').fill(DEMO.email);
    await page.locator('[data-testid=login-form] input[name=password]').fill(DEMO.password);
    await page.locator('[data-testid=login-submit]').click();
    const consent = page.locator('[data-testid=consent-request]');
    await consent.waitFor();
    assert.equal(new URL(page.url()).searchParams.get('code_challenge'), challenge, 'the query survived the login');
    assert.equal(await page.locator('[data-testid=consent-app-name]').innerText(), appName);
    const scopes = await consent.locator('[data-testid=consent-scopes] li').evaluateAll((xs) => xs.map((x) => x.dataset.scope));
    assert.deepEqual(scopes, ['orders:read', 'stock:read']);
    assert.match(await consent.locator('[data-scope="orders:read"]').innerText(), /查看订单[\s\S]*读取订单/);
    assert.equal(await page.locator('[data-testid=consent-redirect-host]').innerText(), new URL(cb.base).host);
    await settle(page);
    await shootBoth(page, 'consent');

    // Approve: the browser goes to the app's redirect URI with the code and the state.
    await consent.locator('[data-testid=consent-approve]').click();
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    const hit = await until(() => cb.hits.find((h) => h.pathname === '/cb' && h.searchParams.get('state') === state), {
      what: 'the callback',
    });
    const code = hit.searchParams.get('code');
    assert.ok(code, 'a code');
    assert.equal(hit.searchParams.get('error'), null);

    // The app exchanges it from its server, with the verifier only it knows.
    const wrong = await tokenCall(client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: pkce().verifier,
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.code, 'invalid_grant');
    const tok = await tokenCall(client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    assert.equal(tok.body.scope, 'orders:read stock:read');
    assert.equal(tok.body.tenant_id, sellerTenant);
    const access = tok.body.access_token;
    const orders = await api('/v1/orders?per_page=1', { token: access });
    assert.equal(orders.status, 200);
    assert.ok(orders.body.items.length > 0, "the seller's orders");
    assert.equal((await api('/v1/skus', { token: access })).status, 200);
    const refused = await api('/v1/invoicing/settings', { token: access, method: 'PUT', body: {} });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'insufficient_scope');

    // 3. The seller sees the grant in Apps & access and revokes it.
    await gotoApp(page, '/settings/apps');
    const grants = page.locator('[data-testid=grants-table]');
    const grant = grants.locator(`tr[data-app="${client.id}"][data-state=active]`);
    await grant.waitFor();
    const text = await grant.innerText();
    assert.match(text, new RegExp(appName));
    assert.match(text, /查看订单[\s\S]*查看库存/);
    assert.match(text, new RegExp(DEMO.email.replace('.', '\\.')), 'granted by the demo seller');
    assert.match(text, /有效/);
    await settle(page);
    await shootBoth(page, 'apps-grants', { fullPage: false });
    await grant.locator('[data-testid=grant-revoke]').click();
    const dialog = page.locator('[data-testid=revoke-dialog]');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /令牌立即失效/);
    await shootBoth(page, 'apps-revoke', { fullPage: false });
    await dialog.locator('[data-testid=revoke-confirm]').click();
    await grants.locator(`tr[data-app="${client.id}"][data-state=revoked]`).waitFor();
    assert.match(await grants.locator(`tr[data-app="${client.id}"][data-state=revoked]`).innerText(), /已撤销/);
    await settle(page);
    await shootBoth(page, 'apps-revoked', { fullPage: false });

    // The same token is refused at once.
    const after = await api('/v1/orders?per_page=1', { token: access });
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'unauthorized');
    const refresh = await tokenCall(client, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(refresh.status, 400);

    // 4. Denying sends the browser back with access_denied and the state, and no code.
    const denyState = `deny-${randomBytes(4).toString('hex')}`;
    await gotoApp(
      page,
      authorizePath({ clientId: client.id, redirectUri, scope: 'orders:read', state: denyState, challenge: pkce().challenge }),
    );
    await page.locator('[data-testid=consent-request]').waitFor();
    // Revoked, so nothing counts as granted any more.
    assert.equal(await page.locator('[data-testid=consent-scopes] li[data-granted=yes]').count(), 0);
    await page.locator('[data-testid=consent-deny]').click();
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    const denied = await until(() => cb.hits.find((h) => h.searchParams.get('state') === denyState), { what: 'the denial' });
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('code'), null);
    const listed = await api('/v1/grants', { token: seller });
    assert.equal(listed.body.grants.filter((g) => g.app_id === client.id && !g.revoked_at).length, 0, 'denying grants nothing');

    // 5. Bad requests are explained on the page and never leave it.
    const hitsBefore = cb.hits.length;
    const bad = [
      [
        authorizePath({
          clientId: client.id,
          redirectUri: `${cb.base}/evil`,
          scope: 'orders:read',
          state: 'x',
          challenge: pkce().challenge,
        }),
        /redirect_uri/,
        'consent-bad-redirect',
      ],
      [
        authorizePath({ clientId: client.id, redirectUri, scope: 'orders:write', state: 'x', challenge: pkce().challenge }),
        /申请的权限无效/,
        null,
      ],
      [
        authorizePath({
          clientId: '0190a0a0-0000-7000-8000-000000000000',
          redirectUri,
          scope: 'orders:read',
          state: 'x',
          challenge: pkce().challenge,
        }),
        /client_id/,
        null,
      ],
      [
        authorizePath({
          clientId: client.id,
          redirectUri,
          scope: 'orders:read',
          state: 'x',
          challenge: pkce().challenge,
          responseType: 'token',
        }),
        /response_type 必须是 code/,
        'consent-bad-response-type',
      ],
      [authorizePath({ clientId: client.id, redirectUri, scope: 'orders:read', state: 'x' }), /code_challenge/, null],
    ];
    for (const [path, why, shot] of bad) {
      await gotoApp(page, path);
      const err = page.locator('[data-testid=consent-error]');
      await err.waitFor();
      assert.match(await err.innerText(), why, path);
      assert.equal(await page.locator('[data-testid=consent-approve], [data-testid=consent-deny]').count(), 0);
      assert.ok(page.url().startsWith(BASE), 'still on the dashboard');
      if (shot) {
        await settle(page);
        await shootBoth(page, shot, { fullPage: false });
      }
    }
    assert.equal(cb.hits.length, hitsBefore, 'the app was never called back');
    assertClean(sb);
  } finally {
    await sb.close();
    await cb.close();
  }
});
