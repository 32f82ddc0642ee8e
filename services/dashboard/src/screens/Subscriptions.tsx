// 订阅与推送 Event subscriptions (`/settings/subscriptions`): the tenant's subscriptions
// (`GET /v1/subscriptions`), created (`POST`, the signing secret shown once), edited, enabled
// and disabled (`PUT` with `enabled`) and deleted; a subscription's page
// (`/settings/subscriptions/<id>`) shows its delivery log (`GET …/deliveries`, newest first,
// cursor paging, each delivery's attempts), redelivers one (`POST …/redeliver`) and replays a
// time range (`POST …/replay`). Staff hold `events:write` too; only a token without it sees
// the actions disabled.
import { Fragment, useMemo, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { isNotFound } from '../api/problem';
import type { components } from '../api/schema';
import { useCan } from '../auth/access';
import { formatDateTime, instantInZone, localInputInZone } from '../format';
import { useI18n, type MsgKey } from '../i18n';
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
  scopeLabel,
  SecretValue,
  TableBody,
  useToast,
  type Tone,
} from '../ui/components';
import { Icon } from '../ui/icons';
import { useUsers } from './Users';

type Sub = components['schemas']['SubscriptionDto'];
type EventType = components['schemas']['SubscriptionEventType'];
type Delivery = components['schemas']['DeliveryDto'];
type DeliveryStatus = components['schemas']['DeliveryStatus'];
type Created = components['schemas']['SubscriptionCreatedDto'];

/** The public event types, in the order of `services/subscriptions/src/catalog.rs`. */
export const EVENT_TYPES: readonly EventType[] = [
  'order.paid',
  'order.changed',
  'order.shipped',
  'order.hold_changed',
  'order.ready_to_ship',
  'stock.level_changed',
  'stock.returned',
  'shipment.shipped',
  'shipment.tracked',
  'invoice.issued',
];

const DELIVERY_TONES: Record<DeliveryStatus, Tone> = { pending: 'amber', delivered: 'green', failed: 'red' };

function useSubscriptions() {
  return useQuery({ queryKey: ['subscriptions'], queryFn: () => call(api.GET('/v1/subscriptions')), refetchInterval: 15_000 });
}

/** Whether the user may change subscriptions, and the tooltip saying why not. */
function useWriteLock() {
  const { t } = useI18n();
  const can = useCan('events:write');
  return { locked: !can, title: can ? undefined : t('subs.no_write', { perm: scopeLabel(t, 'events:write') }) };
}

/** `user:<id>` or `app:<client_id>` as the user's email or the app's name, with its kind. */
function CreatedBy({ actor }: { actor: string }) {
  const { t } = useI18n();
  const users = useUsers(useCan('users:read'));
  const canGrants = useCan('grants:read');
  const grants = useQuery({ queryKey: ['grants'], queryFn: () => call(api.GET('/v1/grants')), enabled: canGrants });
  const [kind, id = ''] = actor.split(':', 2) as [string, string?];
  const name =
    kind === 'user'
      ? users.data?.users.find((u) => u.id === id)?.email
      : kind === 'app'
        ? grants.data?.grants.find((g) => g.app_id === id)?.app_name
        : undefined;
  return (
    <span className="actor" data-actor-kind={kind} title={actor}>
      <Badge tone={kind === 'app' ? 'purple' : 'gray'}>{kind === 'app' ? t('subs.app_tag') : t('subs.user_tag')}</Badge>
      <span className={cx('actor-name', !name && 'mono muted')}>{name ?? id.slice(0, 8)}</span>
    </span>
  );
}

/** The server's reason for disabling, with `user:<id>` shown as the user's email where known. */
function Reason({ text }: { text: string }) {
  const users = useUsers(useCan('users:read'));
  const emails = new Map((users.data?.users ?? []).map((u) => [u.id, u.email]));
  return <>{text.replace(/user:([0-9a-f-]{36})/g, (m, id: string) => emails.get(id) ?? m)}</>;
}

