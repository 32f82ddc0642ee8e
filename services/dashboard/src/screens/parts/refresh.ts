import type { QueryClient } from '@tanstack/react-query';

/** After a bulk action on `orders` (hold, release, ship): the lists, the overview and each order's page. */
export function refreshOrders(qc: QueryClient, orders: readonly { id: string }[]) {
  void qc.invalidateQueries({ queryKey: ['orders'] });
  void qc.invalidateQueries({ queryKey: ['overview'] });
  for (const o of orders) void qc.invalidateQueries({ queryKey: ['order', o.id] });
}
