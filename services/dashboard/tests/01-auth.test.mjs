import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { assertClean, gotoApp, openBrowser, setLang, shootBoth } from './lib.mjs';

test('sign up, log out, a wrong password is shown as an error, log in', async () => {
  const b = await openBrowser();
  const { page } = b;
  try {
    const id = randomUUID().slice(0, 8);
    const email = `seller-${id}@example.cn`;
    const password = `correct horse ${id}`;

    await gotoApp(page, '/');
    await page.locator('[data-testid=login-form]').waitFor();
    await shootBoth(page, 'login');

    await page.getByRole('link', { name: '注册' }).click();
    await page.locator('[data-testid=signup-form]').waitFor();
    await page.locator('input[name=tenant_name]').fill(`云栈测试 ${id}`);
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await shootBoth(page, 'signup');
    await page.locator('[data-testid=signup-submit]').click();

    // Signed up and in: the shell shows who is logged in, on the overview.
    await page.locator('[data-testid=user-email]').filter({ hasText: email }).waitFor();
    await page.locator('[data-testid=overview]').waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem('cairn.session'));
    assert.ok(stored && JSON.parse(stored).token, 'the token is kept in sessionStorage');

    await page.locator('[data-testid=logout]').click();
    await page.locator('[data-testid=login-form]').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cairn.session')), null, 'logout drops the token');

    // A wrong password shows the server's problem detail, in either language.
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill('not the password');
    await page.locator('[data-testid=login-submit]').click();
    const err = page.locator('[data-testid=login-form] [role=alert]');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-code'), 'invalid_credentials');
    assert.match(await err.innerText(), /邮箱或密码错误/);
    assert.match(await err.innerText(), /Email or password is wrong/, 'the server detail is shown');
    await shootBoth(page, 'login-error');
    await setLang(page, 'en');
    assert.match(await err.innerText(), /Wrong email or password/);
    await setLang(page, 'zh-CN');

    await page.locator('input[name=password]').fill(password);
    await page.locator('[data-testid=login-submit]').click();
    await page.locator('[data-testid=overview]').waitFor();

    // A token the server no longer accepts (401) ends the session with a clear message.
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('cairn.session'));
      s.token = s.token.slice(0, -4) + 'AAAA';
      sessionStorage.setItem('cairn.session', JSON.stringify(s));
    });
    await page.reload();
    await page.locator('[data-testid=session-expired]').waitFor();
    assert.match(await page.locator('[data-testid=session-expired]').innerText(), /登录已过期，请重新登录/);
    await shootBoth(page, 'session-expired');

    // So does a token whose `exp` has passed, without asking the server.
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await page.locator('[data-testid=login-submit]').click();
    await page.locator('[data-testid=overview]').waitFor();
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('cairn.session'));
      s.exp = Math.floor(Date.now() / 1000) - 5;
      sessionStorage.setItem('cairn.session', JSON.stringify(s));
    });
    await page.reload();
    await page.locator('[data-testid=session-expired]').waitFor();
    assertClean(b);
  } finally {
    await b.close();
  }
});
