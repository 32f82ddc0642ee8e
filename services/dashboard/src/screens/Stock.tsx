import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, newIdempotencyKey } from '../api/client';
import type { StockItem } from '../api/planned';
import { fetchStockList, useStockAlerts, useWarehouses } from '../data';
import { formatDateTime, formatInt } from '../format';
import { useI18n } from '../i18n';
import { usePollInterval } from '../live';
import {
  Badge,
  Button,
  cx,
  Dialog,
  EmptyState,
  ErrorState,
  ErrorText,
  Field,
  label,
  LoadingBlock,
  LoadingRows,
  PageHeader,
  useToast,
  OwnerOnly,
  useLock,
} from '../ui/components';
import { Icon } from '../ui/icons';

export default function StockScreen() {
  const { t, lang } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const openSku = params.get('sku');
  const lowOnly = params.get('low') === '1';
  const [q, setQ] = useState(params.get('q') ?? '');
  const [dialog, setDialog] = useState<'sku' | 'warehouse' | 'alerts' | null>(null);
  const poll = usePollInterval(15_000);

  const setParam = (k: string, v: string | null) => {
    const p = new URLSearchParams(search);
    if (v) p.set(k, v);
    else p.delete(k);
    const s = p.toString();
    navigate(`/stock${s ? `?${s}` : ''}`);
  };

  const alerts = useStockAlerts();
  const threshold = alerts.data?.threshold;
  const warehouses = useWarehouses();
  const list = useQuery({
    queryKey: ['stock', 'list', threshold],
    queryFn: () => fetchStockList(threshold!),
    enabled: threshold !== undefined,
    refetchInterval: poll,
  });

  const items = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (list.data?.items ?? [])
      .filter((i) => !lowOnly || i.available <= (threshold ?? 0) || i.low)
      .filter((i) => !needle || i.sku_code.toLowerCase().startsWith(needle) || i.name.toLowerCase().includes(needle));
  }, [list.data, q, lowOnly, threshold]);

  const whCodes = useMemo(() => {
    const codes = new Set<string>((warehouses.data ?? []).map((w) => w.code));
    for (const i of list.data?.items ?? []) for (const w of i.warehouses) codes.add(w.warehouse_code);
    return [...codes].sort((a, b) => (a === 'MAIN' ? -1 : b === 'MAIN' ? 1 : a.localeCompare(b)));
  }, [warehouses.data, list.data]);
  const lowCount = (list.data?.items ?? []).filter((i) => i.low || i.available <= (threshold ?? -1)).length;
  const selected = list.data?.items.find((i) => i.sku_code === openSku) ?? null;

  return (
    <div className="page" data-testid="stock">
      <PageHeader
        title={t('nav.stock')}
        subtitle={list.data ? t('stock.subtitle', { n: formatInt(list.data.items.length, lang), low: formatInt(lowCount, lang) }) : ' '}
        actions={
          <>
            <Link href="/stock/allocation" className="btn btn-secondary" data-testid="allocation-link">
              <Icon name="shipping" size={16} />
              {t('allocation.title')}
            </Link>
            <Button icon="settings" onClick={() => setDialog('alerts')} disabled={!alerts.data}>
              {t('stock.alerts', { n: threshold ?? '—' })}
            </Button>
            <Button icon="plus" onClick={() => setDialog('warehouse')} data-testid="new-warehouse">
              {t('stock.new_warehouse')}
            </Button>
            <Button icon="plus" variant="primary" onClick={() => setDialog('sku')} data-testid="new-sku">
              {t('stock.new_sku')}
            </Button>
          </>
        }
      />
      {list.data?.assembled && (
        <div className="notice notice-blue" data-testid="stock-assembled">
          <Icon name="alert" /> {list.data.truncated ? t('stock.assembled_truncated') : t('stock.assembled')}
        </div>
      )}
      <div className="toolbar">
        <label className="search">
          <Icon name="search" size={15} />
          <input value={q} onChange={(e) => setQ(e.target.value)} placeholder={t('stock.search')} aria-label={t('stock.search')} name="q" />
        </label>
        <label className="check">
          <input type="checkbox" checked={lowOnly} onChange={(e) => setParam('low', e.target.checked ? '1' : null)} />
          {t('stock.low_only')}
        </label>
        <span className="grow" />
        <span className="muted small">{t('stock.click_hint')}</span>
      </div>
      <div className="panel panel-flush">
        <div className="table-wrap">
          <table className="table" data-testid="stock-table">
            <thead>
              <tr>
                <th>{t('stock.sku')}</th>
                <th>{t('stock.name')}</th>
                <th className="num">{t('stock.on_hand')}</th>
                <th className="num">{t('stock.reserved')}</th>
                <th className="num">{t('stock.safety')}</th>
                <th className="num">{t('stock.available')}</th>
                {whCodes.map((w) => (
                  <th key={w} className="num wh-col" title={t('stock.wh_col_hint')}>
                    {w}
                    <span className="th-sub">{t('stock.wh_col')}</span>
                  </th>
                ))}
              </tr>
            </thead>
            {list.isPending ? (
              <LoadingRows cols={6 + Math.max(1, whCodes.length)} rows={8} />
            ) : list.isError ? (
              <tbody>
                <tr>
                  <td colSpan={6 + whCodes.length}>
                    <ErrorState error={list.error} onRetry={() => void list.refetch()} />
                  </td>
                </tr>
              </tbody>
            ) : items.length === 0 ? (
              <tbody>
                <tr>
                  <td colSpan={6 + whCodes.length}>
                    {list.data.items.length === 0 ? (
                      <EmptyState
                        icon="stock"
                        title={t('stock.none')}
                        hint={t('stock.none_hint')}
                        action={
                          <Button variant="primary" icon="plus" onClick={() => setDialog('sku')}>
                            {t('stock.new_sku')}
                          </Button>
                        }
                      />
                    ) : (
                      <EmptyState icon="search" title={t('stock.none_match')} />
                    )}
                  </td>
                </tr>
              </tbody>
            ) : (
              <tbody>
                {items.map((i) => {
                  const low = i.low || (threshold !== undefined && i.available <= threshold);
                  return (
                    <tr
                      key={i.sku_code}
                      className={cx('clickable', openSku === i.sku_code && 'is-selected')}
                      onClick={() => setParam('sku', i.sku_code)}
                      data-sku={i.sku_code}
                    >
                      <td>
                        <button type="button" className="link mono link-btn">
                          {i.sku_code}
                        </button>
                      </td>
                      <td className="ellipsis max-w-240" title={i.name}>
                        {i.name}
                      </td>
                      <td className="num" data-col="on_hand">
                        {formatInt(i.on_hand, lang)}
                      </td>
                      <td className="num" data-col="reserved">
                        {formatInt(i.reserved, lang)}
                      </td>
                      <td className="num muted">{formatInt(i.safety_stock, lang)}</td>
                      <td className="num" data-col="available">
                        <span className={cx('qty', i.available === 0 ? 'qty-zero' : low ? 'qty-low' : 'qty-ok')}>
                          {formatInt(i.available, lang)}
                        </span>
                        {low && (
                          <Badge tone={i.available === 0 ? 'red' : 'amber'}>{i.available === 0 ? t('stock.out') : t('stock.low')}</Badge>
                        )}
                      </td>
                      {whCodes.map((w) => {
                        const level = i.warehouses.find((x) => x.warehouse_code === w);
                        return (
                          <td key={w} className="num wh-col">
                            {level ? (
                              <>
                                {formatInt(level.on_hand, lang)}
                                <span className="muted"> / {formatInt(level.reserved, lang)}</span>
                              </>
                            ) : (
                              <span className="muted">—</span>
                            )}
                          </td>
                        );
                      })}
                    </tr>
                  );
                })}
              </tbody>
            )}
          </table>
        </div>
      </div>
      <Dialog
        open={!!openSku}
        onClose={() => setParam('sku', null)}
        drawer
        title={openSku ? <span className="mono">{openSku}</span> : ''}
        testId="sku-drawer"
      >
        {openSku && <SkuPanel code={openSku} item={selected} warehouses={whCodes} />}
      </Dialog>
      <NewSkuDialog open={dialog === 'sku'} onClose={() => setDialog(null)} />
      <NewWarehouseDialog open={dialog === 'warehouse'} onClose={() => setDialog(null)} />
      {alerts.data && (
        <AlertsDialog
          open={dialog === 'alerts'}
          onClose={() => setDialog(null)}
          threshold={alerts.data.threshold}
          supported={alerts.data.supported}
        />
      )}
    </div>
  );
}

