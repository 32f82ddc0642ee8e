// 退货 Returns: what buyers send back after sale — expected (to receive) and received (what
// arrived, sellable or damaged, and when). A return is received once, from its row.
import { useMemo, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { useWarehouses } from '../data';
import { formatDateTime } from '../format';
import { useI18n } from '../i18n';
import { Button, EmptyState, PageHeader, Tabs, TableBody } from '../ui/components';
import { Icon } from '../ui/icons';
import { shortId } from '../shipping';
import {
  ExpectedLines,
  ReceivedLines,
  ReceiveDialog,
  RETURN_STATUSES,
  ShipmentLink,
  useReturns,
  type Return,
  type ReturnStatus,
} from './parts/Returns';

export default function ReturnsScreen() {
  const { t, lang, tz } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const status: ReturnStatus = new URLSearchParams(search).get('status') === 'received' ? 'received' : 'expected';
  const expected = useReturns('expected');
  const received = useReturns('received');
  const list = status === 'expected' ? expected : received;
  const warehouses = useWarehouses();
  const names = useMemo(() => new Map((warehouses.data ?? []).map((w) => [w.code, w.name])), [warehouses.data]);
  const [receiving, setReceiving] = useState<Return | null>(null);
  const items = list.data ?? [];
  const cols = status === 'expected' ? 6 : 7;

  return (
    <div className="page" data-testid="returns">
      <Link href="/shipping" className="back-link">
        <Icon name="chevronLeft" size={14} /> {t('nav.shipping')}
      </Link>
      <PageHeader
        title={t('returns.title')}
        subtitle={t('returns.subtitle')}
        actions={
          <Link href="/shipping/carriers" className="btn btn-secondary">
            <Icon name="settings" size={16} /> {t('carriers.title')}
          </Link>
        }
      />
      <Tabs
        tabs={RETURN_STATUSES.map((s) => ({
          key: s,
          label: t(`returns.tab_${s}`),
          count: (s === 'expected' ? expected : received).data?.length ?? null,
        }))}
        value={status}
        onChange={(s) => navigate(`/shipping/returns${s === 'expected' ? '' : `?status=${s}`}`)}
        testId="return-tabs"
      />
      <div className="panel panel-flush">
        <div className="table-wrap">
          <table className="table" data-testid="returns-table" data-status={status}>
            <thead>
              <tr>
                <th>{t('returns.return')}</th>
                <th>{t('returns.trade')}</th>
                <th>{t('returns.shipment')}</th>
                <th>{t('returns.warehouse')}</th>
                <th>{t('returns.expected')}</th>
                {status === 'expected' ? (
                  <th />
                ) : (
                  <>
                    <th>{t('returns.received')}</th>
                    <th>{t('returns.received_at')}</th>
                  </>
                )}
              </tr>
            </thead>
            <TableBody
              query={list}
              cols={cols}
              rows={6}
              isEmpty={items.length === 0}
              empty={
                <EmptyState
                  icon="undo"
                  title={t(status === 'expected' ? 'returns.none_expected' : 'returns.none_received')}
                  hint={t('returns.none_hint')}
                />
              }
            >
              {items.map((r) => (
                <tr key={r.id} data-return={r.id} data-order={r.external_id} data-status={r.status}>
                  <td className="nowrap">
                    <span className="mono">{shortId(r.id)}</span>
                    <div className="small muted" title={t('returns.created_at')}>
                      {formatDateTime(r.created_at, lang, tz, false)}
                    </div>
                  </td>
                  <td>
                    <Link href={`/orders/${r.order_id}`} className="mono link" data-testid="return-order">
                      {r.external_id}
                    </Link>
                  </td>
                  <td>
                    <ShipmentLink r={r} />
                  </td>
                  <td className="nowrap" data-testid="return-warehouse">
                    {names.get(r.warehouse_code) ?? r.warehouse_code}
                    {names.has(r.warehouse_code) && <div className="small muted mono">{r.warehouse_code}</div>}
                  </td>
                  <td className="max-w-240">
                    <ExpectedLines r={r} />
                  </td>
                  {status === 'expected' ? (
                    <td className="num">
                      {r.status === 'expected' && (
                        <Button size="sm" variant="primary" icon="check" onClick={() => setReceiving(r)} data-testid="receive-open">
                          {t('returns.receive')}
                        </Button>
                      )}
                    </td>
                  ) : (
                    <>
                      <td>
                        <ReceivedLines r={r} />
                      </td>
                      <td className="nowrap small" data-testid="return-received-at">
                        {formatDateTime(r.received_at, lang, tz)}
                      </td>
                    </>
                  )}
                </tr>
              ))}
            </TableBody>
          </table>
        </div>
      </div>
      <ReceiveDialog r={receiving} open={receiving !== null} onClose={() => setReceiving(null)} />
    </div>
  );
}
