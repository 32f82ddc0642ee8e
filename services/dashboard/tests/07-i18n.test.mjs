import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClean, gotoApp, loginUi, openBrowser } from './lib.mjs';

test('switching to English changes the labels, and a reload keeps it', async () => {
  const b = await openBrowser();
  const { page } = b;
  try {
    await gotoApp(page, '/');
    await loginUi(page);
    const nav = page.locator('.nav [data-nav="/orders"]');
    assert.equal((await nav.innerText()).trim(), '订单', 'zh-CN by default');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    await page.locator('.topbar [data-lang=en]').click();
    await page.waitForFunction(() => document.documentElement.lang === 'en');
    assert.equal((await nav.innerText()).trim(), 'Orders');
    assert.match(await page.locator('[data-testid=logout]').innerText(), /Log out/);
    await page.reload();
    await page.locator('[data-testid=logout]').waitFor();
    assert.equal((await nav.innerText()).trim(), 'Orders', 'the choice survives a reload');
    assert.equal(await page.evaluate(() => localStorage.getItem('cairn.lang')), 'en');
    await page.locator('.topbar [data-lang=zh-CN]').click();
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
    assert.equal((await nav.innerText()).trim(), '订单');
    assertClean(b);
  } finally {
    await b.close();
  }
});
