import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { OrderFilters } from '../api/planned';
import { fetchCounts, filtersSupported, knownMissing, ORDER_STATUSES, useChannels, type Order } from '../data';
import { endOfDayInZone, formatDateTime, formatInt, formatMoney, startOfDayInZone, sumMoney } from '../format';
import { useI18n, type MsgKey } from '../i18n';
import { usePollInterval } from '../live';
import { Button, cx, EmptyState, OrderStatusBadge, PageHeader, Tabs, TableBody } from '../ui/components';
import type { IconName } from '../ui/icons';
import { HoldDialog, type HoldAction } from './parts/Hold';
import { ShipDialog } from './parts/Ship';
import { LinesSummary, Pager, useSelection } from '../ui/orders';

const PER_PAGE = [20, 50, 100] as const;

/** How the server pages: keyset cursors (new) or page numbers (today). Learnt from page 1. */
let pagingMode: 'unknown' | 'cursor' | 'offset' = 'unknown';

interface Params extends OrderFilters {
  status: string;
  from: string;
  to: string;
  page: number;
  per_page: number;
  cursor: string;
}

function readParams(search: string): Params {
  const q = new URLSearchParams(search);
  const per = Number(q.get('per_page'));
  return {
    status: q.get('status') ?? '',
    channel_id: q.get('shop') ?? '',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    buyer: q.get('buyer') ?? '',
    sku_code: q.get('sku') ?? '',
    external_id: q.get('tid') ?? '',
    page: Math.max(1, Number(q.get('page')) || 1),
    per_page: (PER_PAGE as readonly number[]).includes(per) ? per : 50,
    cursor: q.get('cursor') ?? '',
  };
}

function writeParams(p: Partial<Params>): string {
  const q = new URLSearchParams();
  const set = (k: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '' && v !== null) q.set(k, String(v));
  };
  set('status', p.status);
  set('shop', p.channel_id);
  set('from', p.from);
  set('to', p.to);
  set('buyer', p.buyer);
  set('sku', p.sku_code);
  set('tid', p.external_id);
  if (p.page && p.page > 1) set('page', p.page);
  if (p.per_page && p.per_page !== 50) set('per_page', p.per_page);
  set('cursor', p.cursor);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function apiFilters(p: Params, tz: string): OrderFilters {
  const f: OrderFilters = {};
  if (p.channel_id) f.channel_id = p.channel_id;
  if (p.buyer) f.buyer = p.buyer;
  if (p.sku_code) f.sku_code = p.sku_code;
  if (p.external_id) f.external_id = p.external_id;
  if (p.from && /^\d{4}-\d{2}-\d{2}$/.test(p.from)) f.created_from = startOfDayInZone(p.from, tz).toISOString();
  if (p.to && /^\d{4}-\d{2}-\d{2}$/.test(p.to)) f.created_to = endOfDayInZone(p.to, tz).toISOString();
  return f;
}

type Page = { items: Order[]; total: number | null; page: number; per_page: number; next_cursor: string | null; mode: 'cursor' | 'offset' };

async function fetchPage(p: Params, filters: OrderFilters): Promise<Page> {
  const query: Record<string, string | number> = { ...filters } as Record<string, string>;
  if (p.status) query.status = p.status;
  const useOffset = pagingMode === 'offset' || (p.page > 1 && !p.cursor);
  if (p.cursor) {
    query.limit = p.per_page;
    query.cursor = p.cursor;
  } else if (useOffset) {
    query.page = p.page;
    query.per_page = p.per_page;
  } else {
    // Page 1 by cursor, as the published spec pages deep lists (it refuses page/per_page and
    // limit together); a server without cursors ignores limit and answers without next_cursor.
    query.limit = p.per_page;
  }
  const r = await call(api.GET('/v1/orders', { params: { query } }));
  const hasCursor = 'next_cursor' in r;
  if (!p.cursor && !useOffset) pagingMode = hasCursor ? 'cursor' : 'offset';
  return {
    items: r.items,
    total: typeof r.total === 'number' ? r.total : null,
    page: r.page ?? p.page,
    per_page: r.per_page ?? p.per_page,
    next_cursor: hasCursor ? (r.next_cursor ?? null) : null,
    mode: hasCursor ? 'cursor' : 'offset',
  };
}

