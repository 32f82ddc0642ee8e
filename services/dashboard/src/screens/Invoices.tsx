import { useEffect, useState, type FormEvent } from 'react';
import { Link, useLocation, useSearch } from 'wouter';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, fetchBlob } from '../api/client';
import { isNotFound } from '../api/problem';
import type { components } from '../api/schema';
import { useSkus, type Invoice } from '../data';
import { dateInZone, formatDateTime, formatInt, formatMoney } from '../format';
import { useI18n } from '../i18n';
import {
  Badge,
  Button,
  cx,
  Dialog,
  EmptyState,
  ErrorState,
  ErrorText,
  Facts,
  Field,
  label,
  LoadingBlock,
  PageHeader,
  Panel,
  Tabs,
  useToast,
  TableBody,
  OwnerOnly,
  useLock,
} from '../ui/components';
import { SkuPicker } from '../ui/SkuPicker';
import { Icon } from '../ui/icons';

type Settings = components['schemas']['SettingsDto'];
const VAT_RATES = ['0%', '1%', '1.5%', '3%', '5%', '6%', '9%', '13%'];
const PER_PAGE = 50;

export default function InvoicesScreen() {
  const { t } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const tab = params.get('tab') === 'settings' ? 'settings' : 'list';
  const setTab = (k: string) => navigate(k === 'settings' ? '/invoices?tab=settings' : '/invoices');
  return (
    <div className="page" data-testid="invoices">
      <PageHeader title={t('nav.invoices')} subtitle={t('invoices.subtitle')} />
      <Tabs
        tabs={[
          { key: 'list', label: t('invoices.tab_list') },
          { key: 'settings', label: t('invoices.tab_settings') },
        ]}
        value={tab}
        onChange={setTab}
      />
      {tab === 'list' ? <InvoiceList /> : <InvoiceSettings />}
    </div>
  );
}

