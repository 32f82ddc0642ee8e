// Returns after sale (退货), as the returns screen and the order page show them: the lists,
// the expected and received lines, and the dialog that receives a return (sellable units go
// back in stock, damaged ones are counted apart; once).
import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { api, call } from '../../api/client';
import { ApiError } from '../../api/problem';
import type { components } from '../../api/schema';
import { formatInt } from '../../format';
import { useI18n } from '../../i18n';
import { usePollInterval } from '../../live';
import { Badge, Button, cx, Dialog, ErrorText, label, useToast, type Tone } from '../../ui/components';
import { shortId } from '../../shipping';

type S = components['schemas'];
export type Return = S['Return'];
export type ReturnReceivedLine = S['ReturnReceivedLine'];
export type ReturnStatus = 'expected' | 'received';

export const RETURN_STATUSES: ReturnStatus[] = ['expected', 'received'];
export const RETURN_TONES: Record<string, Tone> = { expected: 'amber', received: 'green' };

/**
 * The tenant's returns, newest first: one status, or all of them (`all`). New ones come from
 * the marketplace in the background, so the list refreshes even with a live stream.
 */
export function useReturns(status: ReturnStatus | 'all', enabled = true) {
  const poll = usePollInterval(10_000);
  return useQuery({
    queryKey: ['returns', 'list', status],
    queryFn: async () => (await call(api.GET('/v1/returns', { params: { query: status === 'all' ? {} : { status } } }))).items,
    refetchInterval: poll || 15_000,
    enabled,
  });
}

/** After a receipt: the returns, the stock it put back (list, SKU pages, ledgers), the shipment's history. */
export function refreshAfterReceipt(qc: QueryClient, r: Pick<Return, 'shipment_id' | 'order_id'>) {
  void qc.invalidateQueries({ queryKey: ['returns'] });
  void qc.invalidateQueries({ queryKey: ['stock'], refetchType: 'all' });
  void qc.invalidateQueries({ queryKey: ['overview', 'low-stock'] });
  if (r.shipment_id) void qc.invalidateQueries({ queryKey: ['shipment', r.shipment_id] });
}

/** One row per SKU: the expected lines added up (two lines may sell the same SKU). */
export interface SkuLine {
  sku_code: string;
  title: string;
  expected: number;
  sellable: number;
  damaged: number;
}

export function bySku(r: Return): SkuLine[] {
  const out = new Map<string, SkuLine>();
  for (const e of r.expected) {
    const x = out.get(e.sku_code);
    if (x) x.expected += e.quantity;
    else out.set(e.sku_code, { sku_code: e.sku_code, title: e.title, expected: e.quantity, sellable: 0, damaged: 0 });
  }
  for (const g of r.received ?? []) {
    const x = out.get(g.sku_code) ?? { sku_code: g.sku_code, title: '', expected: 0, sellable: 0, damaged: 0 };
    x[g.condition] += g.quantity;
    out.set(g.sku_code, x);
  }
  return [...out.values()];
}

export function ReturnStatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  return (
    <span data-status={status}>
      <Badge tone={RETURN_TONES[status] ?? 'neutral'} dot>
        {label(t, 'rstatus', status)}
      </Badge>
    </span>
  );
}

export function ShipmentLink({ r }: { r: Return }) {
  const { t } = useI18n();
  if (!r.shipment_id)
    return (
      <span className="muted small" title={t('returns.no_shipment_hint')}>
        —
      </span>
    );
  return (
    <Link href={`/shipping/${r.shipment_id}`} className="mono link" data-testid="return-shipment">
      {shortId(r.shipment_id)}
    </Link>
  );
}

/** What the buyer sends back: SKU (to its stock page), title, quantity. */
export function ExpectedLines({ r }: { r: Return }) {
  return (
    <div className="rlines" data-testid="return-expected">
      {r.expected.map((l) => (
        <div key={l.external_line_id} className="rline" data-sku={l.sku_code}>
          <Link href={`/stock?sku=${encodeURIComponent(l.sku_code)}`} className="mono link small">
            {l.sku_code}
          </Link>
          <span className="ellipsis rline-title" title={l.title}>
            {l.title}
          </span>
          <span className="muted nowrap">×{l.quantity}</span>
        </div>
      ))}
    </div>
  );
}

