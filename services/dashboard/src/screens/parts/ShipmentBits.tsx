// How a shipment shows in a row: status, trades, receiver, items, carrier and waybill.
import { Link } from 'wouter';
import { useI18n } from '../../i18n';
import { Badge, label } from '../../ui/components';
import { maskPhone, SHIPMENT_TONES, type Shipment } from '../../shipping';

export function ShipmentStatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  return (
    <span data-status={status}>
      <Badge tone={SHIPMENT_TONES[status] ?? 'neutral'} dot>
        {label(t, 'sstatus', status)}
      </Badge>
    </span>
  );
}

/** The marketplace trades in a shipment (several when merged), linked to their order pages. */
export function Trades({ shipment, links = true }: { shipment: Shipment; links?: boolean }) {
  const { t } = useI18n();
  if (!shipment.orders.length) return <span className="muted">—</span>;
  return (
    <div className="trades" data-testid="shipment-trades">
      {shipment.orders.map((o) =>
        links ? (
          <Link key={o.order_id} href={`/orders/${o.order_id}`} className="mono link small" data-order={o.external_id}>
            {o.external_id}
          </Link>
        ) : (
          <span key={o.order_id} className="mono small" data-order={o.external_id}>
            {o.external_id}
          </span>
        ),
      )}
      {shipment.orders.length > 1 && <Badge tone="purple">{t('shipping.merged', { n: shipment.orders.length })}</Badge>}
    </div>
  );
}

export function ReceiverCell({ shipment }: { shipment: Shipment }) {
  const r = shipment.receiver;
  return (
    <div className="receiver">
      <div>
        {r.name} <span className="muted mono small">{maskPhone(r.phone)}</span>
      </div>
      <div className="small muted">
        {r.province} {r.city}
      </div>
    </div>
  );
}

export function ItemsCell({ shipment, max = 2 }: { shipment: Shipment; max?: number }) {
  const { t } = useI18n();
  const lines = shipment.lines;
  const units = lines.reduce((n, l) => n + l.quantity, 0);
  if (!lines.length) return <span className="muted">—</span>;
  return (
    <div className="items" title={lines.map((l) => `${l.title} ×${l.quantity}`).join('\n')}>
      {lines.slice(0, max).map((l, i) => (
        <div key={`${l.order_id}-${l.external_line_id}-${i}`} className="ellipsis">
          {l.title} <span className="muted">×{l.quantity}</span>
        </div>
      ))}
      {lines.length > max && <div className="small muted">{t('shipping.more_items', { n: lines.length - max, units })}</div>}
    </div>
  );
}

export function WaybillCell({ shipment }: { shipment: Shipment }) {
  const { t } = useI18n();
  const w = shipment.waybill;
  if (!w) return <span className="muted small">{t('shipping.no_waybill')}</span>;
  return (
    <div className="waybill">
      <div className="small">{w.cp_name || label(t, 'carrier', w.cp_code)}</div>
      <div className="mono" data-testid="waybill-code">
        {w.code}
      </div>
      {w.child_codes.length > 0 && <div className="small muted">{t('shipping.children', { n: w.child_codes.length })}</div>}
    </div>
  );
}
