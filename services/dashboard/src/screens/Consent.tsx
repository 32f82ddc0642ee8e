// The OAuth 2.0 consent page (`/oauth/authorize`, the spec's authorizationUrl): an app sends
// the seller's browser here with an authorization-code request (PKCE S256). The page shows
// the app, what it asks for (and what it already has) and where the browser goes next; the
// owner approves or denies, the server records the decision and answers where to send the
// browser. A request that is not valid (unknown client, unregistered redirect URI, bad scope,
// not `response_type=code`, no PKCE challenge) is explained here and never redirected: the
// redirect URI is not trusted until the server matched it.
import { useState, type ReactNode } from 'react';
import { useSearch } from 'wouter';
import { useMutation, useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { useCan, type Scope } from '../auth/access';
import { endSession, getSession } from '../auth/session';
import { setLang, useI18n, type MsgKey } from '../i18n';
import { Badge, Button, cx, ErrorText, LoadingBlock, scopeLabel } from '../ui/components';
import { Icon } from '../ui/icons';

interface Request {
  client_id: string;
  redirect_uri: string;
  scope: string;
  state: string;
  code_challenge: string;
  code_challenge_method: string;
}

/** The request from the query, or what is wrong with it (checked before asking the server). */
function parse(search: string): { req: Request } | { problem: MsgKey; value?: string } {
  const q = new URLSearchParams(search);
  const get = (k: string) => q.get(k) ?? '';
  if (!get('client_id')) return { problem: 'consent.err_client_id' };
  if (!get('redirect_uri')) return { problem: 'consent.err_redirect_uri' };
  if (get('response_type') !== 'code') return { problem: 'consent.err_response_type', value: get('response_type') || '—' };
  if (!get('code_challenge')) return { problem: 'consent.err_challenge' };
  if (get('code_challenge_method') !== 'S256') return { problem: 'consent.err_method', value: get('code_challenge_method') || '—' };
  return {
    req: {
      client_id: get('client_id'),
      redirect_uri: get('redirect_uri'),
      scope: get('scope'),
      state: get('state'),
      code_challenge: get('code_challenge'),
      code_challenge_method: get('code_challenge_method'),
    },
  };
}

function hostOf(uri: string): string {
  try {
    return new URL(uri).host || uri;
  } catch {
    return uri;
  }
}

export default function ConsentScreen() {
  const { t } = useI18n();
  const search = useSearch();
  const parsed = parse(search);
  const canGrant = useCan('grants:write');
  let body: ReactNode;
  if ('problem' in parsed) {
    body = (
      <Invalid>
        <div className="error-text" role="alert" data-code="invalid_request">
          <Icon name="alert" size={15} />
          <div className="error-title">{t(parsed.problem, { value: parsed.value ?? '' })}</div>
        </div>
      </Invalid>
    );
  } else if (!canGrant) {
    body = <StaffCannotGrant />;
  } else {
    body = <Consent req={parsed.req} />;
  }
  return <ConsentFrame>{body}</ConsentFrame>;
}

function ConsentFrame({ children }: { children: ReactNode }) {
  const { t, lang } = useI18n();
  return (
    <div className="consent">
      <header className="consent-top">
        <span className="brand brand-dark">
          <span className="brand-mark" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          <span className="brand-text">
            <strong>Cairn</strong>
            <small>{t('consent.tagline')}</small>
          </span>
        </span>
        <div className="lang-switch" role="group" aria-label={t('prefs.language')}>
          <button type="button" className={cx(lang === 'zh-CN' && 'is-active')} onClick={() => setLang('zh-CN')} data-lang="zh-CN">
            中文
          </button>
          <button type="button" className={cx(lang === 'en' && 'is-active')} onClick={() => setLang('en')} data-lang="en">
            EN
          </button>
        </div>
      </header>
      <main className="consent-card" data-testid="consent">
        {children}
      </main>
      <SignedInAs />
    </div>
  );
}

/** Who is logged in, with a way to switch (back to the login, then here again). */
function SignedInAs() {
  const { t } = useI18n();
  const s = getSession();
  if (!s) return null;
  return (
    <div className="consent-who">
      {t('consent.signed_in_as', { email: s.email || '—' })}{' '}
      <button type="button" className="link link-btn" onClick={() => endSession('logout')} data-testid="consent-switch">
        {t('consent.switch')}
      </button>
    </div>
  );
}

function Invalid({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  return (
    <div className="consent-body" data-testid="consent-error">
      <h1 className="consent-title">{t('consent.invalid_title')}</h1>
      <p className="consent-lead">{t('consent.invalid_hint')}</p>
      {children}
    </div>
  );
}

function StaffCannotGrant() {
  const { t } = useI18n();
  return (
    <div className="consent-body" data-testid="consent-owner-only">
      <div className="consent-icon consent-icon-amber" aria-hidden="true">
        <Icon name="lock" size={22} />
      </div>
      <h1 className="consent-title">{t('consent.owner_only')}</h1>
      <p className="consent-lead">{t('consent.owner_only_hint')}</p>
    </div>
  );
}

function Consent({ req }: { req: Request }) {
  const { t } = useI18n();
  const q = useQuery({
    queryKey: ['oauth', 'consent', req.client_id, req.redirect_uri, req.scope],
    queryFn: () =>
      call(
        api.GET('/v1/oauth/consent', {
          params: { query: { client_id: req.client_id, redirect_uri: req.redirect_uri, scope: req.scope || undefined } },
        }),
      ),
    // The request is checked once; refetching on focus would only repeat the answer.
    staleTime: Infinity,
    refetchOnWindowFocus: false,
  });
  const [leaving, setLeaving] = useState<'approve' | 'deny' | null>(null);
  const decide = useMutation({
    mutationFn: (decision: 'approve' | 'deny') =>
      call(
        api.POST('/v1/oauth/authorize', {
          body: {
            client_id: req.client_id,
            redirect_uri: req.redirect_uri,
            scope: req.scope,
            state: req.state,
            code_challenge: req.code_challenge,
            code_challenge_method: req.code_challenge_method,
            decision,
          },
        }),
      ),
    onSuccess: (r, decision) => {
      setLeaving(decision);
      window.location.assign(r.redirect_to);
    },
  });

  if (q.isPending) return <LoadingBlock />;
  if (q.isError)
    return (
      <Invalid>
        <ErrorText error={q.error} />
      </Invalid>
    );
  const c = q.data;
  const granted = new Set<Scope>(c.granted);
  const kept = c.granted.filter((s) => !c.scopes.includes(s));
  const host = hostOf(c.redirect_uri);
  const busy = decide.isPending || leaving !== null;
  return (
    <div className="consent-body" data-testid="consent-request" data-app={c.app_id}>
      <div className="consent-pair" aria-hidden="true">
        <span className="consent-app">{Array.from(c.app_name.trim())[0]?.toUpperCase() ?? '?'}</span>
        <Icon name="link" size={18} className="consent-link" />
        <span className="brand-mark">
          <span />
          <span />
          <span />
        </span>
      </div>
      <h1 className="consent-title">
        {t('consent.title_pre')}
        <strong data-testid="consent-app-name">{c.app_name}</strong>
        {t('consent.title_post')}
      </h1>
      <p className="consent-lead">{granted.size ? t('consent.lead_more') : t('consent.lead')}</p>
      <ul className="consent-scopes" data-testid="consent-scopes">
        {c.scopes.map((s) => (
          <li key={s} data-scope={s} data-granted={granted.has(s) ? 'yes' : 'no'}>
            <Icon name={s.endsWith(':read') ? 'search' : 'check'} size={16} className="consent-scope-icon" />
            <div className="grow">
              <div className="row-gap">
                <strong>{scopeLabel(t, s)}</strong>
                {granted.has(s) ? (
                  <Badge tone="gray">{t('consent.already')}</Badge>
                ) : granted.size > 0 ? (
                  <Badge tone="blue">{t('consent.new')}</Badge>
                ) : null}
              </div>
              <div className="small muted">{t(`scope_desc.${s}`)}</div>
            </div>
            <code className="consent-scope-id">{s}</code>
          </li>
        ))}
      </ul>
      {kept.length > 0 && (
        <div className="small muted" data-testid="consent-kept">
          {t('consent.kept', { list: kept.map((s) => scopeLabel(t, s)).join(t('common.list_sep')) })}
        </div>
      )}
      <div className="notice notice-blue" data-testid="consent-redirect">
        <Icon name="globe" />
        <div>
          {t('consent.redirect_pre')}
          <strong data-testid="consent-redirect-host">{host}</strong>
          {t('consent.redirect_post')}
          <div className="mono small consent-uri">{c.redirect_uri}</div>
        </div>
      </div>
      <div className="small muted">{t('consent.revoke_later')}</div>
      {decide.isError && <ErrorText error={decide.error} />}
      {leaving ? (
        <div className="consent-leaving" role="status" data-testid="consent-leaving">
          <span className="spinner" aria-hidden="true" /> {t('consent.leaving', { host })}
        </div>
      ) : (
        <div className="consent-actions">
          <Button
            onClick={() => decide.mutate('deny')}
            busy={decide.isPending && decide.variables === 'deny'}
            disabled={busy}
            data-testid="consent-deny"
          >
            {t('consent.deny')}
          </Button>
          <Button
            variant="primary"
            icon="check"
            onClick={() => decide.mutate('approve')}
            busy={decide.isPending && decide.variables === 'approve'}
            disabled={busy}
            data-testid="consent-approve"
          >
            {t('consent.approve')}
          </Button>
        </div>
      )}
    </div>
  );
}
