// Accepting an invitation (`/invite#token=…`, the link the owner passed on): the invited
// person sets a password, `POST /v1/invites/accept` creates the user, and its answer's token
// logs them in. The token travels in the fragment, so it never reaches a server log.
import { useState, useSyncExternalStore } from 'react';
import { Link, useLocation } from 'wouter';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { ApiError } from '../api/problem';
import { getSession, startSession } from '../auth/session';
import { useI18n } from '../i18n';
import { Button, ErrorText, Field } from '../ui/components';
import { Icon } from '../ui/icons';
import { AuthFrame } from './Auth';

function tokenFromHash(): string {
  return new URLSearchParams(window.location.hash.replace(/^#/, '')).get('token')?.trim() ?? '';
}

/** The token in the fragment, following it when only the fragment changes (a link pasted in). */
function useHashToken(): string {
  return useSyncExternalStore((on) => {
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, tokenFromHash);
}

export default function InviteScreen() {
  const { t } = useI18n();
  const [, navigate] = useLocation();
  const qc = useQueryClient();
  const token = useHashToken();
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [touched, setTouched] = useState(false);
  const current = getSession();
  const tooShort = password.length > 0 && password.length < 8;
  const mismatch = again.length > 0 && again !== password;
  const accept = useMutation({
    mutationFn: async () => {
      const joined = await call(api.POST('/v1/invites/accept', { body: { token, password } }));
      // The answer has no email; the new user may list the tenant's users, which has it.
      const users = await call(api.GET('/v1/users', { headers: { Authorization: `Bearer ${joined.access_token}` } })).catch(() => null);
      const email = users?.users.find((u) => u.id === joined.user_id)?.email ?? '';
      return { joined, email };
    },
    onSuccess: ({ joined, email }) => {
      // Someone else may have been logged in here: nothing of theirs stays in the cache.
      qc.clear();
      startSession(joined.access_token, email);
      navigate('/', { replace: true });
    },
  });
  const invalid = accept.error instanceof ApiError && accept.error.status === 404;
  return (
    <AuthFrame
      title={t('invite.title')}
      subtitle={t('invite.sub')}
      footer={
        <>
          {t('auth.have_account')} <Link href="/login">{t('auth.login_link')}</Link>
        </>
      }
    >
      {!token ? (
        <div className="error-text" role="alert" data-testid="invite-no-token">
          <Icon name="alert" size={15} />
          <div>
            <div className="error-title">{t('invite.no_token')}</div>
            <div className="error-detail">{t('invite.no_token_hint')}</div>
          </div>
        </div>
      ) : (
        <form
          className="form"
          data-testid="invite-form"
          onSubmit={(e) => {
            e.preventDefault();
            setTouched(true);
            if (password.length >= 8 && again === password) accept.mutate();
          }}
        >
          {current && (
            <div className="notice notice-amber" role="note">
              <Icon name="alert" /> {t('invite.logged_in', { email: current.email })}
            </div>
          )}
          <Field
            label={t('invite.password')}
            hint={t('auth.password_hint')}
            error={tooShort && touched ? t('auth.password_hint') : undefined}
          >
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
          <Field label={t('invite.password_again')} error={mismatch && touched ? t('invite.mismatch') : undefined}>
            {(id) => (
              <input
                id={id}
                name="password_again"
                type="password"
                autoComplete="new-password"
                required
                value={again}
                onChange={(e) => setAgain(e.target.value)}
              />
            )}
          </Field>
          {invalid ? (
            <div className="error-text" role="alert" data-testid="invite-invalid" data-code="not_found">
              <Icon name="alert" size={15} />
              <div>
                <div className="error-title">{t('invite.invalid')}</div>
                <div className="error-detail">{t('invite.invalid_hint')}</div>
              </div>
            </div>
          ) : (
            accept.isError && <ErrorText error={accept.error} />
          )}
          <Button type="submit" variant="primary" busy={accept.isPending} className="btn-block" data-testid="invite-submit">
            {t('invite.submit')}
          </Button>
        </form>
      )}
    </AuthFrame>
  );
}
