#!/usr/bin/env node
// Fills a tenant with orders for the benchmark (scripts/bench.mjs): connects a Bazaar shop
// through the public API and sends it N correctly signed paid trades (BAZAAR.md), as the
// marketplace would, then waits until the orders list counts them.
//   node scripts/load.mjs --base-url http://127.0.0.1:8080 --orders 100000 [--concurrency 16]
import { createHmac, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    email: { type: 'string', default: 'demo@cairn.local' },
    password: { type: 'string', default: 'cairn demo' },
    orders: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '16' },
    sku: { type: 'string', default: 'TEE-RED-M' },
  },
});
const base = (values['base-url'] ?? '').replace(/\/$/, '');
if (!base) {
  console.error('usage: node scripts/load.mjs --base-url <url> [--orders 100000] [--concurrency 16]');
  process.exit(2);
}
const n = Number(values.orders);
const json = { 'content-type': 'application/json' };
const login = await fetch(`${base}/v1/auth/token`, {
  method: 'POST',
  headers: json,
  body: JSON.stringify({ email: values.email, password: values.password }),
});
if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
const auth = { Authorization: `Bearer ${(await login.json()).access_token}` };
const shop = `bench-${randomUUID().slice(0, 8)}`;
const ch = await fetch(`${base}/v1/channels`, {
  method: 'POST',
  headers: { ...json, ...auth },
  body: JSON.stringify({ marketplace: 'bazaar', shop_id: shop, name: `压测店 ${shop}` }),
});
if (ch.status !== 201) throw new Error(`connect: ${ch.status} ${await ch.text()}`);
const channel = await ch.json();
const secret = channel.webhook_secret ?? channel.secret;
const before = (await (await fetch(`${base}/v1/orders/counts`, { headers: auth })).json()).total;

const start = Date.now() - n * 1000;
const at = (ms) => new Date(ms + 8 * 3600_000).toISOString().replace('Z', '+08:00');
function trade(i) {
  const created = start + i * 1000;
  return {
    topic: 'trade.TradeBuyerPay',
    shop_id: shop,
    trade: {
      tid: `B${shop}-${String(i).padStart(7, '0')}`,
      status: 'WAIT_SELLER_SEND_GOODS',
      created: at(created),
      pay_time: at(created + 500),
      modified: at(created + 500),
      buyer_nick: `买家${i % 5000}`,
      buyer_memo: null,
      seller_memo: null,
      seller_flag: 0,
      receiver: {
        name: '王小明',
        phone: '13800000000',
        province: '浙江省',
        city: '杭州市',
        district: '余杭区',
        address: `文一西路${i % 999}号`,
        zip: '311121',
      },
      currency: 'CNY',
      payment: '99.00',
      post_fee: '0.00',
      discount_fee: '0.00',
      invoice_request: null,
      orders: [
        {
          oid: `O${shop}-${i}`,
          num_iid: '680000000001',
          sku_id: '5000000000001',
          outer_sku_id: values.sku,
          title: '纯棉T恤',
          num: 1,
          price: '99.00',
          payment: '99.00',
          refund_status: 'NO_REFUND',
        },
      ],
    },
  };
}

let next = 0;
let failed = 0;
const t0 = performance.now();
async function worker() {
  while (next < n) {
    const i = next++;
    const body = JSON.stringify(trade(i));
    const ts = Math.floor(Date.now() / 1000);
    const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('base64');
    const r = await fetch(`${base}/v1/webhooks/bazaar/${channel.id}`, {
      method: 'POST',
      headers: {
        ...json,
        'X-Bazaar-Topic': 'trade.TradeBuyerPay',
        'X-Bazaar-Message-Id': `load-${shop}-${i}`,
        'X-Bazaar-Timestamp': String(ts),
        'X-Bazaar-Signature': sig,
        'X-Bazaar-Shop-Id': shop,
      },
      body,
    });
    await r.arrayBuffer();
    if (!r.ok) failed++;
    if (i % 10000 === 0) console.log(`sent ${i} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
}
await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
console.log(`sent ${n} trades in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${failed} refused`);
for (;;) {
  const total = (await (await fetch(`${base}/v1/orders/counts`, { headers: auth })).json()).total;
  if (total - before >= n - failed) break;
  await new Promise((r) => setTimeout(r, 1000));
}
console.log(`all ${n - failed} are orders (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