function SkuPanel({ code, item, warehouses }: { code: string; item: StockItem | null; warehouses: string[] }) {
  const { t, lang, tz } = useI18n();
  const stock = useQuery({
    queryKey: ['stock', 'one', code],
    queryFn: () => call(api.GET('/v1/stock/{sku_code}', { params: { path: { sku_code: code } } })),
  });
  const ledger = useQuery({
    queryKey: ['stock', 'ledger', code],
    queryFn: () => call(api.GET('/v1/stock/{sku_code}/ledger', { params: { path: { sku_code: code } } })),
  });
  const [shown, setShown] = useState(100);
  const s = stock.data;
  const rows = useMemo(() => [...(ledger.data ?? [])].reverse(), [ledger.data]);
  return (
    <div className="stack" data-testid="sku-panel">
      {item && <div className="muted">{item.name}</div>}
      {stock.isPending ? (
        <LoadingBlock />
      ) : stock.isError ? (
        <ErrorState error={stock.error} onRetry={() => void stock.refetch()} />
      ) : (
        <div className="figures">
          <div className="figure">
            <span>{t('stock.on_hand')}</span>
            <strong data-testid="sku-on-hand">{formatInt(s!.on_hand, lang)}</strong>
          </div>
          <div className="figure">
            <span>{t('stock.reserved')}</span>
            <strong>{formatInt(s!.reserved, lang)}</strong>
          </div>
          <div className="figure">
            <span>{t('stock.safety')}</span>
            <strong>{formatInt(s!.safety_stock, lang)}</strong>
          </div>
          <div className="figure figure-accent">
            <span>{t('stock.available')}</span>
            <strong data-testid="sku-available">{formatInt(s!.available, lang)}</strong>
          </div>
        </div>
      )}
      <AdjustForm code={code} warehouses={warehouses} />
      <section>
        <h3 className="section-title">
          {t('stock.ledger')}
          {ledger.data && <span className="muted small"> · {t('stock.ledger_count', { n: formatInt(ledger.data.length, lang) })}</span>}
        </h3>
        {ledger.isPending ? (
          <LoadingBlock />
        ) : ledger.isError ? (
          <ErrorState error={ledger.error} onRetry={() => void ledger.refetch()} />
        ) : rows.length === 0 ? (
          <EmptyState title={t('stock.ledger_empty')} />
        ) : (
          <>
            <table className="table table-compact" data-testid="ledger">
              <thead>
                <tr>
                  <th>{t('stock.ledger_at')}</th>
                  <th>{t('stock.ledger_kind')}</th>
                  <th>{t('stock.warehouse')}</th>
                  <th className="num">{t('stock.on_hand_delta')}</th>
                  <th className="num">{t('stock.reserved_delta')}</th>
                  <th>{t('stock.cause')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.slice(0, shown).map((e) => (
                  <tr key={e.id} data-kind={e.kind}>
                    <td className="nowrap small">{formatDateTime(e.at, lang, tz)}</td>
                    <td>
                      <Badge
                        tone={
                          e.kind === 'receipt' || e.kind === 'adjustment'
                            ? 'blue'
                            : e.kind === 'commit'
                              ? 'green'
                              : e.kind === 'reserve'
                                ? 'amber'
                                : 'neutral'
                        }
                      >
                        {label(t, 'ledger', e.kind)}
                      </Badge>
                    </td>
                    <td className="mono small">{e.warehouse_code}</td>
                    <td className={cx('num', e.on_hand_delta > 0 && 'text-green', e.on_hand_delta < 0 && 'text-red')}>
                      {signed(e.on_hand_delta)}
                    </td>
                    <td className="num">{signed(e.reserved_delta)}</td>
                    <td className="ellipsis max-w-200 small" title={e.cause}>
                      {e.cause}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {rows.length > shown && (
              <div className="center">
                <Button size="sm" onClick={() => setShown(shown + 200)}>
                  {t('common.show_more', { n: rows.length - shown })}
                </Button>
              </div>
            )}
          </>
        )}
      </section>
    </div>
  );
}

function signed(n: number): string {
  if (n === 0) return '0';
  return n > 0 ? `+${n}` : `${n}`;
}

function AdjustForm({ code, warehouses }: { code: string; warehouses: string[] }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [warehouse, setWarehouse] = useState('MAIN');
  const [direction, setDirection] = useState<'in' | 'out'>('in');
  const [qty, setQty] = useState('');
  const [reason, setReason] = useState('');
  // One key per submission: a double click, or a retry after a lost answer, reuses it, so
  // the server applies the adjustment once. A new key only once the form changes or succeeds.
  const key = useRef<string | null>(null);
  // And one submission at a time: the second click of a double click lands before React
  // has re-rendered the button as disabled.
  const inFlight = useRef(false);
  useEffect(() => {
    key.current = null;
  }, [warehouse, direction, qty, reason, code]);

  const n = Number(qty);
  const valid = Number.isInteger(n) && n > 0 && n <= 1_000_000_000 && reason.trim().length > 0;
  const m = useMutation({
    mutationFn: async () => {
      key.current ??= newIdempotencyKey();
      return call(
        api.POST('/v1/stock/adjustments', {
          params: { header: { 'Idempotency-Key': key.current } },
          body: { sku_code: code, warehouse_code: warehouse, delta: direction === 'in' ? n : -n, reason: reason.trim() },
        }),
      );
    },
    onSettled: () => {
      inFlight.current = false;
    },
    onSuccess: (s) => {
      qc.setQueryData(['stock', 'one', code], s);
      void qc.invalidateQueries({ queryKey: ['stock'] });
      void qc.invalidateQueries({ queryKey: ['stock', 'ledger', code], refetchType: 'all' });
      void qc.invalidateQueries({ queryKey: ['overview', 'low-stock'] });
      toast('ok', t('stock.adjusted', { code, delta: signed(direction === 'in' ? n : -n) }));
      setQty('');
      setReason('');
      key.current = null;
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!valid || inFlight.current) return;
    inFlight.current = true;
    m.mutate();
  };
  return (
    <form className="adjust" onSubmit={submit} data-testid="adjust-form">
      <h3 className="section-title">{t('stock.adjust')}</h3>
      <div className="form-row">
        <div className="seg" role="group" aria-label={t('stock.direction')}>
          <button type="button" className={cx(direction === 'in' && 'is-active')} onClick={() => setDirection('in')} data-dir="in">
            {t('stock.receive')}
          </button>
          <button type="button" className={cx(direction === 'out' && 'is-active')} onClick={() => setDirection('out')} data-dir="out">
            {t('stock.remove')}
          </button>
        </div>
        <Field label={t('stock.quantity')}>
          {(id) => (
            <input
              id={id}
              name="quantity"
              inputMode="numeric"
              value={qty}
              onChange={(e) => setQty(e.target.value.replace(/[^\d]/g, ''))}
              className="input-num"
            />
          )}
        </Field>
        <Field label={t('stock.warehouse')}>
          {(id) => (
            <select id={id} name="warehouse" value={warehouse} onChange={(e) => setWarehouse(e.target.value)}>
              {(warehouses.length ? warehouses : ['MAIN']).map((w) => (
                <option key={w} value={w}>
                  {w}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <Field label={t('stock.reason')}>
        {(id) => (
          <input
            id={id}
            name="reason"
            value={reason}
            maxLength={500}
            onChange={(e) => setReason(e.target.value)}
            placeholder={t('stock.reason_placeholder')}
          />
        )}
      </Field>
      {m.isError && <ErrorText error={m.error} />}
      <div className="form-actions">
        <Button type="submit" variant="primary" busy={m.isPending} disabled={!valid} data-testid="adjust-submit">
          {direction === 'in' ? t('stock.submit_in', { n: qty || 0 }) : t('stock.submit_out', { n: qty || 0 })}
        </Button>
      </div>
    </form>
  );
}

function NewSkuDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [code, setCode] = useState('');
  const [name, setName] = useState('');
  const [safety, setSafety] = useState('0');
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/skus', { body: { code: code.trim(), name: name.trim(), safety_stock: Number(safety) || 0 } })),
    onSuccess: (s) => {
      void qc.invalidateQueries({ queryKey: ['skus'] });
      void qc.invalidateQueries({ queryKey: ['stock'] });
      toast('ok', t('stock.sku_created', { code: s.code }));
      setCode('');
      setName('');
      setSafety('0');
      m.reset();
      onClose();
    },
  });
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('stock.new_sku')}
      testId="sku-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button
            variant="primary"
            busy={m.isPending}
            disabled={!code.trim() || !name.trim()}
            onClick={() => m.mutate()}
            data-testid="sku-create"
          >
            {t('common.create')}
          </Button>
        </>
      }
    >
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          if (code.trim() && name.trim()) m.mutate();
        }}
      >
        <Field label={t('stock.sku_code')} hint={t('stock.sku_code_hint')}>
          {(id) => <input id={id} name="code" value={code} onChange={(e) => setCode(e.target.value)} className="mono" autoFocus />}
        </Field>
        <Field label={t('stock.name')}>
          {(id) => <input id={id} name="name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label={t('stock.safety')} hint={t('stock.safety_hint')}>
          {(id) => (
            <input
              id={id}
              name="safety_stock"
              inputMode="numeric"
              value={safety}
              onChange={(e) => setSafety(e.target.value.replace(/\D/g, ''))}
              className="input-num"
            />
          )}
        </Field>
        {m.isError && <ErrorText error={m.error} />}
        <button type="submit" hidden />
      </form>
    </Dialog>
  );
}

function NewWarehouseDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [code, setCode] = useState('');
  const [name, setName] = useState('');
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/warehouses', { body: { code: code.trim(), name: name.trim() } })),
    onSuccess: (w) => {
      void qc.invalidateQueries({ queryKey: ['warehouses'] });
      toast('ok', t('stock.warehouse_created', { code: w.code }));
      setCode('');
      setName('');
      m.reset();
      onClose();
    },
  });
  const existing = useWarehouses();
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('stock.new_warehouse')}
      testId="warehouse-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button
            variant="primary"
            busy={m.isPending}
            disabled={!code.trim() || !name.trim()}
            onClick={() => m.mutate()}
            data-testid="warehouse-create"
          >
            {t('common.create')}
          </Button>
        </>
      }
    >
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          if (code.trim() && name.trim()) m.mutate();
        }}
      >
        <Field label={t('stock.warehouse_code')} hint={t('stock.warehouse_code_hint')}>
          {(id) => <input id={id} name="code" value={code} onChange={(e) => setCode(e.target.value)} className="mono" autoFocus />}
        </Field>
        <Field label={t('stock.warehouse_name')}>
          {(id) => <input id={id} name="name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />}
        </Field>
        {m.isError && <ErrorText error={m.error} />}
        <button type="submit" hidden />
      </form>
      {existing.data && existing.data.length > 0 && (
        <div className="muted small">
          {t('stock.existing_warehouses')}: {existing.data.map((w) => `${w.code} (${w.name})`).join('、')}
        </div>
      )}
    </Dialog>
  );
}

