// 成员与角色 Users (`/settings/users`): the tenant's users and pending invitations
// (`GET /v1/users`); the owner invites someone with a role (`POST /v1/users`) and passes on
// the invitation link, shown once. Staff see the list but cannot invite.
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { components } from '../api/schema';
import { getSession } from '../auth/session';
import { formatDateTime } from '../format';
import { useI18n } from '../i18n';
import {
  Badge,
  Button,
  Dialog,
  EmptyState,
  ErrorText,
  Field,
  OwnerOnly,
  PageHeader,
  Panel,
  SecretValue,
  TableBody,
  useLock,
  type Tone,
} from '../ui/components';
import { Icon } from '../ui/icons';

type Role = components['schemas']['UserRole'];
type Invitation = components['schemas']['Invitation'];

export const ROLE_TONES: Record<Role, Tone> = { owner: 'purple', staff: 'blue' };

/** The tenant's users and invitations; the Apps & access screen names grantors from it. */
export function useUsers(enabled = true) {
  return useQuery({ queryKey: ['users'], queryFn: () => call(api.GET('/v1/users')), enabled });
}

export function RoleBadge({ role }: { role: Role }) {
  const { t } = useI18n();
  return <Badge tone={ROLE_TONES[role]}>{t(`role.${role}`)}</Badge>;
}

export default function UsersScreen() {
  const { t, lang, tz } = useI18n();
  const q = useUsers();
  const lock = useLock('users:write');
  const [inviting, setInviting] = useState(false);
  const me = getSession()?.userId;
  const users = q.data?.users ?? [];
  const invites = q.data?.invites ?? [];
  return (
    <div className="page" data-testid="users">
      <PageHeader
        title={t('users.title')}
        subtitle={t('users.subtitle')}
        actions={
          <Button
            variant="primary"
            icon="plus"
            disabled={lock.locked}
            title={lock.title}
            onClick={() => setInviting(true)}
            data-testid="invite-open"
          >
            {t('users.invite')}
          </Button>
        }
      />
      <div className="stack">
        <OwnerOnly scope="users:write" text={t('users.owner_only')} />
        <div className="grid-2-1">
          <div className="stack">
            <Panel title={t('users.members')} className="panel-flush">
              <div className="table-wrap">
                <table className="table" data-testid="users-table">
                  <thead>
                    <tr>
                      <th>{t('auth.email')}</th>
                      <th>{t('users.role')}</th>
                      <th>{t('users.joined')}</th>
                    </tr>
                  </thead>
                  <TableBody
                    query={q}
                    cols={3}
                    rows={3}
                    isEmpty={users.length === 0}
                    empty={<EmptyState icon="users" title={t('users.none')} />}
                  >
                    {users.map((u) => (
                      <tr key={u.id} data-user={u.email} data-role={u.role}>
                        <td>
                          <span className="strong">{u.email}</span>
                          {u.id === me && <span className="muted small"> · {t('users.you')}</span>}
                        </td>
                        <td>
                          <RoleBadge role={u.role} />
                        </td>
                        <td className="nowrap">{formatDateTime(u.created_at, lang, tz, false)}</td>
                      </tr>
                    ))}
                  </TableBody>
                </table>
              </div>
            </Panel>
            <Panel title={t('users.pending')} subtitle={t('users.pending_sub')} className="panel-flush">
              <div className="table-wrap">
                <table className="table" data-testid="invites-table">
                  <thead>
                    <tr>
                      <th>{t('auth.email')}</th>
                      <th>{t('users.role')}</th>
                      <th>{t('users.invited_at')}</th>
                      <th>{t('users.expires_at')}</th>
                    </tr>
                  </thead>
                  <TableBody
                    query={q}
                    cols={4}
                    rows={2}
                    isEmpty={invites.length === 0}
                    empty={<EmptyState icon="inbox" title={t('users.no_pending')} />}
                  >
                    {invites.map((i) => (
                      <tr key={i.id} data-invite={i.email}>
                        <td className="strong">{i.email}</td>
                        <td>
                          <RoleBadge role={i.role} />
                        </td>
                        <td className="nowrap">{formatDateTime(i.created_at, lang, tz, false)}</td>
                        <td className="nowrap">{formatDateTime(i.expires_at, lang, tz, false)}</td>
                      </tr>
                    ))}
                  </TableBody>
                </table>
              </div>
            </Panel>
          </div>
          <Panel title={t('users.roles')}>
            <dl className="roles">
              <div>
                <dt>
                  <RoleBadge role="owner" />
                </dt>
                <dd>{t('users.owner_can')}</dd>
              </div>
              <div>
                <dt>
                  <RoleBadge role="staff" />
                </dt>
                <dd>{t('users.staff_can')}</dd>
              </div>
            </dl>
          </Panel>
        </div>
      </div>
      <InviteDialog open={inviting} onClose={() => setInviting(false)} />
    </div>
  );
}

function InviteDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t, lang, tz } = useI18n();
  const qc = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('staff');
  const [done, setDone] = useState<Invitation | null>(null);
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/users', { body: { email: email.trim(), role } })),
    onSuccess: (r) => {
      setDone(r);
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const close = () => {
    setEmail('');
    setRole('staff');
    setDone(null);
    m.reset();
    onClose();
  };
  return (
    <Dialog
      open={open}
      onClose={close}
      title={done ? t('users.invited_title', { email: done.invite.email }) : t('users.invite')}
      testId="invite-dialog"
      footer={
        done ? (
          <>
            <span className="grow" />
            <Button variant="primary" onClick={close} data-testid="invite-done">
              {t('users.sent_it')}
            </Button>
          </>
        ) : (
          <>
            <span className="grow" />
            <Button onClick={close}>{t('common.cancel')}</Button>
            <Button
              variant="primary"
              busy={m.isPending}
              disabled={!email.trim()}
              type="submit"
              form="invite-form"
              data-testid="invite-submit"
            >
              {t('users.invite_submit')}
            </Button>
          </>
        )
      }
    >
      {done ? (
        <div className="stack" data-testid="invite-result">
          <div className="notice notice-amber">
            <Icon name="alert" /> {t('users.link_once')}
          </div>
          <Field label={t('users.link')} hint={t('users.link_hint', { days: 7 })}>
            {() => <SecretValue value={done.accept_url} testId="invite-link" />}
          </Field>
          <div className="small muted">
            {t('users.link_role', { role: t(`role.${done.invite.role}`), at: formatDateTime(done.invite.expires_at, lang, tz, false) })}
          </div>
        </div>
      ) : (
        <form
          id="invite-form"
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (email.trim()) m.mutate();
          }}
        >
          <Field label={t('auth.email')} hint={t('users.email_hint')}>
            {(id) => (
              <input
                id={id}
                name="email"
                type="email"
                required
                autoFocus
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                maxLength={254}
              />
            )}
          </Field>
          <fieldset className="role-pick">
            <legend className="field-label">{t('users.role')}</legend>
            {(['staff', 'owner'] as const).map((r) => (
              <label key={r} className="choice-row">
                <input type="radio" name="role" value={r} checked={role === r} onChange={() => setRole(r)} />
                <span>
                  <strong>{t(`role.${r}`)}</strong>
                  <span className="small muted">{t(r === 'owner' ? 'users.owner_can' : 'users.staff_can')}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {m.isError && <ErrorText error={m.error} />}
        </form>
      )}
    </Dialog>
  );
}
