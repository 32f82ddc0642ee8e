import { useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { StockSyncPreview } from '../api/planned';
import type { components } from '../api/schema';
import { fetchStockList, planned, useChannels, useStockAlerts, type Channel } from '../data';
import { formatAgo, formatDateTime, formatDuration, formatInt } from '../format';
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
  Facts,
  Field,
  LoadingBlock,
  OwnerOnly,
  PageHeader,
  Panel,
  SecretValue,
  useLock,
  useToast,
} from '../ui/components';
import { Icon } from '../ui/icons';

type StockSync = components['schemas']['StockSync'];
type RunDto = components['schemas']['RunDto'];

function randomSecret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The shop's displayed quantity, as services/channels/src/stock.rs `allocate` computes it. */
export function allocate(rules: StockSync, available: number, othersReserve: number): number {
  const pool = Math.max(0, Math.max(0, available) - Math.max(0, othersReserve));
  const percent = Math.min(100, Math.max(0, rules.percent ?? 100));
  const share = Math.floor((pool * percent) / 100);
  let q = Math.max(share, Math.max(0, rules.min ?? 0), Math.max(0, rules.reserve ?? 0));
  if (rules.max !== undefined && rules.max !== null) q = Math.min(q, Math.max(0, rules.max));
  return Math.min(q, pool);
}

export default function ShopsScreen() {
  const { t, lang } = useI18n();
  const channels = useChannels();
  const [connectOpen, setConnectOpen] = useState(false);
  const lock = useLock('settings:write');
  return (
    <div className="page" data-testid="shops">
      <PageHeader
        title={t('nav.shops')}
        subtitle={channels.data ? t('shops.subtitle', { n: formatInt(channels.data.length, lang) }) : ' '}
        actions={
          <Button
            variant="primary"
            icon="plus"
            disabled={lock.locked}
            title={lock.title}
            onClick={() => setConnectOpen(true)}
            data-testid="connect-shop"
          >
            {t('shops.connect')}
          </Button>
        }
      />
      <OwnerOnly scope="settings:write" text={t('shops.owner_only')} />
      {channels.isPending ? (
        <LoadingBlock />
      ) : channels.isError ? (
        <div className="panel">
          <ErrorState error={channels.error} onRetry={() => void channels.refetch()} />
        </div>
      ) : channels.data.length === 0 ? (
        <div className="panel">
          <EmptyState
            icon="shops"
            title={t('shops.none')}
            hint={t('shops.none_hint')}
            action={
              <Button variant="primary" icon="plus" disabled={lock.locked} title={lock.title} onClick={() => setConnectOpen(true)}>
                {t('shops.connect')}
              </Button>
            }
          />
        </div>
      ) : (
        <div className="stack">
          {channels.data.map((c) => (
            <ShopCard key={c.id} channel={c} all={channels.data} />
          ))}
        </div>
      )}
      <ConnectDialog open={connectOpen} onClose={() => setConnectOpen(false)} />
    </div>
  );
}