/** Actions on selected orders (printing joins them with the shipping screens). */
interface BulkAction {
  id: string;
  label: MsgKey;
  icon: IconName;
  primary?: boolean;
  run: (orders: Order[]) => void;
}

export default function OrdersScreen() {
  const { t, lang, tz } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const p = useMemo(() => readParams(search), [search]);
  const filters = useMemo(() => apiFilters(p, tz), [p, tz]);
  const poll = usePollInterval(10_000);
  const channels = useChannels();
  const shopName = useMemo(() => new Map((channels.data ?? []).map((c) => [c.id, c.name])), [channels.data]);

  const [cursorStack, setCursorStack] = useState<string[]>([]);
  const sel = useSelection<Order>();
  const selected = sel.selected;
  const [shipOpen, setShipOpen] = useState(false);
  const [holdAction, setHoldAction] = useState<HoldAction | null>(null);

  const counts = useQuery({
    queryKey: ['orders', 'counts', filters],
    queryFn: () => fetchCounts(filters),
    refetchInterval: poll,
    placeholderData: keepPreviousData,
  });
  const legacy = counts.data?.assembled ?? knownMissing('GET /v1/orders/counts');

  // Live: page 1 refreshes itself, unless the seller is in the middle of selecting rows.
  const onFirstPage = !p.cursor && p.page === 1;
  const holdStill = selected.size > 0 || !onFirstPage;
  const list = useQuery({
    queryKey: ['orders', 'list', p, filters],
    queryFn: () => fetchPage(p, filters),
    placeholderData: keepPreviousData,
    refetchInterval: holdStill ? false : poll,
  });
  const firstTotal = useRef<number | null>(null);
  const total = counts.data
    ? p.status
      ? (counts.data.by_status[p.status as keyof typeof counts.data.by_status] ?? 0)
      : counts.data.total
    : null;
  useEffect(() => {
    if (!holdStill) firstTotal.current = total;
  }, [holdStill, total]);
  const newSince = holdStill && firstTotal.current !== null && total !== null ? total - firstTotal.current : 0;

  const go = (next: Partial<Params>, keepPage = false) => {
    const merged = { ...p, ...next };
    if (!keepPage) {
      merged.page = 1;
      merged.cursor = '';
      setCursorStack([]);
    }
    sel.clear();
    navigate(`/orders${writeParams(merged)}`);
  };

  const page = list.data;
  const items = page?.items ?? [];
  const allOnPage = sel.allOf(items);
  const toggleAll = () => sel.toggleAll(items);
  const toggle = sel.toggle;

  const actions: BulkAction[] = [
    { id: 'ship', label: 'bulk.ship', icon: 'truck', primary: true, run: () => setShipOpen(true) },
    { id: 'hold', label: 'bulk.hold', icon: 'holds', run: () => setHoldAction('hold') },
    { id: 'release', label: 'bulk.release', icon: 'check', run: () => setHoldAction('release') },
  ];
  const selectedOrders = sel.items;

  const tabs = [
    { key: '', label: t('orders.tab_all'), count: counts.data?.total ?? null },
    ...ORDER_STATUSES.map((s) => ({ key: s, label: t(`status.${s}` as MsgKey), count: counts.data?.by_status[s] ?? null })),
  ];

  return (
    <div className="page" data-testid="orders">
      <PageHeader title={t('nav.orders')} subtitle={counts.data ? t('orders.subtitle', { n: formatInt(counts.data.total, lang) }) : ' '} />
      <Tabs tabs={tabs} value={p.status} onChange={(status) => go({ status })} testId="status-tabs" />
      <FilterBar p={p} legacy={legacy} onApply={(f) => go(f)} channels={channels.data ?? []} />

      {newSince > 0 && (
        <button type="button" className="new-orders" onClick={() => go({}, false)} data-testid="new-orders">
          {t('orders.new_since', { n: newSince })}
        </button>
      )}

      {legacy && needsNewFilters(p) && (
        <div className="notice notice-amber" data-testid="filters-ignored">
          {t('filters.ignored')}
        </div>
      )}
      <div className="panel panel-flush">
        {selected.size > 0 && (
          <div className="bulkbar" data-testid="bulkbar">
            <span>
              {t('bulk.selected', { n: selected.size })}
              <span className="muted"> · {t('bulk.sum', { sum: formatMoney(sumMoney(selectedOrders.map((o) => o.payment))) })}</span>
            </span>
            <div className="bulkbar-actions">
              {actions.map((a) => (
                <Button
                  key={a.id}
                  size="sm"
                  variant={a.primary ? 'primary' : 'secondary'}
                  icon={a.icon}
                  onClick={() => a.run(selectedOrders)}
                  data-action={a.id}
                >
                  {t(a.label)}
                </Button>
              ))}
              <Button size="sm" variant="ghost" onClick={sel.clear}>
                {t('bulk.clear')}
              </Button>
            </div>
          </div>
        )}
        <div className="table-wrap">
          <table className={cx('table', list.isFetching && list.isPlaceholderData && 'is-stale')} data-testid="orders-table">
            <thead>
              <tr>
                <th className="w-check">
                  <input
                    type="checkbox"
                    checked={allOnPage}
                    onChange={toggleAll}
                    aria-label={t('bulk.select_page')}
                    disabled={!items.length}
                  />
                </th>
                <th>{t('orders.tid')}</th>
                <th>{t('orders.shop')}</th>
                <th>{t('orders.buyer')}</th>
                <th>{t('orders.items')}</th>
                <th className="num">{t('orders.amount')}</th>
                <th>{t('orders.status')}</th>
                <th>{t('orders.created')}</th>
              </tr>
            </thead>
            <TableBody
              query={list}
              cols={8}
              rows={10}
              isEmpty={items.length === 0}
              empty={
                <EmptyState
                  icon="orders"
                  title={hasFilters(p) ? t('orders.none_match') : t('orders.none')}
                  hint={hasFilters(p) ? t('orders.none_match_hint') : t('orders.none_hint')}
                  action={
                    hasFilters(p) ? (
                      <Button
                        onClick={() => go({ status: '', channel_id: '', from: '', to: '', buyer: '', sku_code: '', external_id: '' })}
                      >
                        {t('filters.reset')}
                      </Button>
                    ) : undefined
                  }
                />
              }
            >
              {items.map((o) => (
                <tr key={o.id} className={cx(selected.has(o.id) && 'is-selected')} data-order={o.external_id}>
                  <td className="w-check">
                    <input
                      type="checkbox"
                      checked={selected.has(o.id)}
                      onChange={() => toggle(o)}
                      aria-label={t('bulk.select', { tid: o.external_id })}
                    />
                  </td>
                  <td>
                    <Link href={`/orders/${o.id}`} className="mono link">
                      {o.external_id}
                    </Link>
                  </td>
                  <td className="ellipsis max-w-160">{shopName.get(o.channel_id) ?? '—'}</td>
                  <td className="ellipsis max-w-140">{o.buyer_nick}</td>
                  <td className="ellipsis max-w-240">
                    <LinesSummary order={o} />
                  </td>
                  <td className="num">{formatMoney(o.payment, o.currency)}</td>
                  <td>
                    <OrderStatusBadge status={o.status} />
                  </td>
                  <td className="nowrap muted">{formatDateTime(o.created, lang, tz, false)}</td>
                </tr>
              ))}
            </TableBody>
          </table>
        </div>
        {page && (
          <Pager
            mode={page.mode}
            page={p.page}
            perPage={page.per_page}
            perPageOptions={PER_PAGE}
            count={page.items.length}
            hasNext={!!page.next_cursor}
            total={total}
            canPrev={page.mode === 'cursor' ? !!p.cursor : p.page > 1}
            onPrev={() => {
              if (page.mode === 'cursor') {
                const stack = [...cursorStack];
                const prev = stack.pop() ?? '';
                setCursorStack(stack);
                go({ cursor: prev }, true);
              } else go({ page: p.page - 1 }, true);
            }}
            onNext={() => {
              if (page.mode === 'cursor' && page.next_cursor) {
                setCursorStack([...cursorStack, p.cursor]);
                go({ cursor: page.next_cursor }, true);
              } else go({ page: p.page + 1 }, true);
            }}
            onJump={(n) => go({ page: n }, true)}
            onPerPage={(n) => go({ per_page: n })}
          />
        )}
      </div>
      <ShipDialog
        orders={selectedOrders}
        open={shipOpen}
        onClose={(shipped) => {
          setShipOpen(false);
          sel.remove(shipped);
        }}
      />
      <HoldDialog
        action={holdAction ?? 'hold'}
        orders={selectedOrders}
        open={holdAction !== null}
        onClose={(done) => {
          setHoldAction(null);
          sel.remove(done);
        }}
      />
    </div>
  );
}

