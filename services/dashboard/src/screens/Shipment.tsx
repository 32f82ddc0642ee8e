import { useEffect, useState, type ReactNode } from 'react';
import { Link } from 'wouter';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { isNotFound } from '../api/problem';
import { useChannels } from '../data';
import { formatDateTime, formatInt } from '../format';
import { useI18n } from '../i18n';
import { usePollInterval } from '../live';
import { PdfView } from '../ui/PdfView';
import {
  Badge,
  Button,
  Dialog,
  EmptyState,
  ErrorState,
  ErrorText,
  Facts,
  Field,
  label,
  LoadingBlock,
  Panel,
  useToast,
} from '../ui/components';
import { Icon } from '../ui/icons';
import {
  CANCELLABLE,
  editable,
  LABEL_SIZES,
  refreshShipments,
  shortId,
  useCarrierAccounts,
  type LabelSize,
  type ShipmentDetail,
} from '../shipping';
import { BulkDialog, type BulkKind } from './parts/ShipmentActions';
import { ShipmentStatusBadge } from './parts/ShipmentBits';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default function ShipmentScreen({ id }: { id: string }) {
  const { t } = useI18n();
  const valid = UUID_RE.test(id);
  const poll = usePollInterval(10_000);
  const q = useQuery({
    queryKey: ['shipment', id],
    queryFn: () => call(api.GET('/v1/shipments/{id}', { params: { path: { id } } })),
    enabled: valid,
    refetchInterval: poll || 20_000,
  });
  if (!valid || (q.isError && isNotFound(q.error))) {
    return (
      <div className="page">
        <Back />
        <div className="panel" data-testid="shipment-not-found">
          <EmptyState icon="search" title={t('shipment.not_found')} hint={t('shipment.not_found_hint')} />
        </div>
      </div>
    );
  }
  if (q.isPending)
    return (
      <div className="page">
        <Back />
        <LoadingBlock />
      </div>
    );
  if (q.isError)
    return (
      <div className="page">
        <Back />
        <div className="panel">
          <ErrorState error={q.error} onRetry={() => void q.refetch()} />
        </div>
      </div>
    );
  return <ShipmentView s={q.data} />;
}

function Back() {
  const { t } = useI18n();
  return (
    <Link href="/shipping" className="back-link">
      <Icon name="chevronLeft" size={14} /> {t('shipment.back')}
    </Link>
  );
}

