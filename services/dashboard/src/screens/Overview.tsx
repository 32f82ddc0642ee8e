import { lazy, Suspense, useMemo, useState } from 'react';
import { Link } from 'wouter';
import { useQueries, useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { OrderStats, OrderStatus, StockItem } from '../api/planned';
import { fetchCounts, fetchStockList, knownMissing, planned, useChannels, useStockAlerts, type Channel, type SyncReport } from '../data';
import { dateInZone, formatAgo, formatDuration, formatInt, formatMoney, formatTime, startOfDayInZone } from '../format';
import { useI18n, type MsgKey } from '../i18n';
import { usePollInterval } from '../live';
import {
  Badge,
  cx,
  EmptyState,
  ErrorState,
  LoadingBlock,
  LoadingRows,
  OrderStatusBadge,
  PageHeader,
  Panel,
  type Tone,
  TableBody,
} from '../ui/components';
import { Icon } from '../ui/icons';
import type { Bucket } from './parts/OrdersChart';

const OrdersChart = lazy(() => import('./parts/OrdersChart'));

const KPI_STATES: { status: OrderStatus; key: MsgKey; tone: string }[] = [
  { status: 'pending_payment', key: 'status.pending_payment', tone: 'amber' },
  { status: 'paid', key: 'status.paid', tone: 'blue' },
  { status: 'allocated', key: 'status.allocated', tone: 'teal' },
  { status: 'backordered', key: 'status.backordered', tone: 'red' },
  { status: 'shipped', key: 'status.shipped', tone: 'green' },
  { status: 'cancelled', key: 'status.cancelled', tone: 'gray' },
];

type Summary = { stats: OrderStats | null; total: number; by: Partial<Record<OrderStatus, number>>; today: boolean };

/** Today's figures from the stats route, or all-time counts from the list when it is missing. */
async function fetchSummary(since: string): Promise<Summary> {
  return planned<Summary>(
    'GET /v1/orders/stats',
    async () => {
      const s = await call(api.GET('/v1/orders/stats', { params: { query: { since, bucket_seconds: 3600 } } }));
      return { stats: s, total: s.total, by: s.by_status, today: true };
    },
    async () => {
      const c = await fetchCounts({});
      return { stats: null, total: c.total, by: c.by_status, today: false };
    },
  );
}

const RANGES = [1, 3, 6] as const;

/** Fills minutes without orders so the bars keep their place in time. */
function fillBuckets(buckets: Bucket[], from: number, to: number, step: number): Bucket[] {
  const map = new Map<number, number>();
  for (const b of buckets) map.set(Math.floor(new Date(b.start).getTime() / 1000 / step) * step, b.orders);
  const out: Bucket[] = [];
  for (let t = Math.floor(from / step) * step; t <= to; t += step) {
    out.push({ start: new Date(t * 1000).toISOString(), orders: map.get(t) ?? 0 });
  }
  return out;
}

export function OverviewScreen() {
  const { t, lang, tz } = useI18n();
  const poll = usePollInterval(5000);
  const slowPoll = usePollInterval(15000);
  const [hours, setHours] = useState<(typeof RANGES)[number]>(3);

  const today = dateInZone(new Date(), tz);
  const since = startOfDayInZone(today, tz).toISOString();
  const summary = useQuery({
    queryKey: ['overview', 'summary', since],
    queryFn: () => fetchSummary(since),
    refetchInterval: poll,
  });

  const chart = useQuery({
    queryKey: ['overview', 'chart', hours],
    queryFn: async () => {
      if (knownMissing('GET /v1/orders/stats')) return null;
      return planned(
        'GET /v1/orders/stats',
        async () => {
          const d = new Date(Date.now() - hours * 3600_000);
          d.setSeconds(0, 0);
          return call(api.GET('/v1/orders/stats', { params: { query: { since: d.toISOString(), bucket_seconds: 60 } } }));
        },
        async () => null,
      );
    },
    enabled: summary.isSuccess,
    refetchInterval: slowPoll,
  });

  const recent = useQuery({
    queryKey: ['orders', 'recent'],
    queryFn: () => call(api.GET('/v1/orders', { params: { query: { per_page: 8 } } })),
    refetchInterval: poll,
  });

  const s = summary.data;
  const updated = summary.dataUpdatedAt ? formatTime(new Date(summary.dataUpdatedAt).toISOString(), lang, tz) : null;

  return (
    <div className="page" data-testid="overview">
      <PageHeader
        title={t('nav.overview')}
        subtitle={
          s
            ? s.today
              ? t('overview.subtitle_today', { date: today, tz })
              : t('overview.subtitle_all')
            : t('overview.subtitle_today', { date: today, tz })
        }
        actions={updated && <span className="muted small">{t('common.updated_at', { time: updated })}</span>}
      />

      {s && !s.today && (
        <div className="notice notice-blue" data-testid="stats-fallback">
          <Icon name="alert" /> {t('overview.no_stats')}
        </div>
      )}

      <section className="kpis" aria-label={t('overview.orders_by_state')}>
        <Link href="/orders" className="kpi kpi-total" data-testid="kpi-total" data-value={s?.total ?? ''}>
          <span className="kpi-label">{s && !s.today ? t('overview.all_orders') : t('overview.today_orders')}</span>
          <span className="kpi-value">
            {summary.isPending ? <span className="skeleton skeleton-lg" /> : formatInt(s?.total ?? 0, lang)}
          </span>
        </Link>
        {KPI_STATES.map((k) => (
          <Link key={k.status} href={`/orders?status=${k.status}`} className={cx('kpi', `kpi-${k.tone}`)} data-testid={`kpi-${k.status}`}>
            <span className="kpi-label">
              <span className="kpi-dot" aria-hidden="true" />
              {t(k.key)}
            </span>
            <span className="kpi-value">
              {summary.isPending ? <span className="skeleton skeleton-lg" /> : formatInt(s?.by[k.status] ?? 0, lang)}
            </span>
          </Link>
        ))}
      </section>
      {summary.isError && <ErrorState error={summary.error} onRetry={() => void summary.refetch()} />}

      <div className="grid-2-1">
        <div className="stack">
          <Panel
            title={t('overview.per_minute')}
            subtitle={t('overview.per_minute_sub', { hours })}
            actions={
              <div className="seg" role="group" aria-label={t('overview.range')}>
                {RANGES.map((h) => (
                  <button key={h} type="button" className={cx(h === hours && 'is-active')} onClick={() => setHours(h)}>
                    {t('overview.hours', { n: h })}
                  </button>
                ))}
              </div>
            }
          >
            <ChartBody
              loading={summary.isPending || (chart.isPending && summary.isSuccess && !!s?.today)}
              error={chart.error}
              stats={chart.data ?? null}
              unavailable={!!s && !s.today}
              hours={hours}
            />
          </Panel>
          <LowStock />
        </div>
        <div className="stack">
          <Panel
            title={t('overview.recent')}
            actions={
              <Link href="/orders" className="link-more">
                {t('common.all')} <Icon name="chevronRight" size={14} />
              </Link>
            }
            className="panel-flush"
          >
            {recent.isPending ? (
              <table className="table table-compact">
                <LoadingRows cols={3} rows={6} />
              </table>
            ) : recent.isError ? (
              <ErrorState error={recent.error} onRetry={() => void recent.refetch()} />
            ) : recent.data.items.length === 0 ? (
              <EmptyState title={t('overview.no_orders')} hint={t('overview.no_orders_hint')} />
            ) : (
              <ul className="feed" data-testid="recent-orders">
                {recent.data.items.map((o) => (
                  <li key={o.id}>
                    <Link href={`/orders/${o.id}`} className="feed-item">
                      <div className="feed-main">
                        <span className="mono">{o.external_id}</span>
                        <span className="muted small">
                          {o.buyer_nick} · {formatAgo(o.created, lang)}
                        </span>
                      </div>
                      <div className="feed-side">
                        <span className="num">{formatMoney(o.payment, o.currency)}</span>
                        <OrderStatusBadge status={o.status} />
                      </div>
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </Panel>
          <SyncHealth />
        </div>
      </div>
    </div>
  );
}

function ChartBody({
  loading,
  error,
  stats,
  unavailable,
  hours,
}: {
  loading: boolean;
  error: unknown;
  stats: OrderStats | null;
  unavailable: boolean;
  hours: number;
}) {
  const { t, tz } = useI18n();
  const buckets = useMemo(() => {
    if (!stats) return [];
    const now = Math.floor(Date.now() / 1000);
    return fillBuckets(stats.buckets, now - hours * 3600, now, 60);
  }, [stats, hours]);
  if (unavailable)
    return <EmptyState icon="overview" title={t('overview.chart_unavailable')} hint={t('overview.chart_unavailable_hint')} />;
  if (loading)
    return (
      <div className="chart chart-loading">
        <span className="skeleton skeleton-chart" />
      </div>
    );
  if (error) return <ErrorState error={error} />;
  if (!stats || stats.buckets.every((b) => b.orders === 0)) return <EmptyState icon="overview" title={t('overview.chart_empty')} />;
  return (
    <Suspense
      fallback={
        <div className="chart chart-loading">
          <span className="skeleton skeleton-chart" />
        </div>
      }
    >
      <OrdersChart buckets={buckets} tz={tz} seriesLabel={t('overview.orders')} bucketSeconds={60} />
    </Suspense>
  );
}

function LowStock() {
  const { t, lang } = useI18n();
  const alerts = useStockAlerts();
  const threshold = alerts.data?.threshold;
  const poll = usePollInterval(15000);
  const q = useQuery({
    queryKey: ['overview', 'low-stock', threshold],
    queryFn: async () =>
      planned<{ items: StockItem[]; assembled: boolean }>(
        'GET /v1/stock?low',
        async () => ({ items: (await call(api.GET('/v1/stock', { params: { query: { low: true } } }))).items, assembled: false }),
        async () => {
          const all = await fetchStockList(threshold!);
          return { items: all.items.filter((i) => i.available <= threshold!), assembled: all.assembled };
        },
      ),
    enabled: threshold !== undefined,
    refetchInterval: poll,
  });
  const items = q.data ? [...q.data.items].sort((a, b) => a.available - b.available) : [];
  return (
    <Panel
      title={t('overview.low_stock')}
      subtitle={threshold !== undefined ? t('overview.low_stock_sub', { n: threshold }) : undefined}
      actions={
        <Link href="/stock?low=1" className="link-more">
          {t('nav.stock')} <Icon name="chevronRight" size={14} />
        </Link>
      }
      className="panel-flush"
    >
      <table className="table table-compact" data-testid="low-stock">
        <thead>
          <tr>
            <th>{t('stock.sku')}</th>
            <th className="num">{t('stock.available')}</th>
            <th className="num">{t('stock.reserved')}</th>
            <th className="num">{t('stock.on_hand')}</th>
          </tr>
        </thead>
        <TableBody
          query={q}
          pending={alerts.isPending}
          cols={4}
          rows={4}
          isEmpty={items.length === 0}
          empty={<EmptyState icon="check" title={t('overview.low_stock_none')} />}
        >
          {items.slice(0, 8).map((i) => (
            <tr key={i.sku_code}>
              <td>
                <Link href={`/stock?sku=${encodeURIComponent(i.sku_code)}`} className="cell-link">
                  <span className="mono">{i.sku_code}</span>
                  <span className="muted small ellipsis">{i.name}</span>
                </Link>
              </td>
              <td className="num">
                <span className={cx('qty', i.available === 0 ? 'qty-zero' : 'qty-low')}>{formatInt(i.available, lang)}</span>
              </td>
              <td className="num">{formatInt(i.reserved, lang)}</td>
              <td className="num">{formatInt(i.on_hand, lang)}</td>
            </tr>
          ))}
        </TableBody>
      </table>
    </Panel>
  );
}

function lagTone(lag: number | null | undefined, reconciles: boolean): Tone {
  if (!reconciles) return 'gray';
  if (lag === null || lag === undefined) return 'gray';
  if (lag < 180) return 'green';
  if (lag < 900) return 'amber';
  return 'red';
}

export function SyncSummary({ channel, report }: { channel: Channel; report: SyncReport }) {
  const { t, lang } = useI18n();
  const w = report.writebacks;
  const tone = lagTone(report.sync_lag_seconds, report.reconciles);
  const waiting = w.shipments_pending + w.stock_pending;
  const rejected = w.shipments_rejected + w.stock_rejected;
  const noApi = w.shipments_without_api + w.stock_without_api;
  return (
    <div className="sync" data-testid={`sync-${channel.id}`}>
      <div className="sync-head">
        <div>
          <div className="sync-name">{channel.name}</div>
          <div className="muted small">
            {channel.marketplace === 'shopify' ? 'Shopify' : 'Bazaar'} · {channel.shop_id}
          </div>
        </div>
        <Badge tone={tone} dot>
          {report.reconciles ? t('sync.lag', { lag: formatDuration(report.sync_lag_seconds ?? null, lang) }) : t('sync.push_only')}
        </Badge>
      </div>
      <div className="sync-grid">
        <div>
          <span className="sync-k">{t('sync.checkpoint')}</span>
          <span className="sync-v">{report.checkpoint ? formatAgo(report.checkpoint, lang) : '—'}</span>
        </div>
        <div>
          <span className="sync-k">{t('sync.found_by_pull')}</span>
          <span className={cx('sync-v', report.found_by_pull_only > 0 && 'text-amber')}>{formatInt(report.found_by_pull_only, lang)}</span>
        </div>
        <div>
          <span className="sync-k">{t('sync.waiting')}</span>
          <span className="sync-v">{formatInt(waiting, lang)}</span>
        </div>
        <div>
          <span className="sync-k">{t('sync.rejected')}</span>
          <span className={cx('sync-v', rejected > 0 && 'text-red')}>{formatInt(rejected, lang)}</span>
        </div>
      </div>
      {noApi > 0 && <div className="sync-warn">{t('sync.without_api', { n: noApi })}</div>}
      {report.last_run?.error && <div className="sync-warn text-red">{t('sync.last_error', { error: report.last_run.error })}</div>}
      {w.last_error && <div className="sync-warn text-red">{t('sync.writeback_error', { error: w.last_error })}</div>}
    </div>
  );
}

function SyncHealth() {
  const { t } = useI18n();
  const channels = useChannels();
  const poll = usePollInterval(15000);
  const reports = useQueries({
    queries: (channels.data ?? []).map((c) => ({
      queryKey: ['channels', 'sync', c.id],
      queryFn: () => call(api.GET('/v1/channels/{id}/sync', { params: { path: { id: c.id } } })),
      refetchInterval: poll || 15000,
    })),
  });
  return (
    <Panel
      title={t('overview.sync_health')}
      actions={
        <Link href="/shops" className="link-more">
          {t('nav.shops')} <Icon name="chevronRight" size={14} />
        </Link>
      }
    >
      {channels.isPending ? (
        <LoadingBlock />
      ) : channels.isError ? (
        <ErrorState error={channels.error} onRetry={() => void channels.refetch()} />
      ) : channels.data.length === 0 ? (
        <EmptyState
          icon="shops"
          title={t('shops.none')}
          hint={t('shops.none_hint')}
          action={
            <Link href="/shops" className="btn btn-primary">
              {t('shops.connect')}
            </Link>
          }
        />
      ) : (
        <div className="sync-list" data-testid="sync-health">
          {channels.data.map((c, i) => {
            const r = reports[i];
            if (!r || r.isPending)
              return (
                <div key={c.id} className="sync sync-loading">
                  <span className="skeleton" />
                </div>
              );
            if (r.isError) return <ErrorState key={c.id} error={r.error} />;
            return <SyncSummary key={c.id} channel={c} report={r.data} />;
          })}
        </div>
      )}
    </Panel>
  );
}