function InvoiceList() {
  const { t, lang, tz } = useI18n();
  const search = useSearch();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const f = {
    status: params.get('status') ?? '',
    kind: params.get('kind') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    order_id: params.get('order_id') ?? '',
    page: Math.max(1, Number(params.get('page')) || 1),
  };
  const openId = params.get('open');
  const setParams = (next: Record<string, string | number | null>) => {
    const p = new URLSearchParams(search);
    for (const [k, v] of Object.entries(next)) {
      if (v === null || v === '' || (k === 'page' && v === 1)) p.delete(k);
      else p.set(k, String(v));
    }
    const s = p.toString();
    navigate(`/invoices${s ? `?${s}` : ''}`);
  };
  const [draft, setDraft] = useState(f);
  useEffect(() => setDraft(f), [search]); // eslint-disable-line react-hooks/exhaustive-deps

  const query = {
    ...(f.status ? { status: f.status } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
    ...(f.from ? { from: f.from } : {}),
    ...(f.to ? { to: f.to } : {}),
    ...(f.order_id ? { order_id: f.order_id } : {}),
    page: f.page,
    per_page: PER_PAGE,
  };
  const list = useQuery({
    queryKey: ['invoices', 'list', query],
    queryFn: () => call(api.GET('/v1/invoices', { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const pages = list.data ? Math.max(1, Math.ceil(list.data.total / PER_PAGE)) : 1;
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setParams({ status: draft.status, kind: draft.kind, from: draft.from, to: draft.to, order_id: draft.order_id.trim(), page: 1 });
  };

  return (
    <>
      <form className="filters" onSubmit={apply} data-testid="invoice-filters">
        <label className="filter">
          <span>{t('invoices.status')}</span>
          <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })} name="status">
            <option value="">{t('common.all')}</option>
            <option value="issued">{t('invoice_status.issued')}</option>
            <option value="void">{t('invoice_status.void')}</option>
          </select>
        </label>
        <label className="filter">
          <span>{t('invoices.kind')}</span>
          <select value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value })} name="kind">
            <option value="">{t('common.all')}</option>
            <option value="invoice">{t('invoice_kind.invoice')}</option>
            <option value="credit_note">{t('invoice_kind.credit_note')}</option>
          </select>
        </label>
        <label className="filter">
          <span>{t('invoices.issued_from')}</span>
          <input type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} name="from" />
        </label>
        <label className="filter">
          <span>{t('invoices.issued_to')}</span>
          <input type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} name="to" />
        </label>
        <label className="filter">
          <span>{t('invoices.order_id')}</span>
          <input
            value={draft.order_id}
            onChange={(e) => setDraft({ ...draft, order_id: e.target.value })}
            className="mono"
            name="order_id"
            placeholder="UUID"
          />
        </label>
        <div className="filter-actions">
          <Button type="submit" variant="primary" icon="search">
            {t('filters.apply')}
          </Button>
          <Button variant="ghost" onClick={() => setParams({ status: null, kind: null, from: null, to: null, order_id: null, page: 1 })}>
            {t('filters.reset')}
          </Button>
        </div>
      </form>
      <RegisterExport />
      <div className="panel panel-flush">
        <div className="table-wrap">
          <table className={cx('table', list.isPlaceholderData && 'is-stale')} data-testid="invoice-table">
            <thead>
              <tr>
                <th>{t('invoices.number')}</th>
                <th>{t('invoices.kind')}</th>
                <th>{t('invoices.status')}</th>
                <th>{t('invoices.order_ref')}</th>
                <th>{t('invoices.buyer')}</th>
                <th>{t('invoices.issued_at')}</th>
                <th className="num">{t('invoices.net')}</th>
                <th className="num">{t('invoices.tax')}</th>
                <th className="num">{t('invoices.total')}</th>
              </tr>
            </thead>
            <TableBody
              query={list}
              cols={9}
              rows={8}
              isEmpty={!list.data?.items.length}
              empty={<EmptyState icon="invoices" title={t('invoices.none')} hint={t('invoices.none_hint')} />}
            >
              {(list.data?.items ?? []).map((inv) => (
                <tr
                  key={inv.id}
                  className={cx('clickable', openId === inv.id && 'is-selected', inv.status === 'void' && 'is-void')}
                  onClick={() => setParams({ open: inv.id })}
                  data-invoice={inv.number}
                >
                  <td>
                    <button type="button" className="link link-btn mono">
                      {inv.number}
                    </button>
                  </td>
                  <td>
                    <Badge tone={inv.kind === 'credit_note' ? 'purple' : 'blue'}>{label(t, 'invoice_kind', inv.kind)}</Badge>
                    {inv.original_number && <span className="muted small"> {t('invoices.corrects', { number: inv.original_number })}</span>}
                  </td>
                  <td>
                    <Badge tone={inv.status === 'void' ? 'red' : 'green'}>{label(t, 'invoice_status', inv.status)}</Badge>
                  </td>
                  <td className="mono small">{inv.order_ref}</td>
                  <td className="ellipsis max-w-200">{inv.buyer.title}</td>
                  <td className="nowrap muted">{formatDateTime(inv.issued_at, lang, tz, false)}</td>
                  <td className="num">{formatMoney(inv.total_net, inv.currency)}</td>
                  <td className="num">{formatMoney(inv.total_tax, inv.currency)}</td>
                  <td className="num strong">{formatMoney(inv.total, inv.currency)}</td>
                </tr>
              ))}
            </TableBody>
          </table>
        </div>
        {list.data && list.data.total > 0 && (
          <div className="pager">
            <div className="pager-left">
              <span className="muted small">{t('pager.total', { n: formatInt(list.data.total, lang) })}</span>
            </div>
            <div className="pager-right">
              <span className="small">{t('pager.page_of', { page: f.page, pages })}</span>
              <Button size="sm" icon="chevronLeft" disabled={f.page <= 1} onClick={() => setParams({ page: f.page - 1 })}>
                {t('pager.prev')}
              </Button>
              <Button size="sm" disabled={f.page >= pages} onClick={() => setParams({ page: f.page + 1 })}>
                {t('pager.next')}
              </Button>
            </div>
          </div>
        )}
      </div>
      <Dialog open={!!openId} onClose={() => setParams({ open: null })} drawer wide title={t('invoices.document')} testId="invoice-drawer">
        {openId && <InvoiceView id={openId} onOpen={(id) => setParams({ open: id })} />}
      </Dialog>
    </>
  );
}

