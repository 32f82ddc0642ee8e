// 操作日志 Audit log (`/settings/audit`): the tenant's API audit log (`GET /v1/audit-log`),
// newest first — every mutating call of a user or an app, refusals included — filtered by
// outcome and by actor (chosen from the actors seen so far and the tenant's users), paged with
// `next_cursor` ("load older").
import { useEffect, useMemo, useState } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { components } from '../api/schema';
import { useCan } from '../auth/access';
import { formatDateTime } from '../format';
import { useI18n, type MsgKey } from '../i18n';
import { Badge, Button, cx, EmptyState, PageHeader, Panel, scopeLabel, TableBody, type Tone } from '../ui/components';
import { useUsers } from './Users';

type Entry = components['schemas']['AuditEntryDto'];
type Outcome = components['schemas']['Outcome'];
type ActorKind = components['schemas']['ActorKind'];

/** An actor as the API filters by it: `user:<id>` or `app:<client_id>`. */
type Actor = { key: string; kind: ActorKind; name: string | null };

const OUTCOMES: { key: Outcome | 'all'; label: MsgKey }[] = [
  { key: 'all', label: 'audit.outcome_all' },
  { key: 'succeeded', label: 'audit.succeeded' },
  { key: 'failed', label: 'audit.failed' },
];

const METHOD_TONES: Record<string, Tone> = { POST: 'blue', PUT: 'teal', PATCH: 'teal', DELETE: 'red' };

export function statusTone(status: number): Tone {
  return status < 400 ? 'green' : status === 429 ? 'amber' : 'red';
}

export function ActorTag({ kind }: { kind: ActorKind }) {
  const { t } = useI18n();
  return <Badge tone={kind === 'app' ? 'purple' : 'gray'}>{kind === 'app' ? t('audit.app') : t('audit.user')}</Badge>;
}

export default function AuditScreen() {
  const { t } = useI18n();
  const can = useCan('audit:read');
  return (
    <div className="page" data-testid="audit">
      <PageHeader title={t('audit.title')} subtitle={t('audit.subtitle')} />
      {can ? (
        <AuditLog />
      ) : (
        <div className="panel">
          <EmptyState icon="lock" title={t('audit.no_access', { perm: scopeLabel(t, 'audit:read') })} />
        </div>
      )}
    </div>
  );
}