function StatusBadge({ sub }: { sub: Sub }) {
  const { t, lang, tz } = useI18n();
  if (sub.status === 'disabled')
    return (
      <Badge tone="gray" title={sub.disabled_reason ?? undefined}>
        {t('subs.disabled')}
      </Badge>
    );
  if (sub.failing_since)
    return (
      <Badge tone="red" dot title={t('subs.failing_since', { at: formatDateTime(sub.failing_since, lang, tz) })}>
        {t('subs.failing_short')}
      </Badge>
    );
  return (
    <Badge tone="green" dot>
      {t('subs.active')}
    </Badge>
  );
}

function EventChips({ types }: { types: readonly EventType[] }) {
  const { t } = useI18n();
  return (
    <span className="scope-chips">
      {types.map((e) => (
        <span key={e} className="scope-chip" title={e} data-event={e}>
          {label(t, 'event', e)}
        </span>
      ))}
    </span>
  );
}

/** Enables or disables a subscription: `PUT` with its own fields and `enabled`. */
function useToggle() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  return useMutation({
    mutationFn: (s: Sub) =>
      call(
        api.PUT('/v1/subscriptions/{id}', {
          params: { path: { id: s.id } },
          body: { url: s.url, event_types: s.event_types, description: s.description, enabled: s.status !== 'active' },
        }),
      ),
    onSuccess: (saved) => {
      qc.setQueryData(['subscriptions', saved.id], saved);
      void qc.invalidateQueries({ queryKey: ['subscriptions'] });
      toast('ok', saved.status === 'active' ? t('subs.enabled_toast') : t('subs.disabled_toast'));
    },
    onError: (e) => toast('error', e instanceof Error ? e.message : String(e)),
  });
}

export default function SubscriptionsScreen() {
  const { t, lang, tz } = useI18n();
  const q = useSubscriptions();
  const lock = useWriteLock();
  const toggle = useToggle();
  const [editing, setEditing] = useState<Sub | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Sub | null>(null);
  const subs = q.data?.subscriptions ?? [];
  const active = subs.filter((s) => s.status === 'active').length;
  return (
    <div className="page" data-testid="subscriptions">
      <PageHeader
        title={t('subs.title')}
        subtitle={t('subs.subtitle')}
        actions={
          <Button
            variant="primary"
            icon="plus"
            disabled={lock.locked}
            title={lock.title}
            onClick={() => setEditing('new')}
            data-testid="sub-new"
          >
            {t('subs.new')}
          </Button>
        }
      />
      <div className="stack">
        <Panel
          title={t('subs.list')}
          subtitle={q.data ? t('subs.list_sub', { active, total: subs.length }) : undefined}
          className="panel-flush"
        >
          <div className="table-wrap">
            <table className="table" data-testid="subs-table">
              <thead>
                <tr>
                  <th>{t('subs.url')}</th>
                  <th>{t('subs.events')}</th>
                  <th>{t('subs.status')}</th>
                  <th>{t('subs.created_by')}</th>
                  <th>{t('subs.created_at')}</th>
                  <th />
                </tr>
              </thead>
              <TableBody
                query={q}
                cols={6}
                rows={2}
                isEmpty={subs.length === 0}
                empty={<EmptyState icon="webhook" title={t('subs.none')} hint={t('subs.none_hint')} />}
              >
                {subs.map((s) => (
                  <tr key={s.id} data-sub={s.id} data-url={s.url} data-status={s.status}>
                    <td className="max-w-320">
                      <Link href={`/settings/subscriptions/${s.id}`} className="cell-link mono ellipsis sub-url" title={s.url}>
                        {s.url}
                      </Link>
                      {s.description && <div className="small muted ellipsis">{s.description}</div>}
                    </td>
                    <td className="max-w-240">
                      <EventChips types={s.event_types} />
                    </td>
                    <td data-testid="sub-status">
                      <StatusBadge sub={s} />
                      {s.status === 'disabled' && s.disabled_reason && (
                        <div className="small muted max-w-200 ellipsis" title={s.disabled_reason}>
                          <Reason text={s.disabled_reason} />
                        </div>
                      )}
                      {s.status === 'active' && s.failing_since && (
                        <div className="small text-red nowrap">
                          {t('subs.failing_since', { at: formatDateTime(s.failing_since, lang, tz, false) })}
                        </div>
                      )}
                    </td>
                    <td className="small">
                      <CreatedBy actor={s.created_by} />
                    </td>
                    <td className="nowrap small">{formatDateTime(s.created_at, lang, tz, false)}</td>
                    <td className="num nowrap">
                      <div className="row-actions">
                        <Link href={`/settings/subscriptions/${s.id}`} className="btn btn-secondary btn-sm" data-testid="sub-log">
                          <Icon name="file" size={14} />
                          {t('subs.log')}
                        </Link>
                        <Button size="sm" disabled={lock.locked} title={lock.title} onClick={() => setEditing(s)} data-testid="sub-edit">
                          {t('subs.edit')}
                        </Button>
                        <Button
                          size="sm"
                          disabled={lock.locked}
                          title={lock.title}
                          busy={toggle.isPending && toggle.variables?.id === s.id}
                          onClick={() => toggle.mutate(s)}
                          data-testid="sub-toggle"
                        >
                          {s.status === 'active' ? t('subs.disable') : t('subs.enable')}
                        </Button>
                        <Button
                          size="sm"
                          variant="danger"
                          disabled={lock.locked}
                          title={lock.title}
                          onClick={() => setDeleting(s)}
                          data-testid="sub-delete"
                        >
                          {t('subs.delete')}
                        </Button>
                      </div>
                    </td>
                  </tr>
                ))}
              </TableBody>
            </table>
          </div>
        </Panel>
        <VerifyNote />
      </div>
      <SubDialog sub={editing} onClose={() => setEditing(null)} />
      <DeleteDialog sub={deleting} onClose={() => setDeleting(null)} />
    </div>
  );
}