function RegisterExport() {
  const { t, tz } = useI18n();
  const today = dateInZone(new Date(), tz);
  const [from, setFrom] = useState(`${today.slice(0, 8)}01`);
  const [to, setTo] = useState(today);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const download = async () => {
    setBusy(true);
    setError(null);
    try {
      const q = new URLSearchParams({ from, to });
      const { blob, filename } = await fetchBlob(`/v1/invoices/register.csv?${q}`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = filename ?? `invoice-register-${from}-${to}.csv`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30_000);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="register" data-testid="register">
      <Icon name="download" />
      <span className="strong">{t('invoices.register')}</span>
      <span className="muted small">{t('invoices.register_hint')}</span>
      <span className="grow" />
      <input
        type="date"
        value={from}
        onChange={(e) => setFrom(e.target.value)}
        aria-label={t('invoices.issued_from')}
        name="register_from"
      />
      <span className="muted">–</span>
      <input type="date" value={to} onChange={(e) => setTo(e.target.value)} aria-label={t('invoices.issued_to')} name="register_to" />
      <Button
        icon="download"
        busy={busy}
        disabled={!from || !to || from > to}
        onClick={() => void download()}
        data-testid="register-download"
      >
        {t('invoices.register_download')}
      </Button>
      {error !== null && <ErrorText error={error} />}
    </div>
  );
}

function PdfFrame({ id, version }: { id: string; version: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<{ url: string | null; error: unknown; filename: string | null }>({
    url: null,
    error: null,
    filename: null,
  });
  useEffect(() => {
    let url: string | null = null;
    let live = true;
    setState({ url: null, error: null, filename: null });
    fetchBlob(`/v1/invoices/${id}/pdf`)
      .then(({ blob, filename }) => {
        url = URL.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
        if (live) setState({ url, error: null, filename });
      })
      .catch((e: unknown) => live && setState({ url: null, error: e, filename: null }));
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [id, version]);
  if (state.error) return <ErrorState error={state.error} />;
  if (!state.url) return <LoadingBlock text={t('invoices.pdf_loading')} />;
  return (
    <div className="pdf">
      <iframe src={state.url} title={t('invoices.pdf')} className="pdf-frame" data-testid="invoice-pdf" />
      <a href={state.url} download={state.filename ?? `${id}.pdf`} className="btn btn-secondary btn-sm pdf-download">
        <Icon name="download" size={14} /> {t('invoices.pdf_download')}
      </a>
    </div>
  );
}

function InvoiceView({ id, onOpen }: { id: string; onOpen: (id: string) => void }) {
  const { t, lang, tz } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({
    queryKey: ['invoices', 'one', id],
    queryFn: () => call(api.GET('/v1/invoices/{id}', { params: { path: { id } } })),
  });
  const inv = q.data;
  const credits = useQuery({
    queryKey: ['invoices', 'credits', id],
    enabled: inv?.kind === 'invoice',
    queryFn: async () => {
      const r = await call(api.GET('/v1/invoices', { params: { query: { order_id: inv!.order_id, kind: 'credit_note', per_page: 100 } } }));
      return r.items.filter((c) => c.original_id === id);
    },
  });
  const [voiding, setVoiding] = useState(false);
  const [reason, setReason] = useState('');
  const voidM = useMutation({
    mutationFn: () => call(api.POST('/v1/invoices/{id}/void', { params: { path: { id } }, body: { reason: reason.trim() } })),
    onSuccess: (d) => {
      qc.setQueryData(['invoices', 'one', id], d);
      void qc.invalidateQueries({ queryKey: ['invoices'] });
      setVoiding(false);
      setReason('');
      toast('ok', t('invoices.voided', { number: d.number }));
    },
  });
  if (q.isPending) return <LoadingBlock />;
  if (q.isError)
    return isNotFound(q.error) ? (
      <EmptyState icon="search" title={t('invoices.not_found')} />
    ) : (
      <ErrorState error={q.error} onRetry={() => void q.refetch()} />
    );
  const d = inv!;
  return (
    <div className="invoice-view" data-testid="invoice-view">
      <div className="invoice-side stack">
        <div className="invoice-title">
          <span className="mono strong">{d.number}</span>
          <Badge tone={d.kind === 'credit_note' ? 'purple' : 'blue'}>{label(t, 'invoice_kind', d.kind)}</Badge>
          <Badge tone={d.status === 'void' ? 'red' : 'green'}>{label(t, 'invoice_status', d.status)}</Badge>
        </div>
        <Facts
          items={[
            ['invoices.total', <span className="strong">{formatMoney(d.total, d.currency)}</span>],
            ['invoices.in_words', d.total_in_words],
            ['invoices.net', formatMoney(d.total_net, d.currency)],
            ['invoices.tax', formatMoney(d.total_tax, d.currency)],
            ['invoices.buyer', `${d.buyer.title}${d.buyer.tax_id ? ` · ${d.buyer.tax_id}` : ''}`],
            ['invoices.buyer_kind', label(t, 'buyer_kind', d.buyer.kind)],
            ['invoices.issued_at', formatDateTime(d.issued_at, lang, tz)],
            [
              'invoices.order_ref',
              <Link href={`/orders/${d.order_id}`} className="link mono">
                {d.order_ref}
              </Link>,
            ],
            ...(d.status === 'void'
              ? ([
                  ['invoices.voided_at', formatDateTime(d.voided_at, lang, tz)],
                  ['invoices.void_reason', d.void_reason ?? '—'],
                ] as [string, string][])
              : []),
          ]}
        />
        {d.kind === 'credit_note' && d.original_id && (
          <div className="linked">
            <span className="muted small">{t('invoices.original')}</span>
            <button type="button" className="link link-btn mono" onClick={() => onOpen(d.original_id!)}>
              {d.original_number ?? d.original_id}
            </button>
          </div>
        )}
        {d.kind === 'invoice' && (
          <div className="linked" data-testid="credit-notes">
            <span className="muted small">{t('invoices.credit_notes')}</span>
            {credits.isPending ? (
              <span className="spinner" />
            ) : credits.data && credits.data.length > 0 ? (
              credits.data.map((c: Invoice) => (
                <button key={c.id} type="button" className="link link-btn mono" onClick={() => onOpen(c.id)}>
                  {c.number} ({formatMoney(c.total, c.currency)})
                </button>
              ))
            ) : (
              <span className="muted">—</span>
            )}
          </div>
        )}
        {d.status !== 'void' &&
          (voiding ? (
            <div className="void-box">
              <Field label={t('invoices.void_reason')}>
                {(fid) => (
                  <input id={fid} value={reason} onChange={(e) => setReason(e.target.value)} maxLength={200} autoFocus name="void_reason" />
                )}
              </Field>
              {voidM.isError && <ErrorText error={voidM.error} />}
              <div className="form-actions">
                <Button onClick={() => setVoiding(false)}>{t('common.cancel')}</Button>
                <Button
                  variant="danger"
                  busy={voidM.isPending}
                  disabled={!reason.trim()}
                  onClick={() => voidM.mutate()}
                  data-testid="void-confirm"
                >
                  {t('invoices.void_confirm')}
                </Button>
              </div>
            </div>
          ) : (
            <Button variant="danger" onClick={() => setVoiding(true)} data-testid="void">
              {t('invoices.void')}
            </Button>
          ))}
        <details className="lines-details">
          <summary>{t('invoices.lines', { n: d.lines.length })}</summary>
          <table className="table table-compact">
            <thead>
              <tr>
                <th>{t('order.title')}</th>
                <th className="num">{t('order.qty')}</th>
                <th className="num">{t('invoices.rate')}</th>
                <th className="num">{t('invoices.total')}</th>
              </tr>
            </thead>
            <tbody>
              {d.lines.map((l) => (
                <tr key={l.line_ref}>
                  <td className="ellipsis max-w-160" title={l.title}>
                    {l.title}
                  </td>
                  <td className="num">{l.quantity}</td>
                  <td className="num">{l.vat_rate}</td>
                  <td className="num">{formatMoney(l.total, d.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </div>
      <PdfFrame id={d.id} version={d.status} />
    </div>
  );
}

function InvoiceSettings() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({
    queryKey: ['invoices', 'settings'],
    queryFn: async (): Promise<Settings | null> => {
      try {
        return await call(api.GET('/v1/invoicing/settings'));
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
  });
  const [s, setS] = useState<Settings | null>(null);
  const lock = useLock('settings:write');
  useEffect(() => {
    if (q.data !== undefined)
      setS(
        q.data ?? {
          seller_name: '',
          tax_id: '',
          address: '',
          phone: '',
          bank: '',
          account: '',
          prices_include_tax: true,
          default_vat_rate: '13%',
          issue_on: 'payment',
          series_pattern: 'INV{YYYY}-',
          credit_series_pattern: 'CRN{YYYY}-',
        },
      );
  }, [q.data]);
  const save = useMutation({
    mutationFn: () => call(api.PUT('/v1/invoicing/settings', { body: s! })),
    onSuccess: (d) => {
      qc.setQueryData(['invoices', 'settings'], d);
      toast('ok', t('invoices.settings_saved'));
    },
  });
  if (q.isPending || !s) return q.isError ? <ErrorState error={q.error} onRetry={() => void q.refetch()} /> : <LoadingBlock />;
  const set = (k: keyof Settings, v: string | boolean) => setS({ ...s, [k]: v });
  const text = (k: keyof Settings, labelKey: Parameters<typeof t>[0], extra?: { hint?: string; mono?: boolean; max?: number }) => (
    <Field label={t(labelKey)} hint={extra?.hint}>
      {(id) => (
        <input
          id={id}
          name={k}
          value={String(s[k] ?? '')}
          onChange={(e) => set(k, e.target.value)}
          className={extra?.mono ? 'mono' : undefined}
          maxLength={extra?.max}
        />
      )}
    </Field>
  );
  return (
    <div className="grid-2-1">
      <Panel title={t('invoices.settings')} subtitle={q.data === null ? t('invoices.settings_missing') : t('invoices.settings_sub')}>
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!lock.locked) save.mutate();
          }}
          data-testid="invoice-settings"
        >
          <OwnerOnly scope="settings:write" />
          <div className="form-grid">
            {text('seller_name', 'invoices.seller_name', { max: 100 })}
            {text('tax_id', 'invoices.tax_id', { mono: true, max: 20, hint: t('invoices.tax_id_hint') })}
            {text('address', 'invoices.address', { max: 200 })}
            {text('phone', 'invoices.phone', { max: 40 })}
            {text('bank', 'invoices.bank', { max: 100 })}
            {text('account', 'invoices.account', { mono: true, max: 40 })}
            <Field label={t('invoices.issue_on')}>
              {(id) => (
                <select id={id} value={s.issue_on ?? 'payment'} onChange={(e) => set('issue_on', e.target.value)}>
                  <option value="payment">{t('issue_on.payment')}</option>
                  <option value="shipment">{t('issue_on.shipment')}</option>
                  <option value="request">{t('issue_on.request')}</option>
                </select>
              )}
            </Field>
            <Field label={t('invoices.default_rate')}>
              {(id) => (
                <select id={id} value={s.default_vat_rate ?? '13%'} onChange={(e) => set('default_vat_rate', e.target.value)}>
                  {VAT_RATES.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              )}
            </Field>
            {text('series_pattern', 'invoices.series', { mono: true, hint: t('invoices.series_hint') })}
            {text('credit_series_pattern', 'invoices.credit_series', { mono: true })}
          </div>
          <label className="check">
            <input type="checkbox" checked={s.prices_include_tax ?? true} onChange={(e) => set('prices_include_tax', e.target.checked)} />
            {t('invoices.prices_include_tax')}
          </label>
          {save.isError && <ErrorText error={save.error} />}
          <div className="form-actions">
            <Button
              type="submit"
              variant="primary"
              busy={save.isPending}
              disabled={!s.seller_name.trim() || !s.tax_id.trim() || lock.locked}
              title={lock.title}
              data-testid="invoice-settings-save"
            >
              {t('common.save')}
            </Button>
          </div>
        </form>
      </Panel>
      <TaxCategories />
    </div>
  );
}

function TaxCategories() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const skus = useSkus();
  const q = useQuery({ queryKey: ['invoices', 'tax'], queryFn: () => call(api.GET('/v1/invoicing/tax-categories')) });
  const [sku, setSku] = useState('');
  const [rate, setRate] = useState('9%');
  const put = useMutation({
    mutationFn: () =>
      call(api.PUT('/v1/invoicing/tax-categories/{sku_code}', { params: { path: { sku_code: sku.trim() } }, body: { vat_rate: rate } })),
    onSuccess: () => {
      setSku('');
      void qc.invalidateQueries({ queryKey: ['invoices', 'tax'] });
    },
  });
  const del = useMutation({
    mutationFn: (code: string) => call(api.DELETE('/v1/invoicing/tax-categories/{sku_code}', { params: { path: { sku_code: code } } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['invoices', 'tax'] }),
  });
  const names = new Map((skus.data ?? []).map((s) => [s.code, s.name]));
  return (
    <Panel title={t('invoices.tax_categories')} subtitle={t('invoices.tax_categories_sub')} className="panel-flush">
      {q.isPending ? (
        <LoadingBlock />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : (
        <table className="table table-compact">
          <thead>
            <tr>
              <th>{t('stock.sku')}</th>
              <th className="num">{t('invoices.rate')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {q.data.length === 0 && (
              <tr>
                <td colSpan={3} className="muted center">
                  {t('invoices.tax_none')}
                </td>
              </tr>
            )}
            {q.data.map((c) => (
              <tr key={c.sku_code}>
                <td>
                  <span className="mono">{c.sku_code}</span> <span className="muted small">{names.get(c.sku_code) ?? ''}</span>
                </td>
                <td className="num">{c.vat_rate}</td>
                <td className="num">
                  <Button
                    size="sm"
                    variant="ghost"
                    busy={del.isPending && del.variables === c.sku_code}
                    onClick={() => del.mutate(c.sku_code)}
                  >
                    {t('common.remove')}
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (sku.trim()) put.mutate();
        }}
      >
        <SkuPicker value={sku} onChange={setSku} skus={skus.data ?? []} label={t('invoices.pick_sku')} />
        <select value={rate} onChange={(e) => setRate(e.target.value)} aria-label={t('invoices.rate')}>
          {VAT_RATES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <Button type="submit" size="sm" variant="primary" busy={put.isPending} disabled={!sku.trim()}>
          {t('common.save')}
        </Button>
      </form>
      {(put.isError || del.isError) && <ErrorText error={put.error ?? del.error} />}
    </Panel>
  );
}
