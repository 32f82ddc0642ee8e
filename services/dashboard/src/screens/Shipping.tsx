import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { useWarehouses } from '../data';
import { formatDateTime, formatInt } from '../format';
import { useI18n, type MsgKey } from '../i18n';
import { usePollInterval } from '../live';
import { Badge, Button, cx, EmptyState, ErrorText, label, PageHeader, Tabs, TableBody } from '../ui/components';
import { Icon } from '../ui/icons';
import { Pager, useSelection } from '../ui/orders';
import {
  OUTCOME_TONES,
  refreshShipments,
  SHIPMENT_STATUSES,
  shortId,
  useCarrierAccounts,
  type Shipment,
  type ShipmentCounts,
  type ShipmentResult,
} from '../shipping';
import { BulkDialog, PrintDialog, type BulkKind } from './parts/ShipmentActions';
import { ItemsCell, ReceiverCell, ShipmentStatusBadge, Trades, WaybillCell } from './parts/ShipmentBits';
import { useReturns } from './parts/Returns';

const PER_PAGE = [20, 50, 100] as const;

interface Params {
  status: string;
  warehouse: string;
  account: string;
  cursor: string;
  limit: number;
}

function readParams(search: string): Params {
  const q = new URLSearchParams(search);
  const limit = Number(q.get('limit'));
  return {
    status: q.get('status') ?? '',
    warehouse: q.get('warehouse') ?? '',
    account: q.get('account') ?? '',
    cursor: q.get('cursor') ?? '',
    limit: (PER_PAGE as readonly number[]).includes(limit) ? limit : 50,
  };
}

