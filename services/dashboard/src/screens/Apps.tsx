// 应用与授权 Apps & access (`/settings/apps`), owner only:
// - the apps this tenant granted access (`GET /v1/grants`), active or revoked, each revocable
//   (`DELETE /v1/grants/{id}`: the app's tokens stop at once);
// - for developers, the apps this tenant registered as an ISV (`GET /v1/apps`), a form to
//   register one (`POST /v1/apps`; the secret is shown once) and secret rotation
//   (`POST /v1/apps/{id}/secret`).
import { useMemo, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { components } from '../api/schema';
import { GRANTABLE, useCan, type Scope } from '../auth/access';
import { formatDateTime } from '../format';
import { useI18n } from '../i18n';
import {
  Badge,
  Button,
  Dialog,
  EmptyState,
  ErrorText,
  Facts,
  Field,
  PageHeader,
  Panel,
  scopeLabel,
  SecretValue,
  TableBody,
  useToast,
} from '../ui/components';
import { Icon } from '../ui/icons';
import { useUsers } from './Users';

type Grant = components['schemas']['GrantDto'];
type App = components['schemas']['AppDto'];
type AppWithSecret = components['schemas']['AppWithSecret'];

export default function AppsScreen() {
  const { t } = useI18n();
  const canGrants = useCan('grants:read');
  const canApps = useCan('apps:read');
  return (
    <div className="page" data-testid="apps">
      <PageHeader title={t('apps.title')} subtitle={t('apps.subtitle')} />
      {!canGrants && !canApps ? (
        <div className="panel" data-testid="apps-owner-only">
          <EmptyState icon="lock" title={t('apps.owner_only')} hint={t('apps.owner_only_hint')} />
        </div>
      ) : (
        <div className="stack">
          {canGrants && <Grants />}
          {canApps && <MyApps />}
        </div>
      )}
    </div>
  );
}

function Scopes({ scopes }: { scopes: readonly Scope[] }) {
  const { t } = useI18n();
  return (
    <span className="scope-chips">
      {scopes.map((s) => (
        <span key={s} className="scope-chip" title={s} data-scope={s}>
          {scopeLabel(t, s)}
        </span>
      ))}
    </span>
  );
}

function Grants() {
  const { t, lang, tz } = useI18n();
  const q = useQuery({ queryKey: ['grants'], queryFn: () => call(api.GET('/v1/grants')) });
  const users = useUsers(useCan('users:read'));
  const emails = useMemo(() => new Map((users.data?.users ?? []).map((u) => [u.id, u.email])), [users.data]);
  const [revoking, setRevoking] = useState<Grant | null>(null);
  const grants = q.data?.grants ?? [];
  const active = grants.filter((g) => !g.revoked_at).length;
  return (
    <Panel
      title={t('apps.grants')}
      subtitle={q.data ? t('apps.grants_sub', { active, total: grants.length }) : t('apps.grants_hint')}
      className="panel-flush"
    >
      <div className="table-wrap">
        <table className="table" data-testid="grants-table">
          <thead>
            <tr>
              <th>{t('apps.app')}</th>
              <th>{t('apps.scopes')}</th>
              <th>{t('apps.granted_by')}</th>
              <th>{t('apps.granted_at')}</th>
              <th>{t('apps.status')}</th>
              <th />
            </tr>
          </thead>
          <TableBody
            query={q}
            cols={6}
            rows={2}
            isEmpty={grants.length === 0}
            empty={<EmptyState icon="apps" title={t('apps.no_grants')} hint={t('apps.no_grants_hint')} />}
          >
            {grants.map((g) => (
              <tr key={g.id} data-grant={g.id} data-app={g.app_id} data-state={g.revoked_at ? 'revoked' : 'active'}>
                <td>
                  <div className="strong">{g.app_name || '—'}</div>
                  <div className="mono small muted" title={g.app_id}>
                    {g.app_id}
                  </div>
                </td>
                <td className="max-w-240">
                  <Scopes scopes={g.scopes} />
                </td>
                <td className="small">{emails.get(g.granted_by) ?? <span className="mono muted">{g.granted_by.slice(0, 8)}</span>}</td>
                <td className="nowrap small">
                  {formatDateTime(g.created_at, lang, tz, false)}
                  {g.updated_at !== g.created_at && (
                    <div className="muted">{t('apps.widened_at', { at: formatDateTime(g.updated_at, lang, tz, false) })}</div>
                  )}
                </td>
                <td className="nowrap" data-testid="grant-status">
                  {g.revoked_at ? (
                    <Badge tone="gray" title={formatDateTime(g.revoked_at, lang, tz)}>
                      {t('apps.revoked_at', { at: formatDateTime(g.revoked_at, lang, tz, false) })}
                    </Badge>
                  ) : (
                    <Badge tone="green" dot>
                      {t('apps.active')}
                    </Badge>
                  )}
                </td>
                <td className="num">
                  {!g.revoked_at && (
                    <Button size="sm" variant="danger" onClick={() => setRevoking(g)} data-testid="grant-revoke">
                      {t('apps.revoke')}
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </TableBody>
        </table>
      </div>
      <RevokeDialog grant={revoking} onClose={() => setRevoking(null)} />
    </Panel>
  );
}

function RevokeDialog({ grant, onClose }: { grant: Grant | null; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const m = useMutation({
    mutationFn: (g: Grant) => call(api.DELETE('/v1/grants/{id}', { params: { path: { id: g.id } } })),
    onSuccess: (_, g) => {
      void qc.invalidateQueries({ queryKey: ['grants'] });
      toast('ok', t('apps.revoked_toast', { app: g.app_name }));
      close();
    },
  });
  const close = () => {
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={grant !== null}
      onClose={close}
      title={t('apps.revoke_title', { app: grant?.app_name ?? '' })}
      testId="revoke-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={close}>{t('common.cancel')}</Button>
          <Button variant="danger" busy={m.isPending} onClick={() => grant && m.mutate(grant)} data-testid="revoke-confirm">
            {t('apps.revoke_confirm')}
          </Button>
        </>
      }
    >
      {grant && (
        <div className="stack">
          <p className="dialog-lead">{t('apps.revoke_hint')}</p>
          <div>
            <div className="small muted">{t('apps.scopes')}</div>
            <Scopes scopes={grant.scopes} />
          </div>
          {m.isError && <ErrorText error={m.error} />}
        </div>
      )}
    </Dialog>
  );
}

function MyApps() {
  const { t, lang, tz } = useI18n();
  const q = useQuery({ queryKey: ['apps'], queryFn: () => call(api.GET('/v1/apps')) });
  const canWrite = useCan('apps:write');
  const [registering, setRegistering] = useState(false);
  const [rotating, setRotating] = useState<App | null>(null);
  const apps = q.data?.apps ?? [];
  const origin = window.location.origin;
  return (
    <Panel
      title={t('apps.mine')}
      subtitle={t('apps.mine_sub')}
      className="panel-flush"
      actions={
        canWrite && (
          <Button size="sm" variant="primary" icon="plus" onClick={() => setRegistering(true)} data-testid="app-register">
            {t('apps.register')}
          </Button>
        )
      }
    >
      <div className="table-wrap">
        <table className="table" data-testid="apps-table">
          <thead>
            <tr>
              <th>{t('apps.name')}</th>
              <th>client_id</th>
              <th>{t('apps.redirect_uris')}</th>
              <th>{t('apps.scopes')}</th>
              <th className="num">{t('apps.rate_limit')}</th>
              <th>{t('apps.created_at')}</th>
              <th />
            </tr>
          </thead>
          <TableBody
            query={q}
            cols={7}
            rows={2}
            isEmpty={apps.length === 0}
            empty={<EmptyState icon="apps" title={t('apps.none')} hint={t('apps.none_hint')} />}
          >
            {apps.map((a) => (
              <tr key={a.id} data-app={a.id}>
                <td className="strong">{a.name}</td>
                <td className="min-w-client">
                  <SecretValue value={a.id} />
                </td>
                <td className="max-w-240">
                  {a.redirect_uris.map((u) => (
                    <div key={u} className="mono small ellipsis" title={u}>
                      {u}
                    </div>
                  ))}
                </td>
                <td className="max-w-240">
                  <Scopes scopes={a.scopes} />
                </td>
                <td className="num nowrap">
                  {a.rate_limit_per_minute ? (
                    t('apps.per_minute', { n: a.rate_limit_per_minute })
                  ) : (
                    <span className="muted">{t('apps.default_limit')}</span>
                  )}
                </td>
                <td className="nowrap small">{formatDateTime(a.created_at, lang, tz, false)}</td>
                <td className="num">
                  {canWrite && (
                    <Button size="sm" icon="key" onClick={() => setRotating(a)} data-testid="app-rotate">
                      {t('apps.rotate')}
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </TableBody>
        </table>
      </div>
      <div className="panel-section dev-facts">
        <Facts
          items={[
            ['apps.authorize_url', <span className="mono small">{`${origin}/oauth/authorize`}</span>],
            ['apps.token_url', <span className="mono small">{`${origin}/v1/oauth/token`}</span>],
            ['apps.flow', <span className="small">{t('apps.flow_value')}</span>],
          ]}
        />
      </div>
      <RegisterDialog open={registering} onClose={() => setRegistering(false)} />
      <RotateDialog app={rotating} onClose={() => setRotating(null)} />
    </Panel>
  );
}

/** Why the server would refuse a redirect URI (the spec's rule), or null. */
function redirectProblem(uri: string): 'apps.uri_bad' | 'apps.uri_http' | 'apps.uri_fragment' | null {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'apps.uri_bad';
  }
  if (uri.includes('#')) return 'apps.uri_fragment';
  if (u.protocol === 'https:' && u.hostname) return null;
  if (u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return null;
  return u.protocol === 'http:' ? 'apps.uri_http' : 'apps.uri_bad';
}

function RegisterDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [uris, setUris] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['orders:read']);
  const [limit, setLimit] = useState('');
  const [created, setCreated] = useState<AppWithSecret | null>(null);
  const lines = uris
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const uriProblems = lines.map((l) => [l, redirectProblem(l)] as const).filter(([, p]) => p !== null);
  const limitN = limit === '' ? null : Number(limit);
  const limitBad = limitN !== null && (!Number.isInteger(limitN) || limitN < 1 || limitN > 100_000);
  const valid = name.trim() && lines.length > 0 && lines.length <= 10 && uriProblems.length === 0 && scopes.length > 0 && !limitBad;
  const m = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/apps', {
          body: {
            name: name.trim(),
            redirect_uris: lines,
            // In the server's order, so the list reads the same everywhere.
            scopes: GRANTABLE.filter((s) => scopes.includes(s)),
            rate_limit_per_minute: limitN,
          },
        }),
      ),
    onSuccess: (r) => {
      setCreated(r);
      void qc.invalidateQueries({ queryKey: ['apps'] });
    },
  });
  const close = () => {
    setName('');
    setUris('');
    setScopes(['orders:read']);
    setLimit('');
    setCreated(null);
    m.reset();
    onClose();
  };
  const toggle = (s: Scope) => setScopes((xs) => (xs.includes(s) ? xs.filter((x) => x !== s) : [...xs, s]));
  return (
    <Dialog
      open={open}
      onClose={close}
      wide
      title={created ? t('apps.registered_title', { name: created.app.name }) : t('apps.register')}
      testId="register-dialog"
      footer={
        created ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close} data-testid="register-done">
              {t('apps.saved_secret')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button variant="primary" type="submit" form="register-form" busy={m.isPending} disabled={!valid} data-testid="register-submit">
              {t('apps.register_submit')}
            </Button>
          </>
        )
      }
    >
      {created ? (
        <SecretShown app={created} />
      ) : (
        <form
          id="register-form"
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (valid) m.mutate();
          }}
        >
          <Field label={t('apps.name')} hint={t('apps.name_hint')}>
            {(id) => <input id={id} name="name" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} autoFocus />}
          </Field>
          <Field
            label={t('apps.redirect_uris')}
            hint={t('apps.redirect_hint')}
            error={
              uriProblems.length
                ? uriProblems.map(([l, p]) => `${l}: ${t(p!)}`).join('；')
                : lines.length > 10
                  ? t('apps.uri_many')
                  : undefined
            }
          >
            {(id) => (
              <textarea
                id={id}
                name="redirect_uris"
                rows={3}
                className="mono"
                placeholder="https://isv.example.com/oauth/callback"
                value={uris}
                onChange={(e) => setUris(e.target.value)}
              />
            )}
          </Field>
          <fieldset className="scope-pick" data-testid="scope-pick">
            <legend className="field-label">{t('apps.scopes_max')}</legend>
            <div className="scope-grid">
              {GRANTABLE.map((s) => (
                <label key={s} className="check scope-option">
                  <input type="checkbox" name="scope" value={s} checked={scopes.includes(s)} onChange={() => toggle(s)} />
                  <span>
                    {scopeLabel(t, s)} <span className="mono small muted">{s}</span>
                  </span>
                </label>
              ))}
            </div>
            <div className="field-hint">{t('apps.scopes_hint')}</div>
          </fieldset>
          <Field label={t('apps.rate_limit')} hint={t('apps.rate_limit_hint')} error={limitBad ? t('apps.rate_limit_bad') : undefined}>
            {(id) => (
              <div className="input-with-unit">
                <input
                  id={id}
                  name="rate_limit_per_minute"
                  inputMode="numeric"
                  className="input-num"
                  value={limit}
                  placeholder={t('apps.default_limit')}
                  onChange={(e) => setLimit(e.target.value.replace(/\D/g, ''))}
                />
                <span className="muted">{t('apps.per_minute_unit')}</span>
              </div>
            )}
          </Field>
          {m.isError && <ErrorText error={m.error} />}
        </form>
      )}
    </Dialog>
  );
}

