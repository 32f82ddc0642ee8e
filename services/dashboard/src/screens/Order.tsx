import { useState, type ReactNode } from 'react';
import { Link } from 'wouter';
import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { isNotFound } from '../api/problem';
import { useChannels, type Order } from '../data';
import { formatDateTime, formatInt, formatMoney } from '../format';
import { useI18n } from '../i18n';
import {
  Badge,
  Button,
  EmptyState,
  ErrorState,
  ErrorText,
  Facts,
  label,
  LoadingBlock,
  OrderStatusBadge,
  Panel,
  ReservationBadge,
} from '../ui/components';
import { Icon } from '../ui/icons';
import { HoldDialog, type HoldAction } from './parts/Hold';
import { ShipDialog, SHIPPABLE } from './parts/Ship';
import { HoldItem } from '../ui/orders';
import { shortId } from '../shipping';
import { ItemsCell, ShipmentStatusBadge, WaybillCell } from './parts/ShipmentBits';
import { ExpectedLines, ReceivedLines, ReceiveDialog, ReturnStatusBadge, ShipmentLink, useReturns, type Return } from './parts/Returns';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default function OrderScreen({ id }: { id: string }) {
  const { t } = useI18n();
  const valid = UUID_RE.test(id);
  const q = useQuery({
    queryKey: ['order', id],
    queryFn: () => call(api.GET('/v1/orders/{id}', { params: { path: { id } } })),
    enabled: valid,
  });
  if (!valid || (q.isError && isNotFound(q.error))) {
    return (
      <div className="page">
        <Back />
        <div className="panel" data-testid="order-not-found">
          <EmptyState
            icon="search"
            title={t('order.not_found')}
            hint={t('order.not_found_hint')}
            action={
              <Link href="/orders" className="btn btn-secondary">
                {t('order.back')}
              </Link>
            }
          />
        </div>
      </div>
    );
  }
  if (q.isPending)
    return (
      <div className="page">
        <Back />
        <LoadingBlock />
      </div>
    );
  if (q.isError)
    return (
      <div className="page">
        <Back />
        <div className="panel">
          <ErrorState error={q.error} onRetry={() => void q.refetch()} />
        </div>
      </div>
    );
  return <OrderView order={q.data} />;
}

function Back() {
  const { t } = useI18n();
  return (
    <Link href="/orders" className="back-link">
      <Icon name="chevronLeft" size={14} /> {t('order.back')}
    </Link>
  );
}

