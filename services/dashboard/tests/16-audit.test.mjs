import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, assertClean, gotoApp, loginUi, openBrowser, settle, shootBoth, signupApi, uid } from './lib.mjs';

/** The rows on screen as the page marks them. */
async function rows(page) {
  return page.locator('[data-testid=audit-table] tr[data-entry]').evaluateAll((xs) =>
    xs.map((x) => ({
      id: x.dataset.entry,
      route: x.dataset.route,
      method: x.dataset.method,
      status: Number(x.dataset.status),
      actor: x.dataset.actor,
      kind: x.dataset.actorKind,
      text: x.innerText,
    })),
  );
}

test("the audit log lists the tenant's changes newest first, by whom, filtered by outcome and actor, older pages on request", async () => {
  const seller = await signupApi('audit');
  const { token } = seller;

  // Changes through the API with the seller's token: a SKU, an adjustment with an
  // Idempotency-Key, a subscription created and deleted (a route with an id)…
  const sku = `AUD-${uid().slice(0, 6)}`;
  assert.equal((await api('/v1/skus', { token, method: 'POST', body: { code: sku, name: '审计测试' } })).status, 201);
  const key = randomUUID();
  const adj = await api('/v1/stock/adjustments', {
    token,
    method: 'POST',
    headers: { 'Idempotency-Key': key },
    body: { sku_code: sku, delta: 3, reason: '审计' },
  });
  assert.ok(adj.status < 300);
  const sub = await api('/v1/subscriptions', {
    token,
    method: 'POST',
    body: { url: `https://erp.example.com/hooks/${uid()}`, event_types: ['order.paid'] },
  });
  assert.equal(sub.status, 201);
  const subId = sub.body.subscription.id;
  assert.equal((await api(`/v1/subscriptions/${subId}`, { token, method: 'DELETE' })).status, 204);
  // …and 50 refused ones (400), more than one page.
  for (let i = 0; i < 50; i++) {
    const bad = await api('/v1/subscriptions', {
      token,
      method: 'POST',
      body: { url: `ftp://x.example/${i}`, event_types: ['order.paid'] },
    });
    assert.equal(bad.status, 400);
  }
  const me = (await api('/v1/users', { token })).body.users.find((u) => u.email === seller.email);

  const b = await openBrowser();
  try {
    const { page } = b;
    await gotoApp(page, '/settings/users');
    await loginUi(page, seller);
    // One change in the screen: an invitation.
    await page.locator('[data-testid=invite-open]').click();
    const dialog = page.locator('[data-testid=invite-dialog]');
    await dialog.locator('input[name=email]').fill(`new-${uid().toLowerCase()}@example.cn`);
    await dialog.locator('[data-testid=invite-submit]').click();
    await dialog.locator('[data-testid=invite-link]').waitFor();
    await dialog.locator('[data-testid=invite-done]').click();

    await page.locator('[data-nav="/settings/audit"]').click();
    const table = page.locator('[data-testid=audit-table]');
    await table.locator('tr[data-entry]').first().waitFor();
    let list = await rows(page);
    assert.equal(list.length, 50, 'one page of 50');
    assert.deepEqual([list[0].method, list[0].route, list[0].status], ['POST', '/v1/users', 201], 'the newest first: the invitation');
    assert.equal(list[0].actor, seller.email);
    assert.equal(list[0].kind, 'user');
    assert.match(list[0].text, /成员/);
    assert.ok(list.slice(1).every((r) => r.route === '/v1/subscriptions' && r.status === 400));
    assert.match(list[1].text, /400 失败/);
    await settle(page);
    await shootBoth(page, 'audit');

    // Older entries on request.
    await page.locator('[data-testid=audit-older]').click();
    await table.locator('tr[data-route="/v1/stock/adjustments"]').waitFor();
    list = await rows(page);
    assert.equal(list.length, 55, 'all of them');
    assert.equal(await page.locator('[data-testid=audit-older]').count(), 0, 'no more pages');
    const tail = list.slice(-4).map((r) => `${r.method} ${r.route} ${r.status}`);
    assert.deepEqual(tail, [
      'DELETE /v1/subscriptions/{id} 204',
      'POST /v1/subscriptions 201',
      'POST /v1/stock/adjustments 201',
      'POST /v1/skus 201',
    ]);
    const adjRow = table.locator('tr[data-route="/v1/stock/adjustments"]');
    assert.match(await adjRow.innerText(), new RegExp(key));
    // The route names the operation; the concrete path is on hover and on expanding it.
    const delRow = table.locator('tr[data-route="/v1/subscriptions/{id}"]');
    assert.equal(await delRow.locator('.audit-route').getAttribute('title'), `DELETE /v1/subscriptions/${subId}`);
    await delRow.locator('.audit-route').click();
    assert.match(await delRow.locator('[data-testid=audit-path]').innerText(), new RegExp(subId));
    await adjRow.evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await shootBoth(page, 'audit-older', { fullPage: false });

    // Failed only: the refused calls and nothing else.
    await page.locator('[data-testid=audit-outcome] [data-outcome=failed]').click();
    await table.locator('tr[data-route="/v1/users"]').waitFor({ state: 'detached' });
    await table.locator('tr[data-entry]').first().waitFor();
    await settle(page);
    list = await rows(page);
    assert.equal(list.length, 50);
    assert.ok(list.every((r) => r.status >= 400));
    await settle(page);
    await shootBoth(page, 'audit-failed', { fullPage: false });

    // Succeeded only, by this user (chosen from the actors seen).
    await page.locator('[data-testid=audit-outcome] [data-outcome=succeeded]').click();
    await table.locator('tr[data-route="/v1/users"]').waitFor();
    await settle(page);
    const options = await page.locator('[data-testid=audit-actor] option').evaluateAll((xs) => xs.map((x) => [x.value, x.textContent]));
    assert.ok(
      options.some(([v, text]) => v === `user:${me.id}` && text.includes(seller.email)),
      JSON.stringify(options),
    );
    const asked = page.waitForResponse((r) => {
      const u = new URL(r.url());
      return (
        u.pathname === '/v1/audit-log' && u.searchParams.get('actor') === `user:${me.id}` && u.searchParams.get('outcome') === 'succeeded'
      );
    });
    await page.locator('[data-testid=audit-actor]').selectOption(`user:${me.id}`);
    assert.equal((await asked).status(), 200);
    await table.locator('tr[data-entry]').first().waitFor();
    await settle(page);
    list = await rows(page);
    assert.equal(list.length, 5);
    assert.ok(list.every((r) => r.status < 400 && r.actor === seller.email));

    // Another tenant's log is its own.
    const other = await signupApi('audit-other');
    const theirs = await api('/v1/audit-log', { token: other.token });
    assert.equal(theirs.status, 200);
    assert.deepEqual(theirs.body.entries, []);
    assertClean(b);
  } finally {
    await b.close();
  }
});
