// The TypeScript client generated from Cairn's OpenAPI, used the way an ISV would use it.
//
// `cargo xtask clients` generates `cairn.d.ts` with openapi-typescript from a live `cairn up`'s
// /openapi.json, type-checks this file against it (tsc, strict), and runs
// `node smoke.js <base-url>`. Every call goes through openapi-fetch typed by those paths, except
// the marketplace's own webhook: a shop's trades reach Cairn signed by Bazaar, not through an
// API client. Exits 1 at the first answer that is not what it should be.

import { createHmac } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./cairn.js";

type Schemas = components["schemas"];

const SKU = "SMOKE-TEE-M";
const RECEIVED = 100;
const RESERVED_DIRECTLY = 3;
const ORDERED = 2;
const TID = "T-SMOKE-0001";

class Mismatch extends Error {}

/** The answer's typed body, once its status is the expected one. */
function parsed<T>(what: string, answer: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (answer.response.status !== status || answer.data === undefined) {
    throw new Mismatch(
      `${what}: answered ${answer.response.status}, not ${status}: ${JSON.stringify(answer.error ?? answer.data)}`,
    );
  }
  return answer.data;
}

function check(what: string, got: unknown, want: unknown): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Mismatch(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

type Client = ReturnType<typeof createClient<paths>>;

async function stockIs(client: Client, what: string, onHand: number, reserved: number): Promise<Schemas["StockDto"]> {
  const stock = parsed(
    what,
    await client.GET("/v1/stock/{sku_code}", { params: { path: { sku_code: SKU } } }),
    200,
  );
  check(`${what}: on_hand`, stock.on_hand, onHand);
  check(`${what}: reserved`, stock.reserved, reserved);
  check(`${what}: available`, stock.available, onHand - reserved);
  return stock;
}

/** What Bazaar sends when a buyer pays: a JSON trade, HMAC-signed over its exact bytes. */
async function pushPaidTrade(channel: Schemas["ChannelDto"], quantity: number): Promise<void> {
  const body = JSON.stringify({
    topic: "trade.TradeBuyerPay",
    shop_id: channel.shop_id,
    trade: {
      tid: TID,
      status: "WAIT_SELLER_SEND_GOODS",
      created: "2026-11-11T00:00:00.120+08:00",
      pay_time: "2026-11-11T00:00:03.005+08:00",
      modified: "2026-11-11T00:00:03.005+08:00",
      buyer_nick: "买家小王",
      currency: "CNY",
      payment: "418.00",
      orders: [
        {
          oid: "O1",
          outer_sku_id: SKU,
          title: "纯棉T恤 红色 M",
          num: quantity,
          price: "209.00",
          payment: "418.00",
          refund_status: "NO_REFUND",
        },
      ],
    },
  });
  const secret = channel.webhook_secret;
  if (typeof secret !== "string") {
    throw new Mismatch("the new Bazaar channel has no webhook_secret");
  }
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("base64");
  const answer = await fetch(channel.webhook_url, {
    method: "POST",
    body,
    headers: {
      "Content-Type": "application/json",
      "X-Bazaar-Topic": "trade.TradeBuyerPay",
      "X-Bazaar-Message-Id": "smoke-msg-1",
      "X-Bazaar-Timestamp": timestamp,
      "X-Bazaar-Signature": signature,
      "X-Bazaar-Shop-Id": channel.shop_id,
    },
  });
  check("the signed webhook's status", answer.status, 200);
}

/** The order the trade became, once inventory has reserved its line (that runs on the bus). */
async function orderWhenAllocated(client: Client): Promise<Schemas["OrderDto"]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const page = parsed(
      "GET /v1/orders?external_id",
      await client.GET("/v1/orders", { params: { query: { external_id: TID } } }),
      200,
    );
    const order = page.items[0];
    if (order?.lines[0]?.reservation_state) {
      return order;
    }
    if (Date.now() > deadline) {
      throw new Mismatch(`trade ${TID} did not become an order with a reserved line within 30 s: ${JSON.stringify(page)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function smoke(baseUrl: string): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const signup = parsed(
    "POST /v1/signup",
    await anonymous.POST("/v1/signup", {
      body: { tenant_name: "云栈服饰 (TypeScript)", email: "ts@example.com", password: "correct horse battery" },
    }),
    201,
  );
  console.log(`signed up tenant ${signup.tenant_id}`);
  const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${signup.access_token}` } });

  const sku = parsed(
    "POST /v1/skus",
    await client.POST("/v1/skus", { body: { code: SKU, name: "纯棉T恤 红色 M" } }),
    201,
  );
  check("the new SKU's code", sku.code, SKU);

  const adjustment: Schemas["NewAdjustment"] = { sku_code: SKU, delta: RECEIVED, reason: "initial count" };
  for (const attempt of ["POST /v1/stock/adjustments", "the same adjustment retried with its Idempotency-Key"]) {
    const stock = parsed(
      attempt,
      await client.POST("/v1/stock/adjustments", {
        params: { header: { "Idempotency-Key": "smoke-delivery-1" } },
        body: adjustment,
      }),
      201,
    );
    check(`${attempt}: on_hand`, stock.on_hand, RECEIVED);
  }
  console.log(`created SKU ${SKU} and received ${RECEIVED} (once, though sent twice)`);

  const reservation = parsed(
    "POST /v1/reservations",
    await client.POST("/v1/reservations", {
      params: { header: { "Idempotency-Key": "smoke-po-77" } },
      body: { reference: "PO-77", lines: [{ sku_code: SKU, quantity: RESERVED_DIRECTLY }] },
    }),
    201,
  );
  check("the reservation's state", reservation.state, "held");
  check(
    "the reservation's lines",
    reservation.lines.map((line) => [line.sku_code, line.quantity]),
    [[SKU, RESERVED_DIRECTLY]],
  );
  await stockIs(client, "stock after the reservation", RECEIVED, RESERVED_DIRECTLY);
  console.log(`reserved ${RESERVED_DIRECTLY}: reservation ${reservation.id}`);

  const channel = parsed(
    "POST /v1/channels",
    await client.POST("/v1/channels", { body: { marketplace: "bazaar", shop_id: "smoke-shop-ts", name: "Flagship" } }),
    201,
  );
  await pushPaidTrade(channel, ORDERED);
  const listed = await orderWhenAllocated(client);
  const order = parsed(
    "GET /v1/orders/{id}",
    await client.GET("/v1/orders/{id}", { params: { path: { id: listed.id } } }),
    200,
  );
  check("the order's trade id", order.external_id, TID);
  check("the order's shop", order.channel_id, channel.id);
  check("the order's status", order.status, "allocated");
  check("the order's payment", order.payment, "418.00");
  check(
    "the order's lines",
    order.lines.map((line) => [line.sku_code, line.quantity]),
    [[SKU, ORDERED]],
  );
  const line = order.lines[0];
  check("the order line's reservation", line?.reservation_state, "confirmed");
  if (!order.timeline?.length) {
    throw new Mismatch(`GET /v1/orders/{id} has no timeline: ${JSON.stringify(order)}`);
  }
  const stock = await stockIs(client, "stock after the order", RECEIVED, RESERVED_DIRECTLY + ORDERED);
  console.log(
    `read order ${order.id} (${order.status}, ${line?.quantity} × ${line?.sku_code} ${line?.reservation_state}); ` +
      `stock ${stock.on_hand} on hand, ${stock.reserved} reserved, ${stock.available} available`,
  );
}

async function main(): Promise<number> {
  const [baseUrl, ...extra] = process.argv.slice(2);
  if (baseUrl === undefined || extra.length > 0) {
    console.error("usage: node smoke.js <base-url>");
    return 2;
  }
  try {
    await smoke(baseUrl);
  } catch (e) {
    if (e instanceof Mismatch) {
      console.error(`smoke.ts: FAILED: ${e.message}`);
      return 1;
    }
    throw e;
  }
  console.log("smoke.ts: OK");
  return 0;
}

process.exitCode = await main();