function OrderView({ order }: { order: Order }) {
  const { t, lang, tz } = useI18n();
  const channels = useChannels();
  const shop = channels.data?.find((c) => c.id === order.channel_id);
  const [shipOpen, setShipOpen] = useState(false);
  const [holdAction, setHoldAction] = useState<HoldAction | null>(null);
  const final = order.status === 'shipped' || order.status === 'completed' || order.status === 'cancelled';
  const units = order.lines.reduce((n, l) => n + l.quantity, 0);
  const shippable = SHIPPABLE.has(order.status);

  return (
    <div className="page" data-testid="order-page" data-order-id={order.id}>
      <Back />
      <div className="page-head">
        <div>
          <h1 className="page-title">
            <span className="mono" data-testid="order-tid">
              {order.external_id}
            </span>{' '}
            <OrderStatusBadge status={order.status} />
          </h1>
          <div className="page-subtitle">
            {shop?.name ?? '—'} · {order.buyer_nick} · {t('order.trade_status')}: <span className="mono">{order.trade_status}</span>
          </div>
        </div>
        <div className="page-actions">
          {!final && (
            <Button icon="holds" onClick={() => setHoldAction('hold')} data-testid="hold-order">
              {t('bulk.hold')}
            </Button>
          )}
          {order.holds.length > 0 && (
            <Button icon="check" onClick={() => setHoldAction('release')} data-testid="release-order">
              {t('bulk.release')}
            </Button>
          )}
          {shippable && (
            <Button variant="primary" icon="truck" onClick={() => setShipOpen(true)} data-testid="ship-order">
              {t('bulk.ship')}
            </Button>
          )}
        </div>
      </div>

      <div className="grid-2-1">
        <div className="stack">
          <Panel title={t('order.lines')} subtitle={t('order.lines_sub', { n: order.lines.length, units })} className="panel-flush">
            <div className="table-wrap">
              <table className="table" data-testid="order-lines">
                <thead>
                  <tr>
                    <th>{t('stock.sku')}</th>
                    <th>{t('order.title')}</th>
                    <th className="num">{t('order.qty')}</th>
                    <th className="num">{t('order.unit_price')}</th>
                    <th className="num">{t('order.line_payment')}</th>
                    <th>{t('order.refund')}</th>
                    <th>{t('order.reservation')}</th>
                    <th>{t('order.warehouse')}</th>
                    <th>{t('ship.waybill')}</th>
                  </tr>
                </thead>
                <tbody>
                  {order.lines.map((l) => (
                    <tr key={l.external_line_id} data-line={l.external_line_id}>
                      <td>
                        {l.sku_code ? (
                          <Link
                            href={`/stock?sku=${encodeURIComponent(l.sku_code)}`}
                            className="mono link nowrap"
                            title={label(t, 'mapping_state', l.mapping)}
                          >
                            {l.sku_code}
                          </Link>
                        ) : (
                          <Link href="/mapping" title={t('order.map_item')} data-testid="line-unmapped">
                            <Badge tone="red">{t('order.unmapped')}</Badge>
                          </Link>
                        )}
                      </td>
                      <td className="max-w-240">
                        <div className="ellipsis" title={l.title}>
                          {l.title}
                        </div>
                        {l.properties && <div className="small muted ellipsis">{l.properties}</div>}
                      </td>
                      <td className="num">{formatInt(l.quantity, lang)}</td>
                      <td className="num">{formatMoney(l.unit_price, order.currency)}</td>
                      <td className="num">{formatMoney(l.payment, order.currency)}</td>
                      <td>
                        {l.refund_status === 'NO_REFUND' ? (
                          <span className="muted">—</span>
                        ) : (
                          <Badge tone="amber">{label(t, 'refund', l.refund_status)}</Badge>
                        )}
                      </td>
                      <td data-testid="reservation-state">
                        <ReservationBadge state={l.reservation_state} />
                      </td>
                      <td data-testid="line-warehouses" className="nowrap">
                        {l.warehouses.length === 0 ? (
                          <span className="muted small">{t('order.warehouse_none')}</span>
                        ) : (
                          l.warehouses.map((w) => (
                            <div key={w.warehouse_code} className="mono small">
                              {w.warehouse_code}
                              {(l.warehouses.length > 1 || w.quantity !== l.quantity) && <span className="muted"> ×{w.quantity}</span>}
                            </div>
                          ))
                        )}
                      </td>
                      <td className="mono small">{l.shipped_waybill ?? <span className="muted">—</span>}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <td colSpan={4} className="muted">
                      {t('order.total_paid')}
                    </td>
                    <td className="num strong">{formatMoney(order.payment, order.currency)}</td>
                    <td colSpan={4} />
                  </tr>
                </tfoot>
              </table>
            </div>
          </Panel>

          <Panel title={t('order.shipments')} className="panel-flush">
            {(order.shipments ?? []).length === 0 ? (
              <EmptyState icon="truck" title={t('order.no_shipments')} />
            ) : (
              <table className="table table-compact" data-testid="order-shipments">
                <thead>
                  <tr>
                    <th>{t('ship.carrier')}</th>
                    <th>{t('ship.waybill')}</th>
                    <th>{t('order.shipped_lines')}</th>
                    <th>{t('order.shipped_at')}</th>
                    <th>{t('shipment.tracking')}</th>
                  </tr>
                </thead>
                <tbody>
                  {(order.shipments ?? []).map((s) => (
                    <tr key={s.waybill_no}>
                      <td>{label(t, 'carrier', s.company_code)}</td>
                      <td className="mono">{s.waybill_no}</td>
                      <td className="small">{s.lines.length ? s.lines.join(', ') : t('order.all_lines')}</td>
                      <td className="nowrap">{formatDateTime(s.shipped_at, lang, tz)}</td>
                      <td className="nowrap" data-testid="order-shipment-tracking">
                        {s.tracking_status ? (
                          <Badge tone={s.tracking_status === 'delivered' ? 'green' : 'red'}>
                            {label(t, 'wb_tracking', s.tracking_status)}
                          </Badge>
                        ) : (
                          <span className="muted">—</span>
                        )}
                        {s.delivered_at && <div className="small muted">{formatDateTime(s.delivered_at, lang, tz)}</div>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Panel>

          <OrderShipping orderId={order.id} />
          <OrderInvoices orderId={order.id} />
        </div>

        <div className="stack">
          <Panel title={t('order.holds')} className={order.holds.length ? 'panel-hold' : undefined}>
            {order.holds.length === 0 ? (
              <div className="muted small" data-testid="order-holds-none">
                {t('order.holds_none')}
              </div>
            ) : (
              <ul className="hold-list" data-testid="order-holds">
                {order.holds.map((h) => (
                  <HoldItem key={h.reason} hold={h} />
                ))}
              </ul>
            )}
          </Panel>
          <Panel title={t('order.summary')}>
            <Facts
              items={[
                ['order.shop', shop?.name ?? '—'],
                ['orders.buyer', order.buyer_nick],
                ['orders.amount', <span className="strong">{formatMoney(order.payment, order.currency)}</span>],
                ['orders.created', formatDateTime(order.created, lang, tz)],
                ['order.paid_at', order.paid_at ? formatDateTime(order.paid_at, lang, tz) : t('order.unpaid')],
                ...(order.receiver
                  ? ([
                      [
                        'order.receiver',
                        <span>
                          {order.receiver.name} {order.receiver.phone}
                          <br />
                          <span className="small">
                            {order.receiver.province}
                            {order.receiver.city}
                            {order.receiver.district} {order.receiver.address}
                          </span>
                        </span>,
                      ],
                    ] as [string, ReactNode][])
                  : []),
                ...(order.buyer_memo ? ([['order.buyer_memo', order.buyer_memo]] as [string, ReactNode][]) : []),
                ...(order.seller_memo ? ([['order.seller_memo', order.seller_memo]] as [string, ReactNode][]) : []),
                ['order.modified', formatDateTime(order.modified, lang, tz)],
                ['order.cairn_id', <span className="mono small">{order.id}</span>],
              ]}
            />
          </Panel>
          <Panel title={t('order.timeline')}>
            {(order.timeline ?? []).length === 0 ? (
              <EmptyState icon="clock" title={t('order.no_timeline')} />
            ) : (
              <ol className="timeline" data-testid="order-timeline">
                {[...(order.timeline ?? [])].reverse().map((e, i) => (
                  <li key={`${e.at}-${i}`}>
                    <span className="tl-dot" aria-hidden="true" />
                    <div className="tl-body">
                      <div className="tl-head">
                        <strong>{label(t, 'timeline', e.kind)}</strong>
                        <time className="muted small">{formatDateTime(e.at, lang, tz)}</time>
                      </div>
                      {e.detail && <div className="tl-detail">{e.detail}</div>}
                    </div>
                  </li>
                ))}
              </ol>
            )}
          </Panel>
        </div>
      </div>
      <ShipDialog orders={[order]} open={shipOpen} onClose={() => setShipOpen(false)} />
      <HoldDialog action={holdAction ?? 'hold'} orders={[order]} open={holdAction !== null} onClose={() => setHoldAction(null)} />
    </div>
  );
}

/** The order's shipments as the shipping service plans them (merged, split, drawn, tracked). */
function OrderShipping({ orderId }: { orderId: string }) {
  const { t } = useI18n();
  const q = useQuery({
    queryKey: ['shipments', 'order', orderId],
    queryFn: () => call(api.GET('/v1/shipments', { params: { query: { order_id: orderId, limit: 50 } } })),
  });
  return (
    <Panel
      title={t('order.shipping')}
      subtitle={t('order.shipping_sub')}
      className="panel-flush"
      actions={
        <Link href="/shipping" className="link-more">
          {t('nav.shipping')} <Icon name="chevronRight" size={14} />
        </Link>
      }
    >
      {q.isPending ? (
        <LoadingBlock />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : q.data.items.length === 0 ? (
        <EmptyState icon="shipping" title={t('order.no_shipping')} hint={t('order.no_shipping_hint')} />
      ) : (
        <table className="table table-compact" data-testid="order-shipping">
          <thead>
            <tr>
              <th>{t('shipping.shipment')}</th>
              <th>{t('shipping.status')}</th>
              <th>{t('shipping.carrier_waybill')}</th>
              <th>{t('shipment.tracking')}</th>
              <th>{t('shipping.items')}</th>
            </tr>
          </thead>
          <tbody>
            {q.data.items.map((s) => (
              <tr key={s.id} data-shipment={s.id} data-status={s.status}>
                <td>
                  <Link href={`/shipping/${s.id}`} className="mono link" data-testid="order-shipment-link">
                    {shortId(s.id)}
                  </Link>
                  {s.orders.length > 1 && (
                    <div>
                      <Badge tone="purple">{t('shipping.merged', { n: s.orders.length })}</Badge>
                    </div>
                  )}
                </td>
                <td>
                  <ShipmentStatusBadge status={s.status} />
                  {s.problem && (
                    <div className="small text-red ellipsis max-w-200" title={s.problem}>
                      {s.problem}
                    </div>
                  )}
                </td>
                <td>
                  <WaybillCell shipment={s} />
                </td>
                <td className="small">{s.tracking_status ? label(t, 'tracking', s.tracking_status) : <span className="muted">—</span>}</td>
                <td className="max-w-200">
                  <ItemsCell shipment={s} max={1} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <OrderReturns orderId={orderId} />
    </Panel>
  );
}

/**
 * The order's returns after sale, under its shipments. The API lists returns by status only,
 * so the whole list is fetched and filtered here by order.
 */
function OrderReturns({ orderId }: { orderId: string }) {
  const { t, lang, tz } = useI18n();
  const q = useReturns('all');
  const [receiving, setReceiving] = useState<Return | null>(null);
  const mine = (q.data ?? []).filter((r) => r.order_id === orderId);
  if (q.isError)
    return (
      <div className="panel-section">
        <ErrorText error={q.error} />
      </div>
    );
  if (!mine.length) return null;
  return (
    <div className="panel-section" data-testid="order-returns">
      <h3 className="section-title">
        <Icon name="undo" size={14} /> {t('returns.title')}
        <Link href={`/shipping/returns${mine.every((r) => r.status === 'received') ? '?status=received' : ''}`} className="link-more">
          {t('returns.all')} <Icon name="chevronRight" size={14} />
        </Link>
      </h3>
      <table className="table table-compact">
        <thead>
          <tr>
            <th>{t('shipping.status')}</th>
            <th>{t('returns.shipment')}</th>
            <th>{t('returns.expected')}</th>
            <th>{t('returns.received')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {mine.map((r) => (
            <tr key={r.id} data-return={r.id} data-status={r.status}>
              <td className="nowrap">
                <ReturnStatusBadge status={r.status} />
                <div className="small muted">
                  {formatDateTime(r.received_at ?? r.created_at, lang, tz, false)} · {r.warehouse_code}
                </div>
              </td>
              <td>
                <ShipmentLink r={r} />
              </td>
              <td className="max-w-200">
                <ExpectedLines r={r} />
              </td>
              <td>
                <ReceivedLines r={r} />
              </td>
              <td className="num">
                {r.status === 'expected' && (
                  <Button size="sm" icon="check" onClick={() => setReceiving(r)} data-testid="receive-open">
                    {t('returns.receive')}
                  </Button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ReceiveDialog r={receiving} open={receiving !== null} onClose={() => setReceiving(null)} />
    </div>
  );
}

function OrderInvoices({ orderId }: { orderId: string }) {
  const { t, lang, tz } = useI18n();
  const q = useQuery({
    queryKey: ['invoices', 'order', orderId],
    queryFn: () => call(api.GET('/v1/invoices', { params: { query: { order_id: orderId, per_page: 50 } } })),
  });
  return (
    <Panel
      title={t('nav.invoices')}
      className="panel-flush"
      actions={
        <Link href={`/invoices?order_id=${orderId}`} className="link-more">
          {t('common.all')} <Icon name="chevronRight" size={14} />
        </Link>
      }
    >
      {q.isPending ? (
        <LoadingBlock />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : q.data.items.length === 0 ? (
        <EmptyState icon="invoices" title={t('order.no_invoices')} hint={t('order.no_invoices_hint')} />
      ) : (
        <table className="table table-compact" data-testid="order-invoices">
          <thead>
            <tr>
              <th>{t('invoices.number')}</th>
              <th>{t('invoices.kind')}</th>
              <th>{t('invoices.status')}</th>
              <th className="num">{t('invoices.total')}</th>
              <th>{t('invoices.issued_at')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {q.data.items.map((inv) => (
              <tr key={inv.id}>
                <td className="mono">
                  <Link href={`/invoices?open=${inv.id}`} className="link">
                    {inv.number}
                  </Link>
                </td>
                <td>{label(t, 'invoice_kind', inv.kind)}</td>
                <td>
                  <Badge tone={inv.status === 'void' ? 'red' : 'green'}>{label(t, 'invoice_status', inv.status)}</Badge>
                </td>
                <td className="num">{formatMoney(inv.total, inv.currency)}</td>
                <td className="nowrap">{formatDateTime(inv.issued_at, lang, tz, false)}</td>
                <td className="num">
                  <Link href={`/invoices?open=${inv.id}`} className="btn btn-secondary btn-sm">
                    <Icon name="file" size={14} /> PDF
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
