// Holding and releasing orders by hand: one order through POST /v1/orders/{id}/hold|release
// (its problem shown as the server words it), several through POST /v1/orders/bulk, which
// answers each id on its own. Results are shown per order.
import { useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { refreshOrders } from './refresh';
import { api, call } from '../../api/client';
import type { Order } from '../../data';
import { useI18n } from '../../i18n';
import { Button, Dialog, Field, label } from '../../ui/components';
import { HoldReasons } from '../../ui/orders';
import { failed, ResultCell, ResultSummary, type RowResult } from '../../ui/results';

export type HoldAction = 'hold' | 'release';

/** The bulk route takes at most this many ids per call. */
const BULK_MAX = 500;

export function HoldDialog({
  action,
  orders,
  open,
  onClose,
}: {
  action: HoldAction;
  orders: Order[];
  open: boolean;
  onClose: (done: string[]) => void;
}) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [note, setNote] = useState('');
  const [results, setResults] = useState<Record<string, RowResult>>({});
  const [running, setRunning] = useState(false);
  const done = Object.keys(results).length > 0 && !running;
  const failCount = Object.values(results).filter((r) => !r.ok).length;

  const okText = (status: string, changed: boolean) => t(changed ? 'hold.ok' : 'hold.unchanged', { status: label(t, 'status', status) });

  const submit = async () => {
    setRunning(true);
    const todo = orders.filter((o) => !results[o.id]?.ok);
    const body = { note: note.trim() };
    try {
      if (todo.length === 1) {
        const o = todo[0]!;
        const path = action === 'hold' ? '/v1/orders/{id}/hold' : '/v1/orders/{id}/release';
        try {
          const r = await call(api.POST(path, { params: { path: { id: o.id } }, body }));
          setResults((x) => ({ ...x, [o.id]: { ok: true, text: okText(r.status, r.changed) } }));
        } catch (e) {
          setResults((x) => ({ ...x, [o.id]: failed(t, e) }));
        }
      } else {
        for (let i = 0; i < todo.length; i += BULK_MAX) {
          const chunk = todo.slice(i, i + BULK_MAX);
          try {
            const r = await call(api.POST('/v1/orders/bulk', { body: { action, ids: chunk.map((o) => o.id), ...body } }));
            const next: Record<string, RowResult> = {};
            for (const x of r.results) {
              next[x.id] = x.ok
                ? { ok: true, text: okText(x.status ?? '', true) }
                : { ok: false, title: label(t, 'error', x.error_code ?? 'unexpected'), detail: x.error ?? '', code: x.error_code ?? '' };
            }
            setResults((x) => ({ ...x, ...next }));
          } catch (e) {
            const f = failed(t, e);
            setResults((x) => ({ ...x, ...Object.fromEntries(chunk.map((o) => [o.id, f])) }));
          }
        }
      }
    } finally {
      setRunning(false);
      refreshOrders(qc, orders);
    }
  };

  const close = () => {
    const ok = Object.entries(results)
      .filter(([, r]) => r.ok)
      .map(([id]) => id);
    setResults({});
    setNote('');
    onClose(ok);
  };

  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      testId="hold-dialog"
      title={t(action === 'hold' ? 'hold.title_hold' : 'hold.title_release', { n: orders.length })}
      footer={
        <>
          {done && <ResultSummary results={results} msg="hold.summary" testId="hold-summary" />}
          <span className="grow" />
          <Button onClick={close} disabled={running} data-testid="hold-close">
            {done ? t('common.close') : t('common.cancel')}
          </Button>
          {(!done || failCount > 0) && (
            <Button
              variant={action === 'hold' ? 'danger' : 'primary'}
              icon={action === 'hold' ? 'holds' : 'check'}
              busy={running}
              disabled={orders.length === 0}
              onClick={() => void submit()}
              data-testid="hold-submit"
            >
              {failCount > 0
                ? t('hold.retry_failed')
                : t(action === 'hold' ? 'hold.submit_hold' : 'hold.submit_release', { n: orders.length })}
            </Button>
          )}
        </>
      }
    >
      {action === 'release' && <div className="notice notice-blue">{t('hold.release_explain')}</div>}
      <Field label={t('hold.note')} hint={t('hold.note_hint')}>
        {(id) => (
          <input
            id={id}
            name="note"
            value={note}
            maxLength={500}
            onChange={(e) => setNote(e.target.value)}
            disabled={running || done}
            placeholder={t(action === 'hold' ? 'hold.note_placeholder_hold' : 'hold.note_placeholder_release')}
          />
        )}
      </Field>
      <table className="table table-compact">
        <thead>
          <tr>
            <th>{t('orders.tid')}</th>
            <th>{t('orders.buyer')}</th>
            <th>{t('orders.status')}</th>
            <th>{t('holds.reasons')}</th>
            <th>{t('ship.result')}</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => (
            <tr key={o.id} data-order={o.external_id}>
              <td className="mono">{o.external_id}</td>
              <td className="ellipsis max-w-140">{o.buyer_nick}</td>
              <td>{label(t, 'status', o.status)}</td>
              <td>
                <HoldReasons holds={o.holds} details={false} />
              </td>
              <td data-testid={`hold-result-${o.external_id}`}>
                <ResultCell result={results[o.id]} running={running} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Dialog>
  );
}
