// Development only (never built into dist/): with CAIRN_PLANNED_SHIM=1 the dev and preview
// servers answer two planned routes from today's API, so the code paths for them (the live
// stream and the orders-per-minute chart) can be exercised before the server has them:
//   GET /v1/orders/stats   — counted from GET /v1/orders pages (slow; fine for a demo tenant)
//   GET /v1/events/stream  — SSE with `order.changed` for orders that appear or change,
//                            found by polling GET /v1/orders every 2 s; `: keepalive` every 15 s
// It follows the contracts in src/api/planned.ts and src/api/events.ts.
import type { Connect, Plugin } from 'vite';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Order = {
  id: string;
  channel_id: string;
  external_id: string;
  status: string;
  created: string;
  paid_at: string | null;
  modified: string;
  payment: string;
  buyer_nick: string;
};

async function getJson(target: string, path: string, auth: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${target}${path}`, { headers: { Authorization: auth } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function stats(target: string, url: URL, auth: string, res: ServerResponse) {
  const since = new Date(url.searchParams.get('since') ?? '');
  const step = Math.max(1, Number(url.searchParams.get('bucket_seconds')) || 60);
  if (Number.isNaN(since.getTime())) {
    res.writeHead(400, { 'content-type': 'application/problem+json' });
    res.end(
      JSON.stringify({ type: 'about:blank', title: 'bad since', status: 400, detail: '`since` must be RFC 3339', code: 'invalid_input' }),
    );
    return;
  }
  const by: Record<string, number> = {};
  const buckets = new Map<number, number>();
  let total = 0;
  for (let page = 1; page <= 40; page++) {
    const r = await getJson(target, `/v1/orders?per_page=500&page=${page}`, auth);
    if (r.status !== 200) {
      res.writeHead(r.status, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify(r.body));
      return;
    }
    const items = (r.body as { items: Order[] }).items;
    let older = false;
    for (const o of items) {
      const t = new Date(o.created).getTime();
      if (t < since.getTime()) {
        older = true;
        continue;
      }
      total += 1;
      by[o.status] = (by[o.status] ?? 0) + 1;
      const b = Math.floor(t / 1000 / step) * step;
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
    if (older || items.length < 500) break;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      since: since.toISOString(),
      total,
      by_status: by,
      buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => ({ start: new Date(s * 1000).toISOString(), orders: n })),
    }),
  );
}

function stream(target: string, req: IncomingMessage, auth: string, res: ServerResponse) {
  let seq = Number(req.headers['last-event-id'] ?? 0) || 0;
  const seen = new Map<string, string>();
  let primed = false;
  let closed = false;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.write(': connected\n\n');
  const poll = async () => {
    if (closed) return;
    try {
      const r = await getJson(target, '/v1/orders?per_page=100', auth);
      if (r.status === 401) {
        res.end();
        return;
      }
      for (const o of ((r.body as { items?: Order[] })?.items ?? []).slice().reverse()) {
        if (seen.get(o.id) === `${o.modified}|${o.status}`) continue;
        seen.set(o.id, `${o.modified}|${o.status}`);
        if (!primed) continue;
        seq += 1;
        const ev = {
          id: String(seq),
          type: 'order.changed',
          occurred_at: new Date().toISOString(),
          payload: {
            order_id: o.id,
            channel_id: o.channel_id,
            external_id: o.external_id,
            status: o.status,
            created_at: o.created,
            paid_at: o.paid_at,
            payment: o.payment,
            buyer_nick: o.buyer_nick,
          },
        };
        res.write(`id: ${seq}\nevent: order.changed\ndata: ${JSON.stringify(ev)}\n\n`);
      }
      primed = true;
    } catch {
      /* the API is down: try again */
    }
    if (!closed) setTimeout(poll, 2000);
  };
  void poll();
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
  req.on('close', () => {
    closed = true;
    clearInterval(keepalive);
  });
}

export function plannedShim(target: string): Plugin {
  const handler: Connect.NextHandleFunction = (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://shim');
    const auth = req.headers.authorization;
    if (req.method !== 'GET' || !auth) return next();
    if (url.pathname === '/v1/orders/stats') return void stats(target, url, auth, res);
    if (url.pathname === '/v1/events/stream') return stream(target, req, auth, res);
    return next();
  };
  return {
    name: 'cairn-planned-shim',
    configureServer(server) {
      server.middlewares.use(handler);
    },
    configurePreviewServer(server) {
      server.middlewares.use(handler);
    },
  };
}
