// Shipping with a waybill: one POST /v1/orders/{id}/ship per order, results shown per order.
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { refreshOrders } from './refresh';
import { api, call } from '../../api/client';
import { pool, type Order } from '../../data';
import { useI18n } from '../../i18n';
import { Badge, Button, Dialog, Field, label } from '../../ui/components';
import { failed, ResultCell, ResultSummary, type RowResult } from '../../ui/results';

export const CARRIERS = ['SF', 'YTO', 'ZTO', 'STO', 'YUNDA', 'JD', 'EMS', 'DBL'] as const;
const WAYBILL_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Orders in these states can be shipped; the server decides, this only warns early. */
export const SHIPPABLE = new Set(['paid', 'allocated', 'partially_shipped', 'backordered']);

/** "SF1000" → "SF1001": the next waybill on a pre-printed roll (keeps leading zeros). */
export function nextWaybill(w: string, step: number): string {
  const m = /^(.*?)(\d+)$/.exec(w);
  if (!m) return w;
  const n = (BigInt(m[2]!) + BigInt(step)).toString().padStart(m[2]!.length, '0');
  return `${m[1]}${n}`;
}

export function ShipDialog({ orders, open, onClose }: { orders: Order[]; open: boolean; onClose: (shipped: string[]) => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [carrier, setCarrier] = useState<string>('SF');
  const [waybills, setWaybills] = useState<Record<string, string>>({});
  const [results, setResults] = useState<Record<string, RowResult>>({});
  const [running, setRunning] = useState(false);
  const done = Object.keys(results).length > 0 && !running;

  const invalid = orders.filter((o) => !WAYBILL_RE.test((waybills[o.id] ?? '').trim()) && !results[o.id]?.ok);
  const fillFromFirst = () => {
    const first = (waybills[orders[0]?.id ?? ''] ?? '').trim();
    if (!first) return;
    const next: Record<string, string> = {};
    orders.forEach((o, i) => (next[o.id] = nextWaybill(first, i)));
    setWaybills(next);
  };

  const submit = async () => {
    setRunning(true);
    const todo = orders.filter((o) => !results[o.id]?.ok);
    await pool(todo, 3, async (o) => {
      try {
        const r = await call(
          api.POST('/v1/orders/{id}/ship', {
            params: { path: { id: o.id } },
            body: { company_code: carrier, waybill_no: (waybills[o.id] ?? '').trim() },
          }),
        );
        setResults((x) => ({ ...x, [o.id]: { ok: true, text: t('ship.ok', { status: label(t, 'status', r.status) }) } }));
      } catch (e) {
        setResults((x) => ({ ...x, [o.id]: failed(t, e) }));
      }
    });
    setRunning(false);
    refreshOrders(qc, orders);
  };

  const close = () => {
    const shipped = Object.entries(results)
      .filter(([, r]) => r.ok)
      .map(([id]) => id);
    setResults({});
    setWaybills({});
    onClose(shipped);
  };
  const failCount = Object.values(results).filter((r) => !r.ok).length;

  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      testId="ship-dialog"
      title={t('ship.title', { n: orders.length })}
      footer={
        <>
          {done && <ResultSummary results={results} msg="ship.summary" testId="ship-summary" />}
          <span className="grow" />
          <Button onClick={close} disabled={running}>
            {done ? t('common.close') : t('common.cancel')}
          </Button>
          {(!done || failCount > 0) && (
            <Button
              variant="primary"
              icon="truck"
              busy={running}
              disabled={invalid.length > 0}
              onClick={() => void submit()}
              data-testid="ship-submit"
            >
              {failCount > 0 ? t('ship.retry_failed') : t('ship.submit', { n: orders.length })}
            </Button>
          )}
        </>
      }
    >
      <div className="form-row">
        <Field label={t('ship.carrier')}>
          {(id) => (
            <select id={id} value={carrier} onChange={(e) => setCarrier(e.target.value)} disabled={running} name="carrier">
              {CARRIERS.map((c) => (
                <option key={c} value={c}>
                  {label(t, 'carrier', c)} ({c})
                </option>
              ))}
            </select>
          )}
        </Field>
        {orders.length > 1 && (
          <div className="field field-action">
            <Button size="sm" onClick={fillFromFirst} disabled={running || !(waybills[orders[0]?.id ?? ''] ?? '').trim()}>
              {t('ship.fill_sequence')}
            </Button>
          </div>
        )}
      </div>
      <table className="table table-compact">
        <thead>
          <tr>
            <th>{t('orders.tid')}</th>
            <th>{t('orders.buyer')}</th>
            <th>{t('orders.status')}</th>
            <th className="w-waybill">{t('ship.waybill')}</th>
            <th>{t('ship.result')}</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => {
            const r = results[o.id];
            return (
              <tr key={o.id} data-order={o.external_id}>
                <td className="mono">{o.external_id}</td>
                <td className="ellipsis">{o.buyer_nick}</td>
                <td>
                  <span className="row-gap">
                    {label(t, 'status', o.status)}
                    {!SHIPPABLE.has(o.status) && <Badge tone="amber">{t('ship.not_shippable')}</Badge>}
                  </span>
                </td>
                <td>
                  <input
                    className="input-sm mono"
                    aria-label={t('ship.waybill_for', { tid: o.external_id })}
                    value={waybills[o.id] ?? ''}
                    disabled={running || r?.ok}
                    placeholder={t('ship.waybill_placeholder')}
                    onChange={(e) => setWaybills((w) => ({ ...w, [o.id]: e.target.value }))}
                    name={`waybill-${o.external_id}`}
                  />
                </td>
                <td data-testid={`ship-result-${o.external_id}`}>
                  <ResultCell result={r} running={running} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Dialog>
  );
}