function ShopCard({ channel: c, all }: { channel: Channel; all: Channel[] }) {
  const { t, lang, tz } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const poll = usePollInterval(15_000);
  const [dialog, setDialog] = useState<'rules' | 'api' | 'secret' | null>(null);
  const [lastRun, setLastRun] = useState<RunDto | null>(null);
  const [showFound, setShowFound] = useState(false);
  const lock = useLock('settings:write');
  const sync = useQuery({
    queryKey: ['channels', 'sync', c.id],
    queryFn: () => call(api.GET('/v1/channels/{id}/sync', { params: { path: { id: c.id } } })),
    refetchInterval: poll || 15_000,
  });
  const reconcile = useMutation({
    mutationFn: () => call(api.POST('/v1/channels/{id}/reconcile', { params: { path: { id: c.id } } })),
    onSuccess: (r) => {
      setLastRun(r);
      toast(r.error ? 'error' : 'ok', t('shops.reconciled', { pulled: r.pulled, found: r.found_by_pull_only }));
      void qc.invalidateQueries({ queryKey: ['channels', 'sync', c.id] });
      void qc.invalidateQueries({ queryKey: ['orders'] });
    },
  });
  const r = sync.data;
  const rules = c.stock_sync;
  const w = r?.writebacks;
  return (
    <Panel
      className="shop"
      title={
        <span className="row-gap">
          {c.name}
          <Badge tone={c.marketplace === 'shopify' ? 'green' : 'blue'}>{c.marketplace === 'shopify' ? 'Shopify' : 'Bazaar'}</Badge>
          {c.api ? <Badge tone="teal">{t('shops.reconciled_badge')}</Badge> : <Badge tone="gray">{t('sync.push_only')}</Badge>}
        </span>
      }
      subtitle={
        <>
          {t('shops.shop_id')} <span className="mono">{c.shop_id}</span> ·{' '}
          {t('shops.connected_at', { at: formatDateTime(c.created_at, lang, tz, false) })}
        </>
      }
      actions={
        <>
          <Button
            size="sm"
            icon="refresh"
            busy={reconcile.isPending}
            disabled={!c.api}
            title={!c.api ? t('shops.reconcile_needs_api') : undefined}
            onClick={() => reconcile.mutate()}
            data-testid="reconcile"
          >
            {t('shops.reconcile')}
          </Button>
          <Button size="sm" icon="stock" onClick={() => setDialog('rules')}>
            {t('shops.rules')}
          </Button>
          <Button size="sm" icon="key" disabled={lock.locked} title={lock.title} onClick={() => setDialog('api')} data-testid="shop-api">
            {t('shops.api')}
          </Button>
          <Button
            size="sm"
            icon="refresh"
            disabled={lock.locked}
            title={lock.title}
            onClick={() => setDialog('secret')}
            data-testid="shop-rotate"
          >
            {t('shops.rotate')}
          </Button>
        </>
      }
    >
      <div className="shop-grid" data-testid={`shop-${c.shop_id}`}>
        <div className="shop-col">
          <h3 className="section-title">{t('shops.connection')}</h3>
          <Facts
            items={[
              ['shops.webhook_url', <SecretValue value={c.webhook_url} />],
              [
                'shops.api_base',
                c.api ? <span className="mono small">{c.api.base_url}</span> : <span className="muted">{t('shops.no_api')}</span>,
              ],
              ['shops.app_key', c.api ? <span className="mono small">{c.api.app_key}</span> : '—'],
              ['shops.hold_ttl', formatDuration(c.hold_ttl_seconds, lang)],
              [
                'shops.rules',
                <span>
                  {t('shops.rules_summary', {
                    percent: rules.percent ?? 100,
                    min: rules.min ?? 0,
                    max: rules.max ?? t('shops.no_max'),
                    reserve: rules.reserve ?? 0,
                  })}
                </span>,
              ],
            ]}
          />
        </div>
        <div className="shop-col">
          <h3 className="section-title">{t('shops.sync_report')}</h3>
          {sync.isPending ? (
            <LoadingBlock />
          ) : sync.isError ? (
            <ErrorState error={sync.error} onRetry={() => void sync.refetch()} />
          ) : (
            <>
              <Facts
                items={[
                  [
                    'sync.checkpoint',
                    r!.checkpoint ? (
                      <span>
                        {formatDateTime(r!.checkpoint, lang, tz)} <span className="muted">({formatAgo(r!.checkpoint, lang)})</span>
                      </span>
                    ) : (
                      '—'
                    ),
                  ],
                  ['sync.lag_label', r!.reconciles ? formatDuration(r!.sync_lag_seconds ?? null, lang) : t('sync.push_only')],
                  ['sync.next_pull', r!.next_pull_at ? formatDateTime(r!.next_pull_at, lang, tz) : '—'],
                  [
                    'sync.last_run',
                    r!.last_run ? (
                      <span>
                        {t('sync.last_run_value', {
                          at: formatAgo(r!.last_run.at, lang),
                          pulled: r!.last_run.pulled,
                          found: r!.last_run.found_by_pull_only,
                        })}
                        {r!.last_run.error && <span className="text-red"> · {r!.last_run.error}</span>}
                      </span>
                    ) : (
                      '—'
                    ),
                  ],
                  ['sync.totals', t('sync.totals_value', { runs: formatInt(r!.runs, lang), pulled: formatInt(r!.pulled, lang) })],
                  [
                    'sync.found_by_pull',
                    <span className={cx(r!.found_by_pull_only > 0 && 'text-amber')}>
                      {formatInt(r!.found_by_pull_only, lang)}
                      {r!.recent_found.length > 0 && (
                        <button type="button" className="link link-btn small" onClick={() => setShowFound(!showFound)}>
                          {' '}
                          {showFound ? t('common.hide') : t('common.show')}
                        </button>
                      )}
                    </span>,
                  ],
                ]}
              />
              {lastRun && (
                <div className="notice notice-blue small" data-testid="reconcile-result">
                  {t('shops.run_result', {
                    pulled: lastRun.pulled,
                    found: lastRun.found_by_pull_only,
                    unreadable: lastRun.unreadable.length,
                  })}
                  {lastRun.error && <span className="text-red"> · {lastRun.error}</span>}
                </div>
              )}
              {reconcile.isError && <ErrorText error={reconcile.error} />}
            </>
          )}
        </div>
        <div className="shop-col">
          <h3 className="section-title">{t('shops.writebacks')}</h3>
          {w ? (
            <table className="table table-compact table-mini">
              <thead>
                <tr>
                  <th />
                  <th className="num">{t('wb.pending')}</th>
                  <th className="num">{t('wb.done')}</th>
                  <th className="num">{t('wb.rejected')}</th>
                  <th className="num">{t('wb.no_api')}</th>
                </tr>
              </thead>
              <tbody>
                <tr>
                  <td>{t('wb.shipments')}</td>
                  <td className="num">{formatInt(w.shipments_pending, lang)}</td>
                  <td className="num">{formatInt(w.shipments_done, lang)}</td>
                  <td className={cx('num', w.shipments_rejected > 0 && 'text-red')}>{formatInt(w.shipments_rejected, lang)}</td>
                  <td className={cx('num', w.shipments_without_api > 0 && 'text-amber')}>{formatInt(w.shipments_without_api, lang)}</td>
                </tr>
                <tr>
                  <td>{t('wb.stock')}</td>
                  <td className="num">{formatInt(w.stock_pending, lang)}</td>
                  <td className="num">{formatInt(w.stock_synced, lang)}</td>
                  <td className={cx('num', w.stock_rejected > 0 && 'text-red')}>{formatInt(w.stock_rejected, lang)}</td>
                  <td className={cx('num', w.stock_without_api > 0 && 'text-amber')}>{formatInt(w.stock_without_api, lang)}</td>
                </tr>
              </tbody>
            </table>
          ) : sync.isPending ? (
            <LoadingBlock />
          ) : null}
          {w?.last_error && <div className="sync-warn text-red small">{t('sync.writeback_error', { error: w.last_error })}</div>}
        </div>
      </div>
      {showFound && r && r.recent_found.length > 0 && (
        <table className="table table-compact">
          <thead>
            <tr>
              <th>{t('orders.tid')}</th>
              <th>{t('sync.trade_status')}</th>
              <th>{t('sync.modified')}</th>
              <th>{t('sync.found_at')}</th>
            </tr>
          </thead>
          <tbody>
            {r.recent_found.map((f) => (
              <tr key={`${f.external_id}-${f.modified}`}>
                <td className="mono">{f.external_id}</td>
                <td className="mono small">{f.status}</td>
                <td className="nowrap">{formatDateTime(f.modified, lang, tz)}</td>
                <td className="nowrap">{formatDateTime(f.found_at, lang, tz)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <RulesDialog open={dialog === 'rules'} onClose={() => setDialog(null)} channel={c} all={all} />
      <ApiDialog open={dialog === 'api'} onClose={() => setDialog(null)} channel={c} />
      <SecretDialog open={dialog === 'secret'} onClose={() => setDialog(null)} channel={c} />
    </Panel>
  );
}

function ConnectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [marketplace, setMarketplace] = useState<'bazaar' | 'shopify'>('bazaar');
  const [shopId, setShopId] = useState('');
  const [name, setName] = useState('');
  const [holdMinutes, setHoldMinutes] = useState('30');
  const [clientSecret, setClientSecret] = useState('');
  const [withApi, setWithApi] = useState(false);
  const [creds, setCreds] = useState({ base_url: '', app_key: '', app_secret: '', access_token: '' });
  const [created, setCreated] = useState<Channel | null>(null);

  const reset = () => {
    setShopId('');
    setName('');
    setHoldMinutes('30');
    setClientSecret('');
    setWithApi(false);
    setCreds({ base_url: '', app_key: '', app_secret: '', access_token: '' });
    setCreated(null);
    m.reset();
  };
  const m = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/channels', {
          // The body's shape follows the marketplace: a Shopify shop sends its app's client
          // secret, a Bazaar shop gets one made by Cairn (and may give its Open API).
          body:
            marketplace === 'shopify'
              ? {
                  marketplace,
                  shop_id: shopId.trim(),
                  name: name.trim(),
                  hold_ttl_seconds: Math.round(Number(holdMinutes) * 60) || undefined,
                  webhook_secret: clientSecret.trim(),
                }
              : {
                  marketplace,
                  shop_id: shopId.trim(),
                  name: name.trim(),
                  hold_ttl_seconds: Math.round(Number(holdMinutes) * 60) || undefined,
                  ...(withApi ? { api: { ...creds, base_url: creds.base_url.trim() } } : {}),
                },
        }),
      ),
    onSuccess: (c) => {
      setCreated(c);
      void qc.invalidateQueries({ queryKey: ['channels'] });
    },
  });
  const close = () => {
    reset();
    onClose();
  };
  const valid =
    shopId.trim() &&
    name.trim() &&
    (marketplace === 'bazaar' || clientSecret.trim().length >= 16) &&
    (!withApi || marketplace !== 'bazaar' || (creds.base_url && creds.app_key && creds.app_secret && creds.access_token));

  return (
    <Dialog
      open={open}
      onClose={close}
      title={created ? t('shops.connected_title', { name: created.name }) : t('shops.connect')}
      testId="connect-dialog"
      footer={
        created ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close} data-testid="connect-done">
              {t('shops.saved_it')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button variant="primary" busy={m.isPending} disabled={!valid} onClick={() => m.mutate()} data-testid="connect-submit">
              {t('shops.connect_submit')}
            </Button>
          </>
        )
      }
    >
      {created ? (
        <div className="stack" data-testid="connected">
          <div className="notice notice-amber">
            <Icon name="alert" /> {t('shops.once_warning')}
          </div>
          <Field label={t('shops.webhook_url')}>{() => <SecretValue value={created.webhook_url} testId="connected-webhook-url" />}</Field>
          {created.webhook_secret && (
            <Field label={t('shops.webhook_secret')} hint={t('shops.webhook_secret_hint')}>
              {() => <SecretValue value={created.webhook_secret!} testId="connected-webhook-secret" />}
            </Field>
          )}
          <div className="muted small">{t('shops.next_steps')}</div>
        </div>
      ) : (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (valid) m.mutate();
          }}
        >
          <div className="seg seg-lg" role="radiogroup" aria-label={t('shops.marketplace')}>
            {(['bazaar', 'shopify'] as const).map((mk) => (
              <button
                key={mk}
                type="button"
                role="radio"
                aria-checked={marketplace === mk}
                className={cx(marketplace === mk && 'is-active')}
                onClick={() => setMarketplace(mk)}
                data-marketplace={mk}
              >
                {mk === 'bazaar' ? 'Bazaar' : 'Shopify'}
              </button>
            ))}
          </div>
          <div className="form-row">
            <Field label={t('shops.shop_id')} hint={marketplace === 'bazaar' ? t('shops.shop_id_hint') : t('shops.shop_id_hint_shopify')}>
              {(id) => (
                <input
                  id={id}
                  name="shop_id"
                  value={shopId}
                  onChange={(e) => setShopId(e.target.value)}
                  className="mono"
                  maxLength={64}
                  autoFocus
                />
              )}
            </Field>
            <Field label={t('shops.name')}>
              {(id) => <input id={id} name="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />}
            </Field>
          </div>
          <Field label={t('shops.hold_minutes')} hint={t('shops.hold_hint')}>
            {(id) => (
              <input
                id={id}
                name="hold"
                inputMode="numeric"
                value={holdMinutes}
                onChange={(e) => setHoldMinutes(e.target.value.replace(/\D/g, ''))}
                className="input-num"
              />
            )}
          </Field>
          {marketplace === 'shopify' && (
            <Field label={t('shops.client_secret')} hint={t('shops.client_secret_hint')}>
              {(id) => (
                <input
                  id={id}
                  name="client_secret"
                  value={clientSecret}
                  onChange={(e) => setClientSecret(e.target.value)}
                  className="mono"
                  autoComplete="off"
                />
              )}
            </Field>
          )}
          {marketplace === 'bazaar' && (
            <label className="check">
              <input type="checkbox" checked={withApi} onChange={(e) => setWithApi(e.target.checked)} />
              {t('shops.with_api')}
            </label>
          )}
          {withApi && marketplace === 'bazaar' && <CredsFields value={creds} onChange={setCreds} />}
          {m.isError && <ErrorText error={m.error} />}
          <button type="submit" hidden />
        </form>
      )}
    </Dialog>
  );
}