/** How a receiver verifies a delivery (Standard Webhooks). */
function VerifyNote({ inDialog }: { inDialog?: boolean }) {
  const { t } = useI18n();
  const body = (
    <ol className="verify-steps">
      <li>{t('subs.verify_1')}</li>
      <li>{t('subs.verify_2')}</li>
      <li>{t('subs.verify_3')}</li>
    </ol>
  );
  if (inDialog)
    return (
      <div className="notice notice-blue verify-note" data-testid="verify-note">
        <Icon name="key" />
        <div>
          <strong>{t('subs.verify_title')}</strong>
          {body}
        </div>
      </div>
    );
  return (
    <Panel title={t('subs.verify_title')}>
      <div data-testid="verify-note">{body}</div>
    </Panel>
  );
}

function urlProblem(url: string): boolean {
  try {
    const u = new URL(url);
    return !(u.protocol === 'https:' || u.protocol === 'http:') || !u.hostname;
  } catch {
    return true;
  }
}

/** Creates (`sub === 'new'`) or edits a subscription; a new one's secret is shown once. */
function SubDialog({ sub, onClose }: { sub: Sub | 'new' | null; onClose: () => void }) {
  if (sub === null) return null;
  // Mounted per subscription, so the form starts from that one's values.
  return <SubForm key={sub === 'new' ? 'new' : sub.id} sub={sub === 'new' ? null : sub} onClose={onClose} />;
}

