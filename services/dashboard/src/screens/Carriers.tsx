// 快递账号与规则: the carrier accounts (connected through Courier), and the shipping rules —
// merge wait, unit weight, default account and the ordered carrier rules.
import { useEffect, useState, type ReactNode } from 'react';
import { Link } from 'wouter';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { useChannels, useWarehouses, type Channel, type Warehouse } from '../data';
import { formatDateTime, formatInt } from '../format';
import { useI18n, type MsgKey } from '../i18n';
import {
  Badge,
  Button,
  cx,
  Dialog,
  EmptyState,
  ErrorState,
  ErrorText,
  Field,
  label,
  LoadingBlock,
  PageHeader,
  Panel,
  SecretValue,
  useToast,
  OwnerOnly,
  useLock,
} from '../ui/components';
import { Icon } from '../ui/icons';
import {
  COURIER_CARRIERS,
  fenToYuan,
  useCarrierAccounts,
  yuanToFen,
  type CarrierAccount,
  type CarrierRule,
  type ShippingRules,
} from '../shipping';

export default function CarriersScreen() {
  const { t } = useI18n();
  return (
    <div className="page" data-testid="carriers">
      <Link href="/shipping" className="back-link">
        <Icon name="chevronLeft" size={14} /> {t('nav.shipping')}
      </Link>
      <PageHeader title={t('carriers.title')} subtitle={t('carriers.subtitle')} />
      <div className="stack">
        <OwnerOnly scope="settings:write" text={t('carriers.owner_only')} />
        <Accounts />
        <RulesEditor />
      </div>
    </div>
  );
}

function accountName(t: ReturnType<typeof useI18n>['t'], a: CarrierAccount): string {
  return `${label(t, 'carrier', a.cp_code)} · ${a.branch_name || a.branch_code}`;
}