/** The client id and the secret, which this answer is the only one to carry. */
function SecretShown({ app, rotated }: { app: AppWithSecret; rotated?: boolean }) {
  const { t } = useI18n();
  return (
    <div className="stack" data-testid="app-credentials">
      <div className="notice notice-amber">
        <Icon name="alert" /> {rotated ? t('apps.rotated_once') : t('apps.secret_once')}
      </div>
      <Field label="client_id">{() => <SecretValue value={app.app.id} testId="app-client-id" />}</Field>
      <Field label="client_secret" hint={t('apps.secret_hint')}>
        {() => <SecretValue value={app.client_secret} testId="app-secret" />}
      </Field>
    </div>
  );
}

function RotateDialog({ app, onClose }: { app: App | null; onClose: () => void }) {
  const { t } = useI18n();
  const [rotated, setRotated] = useState<AppWithSecret | null>(null);
  const m = useMutation({
    mutationFn: (a: App) => call(api.POST('/v1/apps/{id}/secret', { params: { path: { id: a.id } } })),
    onSuccess: setRotated,
  });
  const close = () => {
    setRotated(null);
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={app !== null}
      onClose={close}
      title={t('apps.rotate_title', { name: app?.name ?? '' })}
      testId="rotate-dialog"
      footer={
        rotated ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close} data-testid="rotate-done">
              {t('apps.saved_secret')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button variant="danger" busy={m.isPending} onClick={() => app && m.mutate(app)} data-testid="rotate-confirm">
              {t('apps.rotate_confirm')}
            </Button>
          </>
        )
      }
    >
      {rotated ? (
        <SecretShown app={rotated} rotated />
      ) : (
        <div className="stack">
          <p className="dialog-lead">{t('apps.rotate_hint')}</p>
          {m.isError && <ErrorText error={m.error} />}
        </div>
      )}
    </Dialog>
  );
}