function SubForm({ sub, onClose }: { sub: Sub | null; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [url, setUrl] = useState(sub?.url ?? '');
  const [types, setTypes] = useState<EventType[]>(sub ? [...sub.event_types] : ['order.paid']);
  const [description, setDescription] = useState(sub?.description ?? '');
  const [created, setCreated] = useState<Created | null>(null);
  const [touched, setTouched] = useState(false);
  const badUrl = url.trim() !== '' && urlProblem(url.trim());
  const valid = url.trim().length >= 8 && !badUrl && types.length > 0;
  const body = () => ({
    url: url.trim(),
    // In the catalog's order, so the list reads the same everywhere.
    event_types: EVENT_TYPES.filter((e) => types.includes(e)),
    description: description.trim(),
  });
  const m = useMutation({
    mutationFn: async () => {
      if (sub) {
        const saved = await call(
          api.PUT('/v1/subscriptions/{id}', { params: { path: { id: sub.id } }, body: { ...body(), enabled: sub.status === 'active' } }),
        );
        return { saved, created: null };
      }
      return { saved: null, created: await call(api.POST('/v1/subscriptions', { body: body() })) };
    },
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ['subscriptions'] });
      if (r.created) setCreated(r.created);
      else {
        if (r.saved) qc.setQueryData(['subscriptions', r.saved.id], r.saved);
        toast('ok', t('subs.saved'));
        onClose();
      }
    },
  });
  const toggle = (e: EventType) => setTypes((xs) => (xs.includes(e) ? xs.filter((x) => x !== e) : [...xs, e]));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (valid && !m.isPending) m.mutate();
  };
  return (
    <Dialog
      open
      onClose={onClose}
      wide
      title={created ? t('subs.created_title') : sub ? t('subs.edit_title') : t('subs.new')}
      testId="sub-dialog"
      footer={
        created ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={onClose} data-testid="sub-done">
              {t('subs.saved_secret')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={onClose}>{t('common.cancel')}</Button>
            <Button variant="primary" type="submit" form="sub-form" busy={m.isPending} disabled={!valid} data-testid="sub-submit">
              {sub ? t('subs.save') : t('subs.create_submit')}
            </Button>
          </>
        )
      }
    >
      {created ? (
        <div className="stack" data-testid="sub-created">
          <div className="notice notice-amber">
            <Icon name="alert" /> {t('subs.secret_once')}
          </div>
          <Field label={t('subs.url')}>{() => <div className="mono small">{created.subscription.url}</div>}</Field>
          <Field label={t('subs.secret')}>{() => <SecretValue value={created.secret} testId="sub-secret" />}</Field>
          <VerifyNote inDialog />
        </div>
      ) : (
        <form id="sub-form" className="form" onSubmit={submit}>
          <Field label={t('subs.url')} hint={t('subs.url_hint')} error={badUrl ? t('subs.url_bad') : undefined}>
            {(id) => (
              <input
                id={id}
                name="url"
                className="mono"
                value={url}
                onChange={(e) => setUrl(e.target.value)}
                placeholder="https://erp.example.com/cairn/webhooks"
                maxLength={2000}
                autoFocus
              />
            )}
          </Field>
          <fieldset className="scope-pick" data-testid="event-pick">
            <legend className="field-label">{t('subs.events_pick')}</legend>
            <div className="event-grid">
              {EVENT_TYPES.map((e) => (
                <label key={e} className="choice-row event-option">
                  <input type="checkbox" name="event_type" value={e} checked={types.includes(e)} onChange={() => toggle(e)} />
                  <span>
                    <span>
                      <strong>{label(t, 'event', e)}</strong> <span className="mono small muted">{e}</span>
                    </span>
                    <span className="small muted">{label(t, 'event_desc', e)}</span>
                  </span>
                </label>
              ))}
            </div>
            {touched && types.length === 0 && <div className="field-error">{t('subs.events_none')}</div>}
          </fieldset>
          <Field label={t('subs.description')} hint={t('subs.description_hint')}>
            {(id) => (
              <input id={id} name="description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={200} />
            )}
          </Field>
          {m.isError && <ErrorText error={m.error} />}
        </form>
      )}
    </Dialog>
  );
}

