// 商品对应: which Cairn SKU each marketplace variant takes stock from. The variants open
// orders wait on come first (with how many orders wait), then each shop's variants.
import { useMemo, useState } from 'react';
import { Link } from 'wouter';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { useChannels, useSkus, type Channel, type Sku } from '../data';
import { formatInt } from '../format';
import { useI18n } from '../i18n';
import { usePollInterval } from '../live';
import {
  Badge,
  Button,
  EmptyState,
  ErrorState,
  ErrorText,
  label,
  PageHeader,
  Panel,
  useToast,
  type Tone,
  TableBody,
} from '../ui/components';
import { Icon } from '../ui/icons';
import { SkuPicker } from '../ui/SkuPicker';
import type { components } from '../api/schema';

type Item = components['schemas']['ItemDto'];
type Waiting = components['schemas']['UnmappedItemDto'];
type MappingIn = components['schemas']['MappingIn'];

const MAPPING_TONES: Record<string, Tone> = { mapped: 'green', merchant_code: 'teal', unmapped: 'red' };

/** A variant of a shop, as a key for drafts. */
const keyOf = (channel: string, item: string | null | undefined, variant: string | null | undefined) =>
  `${channel}|${item ?? ''}|${variant ?? ''}`;

/** The edits not saved yet: variant key → SKU code typed. */
function useDrafts() {
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  return {
    drafts,
    set: (k: string, v: string) => setDrafts((d) => ({ ...d, [k]: v })),
    drop: (keys: string[]) =>
      setDrafts((d) => {
        const n = { ...d };
        keys.forEach((k) => delete n[k]);
        return n;
      }),
  };
}

/** Saves mappings shop by shop (the route is per shop); one call per shop. */
function useSaveMappings(onSaved: (keys: string[]) => void) {
  const qc = useQueryClient();
  const toast = useToast();
  const { t } = useI18n();
  return useMutation({
    mutationFn: async (rows: { channel: string; key: string; m: MappingIn }[]) => {
      const byShop = new Map<string, MappingIn[]>();
      for (const r of rows) byShop.set(r.channel, [...(byShop.get(r.channel) ?? []), r.m]);
      let changed = 0;
      for (const [id, mappings] of byShop) {
        changed += (await call(api.PUT('/v1/channels/{id}/item-mappings', { params: { path: { id } }, body: { mappings } }))).changed;
      }
      return { changed, keys: rows.map((r) => r.key) };
    },
    onSuccess: ({ changed, keys }) => {
      onSaved(keys);
      toast('ok', changed ? t('mapping.saved', { n: changed }) : t('mapping.unchanged'));
      void qc.invalidateQueries({ queryKey: ['mapping'] });
      void qc.invalidateQueries({ queryKey: ['orders'] });
    },
  });
}

export default function MappingScreen() {
  const { t, lang } = useI18n();
  const poll = usePollInterval(15_000);
  const channels = useChannels();
  const skus = useSkus();
  const waiting = useQuery({
    queryKey: ['mapping', 'waiting'],
    queryFn: () => call(api.GET('/v1/orders/unmapped-items')),
    refetchInterval: poll,
  });
  const waitingOrders = (waiting.data?.items ?? []).reduce((n, i) => n + i.orders, 0);
  return (
    <div className="page" data-testid="mapping">
      <PageHeader
        title={t('nav.mapping')}
        subtitle={
          waiting.data
            ? waiting.data.items.length
              ? t('mapping.subtitle', { n: formatInt(waiting.data.items.length, lang), orders: formatInt(waitingOrders, lang) })
              : t('mapping.subtitle_done')
            : ' '
        }
      />
      <WaitingPanel q={waiting} channels={channels.data ?? []} skus={skus.data ?? []} />
      <ShopItems channels={channels} skus={skus.data ?? []} />
    </div>
  );
}

function SaveBar({ n, busy, error, onSave, onUndo }: { n: number; busy: boolean; error: unknown; onSave: () => void; onUndo: () => void }) {
  const { t } = useI18n();
  if (!n && !error) return null;
  return (
    <div className="savebar" data-testid="mapping-savebar">
      {error ? <ErrorText error={error} /> : <span />}
      {n > 0 && (
        <div className="row-gap">
          <Button size="sm" variant="ghost" onClick={onUndo} disabled={busy}>
            {t('mapping.undo')}
          </Button>
          <Button size="sm" variant="primary" icon="check" busy={busy} onClick={onSave} data-testid="mapping-save">
            {t('mapping.save', { n })}
          </Button>
        </div>
      )}
    </div>
  );
}