/** What arrived, per SKU: sellable (back in stock), damaged (apart), and any shortfall. */
export function ReceivedLines({ r }: { r: Return }) {
  const { t, lang } = useI18n();
  if (!r.received) return <span className="muted">—</span>;
  return (
    <div className="rlines" data-testid="return-received">
      {bySku(r).map((l) => {
        const short = l.expected - l.sellable - l.damaged;
        return (
          <div key={l.sku_code} className="rline" data-sku={l.sku_code} data-sellable={l.sellable} data-damaged={l.damaged}>
            <span className="mono small">{l.sku_code}</span>
            <span className="rline-counts">
              <Badge tone="green">{t('returns.sellable_n', { n: formatInt(l.sellable, lang) })}</Badge>
              {l.damaged > 0 && <Badge tone="red">{t('returns.damaged_n', { n: formatInt(l.damaged, lang) })}</Badge>}
              {short > 0 && <Badge tone="gray">{t('returns.short_n', { n: formatInt(short, lang) })}</Badge>}
            </span>
          </div>
        );
      })}
    </div>
  );
}

type Row = { sellable: string; damaged: string };

const count = (v: string): number | null => (/^\s*\d{1,7}\s*$/.test(v) ? Number(v.trim()) : null);

/** The receipt a form sends: per SKU in the return's order, sellable then damaged, no zeros. */
export function receipt(lines: SkuLine[], rows: Record<string, Row>): ReturnReceivedLine[] {
  const out: ReturnReceivedLine[] = [];
  for (const l of lines) {
    const row = rows[l.sku_code];
    const s = count(row?.sellable ?? '') ?? 0;
    const d = count(row?.damaged ?? '') ?? 0;
    if (s > 0) out.push({ sku_code: l.sku_code, quantity: s, condition: 'sellable' });
    if (d > 0) out.push({ sku_code: l.sku_code, quantity: d, condition: 'damaged' });
  }
  return out;
}

/**
 * Receives return `r`: per expected SKU how many arrived sellable and how many damaged (all
 * sellable to start with), never more than expected. Sent once; the server's problem (a 409
 * when someone received it meanwhile with other quantities) is shown as it says it.
 */
