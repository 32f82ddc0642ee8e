// Queries more than one screen uses, and the fallbacks for planned routes: when today's
// server lacks a route, the answer is assembled from the routes it has (and marked so the
// screen can say what it shows).
import { useQuery } from '@tanstack/react-query';
import { api, call } from './api/client';
import type { ByStatus, OrderCounts, OrderFilters, OrderStatus, StockItem } from './api/planned';
import { routeMissing } from './api/problem';
import type { components } from './api/schema';

export type Channel = components['schemas']['ChannelDto'];
export type Order = components['schemas']['OrderDto'];
export type Sku = components['schemas']['SkuDto'];
export type Warehouse = components['schemas']['WarehouseDto'];
export type StockDto = components['schemas']['StockDto'];
export type Invoice = components['schemas']['InvoiceDto'];
export type SyncReport = components['schemas']['SyncReport'];

export const ORDER_STATUSES: OrderStatus[] = [
  'pending_payment',
  'paid',
  'allocated',
  'backordered',
  'on_hold',
  'partially_shipped',
  'shipped',
  'completed',
  'cancelled',
];

/** Planned routes this server turned out not to have; looked at again after a while. */
const missing = new Map<string, number>();
const RECHECK_MS = 5 * 60_000;

export function knownMissing(route: string): boolean {
  const at = missing.get(route);
  if (at === undefined) return false;
  if (Date.now() - at > RECHECK_MS) {
    missing.delete(route);
    return false;
  }
  return true;
}

/** Runs the planned call; on "no such route" remembers that and runs the fallback. */
export async function planned<T>(route: string, run: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
  if (knownMissing(route)) return fallback();
  try {
    return await run();
  } catch (e) {
    if (!routeMissing(e)) throw e;
    missing.set(route, Date.now());
    return fallback();
  }
}

/** Runs `f` over items with at most `n` in flight, keeping order. */
export async function pool<I, O>(items: readonly I[], n: number, f: (i: I) => Promise<O>): Promise<O[]> {
  const out = new Array<O>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

export function useChannels() {
  return useQuery({ queryKey: ['channels', 'list'], queryFn: () => call(api.GET('/v1/channels')), staleTime: 60_000 });
}

export function useWarehouses() {
  return useQuery({ queryKey: ['warehouses'], queryFn: () => call(api.GET('/v1/warehouses')), staleTime: 60_000 });
}

export function useSkus() {
  return useQuery({ queryKey: ['skus'], queryFn: () => call(api.GET('/v1/skus')), staleTime: 30_000 });
}

export interface StockList {
  items: StockItem[];
  /** Built from per-SKU calls because the server has no `GET /v1/stock` yet. */
  assembled: boolean;
  /** Only the first SKUs were fetched (assembled lists are capped). */
  truncated: boolean;
}

const ASSEMBLE_CAP = 300;

export async function fetchStockList(threshold: number): Promise<StockList> {
  return planned<StockList>(
    'GET /v1/stock',
    async () => ({ items: (await call(api.GET('/v1/stock'))).items, assembled: false, truncated: false }),
    async () => {
      const skus = await call(api.GET('/v1/skus'));
      const some = skus.slice(0, ASSEMBLE_CAP);
      const levels = await pool(some, 6, (s) => call(api.GET('/v1/stock/{sku_code}', { params: { path: { sku_code: s.code } } })));
      const items = levels.map((l, i) => ({
        sku_code: l.sku_code,
        name: some[i]!.name,
        on_hand: l.on_hand,
        reserved: l.reserved,
        safety_stock: l.safety_stock,
        available: l.available,
        low: l.available <= threshold,
        warehouses: l.warehouses,
      }));
      return { items, assembled: true, truncated: skus.length > some.length };
    },
  );
}

export interface Alerts {
  threshold: number;
  /** The threshold can be saved (`PUT /v1/inventory/settings`). */
  supported: boolean;
}

/** The seller's low-stock threshold (`GET /v1/inventory/settings`). */
export function useStockAlerts() {
  return useQuery({
    queryKey: ['stock', 'alerts'],
    queryFn: async (): Promise<Alerts> => ({
      threshold: (await call(api.GET('/v1/inventory/settings'))).low_stock_threshold,
      supported: true,
    }),
    staleTime: 60_000,
  });
}

export interface Counts extends OrderCounts {
  /** Counted per status with page totals because `GET /v1/orders/counts` is not there yet. */
  assembled: boolean;
}

/** Counts per status for the tabs (and the overview when there are no stats). */
export async function fetchCounts(filters: OrderFilters): Promise<Counts> {
  const clean = Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) as OrderFilters;
  return planned<Counts>(
    'GET /v1/orders/counts',
    async () => ({ ...(await call(api.GET('/v1/orders/counts', { params: { query: clean } }))), assembled: false }),
    async () => {
      // Today's list honours only status and external_id.
      const base = clean.external_id ? { external_id: clean.external_id } : {};
      const totals = await pool(['', ...ORDER_STATUSES], 4, async (status) => {
        const q = status ? { ...base, status, per_page: 1 } : { ...base, per_page: 1 };
        return (await call(api.GET('/v1/orders', { params: { query: q } }))).total;
      });
      const by_status: ByStatus = {};
      ORDER_STATUSES.forEach((s, i) => (by_status[s] = totals[i + 1] ?? 0));
      return { total: totals[0] ?? 0, by_status, assembled: true };
    },
  );
}

/** Whether the server supports the list filters beyond status and external id. */
export function filtersSupported(): boolean {
  return !knownMissing('GET /v1/orders/counts');
}
