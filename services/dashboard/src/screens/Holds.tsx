// 待审核: the orders on hold, by reason, with bulk hold and release and the audit rules.
import { useEffect, useMemo, useState } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { pool, useChannels, type Order } from '../data';
import { formatDateTime, formatInt, formatMoney, sumMoney } from '../format';
import { useI18n } from '../i18n';
import { usePollInterval } from '../live';
import {
  Button,
  cx,
  Dialog,
  EmptyState,
  ErrorState,
  ErrorText,
  Field,
  LoadingBlock,
  PageHeader,
  Tabs,
  useToast,
  TableBody,
  OwnerOnly,
  useLock,
} from '../ui/components';
import { heldSince, HOLD_REASONS, HoldReasons, LinesSummary, Pager, useSelection } from '../ui/orders';
import { HoldDialog, type HoldAction } from './parts/Hold';

const PER_PAGE = [20, 50, 100] as const;

type Reason = (typeof HOLD_REASONS)[number];

function readParams(search: string) {
  const q = new URLSearchParams(search);
  const reason = q.get('reason') ?? '';
  const per = Number(q.get('per_page'));
  return {
    reason: (HOLD_REASONS as readonly string[]).includes(reason) ? (reason as Reason) : ('' as const),
    page: Math.max(1, Number(q.get('page')) || 1),
    per_page: (PER_PAGE as readonly number[]).includes(per) ? per : 50,
  };
}
type Params = ReturnType<typeof readParams>;