export function ReceiveDialog({ r, open, onClose }: { r: Return | null; open: boolean; onClose: () => void }) {
  const { t, lang } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [rows, setRows] = useState<Record<string, Row>>({});
  const lines = r ? bySku(r).filter((l) => l.expected > 0) : [];
  const id = r?.id;
  useEffect(() => {
    if (!open || !r) return;
    setRows(Object.fromEntries(bySku(r).map((l) => [l.sku_code, { sellable: String(l.expected), damaged: '0' }])));
    // Only when it opens (or for another return): a refetch must not reset what was typed.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, id]);
  const receive = useMutation({
    mutationFn: (body: ReturnReceivedLine[]) =>
      call(api.POST('/v1/returns/{id}/receive', { params: { path: { id: id ?? '' } }, body: { lines: body } })),
    onSuccess: (done) => {
      refreshAfterReceipt(qc, done);
      const units = (c: string) => (done.received ?? []).filter((x) => x.condition === c).reduce((n, x) => n + x.quantity, 0);
      toast('ok', t('returns.received_toast', { tid: done.external_id, sellable: units('sellable'), damaged: units('damaged') }));
      onClose();
    },
    // Someone may have received it meanwhile: the list should say so behind the dialog.
    onError: () => void qc.invalidateQueries({ queryKey: ['returns'] }),
  });
  useEffect(() => {
    if (!open) receive.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);

  const check = (l: SkuLine): string | null => {
    const row = rows[l.sku_code];
    if (!row) return null;
    const s = count(row.sellable);
    const d = count(row.damaged);
    if (s === null || d === null) return t('returns.bad_number');
    if (s + d > l.expected) return t('returns.too_many', { n: l.expected });
    return null;
  };
  // Received meanwhile (another tab, a colleague): sending again cannot succeed.
  const conflict = receive.error instanceof ApiError && receive.error.status === 409;
  const body = receipt(lines, rows);
  const problems = lines.filter((l) => check(l) !== null).length;
  const units = body.reduce((n, x) => n + x.quantity, 0);
  const set = (sku: string, patch: Partial<Row>) =>
    setRows((m) => ({ ...m, [sku]: { ...(m[sku] ?? { sellable: '', damaged: '' }), ...patch } }));
  // Damaged units are counted out of the sellable ones while the two would exceed what is expected.
  const setDamaged = (l: SkuLine, v: string) => {
    const d = count(v);
    const s = count(rows[l.sku_code]?.sellable ?? '');
    if (d !== null && s !== null && s + d > l.expected && d <= l.expected)
      set(l.sku_code, { damaged: v, sellable: String(l.expected - d) });
    else set(l.sku_code, { damaged: v });
  };

  return (
    <Dialog
      open={open && !!r}
      onClose={onClose}
      wide
      testId="receive-dialog"
      title={r ? t('returns.receive_title', { tid: r.external_id }) : ''}
      footer={
        <>
          {problems > 0 ? (
            <span className="small text-red" data-testid="receive-invalid">
              {t('returns.fix_first', { n: problems })}
            </span>
          ) : units === 0 ? (
            <span className="small text-amber" data-testid="receive-invalid">
              {t('returns.nothing')}
            </span>
          ) : (
            <span className="small muted" data-testid="receive-summary">
              {t('returns.summary', {
                sellable: formatInt(
                  body.filter((x) => x.condition === 'sellable').reduce((n, x) => n + x.quantity, 0),
                  lang,
                ),
                damaged: formatInt(
                  body.filter((x) => x.condition === 'damaged').reduce((n, x) => n + x.quantity, 0),
                  lang,
                ),
                warehouse: r?.warehouse_code ?? '',
              })}
            </span>
          )}
          <span className="grow" />
          <Button onClick={onClose} data-testid="receive-cancel">
            {t('common.cancel')}
          </Button>
          <Button
            variant="primary"
            icon="check"
            busy={receive.isPending}
            disabled={problems > 0 || units === 0 || conflict}
            onClick={() => receive.mutate(body)}
            data-testid="receive-submit"
          >
            {t('returns.receive_submit')}
          </Button>
        </>
      }
    >
      {r && (
        <>
          <p className="muted small dialog-lead">{t('returns.receive_hint', { warehouse: r.warehouse_code })}</p>
          <table className="table table-compact" data-testid="receive-lines">
            <thead>
              <tr>
                <th>{t('stock.sku')}</th>
                <th>{t('order.title')}</th>
                <th className="num">{t('returns.expected_qty')}</th>
                <th className="num">{t('returns.sellable')}</th>
                <th className="num">{t('returns.damaged')}</th>
                <th>{t('returns.check')}</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l, i) => {
                const bad = check(l);
                const row = rows[l.sku_code];
                const s = count(row?.sellable ?? '');
                const d = count(row?.damaged ?? '');
                const short = !bad && s !== null && d !== null ? l.expected - s - d : 0;
                return (
                  <tr key={l.sku_code} className={cx(bad && 'is-bad')} data-sku={l.sku_code}>
                    <td className="mono small nowrap">{l.sku_code}</td>
                    <td className="max-w-240">
                      <div className="ellipsis" title={l.title}>
                        {l.title}
                      </div>
                    </td>
                    <td className="num">{formatInt(l.expected, lang)}</td>
                    <td className="num">
                      <input
                        className="input-num input-sm"
                        inputMode="numeric"
                        name={`sellable-${i}`}
                        aria-label={t('returns.sellable_of', { sku: l.sku_code })}
                        aria-invalid={bad ? true : undefined}
                        value={row?.sellable ?? ''}
                        onChange={(e) => set(l.sku_code, { sellable: e.target.value })}
                      />
                    </td>
                    <td className="num">
                      <input
                        className="input-num input-sm"
                        inputMode="numeric"
                        name={`damaged-${i}`}
                        aria-label={t('returns.damaged_of', { sku: l.sku_code })}
                        aria-invalid={bad ? true : undefined}
                        value={row?.damaged ?? ''}
                        onChange={(e) => setDamaged(l, e.target.value)}
                      />
                    </td>
                    <td className="small" data-testid="receive-check">
                      {bad ? (
                        <span className="text-red" data-testid="receive-line-error">
                          {bad}
                        </span>
                      ) : short > 0 ? (
                        <span className="text-amber">{t('returns.short_n', { n: formatInt(short, lang) })}</span>
                      ) : (
                        <span className="text-green">{t('returns.complete')}</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {receive.isError && (
            <div data-testid="receive-error" className="receive-error">
              <ErrorText error={receive.error} />
              {conflict && (
                <div className="notice notice-blue" data-testid="receive-conflict">
                  <span>
                    {t('returns.conflict_hint')}{' '}
                    <Link href="/shipping/returns?status=received" className="link" onClick={onClose}>
                      {t('returns.see_received')}
                    </Link>
                  </span>
                </div>
              )}
            </div>
          )}
        </>
      )}
    </Dialog>
  );
}