type Creds = { base_url: string; app_key: string; app_secret: string; access_token: string };

function CredsFields({ value, onChange }: { value: Creds; onChange: (c: Creds) => void }) {
  const { t } = useI18n();
  return (
    <div className="form-grid">
      <Field label={t('shops.api_base')} hint={t('shops.api_base_hint')}>
        {(id) => (
          <input
            id={id}
            name="base_url"
            value={value.base_url}
            onChange={(e) => onChange({ ...value, base_url: e.target.value })}
            className="mono"
            placeholder="https://"
          />
        )}
      </Field>
      <Field label={t('shops.app_key')}>
        {(id) => (
          <input
            id={id}
            name="app_key"
            value={value.app_key}
            onChange={(e) => onChange({ ...value, app_key: e.target.value })}
            className="mono"
          />
        )}
      </Field>
      <Field label={t('shops.app_secret')}>
        {(id) => (
          <input
            id={id}
            name="app_secret"
            type="password"
            autoComplete="off"
            value={value.app_secret}
            onChange={(e) => onChange({ ...value, app_secret: e.target.value })}
            className="mono"
          />
        )}
      </Field>
      <Field label={t('shops.access_token')}>
        {(id) => (
          <input
            id={id}
            name="access_token"
            type="password"
            autoComplete="off"
            value={value.access_token}
            onChange={(e) => onChange({ ...value, access_token: e.target.value })}
            className="mono"
          />
        )}
      </Field>
    </div>
  );
}