function ShipmentView({ s }: { s: ShipmentDetail }) {
  const { t, lang, tz } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const channels = useChannels();
  const accounts = useCarrierAccounts();
  const [dialog, setDialog] = useState<null | 'package' | 'split' | 'cancel' | BulkKind>(null);
  const shopName = new Map((channels.data ?? []).map((c) => [c.id, c.name]));
  const accountOf = (id: string) => accounts.data?.find((a) => a.id === id);
  const canEdit = editable(s);
  const units = s.lines.reduce((n, l) => n + l.quantity, 0);
  const tidOf = new Map(s.orders.map((o) => [o.order_id, o.external_id]));

  const unmerge = useMutation({
    mutationFn: () => call(api.POST('/v1/shipments/{id}/unmerge', { params: { path: { id: s.id } } })),
    onSuccess: (r) => {
      refreshShipments(qc, r.shipment_ids);
      toast('ok', t('shipment.unmerged', { n: r.shipment_ids.length }));
    },
  });
  const w = s.waybill;

  return (
    <div className="page" data-testid="shipment-page" data-shipment={s.id} data-status={s.status}>
      <Back />
      <div className="page-head">
        <div>
          <h1 className="page-title">
            {t('shipment.title')} <span className="mono">{shortId(s.id)}</span> <ShipmentStatusBadge status={s.status} />
          </h1>
          <div className="page-subtitle">
            {s.orders.map((o) => o.external_id).join(' · ')} · {t('shipping.warehouse')} <span className="mono">{s.warehouse_code}</span>
          </div>
        </div>
        <div className="page-actions">
          {s.status === 'pending' && (
            <Button variant="primary" icon="file" onClick={() => setDialog('draw')} data-testid="shipment-draw">
              {t('shipping.draw')}
            </Button>
          )}
          {(s.status === 'printed' || s.status === 'waybill_allocated') && (
            <Button variant="primary" icon="truck" onClick={() => setDialog('ship')} data-testid="shipment-ship">
              {t('shipping.ship')}
            </Button>
          )}
          {canEdit && (
            <Button icon="stock" onClick={() => setDialog('package')} data-testid="shipment-package">
              {t('shipment.package')}
            </Button>
          )}
          {canEdit && units > 1 && (
            <Button icon="mapping" onClick={() => setDialog('split')} data-testid="shipment-split">
              {t('shipment.split')}
            </Button>
          )}
          {canEdit && s.orders.length > 1 && (
            <Button icon="orders" busy={unmerge.isPending} onClick={() => unmerge.mutate()} data-testid="shipment-unmerge">
              {t('shipment.unmerge')}
            </Button>
          )}
          {w && CANCELLABLE.has(s.status) && (
            <Button variant="danger" icon="x" onClick={() => setDialog('cancel')} data-testid="shipment-cancel-waybill">
              {t('shipment.cancel_waybill')}
            </Button>
          )}
        </div>
      </div>
      {unmerge.isError && <ErrorText error={unmerge.error} />}
      {s.problem && (
        <div className="notice notice-amber" data-testid="shipment-problem">
          <strong>{t('shipping.problem')}：</strong>
          {s.problem}
        </div>
      )}

      <div className="grid-2-1">
        <div className="stack">
          <Panel title={t('shipment.orders')} className="panel-flush">
            <table className="table table-compact" data-testid="shipment-orders">
              <thead>
                <tr>
                  <th>{t('orders.tid')}</th>
                  <th>{t('orders.shop')}</th>
                  <th>{t('order.paid_at')}</th>
                  <th>{t('order.holds')}</th>
                </tr>
              </thead>
              <tbody>
                {s.orders.map((o) => (
                  <tr key={o.order_id}>
                    <td>
                      <Link href={`/orders/${o.order_id}`} className="mono link" data-testid="shipment-order-link">
                        {o.external_id}
                      </Link>
                    </td>
                    <td>{shopName.get(o.channel_id) ?? '—'}</td>
                    <td className="nowrap">{formatDateTime(o.paid_at, lang, tz)}</td>
                    <td>
                      {o.holds.length ? (
                        o.holds.map((h) => (
                          <Badge key={h} tone="purple">
                            {label(t, 'hold', h)}
                          </Badge>
                        ))
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Panel>

          <Panel title={t('shipment.lines')} subtitle={t('order.lines_sub', { n: s.lines.length, units })} className="panel-flush">
            <table className="table table-compact" data-testid="shipment-lines">
              <thead>
                <tr>
                  <th>{t('orders.tid')}</th>
                  <th>{t('stock.sku')}</th>
                  <th>{t('order.title')}</th>
                  <th className="num">{t('order.qty')}</th>
                </tr>
              </thead>
              <tbody>
                {s.lines.map((l, i) => (
                  <tr key={`${l.order_id}-${l.external_line_id}-${i}`}>
                    <td className="mono small">{tidOf.get(l.order_id) ?? '—'}</td>
                    <td className="mono">{l.sku_code}</td>
                    <td className="max-w-240">
                      <div className="ellipsis" title={l.title}>
                        {l.title}
                      </div>
                    </td>
                    <td className="num">{formatInt(l.quantity, lang)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Panel>

          <LabelPreview s={s} />
        </div>

        <div className="stack">
          <Panel title={t('shipment.receiver')}>
            <Facts
              items={[
                ['shipment.receiver_name', `${s.receiver.name} ${s.receiver.phone}`],
                [
                  'shipment.address',
                  `${s.receiver.province}${s.receiver.city}${s.receiver.district} ${s.receiver.address}${s.receiver.zip ? ` ${s.receiver.zip}` : ''}`,
                ],
              ]}
            />
          </Panel>
          <Panel title={t('shipment.waybill')}>
            {w ? (
              <Facts
                items={[
                  ['ship.carrier', `${w.cp_name || label(t, 'carrier', w.cp_code)} (${w.cp_code})`],
                  [
                    'ship.waybill',
                    <span className="mono strong" data-testid="shipment-waybill">
                      {w.code}
                    </span>,
                  ],
                  ...(w.child_codes.length
                    ? ([['shipment.children', <span className="mono small">{w.child_codes.join(', ')}</span>]] as [string, ReactNode][])
                    : []),
                  ['shipment.sortation', <span className="strong">{w.sortation_name || '—'}</span>],
                  ['shipment.route', <span className="mono">{w.route_code || '—'}</span>],
                  ['shipment.consolidation', w.consolidation_code || '—'],
                  [
                    'shipping.account',
                    accountOf(w.account_id) ? `${accountOf(w.account_id)!.branch_name || accountOf(w.account_id)!.branch_code}` : '—',
                  ],
                  ['shipment.drawn_at', formatDateTime(w.drawn_at, lang, tz)],
                ]}
              />
            ) : (
              <div className="muted small">{t('shipping.no_waybill')}</div>
            )}
          </Panel>
          <Panel title={t('shipment.package_title')}>
            <Facts
              items={[
                ['shipment.parcels', formatInt(s.parcels, lang)],
                ['shipment.weight', s.weight_grams > 0 ? `${formatInt(s.weight_grams, lang)} g` : t('shipment.weight_estimated')],
                ['shipping.print_count', formatInt(s.print_count, lang)],
                ['shipment.tracking', s.tracking_status ? label(t, 'tracking', s.tracking_status) : '—'],
                ['shipment.shipped_at', formatDateTime(s.shipped_at, lang, tz)],
                ['shipment.delivered_at', formatDateTime(s.delivered_at, lang, tz)],
                ['shipment.opened_at', formatDateTime(s.opened_at, lang, tz)],
              ]}
            />
          </Panel>
          <Panel title={t('shipment.waybills')} className="panel-flush">
            {s.waybills.length === 0 ? (
              <EmptyState icon="file" title={t('shipment.no_waybills')} />
            ) : (
              <table className="table table-compact" data-testid="shipment-waybills">
                <thead>
                  <tr>
                    <th>{t('ship.waybill')}</th>
                    <th>{t('shipment.waybill_state')}</th>
                    <th>{t('shipment.drawn_at')}</th>
                  </tr>
                </thead>
                <tbody>
                  {s.waybills.map((x) => (
                    <tr key={`${x.code}-${x.drawn_at}`} data-state={x.state}>
                      <td>
                        <div className="mono small">{x.code}</div>
                        <div className="small muted">
                          {x.cp_code}
                          {x.parcels > 1 ? ` · ${t('shipment.parcels_n', { n: x.parcels })}` : ''}
                        </div>
                      </td>
                      <td>
                        <Badge tone={x.state === 'live' ? 'green' : x.state === 'cancel_failed' ? 'red' : 'neutral'}>
                          {label(t, 'wbstate', x.state)}
                        </Badge>
                        {x.detail && <div className="small muted">{x.detail}</div>}
                      </td>
                      <td className="small nowrap">
                        {formatDateTime(x.drawn_at, lang, tz)}
                        {x.cancelled_at && (
                          <div className="muted">{t('shipment.cancelled_at', { at: formatDateTime(x.cancelled_at, lang, tz) })}</div>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Panel>
          <Panel title={t('shipment.history')}>
            {s.history.length === 0 ? (
              <EmptyState icon="clock" title={t('order.no_timeline')} />
            ) : (
              <ol className="timeline" data-testid="shipment-history">
                {[...s.history].reverse().map((e, i) => (
                  <li key={`${e.at}-${i}`}>
                    <span className="tl-dot" aria-hidden="true" />
                    <div className="tl-body">
                      <div className="tl-head">
                        <time className="muted small">{formatDateTime(e.at, lang, tz)}</time>
                      </div>
                      <div className="tl-detail">{e.detail}</div>
                    </div>
                  </li>
                ))}
              </ol>
            )}
          </Panel>
        </div>
      </div>
      <PackageDialog s={s} open={dialog === 'package'} onClose={() => setDialog(null)} />
      <SplitDialog
        s={s}
        open={dialog === 'split'}
        onClose={(made) => {
          setDialog(null);
          if (made.length > 1) toast('ok', t('shipment.split_done', { n: made.length }));
        }}
      />
      <CancelWaybillDialog s={s} open={dialog === 'cancel'} onClose={() => setDialog(null)} />
      <BulkDialog
        kind={dialog === 'ship' ? 'ship' : 'draw'}
        shipments={[s]}
        open={dialog === 'draw' || dialog === 'ship'}
        onClose={() => setDialog(null)}
      />
    </div>
  );
}

function LabelPreview({ s }: { s: ShipmentDetail }) {
  const { t } = useI18n();
  const [size, setSize] = useState<LabelSize>('100x180');
  const [open, setOpen] = useState(false);
  const code = s.waybill?.code;
  useEffect(() => setOpen(false), [code]);
  return (
    <Panel
      title={t('shipment.label')}
      subtitle={t('shipment.label_hint')}
      actions={
        code ? (
          <div className="row-gap">
            <div className="seg" role="radiogroup" aria-label={t('print.size')}>
              {LABEL_SIZES.map((x) => (
                <button
                  key={x}
                  type="button"
                  role="radio"
                  aria-checked={size === x}
                  className={size === x ? 'is-active' : undefined}
                  onClick={() => setSize(x)}
                  data-size={x}
                >
                  {x.replace('x', '×')}
                </button>
              ))}
            </div>
            {!open && (
              <Button size="sm" icon="file" onClick={() => setOpen(true)} data-testid="label-preview">
                {t('shipment.preview')}
              </Button>
            )}
          </div>
        ) : undefined
      }
    >
      {!code ? (
        <div className="muted small">{t('shipment.label_none')}</div>
      ) : open ? (
        <PdfView
          url={`/v1/shipments/${s.id}/label.pdf?size=${size}`}
          title={t('shipment.label')}
          fallbackName={`label-${code}.pdf`}
          testId="label-pdf"
        />
      ) : null}
    </Panel>
  );
}

function PackageDialog({ s, open, onClose }: { s: ShipmentDetail; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [parcels, setParcels] = useState(String(s.parcels));
  const [weight, setWeight] = useState(String(s.weight_grams || ''));
  useEffect(() => {
    if (open) {
      setParcels(String(s.parcels));
      setWeight(s.weight_grams ? String(s.weight_grams) : '');
    }
  }, [open, s.parcels, s.weight_grams]);
  const save = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/shipments/{id}/package', {
          params: { path: { id: s.id } },
          body: { parcels: Number(parcels), weight_grams: weight.trim() ? Number(weight) : 0 },
        }),
      ),
    onSuccess: () => {
      refreshShipments(qc, [s.id]);
      onClose();
    },
  });
  const n = Number(parcels);
  const valid = Number.isInteger(n) && n >= 1 && n <= 20 && (!weight.trim() || /^\d{1,7}$/.test(weight.trim()));
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('shipment.package')}
      testId="package-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button variant="primary" busy={save.isPending} disabled={!valid} onClick={() => save.mutate()} data-testid="package-save">
            {t('common.save')}
          </Button>
        </>
      }
    >
      <div className="form-row">
        <Field label={t('shipment.parcels')} hint={t('shipment.parcels_hint')}>
          {(id) => (
            <input
              id={id}
              name="parcels"
              className="input-num"
              inputMode="numeric"
              value={parcels}
              onChange={(e) => setParcels(e.target.value)}
            />
          )}
        </Field>
        <Field label={t('shipment.weight_g')} hint={t('shipment.weight_hint')}>
          {(id) => (
            <input
              id={id}
              name="weight_grams"
              className="input-num"
              inputMode="numeric"
              value={weight}
              onChange={(e) => setWeight(e.target.value)}
            />
          )}
        </Field>
      </div>
      {save.isError && <ErrorText error={save.error} />}
    </Dialog>
  );
}

function SplitDialog({ s, open, onClose }: { s: ShipmentDetail; open: boolean; onClose: (made: string[]) => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const key = (i: number) => String(i);
  const [a, setA] = useState<Record<string, string>>({});
  const [b, setB] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!open) return;
    // A first guess: half of each line stays, the rest goes to the second part.
    const first: Record<string, string> = {};
    const second: Record<string, string> = {};
    s.lines.forEach((l, i) => {
      const keep = Math.ceil(l.quantity / 2);
      first[key(i)] = String(keep);
      second[key(i)] = String(l.quantity - keep);
    });
    setA(first);
    setB(second);
  }, [open, s.lines]);
  const num = (v: string | undefined) => (v && /^\d+$/.test(v.trim()) ? Number(v.trim()) : 0);
  const part = (m: Record<string, string>) =>
    s.lines
      .map((l, i) => ({ order_id: l.order_id, external_line_id: l.external_line_id, quantity: num(m[key(i)]) }))
      .filter((l) => l.quantity > 0);
  const split = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/shipments/{id}/split', { params: { path: { id: s.id } }, body: { parts: [{ lines: part(a) }, { lines: part(b) }] } }),
      ),
    onSuccess: (r) => {
      refreshShipments(qc, r.shipment_ids);
      onClose(r.shipment_ids);
    },
  });
  const mismatched = s.lines.filter((l, i) => num(a[key(i)]) + num(b[key(i)]) !== l.quantity).length;
  useEffect(() => {
    if (!open) split.reset();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  return (
    <Dialog
      open={open}
      onClose={() => onClose([])}
      wide
      title={t('shipment.split')}
      testId="split-dialog"
      footer={
        <>
          {mismatched > 0 && (
            <span className="small text-amber" data-testid="split-mismatch">
              {t('shipment.split_mismatch', { n: mismatched })}
            </span>
          )}
          <span className="grow" />
          <Button onClick={() => onClose([])}>{t('common.cancel')}</Button>
          <Button variant="primary" busy={split.isPending} onClick={() => split.mutate()} data-testid="split-submit">
            {t('shipment.split_submit')}
          </Button>
        </>
      }
    >
      <p className="muted small dialog-lead">{t('shipment.split_hint')}</p>
      <table className="table table-compact" data-testid="split-lines">
        <thead>
          <tr>
            <th>{t('order.title')}</th>
            <th className="num">{t('order.qty')}</th>
            <th className="num">{t('shipment.part', { n: 1 })}</th>
            <th className="num">{t('shipment.part', { n: 2 })}</th>
          </tr>
        </thead>
        <tbody>
          {s.lines.map((l, i) => {
            const bad = num(a[key(i)]) + num(b[key(i)]) !== l.quantity;
            return (
              <tr key={`${l.order_id}-${l.external_line_id}-${i}`} className={bad ? 'is-warn' : undefined} data-line={l.external_line_id}>
                <td className="max-w-240">
                  <div className="ellipsis" title={l.title}>
                    {l.title}
                  </div>
                  <div className="small muted mono">{l.sku_code}</div>
                </td>
                <td className="num">{l.quantity}</td>
                <td className="num">
                  <input
                    className="input-num input-sm"
                    inputMode="numeric"
                    name={`part1-${i}`}
                    aria-label={t('shipment.part_qty', { n: 1, title: l.title })}
                    value={a[key(i)] ?? ''}
                    onChange={(e) => setA({ ...a, [key(i)]: e.target.value })}
                  />
                </td>
                <td className="num">
                  <input
                    className="input-num input-sm"
                    inputMode="numeric"
                    name={`part2-${i}`}
                    aria-label={t('shipment.part_qty', { n: 2, title: l.title })}
                    value={b[key(i)] ?? ''}
                    onChange={(e) => setB({ ...b, [key(i)]: e.target.value })}
                  />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {split.isError && (
        <div data-testid="split-error">
          <ErrorText error={split.error} />
        </div>
      )}
    </Dialog>
  );
}

function CancelWaybillDialog({ s, open, onClose }: { s: ShipmentDetail; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => call(api.POST('/v1/shipments/{id}/cancel-waybill', { params: { path: { id: s.id } } })),
    onSuccess: () => {
      refreshShipments(qc, [s.id]);
      onClose();
    },
  });
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={t('shipment.cancel_waybill')}
      testId="cancel-waybill-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button variant="danger" busy={cancel.isPending} onClick={() => cancel.mutate()} data-testid="cancel-waybill-confirm">
            {t('shipment.cancel_waybill_confirm')}
          </Button>
        </>
      }
    >
      <p>{t('shipment.cancel_waybill_hint', { code: s.waybill?.code ?? '—' })}</p>
      {cancel.isError && <ErrorText error={cancel.error} />}
    </Dialog>
  );
}
