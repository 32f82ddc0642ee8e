// What the shipping screens share: the shipment types from the spec, statuses and their
// tones, the carrier accounts query, and small helpers (masked phones, fen ↔ yuan).
import { useQuery, type QueryClient } from '@tanstack/react-query';
import { api, call } from './api/client';
import type { components } from './api/schema';
import type { Tone } from './ui/components';

type S = components['schemas'];
export type Shipment = S['Shipment'];
export type ShipmentDetail = S['ShipmentDetail'];
export type ShipmentResult = S['ShipmentResult'];
export type CarrierAccount = S['CarrierAccount'];
export type ShippingRules = S['ShippingRules'];
export type CarrierRule = S['CarrierRule'];
export type LabelBatch = S['LabelBatch'];
export type LabelSize = S['LabelSize'];
export type LabelSort = S['LabelSort'];
export type ShipmentCounts = S['ShipmentCounts'];

export type ShipmentStatus = keyof ShipmentCounts;

/** The statuses in the order a parcel goes through them, then the ones off the happy path. */
export const SHIPMENT_STATUSES: ShipmentStatus[] = [
  'pending',
  'waybill_allocated',
  'printed',
  'shipped',
  'in_transit',
  'delivered',
  'on_hold',
  'intercepted',
  'exception',
  'returned',
  'cancelled',
];

export const SHIPMENT_TONES: Record<string, Tone> = {
  pending: 'amber',
  waybill_allocated: 'blue',
  printed: 'teal',
  shipped: 'green',
  in_transit: 'green',
  delivered: 'gray',
  on_hold: 'purple',
  intercepted: 'red',
  exception: 'red',
  returned: 'red',
  cancelled: 'neutral',
};

export const OUTCOME_TONES: Record<string, Tone> = {
  drawn: 'green',
  already_drawn: 'blue',
  shipped: 'green',
  already_shipped: 'blue',
  skipped: 'amber',
  failed: 'red',
  not_found: 'red',
};

/** Outcomes that mean the shipment is where the seller wanted it. */
export const OK_OUTCOMES = new Set(['drawn', 'already_drawn', 'shipped', 'already_shipped']);

export const LABEL_SIZES: LabelSize[] = ['100x180', '76x130', '100x150'];
export const LABEL_SORTS: LabelSort[] = ['route', 'sku', 'as_given'];

/** Carriers Courier knows (COURIER.md); franchise ones have a balance per branch. */
export const COURIER_CARRIERS = ['ZTO', 'YTO', 'STO', 'YUNDA', 'SF', 'JD', 'EMS'] as const;

/** Statuses in which a waybill may still be given back. */
export const CANCELLABLE = new Set(['waybill_allocated', 'printed', 'on_hold', 'intercepted']);

/** Still open and without a waybill: the plan (package, split, unmerge) may change. */
export function editable(s: Shipment): boolean {
  return !s.waybill && (s.status === 'pending' || s.status === 'on_hold' || s.status === 'intercepted');
}

/** 13800000000 → 138****0000 (as the label prints it); short numbers keep their ends. */
export function maskPhone(p: string): string {
  const d = p.trim();
  if (d.length >= 11) return `${d.slice(0, 3)}****${d.slice(-4)}`;
  if (d.length > 4) return `${'*'.repeat(d.length - 4)}${d.slice(-4)}`;
  return d;
}

/** The first 8 hex digits of a UUID v7 are its time; the last 8 tell shipments apart. */
export function shortId(id: string): string {
  return id.replace(/-/g, '').slice(-8).toUpperCase();
}

/** "12.5" yuan → 1250 fen, exactly; null when it is not an amount. */
export function yuanToFen(s: string): number | null {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

/** 1250 fen → "12.50". */
export function fenToYuan(n: number): string {
  const neg = n < 0;
  const a = Math.abs(Math.trunc(n));
  return `${neg ? '-' : ''}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

export function useCarrierAccounts() {
  return useQuery({
    queryKey: ['shipping', 'accounts'],
    queryFn: async () => (await call(api.GET('/v1/shipping/accounts'))).items,
    staleTime: 60_000,
  });
}

/** After anything that changes shipments: the list, the counts, each one's page, the orders. */
export function refreshShipments(qc: QueryClient, ids: readonly string[] = []) {
  void qc.invalidateQueries({ queryKey: ['shipments'] });
  for (const id of ids) void qc.invalidateQueries({ queryKey: ['shipment', id] });
  void qc.invalidateQueries({ queryKey: ['orders'] });
  void qc.invalidateQueries({ queryKey: ['order'] });
}