function ApiDialog({ open, onClose, channel }: { open: boolean; onClose: () => void; channel: Channel }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [creds, setCreds] = useState<Creds>({
    base_url: channel.api?.base_url ?? '',
    app_key: channel.api?.app_key ?? '',
    app_secret: '',
    access_token: '',
  });
  const [confirmRemove, setConfirmRemove] = useState(false);
  useEffect(() => {
    if (open) {
      setCreds({ base_url: channel.api?.base_url ?? '', app_key: channel.api?.app_key ?? '', app_secret: '', access_token: '' });
      setConfirmRemove(false);
    }
  }, [open, channel.api]);
  const done = (msg: string) => {
    void qc.invalidateQueries({ queryKey: ['channels'] });
    toast('ok', msg);
    onClose();
  };
  const save = useMutation({
    mutationFn: () =>
      call(api.PUT('/v1/channels/{id}/api', { params: { path: { id: channel.id } }, body: { ...creds, base_url: creds.base_url.trim() } })),
    onSuccess: () => done(t('shops.api_saved')),
  });
  const remove = useMutation({
    mutationFn: () => call(api.DELETE('/v1/channels/{id}/api', { params: { path: { id: channel.id } } })),
    onSuccess: () => done(t('shops.api_removed')),
  });
  const valid = creds.base_url.trim().length >= 8 && creds.app_key && creds.app_secret && creds.access_token;
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('shops.api_title', { name: channel.name })}
      footer={
        <>
          {channel.api &&
            (confirmRemove ? (
              <Button variant="danger" busy={remove.isPending} onClick={() => remove.mutate()}>
                {t('shops.api_remove_confirm')}
              </Button>
            ) : (
              <Button variant="ghost" onClick={() => setConfirmRemove(true)}>
                {t('shops.api_remove')}
              </Button>
            ))}
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button variant="primary" busy={save.isPending} disabled={!valid} onClick={() => save.mutate()}>
            {channel.api ? t('shops.api_replace') : t('shops.api_set')}
          </Button>
        </>
      }
    >
      <div className="form">
        <div className="muted small">{channel.api ? t('shops.api_replace_hint') : t('shops.api_set_hint')}</div>
        <CredsFields value={creds} onChange={setCreds} />
        {confirmRemove && <div className="notice notice-amber">{t('shops.api_remove_hint')}</div>}
        {save.isError && <ErrorText error={save.error} />}
        {remove.isError && <ErrorText error={remove.error} />}
      </div>
    </Dialog>
  );
}