function needsNewFilters(p: Params): boolean {
  return !!(p.channel_id || p.from || p.to || p.buyer || p.sku_code);
}

function hasFilters(p: Params): boolean {
  return !!(p.status || p.external_id || needsNewFilters(p));
}

function FilterBar({
  p,
  legacy,
  onApply,
  channels,
}: {
  p: Params;
  legacy: boolean;
  onApply: (f: Partial<Params>) => void;
  channels: { id: string; name: string }[];
}) {
  const { t } = useI18n();
  const [f, setF] = useState(p);
  useEffect(() => setF(p), [p]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply({
      channel_id: f.channel_id,
      from: f.from,
      to: f.to,
      buyer: f.buyer?.trim(),
      sku_code: f.sku_code?.trim(),
      external_id: f.external_id?.trim(),
    });
  };
  const off = legacy && !filtersSupported();
  const offTitle = off ? t('filters.needs_server') : undefined;
  const field = (key: string, labelText: string, control: ReactNode) => (
    <label className={cx('filter', off && key !== 'tid' && 'is-off')} title={key !== 'tid' ? offTitle : undefined}>
      <span>{labelText}</span>
      {control}
    </label>
  );
  return (
    <form className="filters" onSubmit={submit} data-testid="order-filters">
      {field(
        'tid',
        t('filters.tid'),
        <input
          name="tid"
          value={f.external_id ?? ''}
          onChange={(e) => setF({ ...f, external_id: e.target.value })}
          placeholder={t('filters.tid_placeholder')}
          className="mono"
        />,
      )}
      {field(
        'shop',
        t('filters.shop'),
        <select name="shop" value={f.channel_id ?? ''} onChange={(e) => setF({ ...f, channel_id: e.target.value })} disabled={off}>
          <option value="">{t('filters.all_shops')}</option>
          {channels.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>,
      )}
      {field(
        'from',
        t('filters.from'),
        <input type="date" name="from" value={f.from} onChange={(e) => setF({ ...f, from: e.target.value })} disabled={off} />,
      )}
      {field(
        'to',
        t('filters.to'),
        <input type="date" name="to" value={f.to} onChange={(e) => setF({ ...f, to: e.target.value })} disabled={off} />,
      )}
      {field(
        'buyer',
        t('filters.buyer'),
        <input name="buyer" value={f.buyer ?? ''} onChange={(e) => setF({ ...f, buyer: e.target.value })} disabled={off} />,
      )}
      {field(
        'sku',
        t('filters.sku'),
        <input
          name="sku"
          value={f.sku_code ?? ''}
          onChange={(e) => setF({ ...f, sku_code: e.target.value })}
          disabled={off}
          className="mono"
        />,
      )}
      <div className="filter-actions">
        <Button type="submit" variant="primary" icon="search" data-testid="filter-apply">
          {t('filters.apply')}
        </Button>
        <Button onClick={() => onApply({ channel_id: '', from: '', to: '', buyer: '', sku_code: '', external_id: '' })} variant="ghost">
          {t('filters.reset')}
        </Button>
      </div>
      {off && <div className="filters-note">{t('filters.needs_server_note')}</div>}
    </form>
  );
}