function DeleteDialog({ sub, onClose, onDeleted }: { sub: Sub | null; onClose: () => void; onDeleted?: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const m = useMutation({
    mutationFn: (s: Sub) => call(api.DELETE('/v1/subscriptions/{id}', { params: { path: { id: s.id } } })),
    onSuccess: (_, s) => {
      qc.removeQueries({ queryKey: ['subscriptions', s.id] });
      void qc.invalidateQueries({ queryKey: ['subscriptions'] });
      toast('ok', t('subs.deleted'));
      close();
      onDeleted?.();
    },
  });
  const close = () => {
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={sub !== null}
      onClose={close}
      title={t('subs.delete_title')}
      testId="sub-delete-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={close}>{t('common.cancel')}</Button>
          <Button variant="danger" busy={m.isPending} onClick={() => sub && m.mutate(sub)} data-testid="sub-delete-confirm">
            {t('subs.delete_confirm')}
          </Button>
        </>
      }
    >
      {sub && (
        <div className="stack">
          <p className="dialog-lead">{t('subs.delete_hint', { url: sub.url })}</p>
          {m.isError && <ErrorText error={m.error} />}
        </div>
      )}
    </Dialog>
  );
}

// ---- one subscription and its delivery log ----

export function SubscriptionScreen({ id }: { id: string }) {
  const { t, lang, tz } = useI18n();
  const [, navigate] = useLocation();
  const q = useQuery({
    queryKey: ['subscriptions', id],
    queryFn: () => call(api.GET('/v1/subscriptions/{id}', { params: { path: { id } } })),
    refetchInterval: 10_000,
  });
  const lock = useWriteLock();
  const toggle = useToggle();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const back = (
    <Link href="/settings/subscriptions" className="back-link">
      <Icon name="chevronLeft" size={14} /> {t('subs.back')}
    </Link>
  );
  if (q.isPending)
    return (
      <div className="page">
        {back}
        <LoadingBlock />
      </div>
    );
  if (q.isError)
    return (
      <div className="page">
        {back}
        <div className="panel">
          {isNotFound(q.error) ? (
            <EmptyState icon="search" title={t('subs.not_found')} hint={t('subs.not_found_hint')} />
          ) : (
            <ErrorState error={q.error} onRetry={() => void q.refetch()} />
          )}
        </div>
      </div>
    );
  const s = q.data;
  return (
    <div className="page" data-testid="subscription" data-status={s.status}>
      {back}
      <PageHeader
        title={
          <span className="sub-title">
            <span className="mono">{s.url}</span> <StatusBadge sub={s} />
          </span>
        }
        subtitle={s.description || undefined}
        actions={
          <>
            <Button disabled={lock.locked} title={lock.title} onClick={() => setEditing(true)} data-testid="sub-edit">
              {t('subs.edit')}
            </Button>
            <Button
              disabled={lock.locked}
              title={lock.title}
              busy={toggle.isPending}
              onClick={() => toggle.mutate(s)}
              data-testid="sub-toggle"
            >
              {s.status === 'active' ? t('subs.disable') : t('subs.enable')}
            </Button>
            <Button variant="danger" disabled={lock.locked} title={lock.title} onClick={() => setDeleting(true)} data-testid="sub-delete">
              {t('subs.delete')}
            </Button>
          </>
        }
      />
      <div className="stack">
        {s.status === 'disabled' && s.disabled_reason && (
          <div className="notice notice-amber" data-testid="sub-disabled-reason">
            <Icon name="alert" /> <Reason text={s.disabled_reason} />
          </div>
        )}
        {s.status === 'active' && s.failing_since && (
          <div className="notice notice-amber">
            <Icon name="alert" /> {t('subs.failing_since', { at: formatDateTime(s.failing_since, lang, tz) })}
          </div>
        )}
        <Panel>
          <Facts
            items={[
              ['subs.events', <EventChips types={s.event_types} />],
              ['subs.created_by', <CreatedBy actor={s.created_by} />],
              ['subs.created_at', formatDateTime(s.created_at, lang, tz, false)],
            ]}
          />
        </Panel>
        <DeliveryLog sub={s} />
      </div>
      <SubDialog sub={editing ? s : null} onClose={() => setEditing(false)} />
      <DeleteDialog sub={deleting ? s : null} onClose={() => setDeleting(false)} onDeleted={() => navigate('/settings/subscriptions')} />
    </div>
  );
}