function WaitingPanel({
  q,
  channels,
  skus,
}: {
  q: ReturnType<typeof useQuery<components['schemas']['UnmappedItemsDto']>>;
  channels: Channel[];
  skus: Sku[];
}) {
  const { t, lang } = useI18n();
  const shopName = new Map(channels.map((c) => [c.id, c.name]));
  const d = useDrafts();
  const save = useSaveMappings(d.drop);
  const items = q.data?.items ?? [];
  const rowKey = (i: Waiting) => keyOf(i.channel_id, i.item_id, i.variant_id);
  // A variant without a marketplace item id can only be fixed with a SKU of its merchant code.
  const pending = items.filter((i) => i.item_id && (d.drafts[rowKey(i)] ?? '').trim());
  const submit = () =>
    save.mutate(
      pending.map((i) => ({
        channel: i.channel_id,
        key: rowKey(i),
        m: { item_id: i.item_id!, variant_id: i.variant_id ?? null, sku_code: d.drafts[rowKey(i)]!.trim() },
      })),
    );
  return (
    <Panel title={t('mapping.waiting')} subtitle={t('mapping.waiting_sub')} className="panel-flush" id="waiting">
      <div className="table-wrap">
        <table className="table" data-testid="waiting-table">
          <thead>
            <tr>
              <th>{t('orders.shop')}</th>
              <th>{t('mapping.product')}</th>
              <th>{t('mapping.ids')}</th>
              <th>{t('mapping.merchant_code')}</th>
              <th className="num">{t('mapping.orders')}</th>
              <th className="w-picker">{t('mapping.sku')}</th>
            </tr>
          </thead>
          <TableBody
            query={q}
            cols={6}
            rows={3}
            isEmpty={items.length === 0}
            empty={<EmptyState icon="check" title={t('mapping.waiting_none')} hint={t('mapping.waiting_none_hint')} />}
          >
            {items.map((i) => (
              <tr key={rowKey(i)} data-item={i.item_id ?? ''} data-variant={i.variant_id ?? ''}>
                <td className="ellipsis max-w-140">{shopName.get(i.channel_id) ?? '—'}</td>
                <td className="ellipsis max-w-240" title={i.title}>
                  {i.title}
                </td>
                <td className="mono small">
                  {i.item_id ?? '—'}
                  {i.variant_id ? ` / ${i.variant_id}` : ''}
                </td>
                <td className="mono small">{i.merchant_code ?? <span className="muted">—</span>}</td>
                <td className="num">
                  <Link href="/holds?reason=unmapped_sku" className="link strong" data-testid="waiting-orders">
                    {formatInt(i.orders, lang)}
                  </Link>
                </td>
                <td>
                  {i.item_id ? (
                    <SkuPicker
                      value={d.drafts[rowKey(i)] ?? ''}
                      onChange={(v) => d.set(rowKey(i), v)}
                      skus={skus}
                      label={t('sku_picker.label', { what: i.title })}
                      name={`sku-${i.item_id}-${i.variant_id ?? ''}`}
                      disabled={save.isPending}
                    />
                  ) : (
                    <span className="small muted">{label(t, 'mapping_state', 'unmapped')}</span>
                  )}
                </td>
              </tr>
            ))}
          </TableBody>
        </table>
      </div>
      <SaveBar n={pending.length} busy={save.isPending} error={save.error} onSave={submit} onUndo={() => d.drop(Object.keys(d.drafts))} />
    </Panel>
  );
}