function SecretDialog({ open, onClose, channel }: { open: boolean; onClose: () => void; channel: Channel }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [secret, setSecret] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setSecret(channel.marketplace === 'shopify' ? '' : randomSecret());
      setSaved(null);
    }
  }, [open, channel.marketplace]);
  const m = useMutation({
    mutationFn: () =>
      call(api.PUT('/v1/channels/{id}/webhook-secret', { params: { path: { id: channel.id } }, body: { secret: secret.trim() } })),
    onSuccess: () => {
      setSaved(secret.trim());
      void qc.invalidateQueries({ queryKey: ['channels'] });
    },
  });
  const close = () => {
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={open}
      onClose={close}
      title={t('shops.rotate_title', { name: channel.name })}
      footer={
        saved ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close}>
              {t('shops.saved_it')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button variant="primary" busy={m.isPending} disabled={secret.trim().length < 24} onClick={() => m.mutate()}>
              {t('shops.rotate_submit')}
            </Button>
          </>
        )
      }
    >
      {saved ? (
        <div className="stack">
          <div className="notice notice-amber">
            <Icon name="alert" /> {t('shops.rotate_done')}
          </div>
          <SecretValue value={saved} />
        </div>
      ) : (
        <div className="form">
          <div className="muted small">{channel.marketplace === 'shopify' ? t('shops.rotate_hint_shopify') : t('shops.rotate_hint')}</div>
          <Field label={t('shops.new_secret')} hint={t('shops.new_secret_hint')}>
            {(id) => (
              <div className="input-with-btn">
                <input id={id} value={secret} onChange={(e) => setSecret(e.target.value)} className="mono" autoComplete="off" />
                {channel.marketplace !== 'shopify' && (
                  <Button size="sm" icon="refresh" onClick={() => setSecret(randomSecret())}>
                    {t('shops.generate')}
                  </Button>
                )}
              </div>
            )}
          </Field>
          {m.isError && <ErrorText error={m.error} />}
        </div>
      )}
    </Dialog>
  );
}