function Accounts() {
  const { t, lang, tz } = useI18n();
  const q = useCarrierAccounts();
  const [open, setOpen] = useState(false);
  const lock = useLock('settings:write');
  return (
    <Panel
      title={t('carriers.accounts')}
      subtitle={t('carriers.accounts_sub')}
      className="panel-flush"
      actions={
        <Button
          icon="plus"
          variant="primary"
          size="sm"
          disabled={lock.locked}
          title={lock.title}
          onClick={() => setOpen(true)}
          data-testid="connect-account"
        >
          {t('carriers.connect')}
        </Button>
      }
    >
      {q.isPending ? (
        <LoadingBlock />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : q.data.length === 0 ? (
        <EmptyState icon="truck" title={t('carriers.none')} hint={t('carriers.none_hint')} />
      ) : (
        <div className="table-wrap">
          <table className="table" data-testid="accounts-table">
            <thead>
              <tr>
                <th>{t('ship.carrier')}</th>
                <th>{t('carriers.branch')}</th>
                <th className="num">{t('carriers.quantity')}</th>
                <th className="num">{t('carriers.allocated')}</th>
                <th className="num">{t('carriers.cancelled')}</th>
                <th className="num">{t('carriers.printed')}</th>
                <th>{t('carriers.balance_at')}</th>
                <th>{t('carriers.sender')}</th>
                <th>{t('carriers.tracking_url')}</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((a) => (
                <tr key={a.id} data-account={a.cp_code}>
                  <td className="nowrap">
                    <strong>{label(t, 'carrier', a.cp_code)}</strong> <span className="muted mono small">{a.cp_code}</span>
                  </td>
                  <td>
                    <div>{a.branch_name || '—'}</div>
                    <div className="mono small muted">{a.branch_code}</div>
                  </td>
                  <td className="num" data-testid="account-quantity">
                    {a.quantity === null || a.quantity === undefined ? (
                      <Badge tone="gray">{t('carriers.direct')}</Badge>
                    ) : (
                      <span className={cx('strong', a.quantity < 100 && 'text-red')}>{formatInt(a.quantity, lang)}</span>
                    )}
                  </td>
                  <td className="num">{formatInt(a.allocated, lang)}</td>
                  <td className="num">{formatInt(a.cancelled, lang)}</td>
                  <td className="num">{formatInt(a.printed, lang)}</td>
                  <td className="nowrap small">{formatDateTime(a.balance_at, lang, tz)}</td>
                  <td className="small max-w-200">
                    <div className="ellipsis">
                      {a.sender.name} {a.sender.phone}
                    </div>
                    <div className="ellipsis muted" title={`${a.sender.province}${a.sender.city}${a.sender.district}${a.sender.address}`}>
                      {a.sender.province}
                      {a.sender.city}
                      {a.sender.district}
                      {a.sender.address}
                    </div>
                  </td>
                  <td className="max-w-240">
                    <div className="ellipsis mono small" title={a.tracking_url}>
                      {a.tracking_url}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConnectDialog open={open} onClose={() => setOpen(false)} />
    </Panel>
  );
}

const EMPTY_ACCOUNT = {
  cp_code: 'ZTO',
  branch_code: '',
  api_url: '',
  app_key: '',
  app_secret: '',
  access_token: '',
  sender: { name: '', phone: '', province: '', city: '', district: '', address: '' },
};

function ConnectDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const [f, setF] = useState(EMPTY_ACCOUNT);
  const [saved, setSaved] = useState<CarrierAccount | null>(null);
  useEffect(() => {
    if (open) {
      setF(EMPTY_ACCOUNT);
      setSaved(null);
    }
  }, [open]);
  const connect = useMutation({
    mutationFn: () =>
      call(
        api.POST('/v1/shipping/accounts', {
          body: {
            ...f,
            branch_code: f.branch_code.trim(),
            api_url: f.api_url.trim(),
            app_key: f.app_key.trim(),
            access_token: f.access_token.trim(),
          },
        }),
      ),
    onSuccess: (a) => {
      setSaved(a);
      void qc.invalidateQueries({ queryKey: ['shipping', 'accounts'] });
    },
  });
  const text = (
    k: 'branch_code' | 'api_url' | 'app_key' | 'app_secret' | 'access_token',
    key: MsgKey,
    opts: { secret?: boolean; placeholder?: string } = {},
  ) => (
    <Field label={t(key)}>
      {(id) => (
        <input
          id={id}
          name={k}
          type={opts.secret ? 'password' : 'text'}
          autoComplete="off"
          className="mono"
          value={f[k]}
          placeholder={opts.placeholder}
          onChange={(e) => setF({ ...f, [k]: e.target.value })}
        />
      )}
    </Field>
  );
  const sender = (k: keyof typeof EMPTY_ACCOUNT.sender, key: MsgKey, placeholder?: string) => (
    <Field label={t(key)}>
      {(id) => (
        <input
          id={id}
          name={`sender_${k}`}
          value={f.sender[k]}
          placeholder={placeholder}
          onChange={(e) => setF({ ...f, sender: { ...f.sender, [k]: e.target.value } })}
        />
      )}
    </Field>
  );
  const ready =
    f.branch_code.trim() &&
    f.api_url.trim() &&
    f.app_key.trim() &&
    f.app_secret &&
    f.access_token.trim() &&
    f.sender.name.trim() &&
    f.sender.phone.trim() &&
    f.sender.province.trim() &&
    f.sender.city.trim() &&
    f.sender.address.trim();
  return (
    <Dialog
      open={open}
      onClose={onClose}
      wide
      title={t('carriers.connect')}
      testId="connect-dialog"
      footer={
        <>
          <span className="grow" />
          <Button onClick={onClose}>{saved ? t('common.close') : t('common.cancel')}</Button>
          {!saved && (
            <Button
              variant="primary"
              busy={connect.isPending}
              disabled={!ready}
              onClick={() => connect.mutate()}
              data-testid="connect-submit"
            >
              {t('carriers.connect_submit')}
            </Button>
          )}
        </>
      }
    >
      {saved ? (
        <div className="stack" data-testid="connect-done">
          <div className="notice notice-blue">{t('carriers.connected', { name: accountName(t, saved) })}</div>
          <Field label={t('carriers.tracking_url')} hint={t('carriers.tracking_url_hint')}>
            {() => <SecretValue value={saved.tracking_url} />}
          </Field>
        </div>
      ) : (
        <div className="stack">
          <p className="muted small dialog-lead">{t('carriers.connect_hint')}</p>
          <div className="form-grid">
            <Field label={t('ship.carrier')}>
              {(id) => (
                <select id={id} name="cp_code" value={f.cp_code} onChange={(e) => setF({ ...f, cp_code: e.target.value })}>
                  {COURIER_CARRIERS.map((c) => (
                    <option key={c} value={c}>
                      {label(t, 'carrier', c)} ({c})
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {text('branch_code', 'carriers.branch_code', { placeholder: '571001' })}
            {text('api_url', 'carriers.api_url', { placeholder: 'https://' })}
            {text('app_key', 'carriers.app_key')}
            {text('app_secret', 'carriers.app_secret', { secret: true })}
            {text('access_token', 'carriers.access_token', { secret: true })}
          </div>
          <div className="section-title">{t('carriers.sender')}</div>
          <div className="form-grid">
            {sender('name', 'carriers.sender_name', '云栈优品仓')}
            {sender('phone', 'carriers.sender_phone')}
            {sender('province', 'allocation.province', '浙江省')}
            {sender('city', 'carriers.city', '杭州市')}
            {sender('district', 'carriers.district')}
            {sender('address', 'carriers.address')}
          </div>
          {connect.isError && <ErrorText error={connect.error} />}
        </div>
      )}
    </Dialog>
  );
}

// ---- rules ----

/** A rule as the form edits it: lists as comma-separated text, payments in yuan. */
interface RuleDraft {
  key: number;
  name: string;
  account_id: string;
  provinces: string;
  min_weight: string;
  max_weight: string;
  min_payment: string;
  max_payment: string;
  sku_codes: string;
  channel_ids: string[];
  warehouses: string[];
}

interface Draft {
  merge_wait_seconds: string;
  unit_weight_grams: string;
  default_account_id: string;
  rules: RuleDraft[];
}

let nextKey = 1;
const num = (n: number | null | undefined) => (n === null || n === undefined ? '' : String(n));
const yuan = (n: number | null | undefined) => (n === null || n === undefined ? '' : fenToYuan(n));
const list = (s: string) =>
  s
    .split(/[,，、\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);

function toDraft(r: ShippingRules): Draft {
  return {
    merge_wait_seconds: String(r.merge_wait_seconds ?? 600),
    unit_weight_grams: String(r.unit_weight_grams ?? 300),
    default_account_id: r.default_account_id ?? '',
    rules: (r.rules ?? []).map((x) => ({
      key: nextKey++,
      name: x.name,
      account_id: x.account_id,
      provinces: (x.when?.provinces ?? []).join('、'),
      min_weight: num(x.when?.min_weight_grams),
      max_weight: num(x.when?.max_weight_grams),
      min_payment: yuan(x.when?.min_payment),
      max_payment: yuan(x.when?.max_payment),
      sku_codes: (x.when?.sku_codes ?? []).join(', '),
      channel_ids: x.when?.channel_ids ?? [],
      warehouses: x.when?.warehouses ?? [],
    })),
  };
}

type Problem = { at: string; key: MsgKey };

/** The body to PUT, or what is wrong with the form. */
function fromDraft(d: Draft): { body: ShippingRules; problems: Problem[] } {
  const problems: Problem[] = [];
  const int = (v: string, at: string): number | null => {
    if (!v.trim()) return null;
    if (!/^\d{1,9}$/.test(v.trim())) {
      problems.push({ at, key: 'crules.bad_number' });
      return null;
    }
    return Number(v.trim());
  };
  const fen = (v: string, at: string): number | null => {
    if (!v.trim()) return null;
    const f = yuanToFen(v);
    if (f === null) problems.push({ at, key: 'crules.bad_amount' });
    return f;
  };
  const wait = int(d.merge_wait_seconds, 'merge_wait_seconds');
  const unit = int(d.unit_weight_grams, 'unit_weight_grams');
  const rules: CarrierRule[] = d.rules.map((r, i) => {
    const at = `rule-${i}`;
    if (!r.name.trim()) problems.push({ at, key: 'crules.name_missing' });
    if (!r.account_id) problems.push({ at, key: 'crules.account_missing' });
    return {
      name: r.name.trim(),
      account_id: r.account_id,
      when: {
        provinces: list(r.provinces),
        min_weight_grams: int(r.min_weight, at),
        max_weight_grams: int(r.max_weight, at),
        min_payment: fen(r.min_payment, at),
        max_payment: fen(r.max_payment, at),
        sku_codes: list(r.sku_codes),
        channel_ids: r.channel_ids,
        warehouses: r.warehouses,
      },
    };
  });
  return {
    body: {
      merge_wait_seconds: wait ?? 600,
      unit_weight_grams: unit ?? 300,
      default_account_id: d.default_account_id || null,
      rules,
    },
    problems,
  };
}

function RulesEditor() {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const accounts = useCarrierAccounts();
  const channels = useChannels();
  const warehouses = useWarehouses();
  const q = useQuery({ queryKey: ['shipping', 'rules'], queryFn: () => call(api.GET('/v1/shipping/rules')) });
  const [d, setD] = useState<Draft | null>(null);
  const lock = useLock('settings:write');
  useEffect(() => {
    if (q.data) setD(toDraft(q.data));
  }, [q.data]);
  const { body, problems } = d ? fromDraft(d) : { body: null, problems: [] };
  const save = useMutation({
    mutationFn: () => call(api.PUT('/v1/shipping/rules', { body: body! })),
    onSuccess: (r) => {
      qc.setQueryData(['shipping', 'rules'], r);
      toast('ok', t('crules.saved'));
    },
  });
  if (q.isError) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  if (!d || accounts.isPending) return <LoadingBlock />;
  const accs = accounts.data ?? [];
  const setRule = (i: number, r: Partial<RuleDraft>) => setD({ ...d, rules: d.rules.map((x, j) => (j === i ? { ...x, ...r } : x)) });
  const move = (i: number, by: number) => {
    const rules = [...d.rules];
    const [x] = rules.splice(i, 1);
    rules.splice(i + by, 0, x!);
    setD({ ...d, rules });
  };
  const problemAt = (at: string) => problems.filter((p) => p.at === at);

  return (
    <form
      className="stack"
      data-testid="rules-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (!problems.length && !lock.locked) save.mutate();
      }}
    >
      <Panel title={t('crules.settings')} subtitle={t('crules.settings_sub')}>
        <div className="form-grid">
          <Field
            label={t('crules.merge_wait')}
            hint={t('crules.merge_wait_hint')}
            error={problemAt('merge_wait_seconds').length ? t('crules.bad_number') : undefined}
          >
            {(id) => (
              <div className="input-with-unit">
                <input
                  id={id}
                  name="merge_wait_seconds"
                  inputMode="numeric"
                  className="input-num"
                  value={d.merge_wait_seconds}
                  onChange={(e) => setD({ ...d, merge_wait_seconds: e.target.value })}
                />
                <span className="muted">{t('crules.seconds')}</span>
              </div>
            )}
          </Field>
          <Field
            label={t('crules.unit_weight')}
            hint={t('crules.unit_weight_hint')}
            error={problemAt('unit_weight_grams').length ? t('crules.bad_number') : undefined}
          >
            {(id) => (
              <div className="input-with-unit">
                <input
                  id={id}
                  name="unit_weight_grams"
                  inputMode="numeric"
                  className="input-num"
                  value={d.unit_weight_grams}
                  onChange={(e) => setD({ ...d, unit_weight_grams: e.target.value })}
                />
                <span className="muted">g</span>
              </div>
            )}
          </Field>
          <Field label={t('crules.default_account')} hint={t('crules.default_account_hint')}>
            {(id) => (
              <select
                id={id}
                name="default_account_id"
                value={d.default_account_id}
                onChange={(e) => setD({ ...d, default_account_id: e.target.value })}
              >
                <option value="">{t('crules.no_default')}</option>
                {accs.map((a) => (
                  <option key={a.id} value={a.id}>
                    {accountName(t, a)}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
      </Panel>

      <Panel title={t('crules.rules')} subtitle={t('crules.rules_sub')}>
        {d.rules.length === 0 ? (
          <div className="muted small" data-testid="rules-empty">
            {t('crules.none')}
          </div>
        ) : (
          <ol className="rule-list" data-testid="rule-list">
            {d.rules.map((r, i) => (
              <RuleCard
                key={r.key}
                index={i}
                rule={r}
                count={d.rules.length}
                accounts={accs}
                channels={channels.data ?? []}
                warehouses={warehouses.data ?? []}
                problems={problemAt(`rule-${i}`).map((p) => t(p.key))}
                onChange={(x) => setRule(i, x)}
                onMove={(by) => move(i, by)}
                onRemove={() => setD({ ...d, rules: d.rules.filter((_, j) => j !== i) })}
              />
            ))}
          </ol>
        )}
        <div className="form-actions form-actions-start">
          <Button
            icon="plus"
            size="sm"
            onClick={() =>
              setD({
                ...d,
                rules: [
                  ...d.rules,
                  {
                    key: nextKey++,
                    name: '',
                    account_id: accs[0]?.id ?? '',
                    provinces: '',
                    min_weight: '',
                    max_weight: '',
                    min_payment: '',
                    max_payment: '',
                    sku_codes: '',
                    channel_ids: [],
                    warehouses: [],
                  },
                ],
              })
            }
            data-testid="rule-add"
          >
            {t('crules.add')}
          </Button>
        </div>
      </Panel>
      <div className="savebar savebar-panel">
        <span className="muted small">{problems.length ? t('crules.fix_first') : t('crules.order_hint')}</span>
        <div className="row-gap">
          <Button onClick={() => q.data && setD(toDraft(q.data))} disabled={save.isPending}>
            {t('crules.revert')}
          </Button>
          <Button
            type="submit"
            variant="primary"
            busy={save.isPending}
            disabled={problems.length > 0 || lock.locked}
            title={lock.title}
            data-testid="rules-save"
          >
            {t('common.save')}
          </Button>
        </div>
      </div>
      {save.isError && <ErrorText error={save.error} />}
    </form>
  );
}

function RuleCard({
  index,
  rule,
  count,
  accounts,
  channels,
  warehouses,
  problems,
  onChange,
  onMove,
  onRemove,
}: {
  index: number;
  rule: RuleDraft;
  count: number;
  accounts: CarrierAccount[];
  channels: Channel[];
  warehouses: Warehouse[];
  problems: string[];
  onChange: (r: Partial<RuleDraft>) => void;
  onMove: (by: number) => void;
  onRemove: () => void;
}) {
  const { t } = useI18n();
  const field = (k: keyof RuleDraft, key: MsgKey, extra: { placeholder?: string; mono?: boolean; unit?: ReactNode } = {}) => (
    <Field label={t(key)}>
      {(id) => (
        <div className={extra.unit ? 'input-with-unit' : undefined}>
          <input
            id={id}
            name={`${k}-${index}`}
            value={rule[k] as string}
            placeholder={extra.placeholder}
            className={extra.mono ? 'mono' : undefined}
            onChange={(e) => onChange({ [k]: e.target.value })}
          />
          {extra.unit && <span className="muted">{extra.unit}</span>}
        </div>
      )}
    </Field>
  );
  const toggle = (xs: string[], x: string) => (xs.includes(x) ? xs.filter((y) => y !== x) : [...xs, x]);
  return (
    <li className={cx('rule-card', problems.length > 0 && 'has-error')} data-rule={index}>
      <div className="rule-head">
        <span className="wh-rank">{index + 1}</span>
        <input
          name={`name-${index}`}
          className="rule-name"
          value={rule.name}
          placeholder={t('crules.name_placeholder')}
          aria-label={t('crules.name')}
          onChange={(e) => onChange({ name: e.target.value })}
        />
        <span className="muted small">→</span>
        <select
          name={`account-${index}`}
          value={rule.account_id}
          aria-label={t('crules.account')}
          onChange={(e) => onChange({ account_id: e.target.value })}
        >
          <option value="">{t('crules.pick_account')}</option>
          {accounts.map((a) => (
            <option key={a.id} value={a.id}>
              {accountName(t, a)}
            </option>
          ))}
        </select>
        <div className="wh-actions">
          <button
            type="button"
            className="icon-btn"
            disabled={index === 0}
            onClick={() => onMove(-1)}
            aria-label={t('allocation.up')}
            data-testid="rule-up"
          >
            <Icon name="chevronLeft" size={14} className="rot-90" />
          </button>
          <button
            type="button"
            className="icon-btn"
            disabled={index === count - 1}
            onClick={() => onMove(1)}
            aria-label={t('allocation.down')}
            data-testid="rule-down"
          >
            <Icon name="chevronRight" size={14} className="rot-90" />
          </button>
          <button type="button" className="icon-btn" onClick={onRemove} aria-label={t('common.remove')} data-testid="rule-remove">
            <Icon name="x" size={14} />
          </button>
        </div>
      </div>
      <div className="rule-when">
        {field('provinces', 'crules.provinces', { placeholder: t('crules.provinces_placeholder') })}
        {field('min_weight', 'crules.min_weight', { unit: 'g' })}
        {field('max_weight', 'crules.max_weight', { unit: 'g' })}
        {field('min_payment', 'crules.min_payment', { unit: '¥' })}
        {field('max_payment', 'crules.max_payment', { unit: '¥' })}
        {field('sku_codes', 'crules.skus', { mono: true, placeholder: 'TSHIRT-RED-M, …' })}
      </div>
      {(channels.length > 0 || warehouses.length > 0) && (
        <div className="rule-picks">
          {channels.length > 0 && (
            <div className="rule-pick">
              <span className="small muted">{t('crules.shops')}</span>
              {channels.map((c) => (
                <label key={c.id} className="check small">
                  <input
                    type="checkbox"
                    checked={rule.channel_ids.includes(c.id)}
                    onChange={() => onChange({ channel_ids: toggle(rule.channel_ids, c.id) })}
                  />
                  {c.name}
                </label>
              ))}
            </div>
          )}
          {warehouses.length > 0 && (
            <div className="rule-pick">
              <span className="small muted">{t('crules.warehouses')}</span>
              {warehouses.map((w) => (
                <label key={w.code} className="check small">
                  <input
                    type="checkbox"
                    checked={rule.warehouses.includes(w.code)}
                    onChange={() => onChange({ warehouses: toggle(rule.warehouses, w.code) })}
                  />
                  {w.name} <span className="mono muted">{w.code}</span>
                </label>
              ))}
            </div>
          )}
        </div>
      )}
      {problems.length > 0 && <div className="field-error">{[...new Set(problems)].join('；')}</div>}
      <div className="small muted">{t('crules.empty_any')}</div>
    </li>
  );
}