function ShopItems({ channels, skus }: { channels: ReturnType<typeof useChannels>; skus: Sku[] }) {
  const { t } = useI18n();
  const list = channels.data ?? [];
  const [picked, setPicked] = useState('');
  const channelId = picked || list[0]?.id || '';
  const [needle, setNeedle] = useState('');
  const [unmappedOnly, setUnmappedOnly] = useState(false);
  const d = useDrafts();
  const save = useSaveMappings(d.drop);
  const q = useQuery({
    queryKey: ['mapping', 'items', channelId],
    queryFn: () => call(api.GET('/v1/channels/{id}/items', { params: { path: { id: channelId } } })),
    enabled: !!channelId,
    staleTime: 30_000,
  });
  const rowKey = (i: Item) => keyOf(channelId, i.item_id, i.variant_id);
  const items = useMemo(() => {
    const n = needle.trim().toLowerCase();
    return (q.data?.items ?? [])
      .filter((i) => !unmappedOnly || i.mapping === 'unmapped')
      .filter(
        (i) =>
          !n ||
          i.title.toLowerCase().includes(n) ||
          [i.item_id, i.variant_id, i.merchant_code, i.sku_code].some((x) => (x ?? '').toLowerCase().includes(n)),
      );
  }, [q.data, needle, unmappedOnly]);
  const all = q.data?.items ?? [];
  const pending = all.filter((i) => {
    const v = (d.drafts[rowKey(i)] ?? '').trim();
    return v && v !== i.sku_code;
  });
  const submit = () =>
    save.mutate(
      pending.map((i) => ({
        channel: channelId,
        key: rowKey(i),
        m: { item_id: i.item_id, variant_id: i.variant_id ?? null, sku_code: d.drafts[rowKey(i)]!.trim() },
      })),
    );

  return (
    <Panel
      title={t('mapping.shop_items')}
      subtitle={t('mapping.shop_items_sub')}
      className="panel-flush"
      actions={
        list.length > 0 && (
          <label className="select-inline">
            {t('mapping.pick_shop')}
            <select
              value={channelId}
              onChange={(e) => {
                d.drop(Object.keys(d.drafts));
                setPicked(e.target.value);
              }}
              data-testid="mapping-shop"
            >
              {list.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        )
      }
    >
      {channels.isError ? (
        <ErrorState error={channels.error} onRetry={() => void channels.refetch()} />
      ) : channels.isSuccess && list.length === 0 ? (
        <EmptyState
          icon="shops"
          title={t('mapping.no_shops')}
          action={
            <Link href="/shops" className="btn btn-secondary">
              {t('shops.connect')}
            </Link>
          }
        />
      ) : (
        <>
          <div className="toolbar toolbar-inset">
            <label className="search">
              <Icon name="search" size={15} />
              <input
                value={needle}
                onChange={(e) => setNeedle(e.target.value)}
                placeholder={t('mapping.search')}
                aria-label={t('mapping.search')}
                name="q"
              />
            </label>
            <label className="check">
              <input type="checkbox" checked={unmappedOnly} onChange={(e) => setUnmappedOnly(e.target.checked)} />
              {t('mapping.unmapped_only')}
            </label>
            {q.data?.pulled && <span className="small muted">{t('mapping.pulled')}</span>}
          </div>
          {q.data?.pull_error && (
            <div className="notice notice-amber notice-inset" data-testid="pull-error">
              {t('mapping.pull_error', { error: q.data.pull_error })}
            </div>
          )}
          <div className="table-wrap">
            <table className="table" data-testid="items-table">
              <thead>
                <tr>
                  <th>{t('mapping.product')}</th>
                  <th>{t('mapping.ids')}</th>
                  <th>{t('mapping.merchant_code')}</th>
                  <th>{t('mapping.source')}</th>
                  <th>{t('mapping.current')}</th>
                  <th className="w-picker">{t('mapping.sku')}</th>
                </tr>
              </thead>
              <TableBody
                query={q}
                pending={channels.isPending}
                cols={6}
                rows={5}
                isEmpty={items.length === 0}
                empty={
                  <EmptyState
                    icon="mapping"
                    title={all.length ? t('mapping.items_none_match') : t('mapping.items_none')}
                    hint={all.length ? undefined : t('mapping.items_none_hint')}
                  />
                }
              >
                {items.map((i) => (
                  <tr key={rowKey(i)} data-item={i.item_id} data-variant={i.variant_id ?? ''} data-mapping={i.mapping}>
                    <td className="max-w-240">
                      <div className="ellipsis" title={i.title}>
                        {i.title}
                      </div>
                      {i.properties && <div className="small muted ellipsis">{i.properties}</div>}
                    </td>
                    <td className="mono small">
                      {i.item_id}
                      {i.variant_id ? ` / ${i.variant_id}` : ''}
                    </td>
                    <td className="mono small">{i.merchant_code ?? <span className="muted">—</span>}</td>
                    <td className="small">{label(t, 'mapping_source', i.source)}</td>
                    <td>
                      <span className="row-gap">
                        <Badge tone={MAPPING_TONES[i.mapping] ?? 'neutral'}>{label(t, 'mapping_state', i.mapping)}</Badge>
                        {i.sku_code && <span className="mono small">{i.sku_code}</span>}
                      </span>
                    </td>
                    <td>
                      <SkuPicker
                        value={d.drafts[rowKey(i)] ?? i.sku_code ?? ''}
                        onChange={(v) => d.set(rowKey(i), v)}
                        skus={skus}
                        label={t('sku_picker.label', { what: i.title })}
                        name={`sku-${i.item_id}-${i.variant_id ?? ''}`}
                        disabled={save.isPending}
                      />
                    </td>
                  </tr>
                ))}
              </TableBody>
            </table>
          </div>
          <SaveBar
            n={pending.length}
            busy={save.isPending}
            error={save.error}
            onSave={submit}
            onUndo={() => d.drop(Object.keys(d.drafts))}
          />
        </>
      )}
    </Panel>
  );
}