function AuditLog() {
  const { t, lang, tz } = useI18n();
  const [outcome, setOutcome] = useState<Outcome | 'all'>('all');
  const [actor, setActor] = useState('');
  const users = useUsers(useCan('users:read'));
  const q = useInfiniteQuery({
    queryKey: ['audit-log', outcome, actor],
    queryFn: ({ pageParam }) =>
      call(
        api.GET('/v1/audit-log', {
          params: {
            query: {
              limit: 50,
              ...(outcome !== 'all' ? { outcome } : {}),
              ...(actor ? { actor } : {}),
              ...(pageParam ? { before: pageParam } : {}),
            },
          },
        }),
      ),
    initialPageParam: '' as string,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchOnMount: 'always',
  });
  const entries = useMemo(() => q.data?.pages.flatMap((p) => p.entries) ?? [], [q.data]);

  // The actors to filter by: the tenant's users, and everyone seen in the log so far (apps
  // included), kept when a filter hides them.
  const [seen, setSeen] = useState<Map<string, Actor>>(new Map());
  useEffect(() => {
    const fresh: Actor[] = [];
    for (const u of users.data?.users ?? []) fresh.push({ key: `user:${u.id}`, kind: 'user', name: u.email });
    for (const e of entries) fresh.push({ key: `${e.actor_kind}:${e.actor_id}`, kind: e.actor_kind, name: e.actor_name ?? null });
    setSeen((m) => {
      if (fresh.every((a) => m.get(a.key)?.name === a.name || (m.has(a.key) && !a.name))) return m;
      const n = new Map(m);
      for (const a of fresh) if (!n.has(a.key) || a.name) n.set(a.key, a);
      return n;
    });
  }, [entries, users.data]);
  const actors = [...seen.values()].sort((a, b) => a.kind.localeCompare(b.kind) || (a.name ?? '').localeCompare(b.name ?? ''));
  const filtered = outcome !== 'all' || actor !== '';

  return (
    <Panel className="panel-flush">
      <div className="audit-toolbar">
        <div className="seg" role="group" aria-label={t('audit.outcome')} data-testid="audit-outcome">
          {OUTCOMES.map((o) => (
            <button
              key={o.key}
              type="button"
              className={cx(outcome === o.key && 'is-active')}
              onClick={() => setOutcome(o.key)}
              data-outcome={o.key}
            >
              {t(o.label)}
            </button>
          ))}
        </div>
        <label className="select-inline">
          {t('audit.actor')}
          <select name="actor" value={actor} onChange={(e) => setActor(e.target.value)} data-testid="audit-actor">
            <option value="">{t('audit.actor_all')}</option>
            {actors.map((a) => (
              <option key={a.key} value={a.key}>
                {`${a.kind === 'app' ? t('audit.app') : t('audit.user')} · ${a.name ?? a.key.slice(a.kind.length + 1, a.kind.length + 9)}`}
              </option>
            ))}
          </select>
        </label>
        <span className="grow" />
        {q.data && <span className="small muted">{t('audit.count', { n: entries.length })}</span>}
        <Button
          size="sm"
          icon="refresh"
          busy={q.isFetching && !q.isFetchingNextPage && !q.isPending}
          onClick={() => void q.refetch()}
          data-testid="audit-refresh"
        >
          {t('audit.refresh')}
        </Button>
      </div>
      <div className="table-wrap">
        <table className="table" data-testid="audit-table">
          <thead>
            <tr>
              <th>{t('audit.when')}</th>
              <th>{t('audit.who')}</th>
              <th>{t('audit.operation')}</th>
              <th>{t('audit.status')}</th>
              <th>{t('audit.idempotency_key')}</th>
            </tr>
          </thead>
          <TableBody
            query={q}
            cols={5}
            rows={6}
            isEmpty={entries.length === 0}
            empty={
              filtered ? (
                <EmptyState icon="search" title={t('audit.none_filtered')} />
              ) : (
                <EmptyState icon="audit" title={t('audit.none')} hint={t('audit.none_hint')} />
              )
            }
          >
            {entries.map((e) => (
              <AuditRow key={e.id} e={e} lang={lang} tz={tz} />
            ))}
          </TableBody>
        </table>
      </div>
      {q.hasNextPage && (
        <div className="panel-foot center">
          <Button size="sm" busy={q.isFetchingNextPage} onClick={() => void q.fetchNextPage()} data-testid="audit-older">
            {t('audit.load_older')}
          </Button>
        </div>
      )}
    </Panel>
  );
}

function AuditRow({ e, lang, tz }: { e: Entry; lang: ReturnType<typeof useI18n>['lang']; tz: string }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const ok = e.status < 400;
  return (
    <tr
      data-entry={e.id}
      data-route={e.route}
      data-method={e.method}
      data-status={e.status}
      data-actor-kind={e.actor_kind}
      data-actor={e.actor_name ?? ''}
    >
      <td className="nowrap">{formatDateTime(e.at, lang, tz)}</td>
      <td className="audit-who">
        <span className="actor">
          <ActorTag kind={e.actor_kind} />
          {e.actor_name ? (
            <span className="actor-name">{e.actor_name}</span>
          ) : (
            <span className="mono muted" title={e.actor_id}>
              {e.actor_id.slice(0, 8)} · {t('audit.deleted_actor')}
            </span>
          )}
        </span>
      </td>
      <td className="audit-op">
        <button
          type="button"
          className="audit-route"
          title={`${e.method} ${e.path}`}
          onClick={() => setOpen((o) => !o)}
          aria-expanded={open}
        >
          <Badge tone={METHOD_TONES[e.method] ?? 'neutral'}>{e.method}</Badge>
          <span className="mono">{e.route}</span>
        </button>
        {open && (
          <div className="small muted mono audit-path" data-testid="audit-path">
            {t('audit.path')}: {e.path}
          </div>
        )}
      </td>
      <td className="nowrap" data-testid="audit-status">
        <Badge tone={statusTone(e.status)} dot>
          {e.status} {ok ? t('audit.succeeded') : t('audit.failed')}
        </Badge>
      </td>
      <td className="max-w-200">
        {e.idempotency_key ? (
          <span className="mono small ellipsis audit-key" title={e.idempotency_key}>
            {e.idempotency_key}
          </span>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
}
