// Live updates: events from the stream invalidate or patch TanStack Query caches. At
// flash-sale rates (hundreds of orders a second) invalidating per event would refetch in a
// storm, so invalidations are coalesced and flushed at most once a second.
import { useSyncExternalStore } from 'react';
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { eventStream, type LiveState, type StockLevelChangedPayload, type StreamEvent } from './api/events';
import type { StockItem } from './api/planned';
import type { components } from './api/schema';

type StockDto = components['schemas']['StockDto'];

const FLUSH_MS = 1000;
let pending = new Map<string, QueryKey>();
let flushTimer: ReturnType<typeof setTimeout> | undefined;
let eventsSeen = 0;
const seenListeners = new Set<() => void>();

function invalidateSoon(qc: QueryClient, key: QueryKey) {
  pending.set(JSON.stringify(key), key);
  if (flushTimer) return;
  flushTimer = setTimeout(() => {
    flushTimer = undefined;
    const keys = [...pending.values()];
    pending = new Map();
    for (const k of keys) void qc.invalidateQueries({ queryKey: k });
  }, FLUSH_MS);
}

function patchStock(qc: QueryClient, p: StockLevelChangedPayload) {
  qc.setQueriesData<{ items: StockItem[] }>({ queryKey: ['stock', 'list'] }, (old) => {
    if (!old) return old;
    return {
      ...old,
      items: old.items.map((it) =>
        it.sku_code === p.sku_code ? { ...it, on_hand: p.on_hand, reserved: p.reserved, available: p.available } : it,
      ),
    };
  });
  qc.setQueryData<StockDto>(['stock', 'one', p.sku_code], (old) =>
    old ? { ...old, on_hand: p.on_hand, reserved: p.reserved, available: p.available } : old,
  );
}

export function handleEvent(qc: QueryClient, ev: StreamEvent) {
  eventsSeen += 1;
  for (const l of seenListeners) l();
  const p = (ev.payload ?? {}) as Record<string, unknown>;
  switch (ev.type) {
    case 'order.changed':
    case 'order.shipped':
    case 'order.hold_changed':
      invalidateSoon(qc, ['orders']);
      // A hold intercepts the order's shipment; a shipment by hand leaves it.
      if (ev.type !== 'order.changed') invalidateSoon(qc, ['shipments']);
      invalidateSoon(qc, ['overview']);
      if (typeof p.order_id === 'string') invalidateSoon(qc, ['order', p.order_id]);
      break;
    case 'shipment.shipped':
    case 'shipment.tracked':
      invalidateSoon(qc, ['shipments']);
      if (typeof p.shipment_id === 'string') invalidateSoon(qc, ['shipment', p.shipment_id]);
      break;
    case 'order.return_expected':
    case 'stock.returned':
      // Shipping records the return from the first; the second is a receipt restocking.
      invalidateSoon(qc, ['returns']);
      break;
    case 'order.ready_to_ship':
      // Shipping makes (or merges into) a shipment from it.
      invalidateSoon(qc, ['shipments']);
      break;
    case 'stock.reservation_changed':
    case 'reservation.changed':
      if (typeof p.order_id === 'string') invalidateSoon(qc, ['order', p.order_id]);
      break;
    case 'stock.level_changed':
      patchStock(qc, ev.payload as StockLevelChangedPayload);
      invalidateSoon(qc, ['stock', 'list']);
      invalidateSoon(qc, ['overview', 'low-stock']);
      if (typeof p.sku_code === 'string') invalidateSoon(qc, ['stock', 'ledger', p.sku_code]);
      break;
    case 'invoice.issued':
    case 'invoice.voided':
      invalidateSoon(qc, ['invoices']);
      break;
    case 'channel.item_mapped':
      invalidateSoon(qc, ['mapping']);
      break;
    case 'channel.trade_received':
      if (typeof p.channel_id === 'string') invalidateSoon(qc, ['channels', 'sync', p.channel_id]);
      break;
    default:
      break;
  }
}

let wired = false;
export function wireLive(qc: QueryClient) {
  if (wired) return;
  wired = true;
  eventStream.onEvent((ev) => handleEvent(qc, ev));
  // After a reconnect, whatever happened while we were away may be missing from the replay
  // (the server may not keep every event): refetch what is on screen once.
  let prev: LiveState = eventStream.state;
  eventStream.onState(() => {
    const s = eventStream.state;
    if (s === 'live' && prev === 'reconnecting') void qc.invalidateQueries();
    prev = s;
  });
}

function subscribeState(l: () => void) {
  return eventStream.onState(l);
}

export function useLiveState(): LiveState {
  return useSyncExternalStore(subscribeState, () => eventStream.state);
}

/** Poll when the stream is not live; with a live stream the events keep data fresh. */
export function usePollInterval(ms: number): number | false {
  const s = useLiveState();
  return s === 'live' ? false : ms;
}

export function useEventsSeen(): number {
  return useSyncExternalStore(
    (l) => {
      seenListeners.add(l);
      return () => seenListeners.delete(l);
    },
    () => eventsSeen,
  );
}