function writeParams(p: Params): string {
  const q = new URLSearchParams();
  if (p.status) q.set('status', p.status);
  if (p.warehouse) q.set('warehouse', p.warehouse);
  if (p.account) q.set('account', p.account);
  if (p.cursor) q.set('cursor', p.cursor);
  if (p.limit !== 50) q.set('limit', String(p.limit));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function filtersOf(p: Params): { warehouse?: string; account?: string } {
  return { ...(p.warehouse ? { warehouse: p.warehouse } : {}), ...(p.account ? { account: p.account } : {}) };
}

export default function ShippingScreen() {
  const { t, lang, tz } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const p = useMemo(() => readParams(search), [search]);
  const filters = useMemo(() => filtersOf(p), [p]);
  const poll = usePollInterval(10_000);
  const warehouses = useWarehouses();
  const accounts = useCarrierAccounts();
  const sel = useSelection<Shipment>();
  const [cursorStack, setCursorStack] = useState<string[]>([]);
  const [bulk, setBulk] = useState<BulkKind | null>(null);
  const [printOpen, setPrintOpen] = useState(false);
  const returns = useReturns('expected');

  // New shipments come from orders in the background: refresh even with a live stream.
  const counts = useQuery({
    queryKey: ['shipments', 'counts', filters],
    queryFn: () => call(api.GET('/v1/shipments/counts', { params: { query: filters } })),
    refetchInterval: poll || 15_000,
    placeholderData: keepPreviousData,
  });
  const holdStill = sel.selected.size > 0 || !!p.cursor || bulk !== null || printOpen;
  const list = useQuery({
    queryKey: ['shipments', 'list', p],
    queryFn: () =>
      call(
        api.GET('/v1/shipments', {
          params: {
            query: { ...filters, ...(p.status ? { status: p.status } : {}), limit: p.limit, ...(p.cursor ? { cursor: p.cursor } : {}) },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: holdStill ? false : poll || 15_000,
  });

  const go = (next: Partial<Params>, keepCursor = false) => {
    const merged = { ...p, ...next };
    if (!keepCursor) {
      merged.cursor = '';
      setCursorStack([]);
    }
    sel.clear();
    navigate(`/shipping${writeParams(merged)}`);
  };

  const c = counts.data;
  const total = c ? SHIPMENT_STATUSES.reduce((n, s) => n + c[s], 0) : null;
  const tabs = [
    { key: '', label: t('shipping.tab_all'), count: total },
    ...SHIPMENT_STATUSES.map((s) => ({ key: s, label: t(`sstatus.${s}` as MsgKey), count: c ? c[s] : null })),
  ];
  const items = list.data?.items ?? [];
  const selected = sel.items;
  const withWaybill = selected.filter((s) => s.waybill).length;

  return (
    <div className="page" data-testid="shipping">
      <PageHeader
        title={t('nav.shipping')}
        subtitle={c ? t('shipping.subtitle', { pending: formatInt(c.pending, lang), printed: formatInt(c.printed, lang) }) : ' '}
        actions={
          <>
            <Link href="/shipping/returns" className="btn btn-secondary" data-testid="returns-link">
              <Icon name="undo" size={16} /> {t('returns.title')}
              {!!returns.data?.length && (
                <span className="tab-count" title={t('returns.expected_count', { n: returns.data.length })}>
                  {formatInt(returns.data.length, lang)}
                </span>
              )}
            </Link>
            <Link href="/shipping/carriers" className="btn btn-secondary" data-testid="carriers-link">
              <Icon name="settings" size={16} /> {t('carriers.title')}
            </Link>
          </>
        }
      />
      <ScanToShip />
      <Tabs tabs={tabs} value={p.status} onChange={(status) => go({ status })} testId="shipment-tabs" />
      <form className="filters" data-testid="shipment-filters" onSubmit={(e: FormEvent) => e.preventDefault()}>
        <label className="filter">
          <span>{t('shipping.warehouse')}</span>
          <select value={p.warehouse} onChange={(e) => go({ warehouse: e.target.value })} name="warehouse">
            <option value="">{t('common.all')}</option>
            {(warehouses.data ?? []).map((w) => (
              <option key={w.code} value={w.code}>
                {w.name} ({w.code})
              </option>
            ))}
          </select>
        </label>
        <label className="filter">
          <span>{t('shipping.account')}</span>
          <select value={p.account} onChange={(e) => go({ account: e.target.value })} name="account">
            <option value="">{t('common.all')}</option>
            {(accounts.data ?? []).map((a) => (
              <option key={a.id} value={a.id}>
                {label(t, 'carrier', a.cp_code)} · {a.branch_name || a.branch_code}
              </option>
            ))}
          </select>
        </label>
        {(p.warehouse || p.account) && (
          <div className="filter-actions">
            <Button variant="ghost" onClick={() => go({ warehouse: '', account: '' })}>
              {t('filters.reset')}
            </Button>
          </div>
        )}
      </form>

      <div className="panel panel-flush">
        {sel.selected.size > 0 && (
          <div className="bulkbar" data-testid="bulkbar">
            <span>{t('shipping.selected', { n: sel.selected.size, drawn: withWaybill })}</span>
            <div className="bulkbar-actions">
              <Button size="sm" variant="primary" icon="file" onClick={() => setBulk('draw')} data-action="draw">
                {t('shipping.draw')}
              </Button>
              <Button size="sm" icon="download" onClick={() => setPrintOpen(true)} data-action="print">
                {t('shipping.print')}
              </Button>
              <Button size="sm" icon="truck" onClick={() => setBulk('ship')} data-action="ship">
                {t('shipping.ship')}
              </Button>
              <Button size="sm" variant="ghost" onClick={sel.clear}>
                {t('bulk.clear')}
              </Button>
            </div>
          </div>
        )}
        <div className="table-wrap">
          <table className={cx('table', list.isFetching && list.isPlaceholderData && 'is-stale')} data-testid="shipments-table">
            <thead>
              <tr>
                <th className="w-check">
                  <input
                    type="checkbox"
                    checked={sel.allOf(items)}
                    onChange={() => sel.toggleAll(items)}
                    aria-label={t('bulk.select_page')}
                    disabled={!items.length}
                  />
                </th>
                <th>{t('shipping.shipment')}</th>
                <th>{t('shipping.trades')}</th>
                <th>{t('shipping.receiver')}</th>
                <th>{t('shipping.items')}</th>
                <th>{t('shipping.carrier_waybill')}</th>
                <th>{t('shipping.status')}</th>
                <th>{t('shipping.problem')}</th>
                <th className="num">{t('shipping.print_count')}</th>
              </tr>
            </thead>
            <TableBody
              query={list}
              cols={9}
              rows={10}
              isEmpty={items.length === 0}
              empty={
                <EmptyState
                  icon="shipping"
                  title={p.status ? t('shipping.none_status', { status: label(t, 'sstatus', p.status) }) : t('shipping.none')}
                  hint={t('shipping.none_hint')}
                />
              }
            >
              {items.map((s) => (
                <tr key={s.id} className={cx(sel.selected.has(s.id) && 'is-selected')} data-shipment={s.id} data-status={s.status}>
                  <td className="w-check">
                    <input
                      type="checkbox"
                      checked={sel.selected.has(s.id)}
                      onChange={() => sel.toggle(s)}
                      aria-label={t('shipping.select', { id: shortId(s.id) })}
                    />
                  </td>
                  <td className="nowrap">
                    <Link href={`/shipping/${s.id}`} className="mono link" data-testid="shipment-link">
                      {shortId(s.id)}
                    </Link>
                    <div className="small muted">{formatDateTime(s.opened_at, lang, tz, false)}</div>
                  </td>
                  <td>
                    <Trades shipment={s} />
                  </td>
                  <td className="max-w-160">
                    <ReceiverCell shipment={s} />
                  </td>
                  <td className="max-w-240">
                    <ItemsCell shipment={s} />
                  </td>
                  <td>
                    <WaybillCell shipment={s} />
                  </td>
                  <td>
                    <ShipmentStatusBadge status={s.status} />
                    {s.tracking_status && <div className="small muted">{label(t, 'tracking', s.tracking_status)}</div>}
                  </td>
                  <td className="max-w-200">
                    {s.problem ? (
                      <span className="text-red small problem" title={s.problem} data-testid="shipment-problem">
                        {s.problem}
                      </span>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="num">{s.print_count > 0 ? formatInt(s.print_count, lang) : <span className="muted">0</span>}</td>
                </tr>
              ))}
            </TableBody>
          </table>
        </div>
        {list.data && (
          <Pager
            mode="cursor"
            page={1}
            perPage={p.limit}
            perPageOptions={PER_PAGE}
            count={items.length}
            hasNext={!!list.data.next_cursor}
            total={p.status && c ? c[p.status as keyof ShipmentCounts] : total}
            canPrev={!!p.cursor}
            onPrev={() => {
              const stack = [...cursorStack];
              const prev = stack.pop() ?? '';
              setCursorStack(stack);
              go({ cursor: prev }, true);
            }}
            onNext={() => {
              if (!list.data?.next_cursor) return;
              setCursorStack([...cursorStack, p.cursor]);
              go({ cursor: list.data.next_cursor }, true);
            }}
            onJump={() => {}}
            onPerPage={(n) => go({ limit: n })}
          />
        )}
      </div>
      <BulkDialog
        kind={bulk ?? 'draw'}
        shipments={selected}
        open={bulk !== null}
        onClose={(done) => {
          setBulk(null);
          sel.remove(done);
        }}
      />
      <PrintDialog
        shipments={selected}
        open={printOpen}
        onClose={() => {
          setPrintOpen(false);
          sel.clear();
        }}
      />
    </div>
  );
}

// ---- scan-to-ship ----

type Scan = {
  key: number;
  code: string;
  /** `pending` while asked, `unknown` when no shipment has that waybill, else the server's outcome. */
  outcome: string;
  shipment?: Shipment;
  result?: ShipmentResult;
  error?: unknown;
};

const SHIPPABLE_NOW: Shipment['status'][] = ['printed', 'waybill_allocated'];

function hasCode(s: Shipment, code: string): boolean {
  const w = s.waybill;
  if (!w) return false;
  const c = code.toUpperCase();
  return w.code.toUpperCase() === c || w.child_codes.some((x) => x.toUpperCase() === c);
}

/**
 * Finds the shipment with a waybill code (a parcel's, a child of a multi-parcel waybill
 * included): what is on screen first, else `GET /v1/shipments?waybill=`. A code that is not a
 * waybill's characters finds nothing (the server would refuse it).
 */
async function findByWaybill(code: string, cached: Shipment[]): Promise<Shipment | null> {
  const hit = cached.find((s) => hasCode(s, code) && SHIPPABLE_NOW.includes(s.status));
  if (hit) return hit;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(code)) return null;
  const r = await call(api.GET('/v1/shipments', { params: { query: { waybill: code, limit: 10 } } }));
  return r.items.find((s) => SHIPPABLE_NOW.includes(s.status)) ?? r.items[0] ?? null;
}

function ScanToShip() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [code, setCode] = useState('');
  const [scans, setScans] = useState<Scan[]>([]);
  const next = useRef(1);

  // The box stays editable while a scan is answered: a scanner types the next code at once.
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = code.trim();
    if (!c) return;
    setCode('');
    const key = next.current++;
    setScans((xs) => [{ key, code: c, outcome: 'pending' }, ...xs].slice(0, 6));
    const settle = (s: Omit<Scan, 'key' | 'code'>) => setScans((xs) => xs.map((x) => (x.key === key ? { ...x, ...s } : x)));
    try {
      const cached = qc.getQueriesData<{ items: Shipment[] }>({ queryKey: ['shipments', 'list'] }).flatMap(([, d]) => d?.items ?? []);
      const s = await findByWaybill(c, cached);
      if (!s) {
        settle({ outcome: 'unknown' });
        return;
      }
      const r = await call(api.POST('/v1/shipments/ship', { body: { ids: [s.id] } }));
      const one = r.results[0];
      settle({ outcome: one?.outcome ?? 'failed', shipment: s, result: one });
      refreshShipments(qc, [s.id]);
    } catch (err) {
      settle({ outcome: 'error', error: err });
    }
  };

  return (
    <section className="scan panel" data-testid="scan-box">
      <form className="scan-form" onSubmit={(e) => void submit(e)}>
        <Icon name="search" size={18} />
        <label className="scan-label" htmlFor="scan-input">
          {t('scan.label')}
        </label>
        <input
          id="scan-input"
          name="scan"
          className="scan-input mono"
          value={code}
          onChange={(e) => setCode(e.target.value)}
          placeholder={t('scan.placeholder')}
          autoComplete="off"
          spellCheck={false}
          autoFocus
          data-testid="scan-input"
        />
        <Button type="submit" variant="primary" icon="truck" disabled={!code.trim()} data-testid="scan-submit">
          {t('scan.ship')}
        </Button>
      </form>
      {scans.length > 0 ? (
        <div className="scan-results">
          {scans.map((s, i) => (
            <ScanLine key={s.key} scan={s} latest={i === 0} />
          ))}
        </div>
      ) : (
        <div className="small muted scan-hint">{t('scan.hint')}</div>
      )}
    </section>
  );
}

function ScanLine({ scan, latest }: { scan: Scan; latest: boolean }) {
  const { t } = useI18n();
  const ok = scan.outcome === 'shipped';
  if (scan.outcome === 'pending')
    return (
      <div
        className={cx('scan-line', latest && 'is-latest')}
        data-testid={latest ? 'scan-result' : undefined}
        data-outcome="pending"
        data-code={scan.code}
      >
        <span className="mono strong">{scan.code}</span>
        <span className="spinner" />
        <span className="small muted">{t('scan.looking')}</span>
      </div>
    );
  const tone = scan.outcome === 'unknown' || scan.outcome === 'error' ? 'red' : (OUTCOME_TONES[scan.outcome] ?? 'neutral');
  const text =
    scan.outcome === 'unknown' ? t('scan.unknown', { code: scan.code }) : scan.outcome === 'error' ? '' : label(t, 'outcome', scan.outcome);
  return (
    <div
      className={cx('scan-line', latest && 'is-latest', ok ? 'is-ok' : scan.outcome === 'already_shipped' ? 'is-warn' : 'is-bad')}
      data-testid={latest ? 'scan-result' : undefined}
      data-outcome={scan.outcome}
      data-code={scan.code}
    >
      <span className="mono strong">{scan.code}</span>
      {scan.outcome !== 'error' && <Badge tone={tone}>{scan.outcome === 'unknown' ? t('scan.unknown_short') : text}</Badge>}
      {scan.outcome === 'unknown' && <span className="small">{text}</span>}
      {scan.shipment && (
        <>
          <span className="small muted">{scan.shipment.orders.map((o) => o.external_id).join(', ')}</span>
          <span className="small">{scan.shipment.receiver.name}</span>
          <Link href={`/shipping/${scan.shipment.id}`} className="link small">
            {t('scan.open')}
          </Link>
        </>
      )}
      {scan.result?.detail && <span className="small text-red">{scan.result.detail}</span>}
      {scan.error !== undefined && <ErrorText error={scan.error} />}
    </div>
  );
}
