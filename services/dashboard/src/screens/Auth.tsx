import { useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'wouter';
import { useMutation } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { clearNotice, startSession, takeNotice } from '../auth/session';
import { setLang, useI18n } from '../i18n';
import { Button, cx, ErrorText, Field } from '../ui/components';
import { Icon } from '../ui/icons';

export function AuthFrame({
  title,
  subtitle,
  children,
  footer,
}: {
  title: string;
  subtitle: string;
  children: ReactNode;
  footer: ReactNode;
}) {
  const { t, lang } = useI18n();
  return (
    <div className="auth">
      <div className="auth-side">
        <div className="brand brand-lg">
          <span className="brand-mark" aria-hidden="true">
            <span />
            <span />
            <span />
          </span>
          <span className="brand-text">
            <strong>Cairn</strong>
            <small>{t('app.tagline')}</small>
          </span>
        </div>
        <div className="auth-hero">
          <h2>{t('auth.hero')}</h2>
          <p>{t('auth.hero_sub')}</p>
        </div>
        <ul className="auth-points">
          <li>
            <Icon name="check" /> {t('auth.point1')}
          </li>
          <li>
            <Icon name="check" /> {t('auth.point2')}
          </li>
          <li>
            <Icon name="check" /> {t('auth.point3')}
          </li>
        </ul>
      </div>
      <div className="auth-main">
        <div className="auth-lang lang-switch" role="group" aria-label={t('prefs.language')}>
          <button type="button" className={cx(lang === 'zh-CN' && 'is-active')} onClick={() => setLang('zh-CN')} data-lang="zh-CN">
            中文
          </button>
          <button type="button" className={cx(lang === 'en' && 'is-active')} onClick={() => setLang('en')} data-lang="en">
            EN
          </button>
        </div>
        <div className="auth-card">
          <h1>{title}</h1>
          <p className="auth-sub">{subtitle}</p>
          {children}
          <div className="auth-foot">{footer}</div>
        </div>
      </div>
    </div>
  );
}

export function LoginScreen({ next, onDone }: { next: string; onDone: (to: string) => void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [notice, setNotice] = useState(takeNotice);
  const login = useMutation({
    mutationFn: async () => {
      return call(api.POST('/v1/auth/token', { body: { email: email.trim(), password } }));
    },
    onSuccess: (r) => {
      clearNotice();
      startSession(r.access_token, email.trim(), { role: r.role, scope: r.scope });
      onDone(next || '/');
    },
  });
  // Logging in on the way to an app's consent page: say so, and that it comes next.
  const forConsent = next.startsWith('/oauth/authorize');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setNotice(null);
    login.mutate();
  };
  return (
    <AuthFrame
      title={t('auth.login_title')}
      subtitle={t('auth.login_sub')}
      footer={
        <>
          {t('auth.no_account')} <Link href="/signup">{t('auth.signup_link')}</Link>
        </>
      }
    >
      {forConsent && (
        <div className="notice notice-blue" role="status" data-testid="login-for-consent">
          <Icon name="key" /> {t('consent.login_first')}
        </div>
      )}
      {notice === 'expired' && (
        <div className="notice notice-amber" role="status" data-testid="session-expired">
          <Icon name="clock" /> {t('auth.expired')}
        </div>
      )}
      <form onSubmit={submit} className="form" data-testid="login-form">
        <Field label={t('auth.email')}>
          {(id) => (
            <input
              id={id}
              name="email"
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field label={t('auth.password')}>
          {(id) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {login.isError && <ErrorText error={login.error} />}
        <Button type="submit" variant="primary" busy={login.isPending} className="btn-block" data-testid="login-submit">
          {t('auth.login')}
        </Button>
      </form>
    </AuthFrame>
  );
}

export function SignupScreen({ onDone }: { onDone: (to: string) => void }) {
  const { t } = useI18n();
  const [tenant, setTenant] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const tooShort = password.length > 0 && password.length < 8;
  const signup = useMutation({
    mutationFn: async () =>
      (await call(api.POST('/v1/signup', { body: { tenant_name: tenant.trim(), email: email.trim(), password } }))).access_token,
    onSuccess: (token) => {
      startSession(token, email.trim());
      onDone('/');
    },
  });
  return (
    <AuthFrame
      title={t('auth.signup_title')}
      subtitle={t('auth.signup_sub')}
      footer={
        <>
          {t('auth.have_account')} <Link href="/login">{t('auth.login_link')}</Link>
        </>
      }
    >
      <form
        className="form"
        data-testid="signup-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!tooShort) signup.mutate();
        }}
      >
        <Field label={t('auth.tenant_name')} hint={t('auth.tenant_hint')}>
          {(id) => <input id={id} name="tenant_name" required maxLength={200} value={tenant} onChange={(e) => setTenant(e.target.value)} />}
        </Field>
        <Field label={t('auth.email')}>
          {(id) => (
            <input
              id={id}
              name="email"
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field label={t('auth.password')} hint={t('auth.password_hint')} error={tooShort ? t('auth.password_hint') : undefined}>
          {(id) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {signup.isError && <ErrorText error={signup.error} />}
        <Button type="submit" variant="primary" busy={signup.isPending} className="btn-block" data-testid="signup-submit">
          {t('auth.signup')}
        </Button>
      </form>
    </AuthFrame>
  );
}