function writeParams(p: Params): string {
  const q = new URLSearchParams();
  if (p.reason) q.set('reason', p.reason);
  if (p.page > 1) q.set('page', String(p.page));
  if (p.per_page !== 50) q.set('per_page', String(p.per_page));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Orders on hold in all and for each reason (page totals: the counts route has no reason filter). */
async function fetchHoldCounts(): Promise<{ total: number; by: Record<string, number> }> {
  const keys = ['', ...HOLD_REASONS];
  const totals = await pool(keys, 4, async (r) => {
    const query = r ? { status: 'on_hold', hold_reason: r, per_page: 1 } : { status: 'on_hold', per_page: 1 };
    return (await call(api.GET('/v1/orders', { params: { query } }))).total;
  });
  const by: Record<string, number> = {};
  HOLD_REASONS.forEach((r, i) => (by[r] = totals[i + 1] ?? 0));
  return { total: totals[0] ?? 0, by };
}

export default function HoldsScreen() {
  const { t, lang, tz } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const p = useMemo(() => readParams(search), [search]);
  const poll = usePollInterval(10_000);
  const channels = useChannels();
  const shopName = useMemo(() => new Map((channels.data ?? []).map((c) => [c.id, c.name])), [channels.data]);
  const sel = useSelection<Order>();
  const [action, setAction] = useState<{ kind: HoldAction; orders: Order[] } | null>(null);
  const [rulesOpen, setRulesOpen] = useState(false);

  const counts = useQuery({ queryKey: ['orders', 'holds', 'counts'], queryFn: fetchHoldCounts, refetchInterval: poll });
  const list = useQuery({
    queryKey: ['orders', 'holds', 'list', p],
    queryFn: () =>
      call(
        api.GET('/v1/orders', {
          params: { query: { status: 'on_hold', ...(p.reason ? { hold_reason: p.reason } : {}), page: p.page, per_page: p.per_page } },
        }),
      ),
    placeholderData: keepPreviousData,
    refetchInterval: sel.selected.size > 0 ? false : poll,
  });

  const go = (next: Partial<Params>) => {
    sel.clear();
    navigate(`/holds${writeParams({ ...p, page: 1, ...next })}`);
  };
  const items = list.data?.items ?? [];
  const tabs = [
    { key: '' as const, label: t('holds.tab_all'), count: counts.data?.total ?? null },
    ...HOLD_REASONS.map((r) => ({ key: r, label: t(`hold.${r}`), count: counts.data?.by[r] ?? null })),
  ];

  return (
    <div className="page" data-testid="holds">
      <PageHeader
        title={t('nav.holds')}
        subtitle={counts.data ? t('holds.subtitle', { n: formatInt(counts.data.total, lang) }) : ' '}
        actions={
          <Button icon="settings" onClick={() => setRulesOpen(true)} data-testid="audit-rules-open">
            {t('holds.rules')}
          </Button>
        }
      />
      <Tabs tabs={tabs} value={p.reason} onChange={(reason) => go({ reason })} testId="reason-tabs" />
      <div className="panel panel-flush">
        {sel.selected.size > 0 && (
          <div className="bulkbar" data-testid="bulkbar">
            <span>
              {t('bulk.selected', { n: sel.selected.size })}
              <span className="muted"> · {t('bulk.sum', { sum: formatMoney(sumMoney(sel.items.map((o) => o.payment))) })}</span>
            </span>
            <div className="bulkbar-actions">
              <Button
                size="sm"
                variant="primary"
                icon="check"
                onClick={() => setAction({ kind: 'release', orders: sel.items })}
                data-action="release"
              >
                {t('bulk.release')}
              </Button>
              <Button size="sm" icon="holds" onClick={() => setAction({ kind: 'hold', orders: sel.items })} data-action="hold">
                {t('bulk.hold')}
              </Button>
              <Button size="sm" variant="ghost" onClick={sel.clear}>
                {t('bulk.clear')}
              </Button>
            </div>
          </div>
        )}
        <div className="table-wrap">
          <table className={cx('table', list.isFetching && list.isPlaceholderData && 'is-stale')} data-testid="holds-table">
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
                <th>{t('orders.tid')}</th>
                <th>{t('orders.shop')}</th>
                <th>{t('orders.buyer')}</th>
                <th>{t('orders.items')}</th>
                <th className="num">{t('orders.amount')}</th>
                <th>{t('holds.reasons')}</th>
                <th>{t('holds.since')}</th>
                <th />
              </tr>
            </thead>
            <TableBody
              query={list}
              cols={9}
              rows={8}
              isEmpty={items.length === 0}
              empty={
                <EmptyState
                  icon="holds"
                  title={p.reason ? t('holds.none_reason') : t('holds.none')}
                  hint={t('holds.none_hint')}
                  action={p.reason ? <Button onClick={() => go({ reason: '' })}>{t('holds.tab_all')}</Button> : undefined}
                />
              }
            >
              {items.map((o) => (
                <tr key={o.id} className={cx(sel.selected.has(o.id) && 'is-selected')} data-order={o.external_id}>
                  <td className="w-check">
                    <input
                      type="checkbox"
                      checked={sel.selected.has(o.id)}
                      onChange={() => sel.toggle(o)}
                      aria-label={t('bulk.select', { tid: o.external_id })}
                    />
                  </td>
                  <td>
                    <Link href={`/orders/${o.id}`} className="mono link">
                      {o.external_id}
                    </Link>
                  </td>
                  <td className="ellipsis max-w-140">{shopName.get(o.channel_id) ?? '—'}</td>
                  <td className="ellipsis max-w-140">{o.buyer_nick}</td>
                  <td className="ellipsis max-w-200">
                    <LinesSummary order={o} />
                  </td>
                  <td className="num">{formatMoney(o.payment, o.currency)}</td>
                  <td className="max-w-240">
                    <HoldReasons holds={o.holds} />
                  </td>
                  <td className="nowrap muted">{formatDateTime(heldSince(o.holds), lang, tz, false)}</td>
                  <td className="num nowrap">
                    {o.holds.some((h) => h.reason === 'unmapped_sku') && (
                      <Link href="/mapping" className="btn btn-ghost btn-sm">
                        {t('order.map_item')}
                      </Link>
                    )}
                    <Button size="sm" onClick={() => setAction({ kind: 'release', orders: [o] })} data-testid="release-one">
                      {t('holds.release_one')}
                    </Button>
                  </td>
                </tr>
              ))}
            </TableBody>
          </table>
        </div>
        {list.data && (
          <Pager
            mode="offset"
            page={p.page}
            perPage={p.per_page}
            perPageOptions={PER_PAGE}
            count={items.length}
            total={list.data.total}
            hasNext={false}
            canPrev={p.page > 1}
            onPrev={() => go({ page: p.page - 1 })}
            onNext={() => go({ page: p.page + 1 })}
            onJump={(n) => go({ page: n })}
            onPerPage={(n) => go({ per_page: n })}
          />
        )}
      </div>
      <HoldDialog
        action={action?.kind ?? 'release'}
        orders={action?.orders ?? []}
        open={action !== null}
        onClose={(done) => {
          setAction(null);
          sel.remove(done);
        }}
      />
      <AuditRulesDialog open={rulesOpen} onClose={() => setRulesOpen(false)} />
    </div>
  );
}

const AMOUNT_RE = /^\d{1,12}(\.\d{1,2})?$/;

function AuditRulesDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({ queryKey: ['orders', 'audit-rules'], queryFn: () => call(api.GET('/v1/orders/audit-rules')), enabled: open });
  const [buyer, setBuyer] = useState(false);
  const [seller, setSeller] = useState(false);
  const [amountOn, setAmountOn] = useState(false);
  const [amount, setAmount] = useState('');
  const [partial, setPartial] = useState(false);
  useEffect(() => {
    if (!open || !q.data) return;
    setBuyer(q.data.buyer_memo);
    setSeller(q.data.seller_memo);
    setAmountOn(!!q.data.amount_over);
    setAmount(q.data.amount_over ?? '');
    setPartial(q.data.allow_partial_shipment);
  }, [open, q.data]);
  const amountBad = amountOn && (!AMOUNT_RE.test(amount.trim()) || !/[1-9]/.test(amount));
  const lock = useLock('settings:write');
  const save = useMutation({
    mutationFn: () =>
      call(
        api.PUT('/v1/orders/audit-rules', {
          body: { buyer_memo: buyer, seller_memo: seller, amount_over: amountOn ? amount.trim() : null, allow_partial_shipment: partial },
        }),
      ),
    onSuccess: (r) => {
      qc.setQueryData(['orders', 'audit-rules'], r);
      void qc.invalidateQueries({ queryKey: ['orders'] });
      toast('ok', t('rules.saved'));
      onClose();
    },
  });
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('rules.title')}
      testId="audit-rules"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button
            variant="primary"
            busy={save.isPending}
            disabled={!q.data || amountBad || lock.locked}
            title={lock.title}
            onClick={() => save.mutate()}
            data-testid="audit-rules-save"
          >
            {t('common.save')}
          </Button>
        </>
      }
    >
      {q.isPending ? (
        <LoadingBlock />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : (
        <div className="form">
          <OwnerOnly scope="settings:write" />
          <div className="notice notice-blue">{t('rules.always')}</div>
          <label className="check">
            <input type="checkbox" name="buyer_memo" checked={buyer} onChange={(e) => setBuyer(e.target.checked)} />
            {t('rules.buyer_memo')}
          </label>
          <label className="check">
            <input type="checkbox" name="seller_memo" checked={seller} onChange={(e) => setSeller(e.target.checked)} />
            {t('rules.seller_memo')}
          </label>
          <label className="check">
            <input type="checkbox" name="amount_on" checked={amountOn} onChange={(e) => setAmountOn(e.target.checked)} />
            {t('rules.amount_on')}
          </label>
          {amountOn && (
            <Field
              label={t('rules.amount')}
              hint={t('rules.amount_hint')}
              error={amountBad && amount ? t('rules.amount_invalid') : undefined}
            >
              {(id) => (
                <input
                  id={id}
                  name="amount_over"
                  inputMode="decimal"
                  className="mono"
                  value={amount}
                  onChange={(e) => setAmount(e.target.value)}
                />
              )}
            </Field>
          )}
          <label className="check">
            <input type="checkbox" name="allow_partial_shipment" checked={partial} onChange={(e) => setPartial(e.target.checked)} />
            {t('rules.partial')}
          </label>
          {save.isError && <ErrorText error={save.error} />}
        </div>
      )}
    </Dialog>
  );
}