function RulesDialog({ open, onClose, channel, all }: { open: boolean; onClose: () => void; channel: Channel; all: Channel[] }) {
  const { t, lang } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const cur = channel.stock_sync;
  const [percent, setPercent] = useState(String(cur.percent ?? 100));
  const [min, setMin] = useState(String(cur.min ?? 0));
  const [max, setMax] = useState(cur.max === null || cur.max === undefined ? '' : String(cur.max));
  const [reserve, setReserve] = useState(String(cur.reserve ?? 0));
  useEffect(() => {
    if (!open) return;
    setPercent(String(cur.percent ?? 100));
    setMin(String(cur.min ?? 0));
    setMax(cur.max === null || cur.max === undefined ? '' : String(cur.max));
    setReserve(String(cur.reserve ?? 0));
  }, [open, cur]);

  const rules: StockSync = useMemo(() => {
    const r: StockSync = { percent: Math.min(100, Number(percent) || 0), min: Number(min) || 0, reserve: Number(reserve) || 0 };
    if (max !== '') r.max = Number(max);
    return r;
  }, [percent, min, max, reserve]);
  const [debounced, setDebounced] = useState(rules);
  useEffect(() => {
    const h = setTimeout(() => setDebounced(rules), 350);
    return () => clearTimeout(h);
  }, [rules]);

  const alerts = useStockAlerts();
  const othersReserve = all.filter((c) => c.id !== channel.id).reduce((n, c) => n + (c.stock_sync.reserve ?? 0), 0);
  const preview = useQuery({
    queryKey: ['channels', 'preview', channel.id, debounced],
    enabled: open && alerts.data !== undefined,
    queryFn: (): Promise<StockSyncPreview & { estimated: boolean }> =>
      planned<StockSyncPreview & { estimated: boolean }>(
        'POST /v1/channels/{id}/stock-sync/preview',
        async () => ({
          ...(await call(api.POST('/v1/channels/{id}/stock-sync/preview', { params: { path: { id: channel.id } }, body: debounced }))),
          estimated: false,
        }),
        async () => {
          const list = await fetchStockList(alerts.data!.threshold);
          return {
            estimated: true,
            items: list.items.map((i) => ({
              sku_code: i.sku_code,
              available: i.available,
              shown_now: allocate(cur, i.available, othersReserve),
              shown: allocate(debounced, i.available, othersReserve),
            })),
          };
        },
      ),
    placeholderData: (prev) => prev,
  });
  const save = useMutation({
    mutationFn: () => call(api.PUT('/v1/channels/{id}/stock-sync', { params: { path: { id: channel.id } }, body: rules })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['channels'] });
      toast('ok', t('shops.rules_saved'));
      onClose();
    },
  });
  const changed = (preview.data?.items ?? []).filter((i) => i.shown_now !== i.shown).length;
  return (
    <Dialog
      open={open}
      onClose={onClose}
      wide
      title={t('shops.rules_title', { name: channel.name })}
      testId="rules-dialog"
      footer={
        <>
          <span className="muted small">{preview.data ? t('shops.preview_changed', { n: changed }) : ''}</span>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button variant="primary" busy={save.isPending} onClick={() => save.mutate()} data-testid="rules-save">
            {t('shops.rules_save')}
          </Button>
        </>
      }
    >
      <div className="muted small">{t('shops.rules_explain')}</div>
      <div className="form-row form-row-4">
        <Field label={t('shops.percent')} hint="0–100">
          {(id) => (
            <input
              id={id}
              name="percent"
              inputMode="numeric"
              value={percent}
              onChange={(e) => setPercent(e.target.value.replace(/\D/g, ''))}
              className="input-num"
            />
          )}
        </Field>
        <Field label={t('shops.min')}>
          {(id) => (
            <input
              id={id}
              name="min"
              inputMode="numeric"
              value={min}
              onChange={(e) => setMin(e.target.value.replace(/\D/g, ''))}
              className="input-num"
            />
          )}
        </Field>
        <Field label={t('shops.max')} hint={t('shops.max_hint')}>
          {(id) => (
            <input
              id={id}
              name="max"
              inputMode="numeric"
              value={max}
              onChange={(e) => setMax(e.target.value.replace(/\D/g, ''))}
              className="input-num"
            />
          )}
        </Field>
        <Field label={t('shops.reserve')} hint={t('shops.reserve_hint')}>
          {(id) => (
            <input
              id={id}
              name="reserve"
              inputMode="numeric"
              value={reserve}
              onChange={(e) => setReserve(e.target.value.replace(/\D/g, ''))}
              className="input-num"
            />
          )}
        </Field>
      </div>
      <h3 className="section-title">
        {t('shops.preview')}
        {preview.data?.estimated && (
          <Badge tone="gray" title={t('shops.preview_estimated_hint')}>
            {t('shops.preview_estimated')}
          </Badge>
        )}
      </h3>
      {preview.isPending ? (
        <LoadingBlock />
      ) : preview.isError ? (
        <ErrorState error={preview.error} onRetry={() => void preview.refetch()} />
      ) : preview.data.items.length === 0 ? (
        <EmptyState title={t('stock.none')} />
      ) : (
        <div className="table-scroll">
          <table className={cx('table table-compact', preview.isFetching && 'is-stale')} data-testid="rules-preview">
            <thead>
              <tr>
                <th>{t('stock.sku')}</th>
                <th className="num">{t('stock.available')}</th>
                <th className="num">{t('shops.shown_now')}</th>
                <th className="num">{t('shops.shown_new')}</th>
              </tr>
            </thead>
            <tbody>
              {preview.data.items.map((i) => (
                <tr key={i.sku_code} className={cx(i.shown_now !== i.shown && 'is-changed')}>
                  <td className="mono">{i.sku_code}</td>
                  <td className="num">{formatInt(i.available, lang)}</td>
                  <td className="num muted">{i.shown_now === null || i.shown_now === undefined ? '—' : formatInt(i.shown_now, lang)}</td>
                  <td className="num strong">
                    {formatInt(i.shown, lang)}
                    {typeof i.shown_now === 'number' && i.shown !== i.shown_now && (
                      <span className={cx('delta', i.shown > i.shown_now ? 'text-green' : 'text-red')}>
                        {i.shown > i.shown_now ? ` ▲${i.shown - i.shown_now}` : ` ▼${i.shown_now - i.shown}`}
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {save.isError && <ErrorText error={save.error} />}
    </Dialog>
  );
}