const FILTERS: { key: DeliveryStatus | 'all'; label: MsgKey }[] = [
  { key: 'all', label: 'common.all' },
  { key: 'pending', label: 'delivery.pending' },
  { key: 'delivered', label: 'delivery.delivered' },
  { key: 'failed', label: 'delivery.failed' },
];

function DeliveryLog({ sub }: { sub: Sub }) {
  const { t, lang, tz } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const lock = useWriteLock();
  const [status, setStatus] = useState<DeliveryStatus | 'all'>('all');
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [replaying, setReplaying] = useState(false);
  const q = useInfiniteQuery({
    queryKey: ['subscriptions', sub.id, 'deliveries', status],
    queryFn: ({ pageParam }) =>
      call(
        api.GET('/v1/subscriptions/{id}/deliveries', {
          params: {
            path: { id: sub.id },
            query: { limit: 25, ...(status !== 'all' ? { status } : {}), ...(pageParam ? { before: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    // Deliveries go out in the background: keep the log current while it is on screen.
    refetchInterval: 3_000,
  });
  const deliveries = useMemo(() => q.data?.pages.flatMap((p) => p.deliveries) ?? [], [q.data]);
  const redeliver = useMutation({
    mutationFn: (d: Delivery) =>
      call(api.POST('/v1/subscriptions/{id}/deliveries/{delivery_id}/redeliver', { params: { path: { id: sub.id, delivery_id: d.id } } })),
    onSuccess: () => {
      toast('ok', t('delivery.redelivered'));
      void qc.invalidateQueries({ queryKey: ['subscriptions', sub.id, 'deliveries'] });
    },
    onError: (e) => toast('error', e instanceof Error ? e.message : String(e)),
  });
  const disabled = sub.status !== 'active';
  const redeliverTitle = lock.title ?? (disabled ? t('subs.redeliver_off') : undefined);
  const flip = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  return (
    <Panel
      title={t('delivery.title')}
      subtitle={t('delivery.sub')}
      className="panel-flush"
      actions={
        <>
          <div className="seg" role="group" aria-label={t('delivery.status')} data-testid="delivery-filter">
            {FILTERS.map((f) => (
              <button
                key={f.key}
                type="button"
                className={cx(status === f.key && 'is-active')}
                onClick={() => setStatus(f.key)}
                data-filter={f.key}
              >
                {t(f.label)}
              </button>
            ))}
          </div>
          <Button
            size="sm"
            icon="refresh"
            disabled={lock.locked || disabled}
            title={redeliverTitle}
            onClick={() => setReplaying(true)}
            data-testid="replay-open"
          >
            {t('delivery.replay')}
          </Button>
        </>
      }
    >
      <div className="table-wrap">
        <table className="table" data-testid="deliveries-table">
          <thead>
            <tr>
              <th className="col-expander" />
              <th>{t('delivery.event')}</th>
              <th>{t('delivery.occurred_at')}</th>
              <th>{t('delivery.status')}</th>
              <th className="num">{t('delivery.attempts')}</th>
              <th>{t('delivery.last')}</th>
              <th>{t('delivery.next')}</th>
              <th />
            </tr>
          </thead>
          <TableBody
            query={q}
            cols={8}
            rows={3}
            isEmpty={deliveries.length === 0}
            empty={
              status === 'all' ? (
                <EmptyState icon="inbox" title={t('delivery.none')} hint={t('delivery.none_hint')} />
              ) : (
                <EmptyState icon="search" title={t('delivery.none_filtered')} />
              )
            }
          >
            {deliveries.map((d) => {
              const isOpen = open.has(d.id);
              return (
                <Fragment key={d.id}>
                  <tr data-delivery={d.id} data-event-type={d.event_type} data-status={d.status} className={cx(isOpen && 'is-open')}>
                    <td className="col-expander">
                      <button
                        type="button"
                        className="icon-btn"
                        aria-expanded={isOpen}
                        aria-label={t('delivery.expand')}
                        onClick={() => flip(d.id)}
                        data-testid="delivery-expand"
                      >
                        <Icon name={isOpen ? 'chevronDown' : 'chevronRight'} size={14} />
                      </button>
                    </td>
                    <td>
                      <div className="strong">{label(t, 'event', d.event_type)}</div>
                      <div className="mono small muted">{d.event_type}</div>
                    </td>
                    <td className="nowrap">{formatDateTime(d.occurred_at, lang, tz)}</td>
                    <td className="nowrap" data-testid="delivery-status">
                      <Badge tone={DELIVERY_TONES[d.status]} dot>
                        {label(t, 'delivery', d.status)}
                      </Badge>
                      {d.delivered_at && d.status === 'delivered' && (
                        <div className="small muted">{t('delivery.delivered_at', { at: formatDateTime(d.delivered_at, lang, tz) })}</div>
                      )}
                    </td>
                    <td className="num">{d.attempts}</td>
                    <td className="max-w-240" data-testid="delivery-last">
                      <LastResult code={d.last_status_code ?? null} error={d.last_error ?? null} attempts={d.attempts} />
                    </td>
                    <td className="nowrap small">
                      {d.status !== 'pending' ? (
                        <span className="muted">—</span>
                      ) : d.next_attempt_at ? (
                        formatDateTime(d.next_attempt_at, lang, tz)
                      ) : (
                        <span className="text-amber">{t('delivery.waiting')}</span>
                      )}
                    </td>
                    <td className="num">
                      <Button
                        size="sm"
                        icon="send"
                        disabled={lock.locked || disabled}
                        title={redeliverTitle}
                        busy={redeliver.isPending && redeliver.variables?.id === d.id}
                        onClick={() => redeliver.mutate(d)}
                        data-testid="redeliver"
                      >
                        {t('delivery.redeliver')}
                      </Button>
                    </td>
                  </tr>
                  {isOpen && (
                    <tr className="attempt-row" data-attempts-of={d.id}>
                      <td />
                      <td colSpan={7}>
                        <AttemptLog d={d} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </TableBody>
        </table>
      </div>
      {q.hasNextPage && (
        <div className="panel-foot center">
          <Button size="sm" busy={q.isFetchingNextPage} onClick={() => void q.fetchNextPage()} data-testid="deliveries-older">
            {t('delivery.load_older')}
          </Button>
        </div>
      )}
      <ReplayDialog sub={sub} open={replaying} onClose={() => setReplaying(false)} />
    </Panel>
  );
}

function codeTone(code: number): Tone {
  return code >= 200 && code < 300 ? 'green' : code >= 500 || code === 429 ? 'red' : 'amber';
}

function LastResult({ code, error, attempts }: { code: number | null; error: string | null; attempts: number }) {
  const { t } = useI18n();
  if (attempts === 0 && code === null && !error) return <span className="muted small">{t('delivery.no_attempts')}</span>;
  return (
    <span className="last-result">
      {code !== null ? <Badge tone={codeTone(code)}>{code}</Badge> : !error ? <Badge tone="red">{t('delivery.no_answer')}</Badge> : null}
      {error && (
        <span className="small text-red ellipsis" title={error}>
          {error}
        </span>
      )}
    </span>
  );
}

function AttemptLog({ d }: { d: Delivery }) {
  const { t, lang, tz } = useI18n();
  return (
    <div className="attempts" data-testid="attempt-log">
      <div className="small muted mono">{t('delivery.ids', { msg: `msg_${d.id.replace(/-/g, '')}`, event: d.event_id })}</div>
      {d.attempt_log.length === 0 ? (
        <div className="small muted">{t('delivery.no_attempts')}</div>
      ) : (
        <table className="table table-mini attempt-table">
          <thead>
            <tr>
              <th className="w-at">{t('delivery.attempt_at')}</th>
              <th className="w-code">{t('delivery.status_code')}</th>
              <th>{t('delivery.error')}</th>
              <th className="num w-ms">{t('delivery.duration')}</th>
            </tr>
          </thead>
          <tbody>
            {d.attempt_log.map((a, i) => (
              <tr key={`${a.at}-${i}`} data-attempt-code={a.status_code ?? 'none'}>
                <td className="nowrap">{formatDateTime(a.at, lang, tz)}</td>
                <td>
                  {a.status_code !== null && a.status_code !== undefined ? (
                    <Badge tone={codeTone(a.status_code)}>{a.status_code}</Badge>
                  ) : (
                    <span className="muted">{t('delivery.no_answer')}</span>
                  )}
                </td>
                <td className="small">{a.error ? <span className="text-red">{a.error}</span> : <span className="muted">—</span>}</td>
                <td className="num nowrap">{a.duration_ms} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function ReplayDialog({ sub, open, onClose }: { sub: Sub; open: boolean; onClose: () => void }) {
  const { t, tz } = useI18n();
  const qc = useQueryClient();
  const fresh = () => {
    const now = Date.now();
    return { since: localInputInZone(new Date(now - 3600_000), tz), until: localInputInZone(new Date(now + 60_000), tz) };
  };
  const [range, setRange] = useState(fresh);
  const [done, setDone] = useState<number | null>(null);
  const since = instantInZone(range.since, tz);
  const until = instantInZone(range.until, tz);
  const bad = !since || !until || until <= since;
  const m = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/subscriptions/{id}/replay', {
          params: { path: { id: sub.id } },
          body: { since: since!.toISOString(), until: until!.toISOString() },
        }),
      ),
    onSuccess: (r) => {
      setDone(r.requeued);
      void qc.invalidateQueries({ queryKey: ['subscriptions', sub.id, 'deliveries'] });
    },
  });
  const close = () => {
    setDone(null);
    setRange(fresh());
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={open}
      onClose={close}
      title={t('delivery.replay_title')}
      testId="replay-dialog"
      footer={
        done !== null ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close} data-testid="replay-done">
              {t('delivery.replay_done')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button variant="primary" type="submit" form="replay-form" busy={m.isPending} disabled={bad} data-testid="replay-submit">
              {t('delivery.replay_submit')}
            </Button>
          </>
        )
      }
    >
      {done !== null ? (
        <div className="notice notice-blue" data-testid="replay-result" data-requeued={done}>
          <Icon name="check" /> {t('delivery.replayed', { n: done })}
        </div>
      ) : (
        <form
          id="replay-form"
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!bad) m.mutate();
          }}
        >
          <p className="dialog-lead">{t('delivery.replay_hint')}</p>
          <div className="form-row">
            <Field label={t('delivery.since')}>
              {(id) => (
                <input
                  id={id}
                  name="since"
                  type="datetime-local"
                  value={range.since}
                  onChange={(e) => setRange((r) => ({ ...r, since: e.target.value }))}
                />
              )}
            </Field>
            <Field label={t('delivery.until')} error={since && until && until <= since ? t('delivery.range_bad') : undefined}>
              {(id) => (
                <input
                  id={id}
                  name="until"
                  type="datetime-local"
                  value={range.until}
                  onChange={(e) => setRange((r) => ({ ...r, until: e.target.value }))}
                />
              )}
            </Field>
          </div>
          <div className="small muted">{t('delivery.tz_note', { tz })}</div>
          {m.isError && <ErrorText error={m.error} />}
        </form>
      )}
    </Dialog>
  );
}