function AlertsDialog({
  open,
  onClose,
  threshold,
  supported,
}: {
  open: boolean;
  onClose: () => void;
  threshold: number;
  supported: boolean;
}) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [v, setV] = useState(String(threshold));
  const lock = useLock('settings:write');
  useEffect(() => setV(String(threshold)), [threshold, open]);
  const m = useMutation({
    mutationFn: () => call(api.PUT('/v1/inventory/settings', { body: { low_stock_threshold: Number(v) } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['stock'] });
      void qc.invalidateQueries({ queryKey: ['overview', 'low-stock'] });
      onClose();
    },
  });
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('stock.alerts_title')}
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button
            variant="primary"
            busy={m.isPending}
            disabled={!supported || v === '' || lock.locked}
            title={lock.title}
            onClick={() => m.mutate()}
          >
            {t('common.save')}
          </Button>
        </>
      }
    >
      <div className="form">
        <OwnerOnly scope="settings:write" />
        <Field label={t('stock.alerts_threshold')} hint={t('stock.alerts_hint')}>
          {(id) => (
            <input
              id={id}
              inputMode="numeric"
              value={v}
              onChange={(e) => setV(e.target.value.replace(/\D/g, ''))}
              disabled={!supported}
              className="input-num"
            />
          )}
        </Field>
        {!supported && <div className="notice notice-blue">{t('stock.alerts_unsupported')}</div>}
        {m.isError && <ErrorText error={m.error} />}
      </div>
    </Dialog>
  );
}
