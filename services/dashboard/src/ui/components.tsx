import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useId,
  useRef,
  useState,
  type ButtonHTMLAttributes,
  type ReactNode,
} from 'react';
import { ApiError } from '../api/problem';
import { scopesInDetail, useCan, type Scope } from '../auth/access';
import { hasKey, useI18n, type MsgKey, type T } from '../i18n';
import { Icon, type IconName } from './icons';

export function cx(...parts: (string | false | null | undefined)[]): string {
  return parts.filter(Boolean).join(' ');
}

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost';

export function Button({
  variant = 'secondary',
  size,
  busy,
  icon,
  children,
  className,
  disabled,
  type = 'button',
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: 'sm'; busy?: boolean; icon?: IconName }) {
  return (
    <button
      type={type}
      className={cx('btn', `btn-${variant}`, size === 'sm' && 'btn-sm', busy && 'is-busy', className)}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {busy ? <span className="spinner" aria-hidden="true" /> : icon ? <Icon name={icon} size={size === 'sm' ? 14 : 16} /> : null}
      {children}
    </button>
  );
}

export type Tone = 'neutral' | 'blue' | 'green' | 'amber' | 'red' | 'purple' | 'teal' | 'gray';

export function Badge({ tone = 'neutral', children, dot, title }: { tone?: Tone; children: ReactNode; dot?: boolean; title?: string }) {
  return (
    <span className={cx('badge', `badge-${tone}`)} title={title}>
      {dot && <span className="badge-dot" aria-hidden="true" />}
      {children}
    </span>
  );
}

const ORDER_TONES: Record<string, Tone> = {
  pending_payment: 'amber',
  paid: 'blue',
  allocated: 'teal',
  backordered: 'red',
  on_hold: 'purple',
  partially_shipped: 'blue',
  shipped: 'green',
  completed: 'gray',
  cancelled: 'neutral',
};
const RESERVATION_TONES: Record<string, Tone> = {
  held: 'amber',
  confirmed: 'teal',
  committed: 'green',
  released: 'neutral',
  expired: 'neutral',
  backordered: 'red',
  unreserved: 'red',
};

/** A localized label for a server value (status, state, kind), or the value itself. */
export function label(t: T, prefix: string, value: string | null | undefined): string {
  if (!value) return '—';
  const key = `${prefix}.${value}`;
  return hasKey(key) ? t(key) : value;
}

export function OrderStatusBadge({ status }: { status: string }) {
  const { t } = useI18n();
  return (
    <Badge tone={ORDER_TONES[status] ?? 'neutral'} dot>
      {label(t, 'status', status)}
    </Badge>
  );
}

export function ReservationBadge({ state }: { state: string | null | undefined }) {
  const { t } = useI18n();
  if (!state) return <Badge tone="gray">{t('reservation.pending')}</Badge>;
  return <Badge tone={RESERVATION_TONES[state] ?? 'neutral'}>{label(t, 'reservation', state)}</Badge>;
}

export function Spinner({ label: text }: { label?: string }) {
  return (
    <span className="spinner-wrap" role="status">
      <span className="spinner" aria-hidden="true" />
      {text && <span>{text}</span>}
    </span>
  );
}

/** Skeleton rows while a table loads. */
export function LoadingRows({ cols, rows = 6 }: { cols: number; rows?: number }) {
  const { t } = useI18n();
  return (
    <tbody aria-busy="true" aria-label={t('common.loading')}>
      {Array.from({ length: rows }, (_, i) => (
        <tr key={i} className="skeleton-row">
          {Array.from({ length: cols }, (_, j) => (
            <td key={j}>
              <span className="skeleton" />
            </td>
          ))}
        </tr>
      ))}
    </tbody>
  );
}

export function LoadingBlock({ text }: { text?: string }) {
  const { t } = useI18n();
  return (
    <div className="state state-loading" data-state="loading">
      <Spinner label={text ?? t('common.loading')} />
    </div>
  );
}

/**
 * A table's body in each of its states: skeleton rows while loading, the error with a retry,
 * `empty` (usually an EmptyState) when there are no rows, else `children` (the rows).
 * `pending` also shows the skeleton while something else the rows need is loading.
 */
export function TableBody({
  query,
  pending = false,
  cols,
  rows = 6,
  isEmpty,
  empty,
  children,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown; refetch: () => unknown };
  pending?: boolean;
  cols: number;
  rows?: number;
  isEmpty: boolean;
  empty: ReactNode;
  children: ReactNode;
}) {
  if (query.isPending || pending) return <LoadingRows cols={cols} rows={rows} />;
  const one = (cell: ReactNode) => (
    <tbody>
      <tr>
        <td colSpan={cols}>{cell}</td>
      </tr>
    </tbody>
  );
  if (query.isError) return one(<ErrorState error={query.error} onRetry={() => void query.refetch()} />);
  if (isEmpty) return one(empty);
  return <tbody>{children}</tbody>;
}

export function EmptyState({
  icon = 'inbox',
  title,
  hint,
  action,
}: {
  icon?: IconName;
  title: string;
  hint?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="state state-empty" data-state="empty">
      <Icon name={icon} size={28} className="state-icon" />
      <div className="state-title">{title}</div>
      {hint && <div className="state-hint">{hint}</div>}
      {action && <div className="state-action">{action}</div>}
    </div>
  );
}

/** A scope's short name in the user's language ("更改设置"), or the scope itself. */
export function scopeLabel(t: T, scope: string): string {
  return label(t, 'scope', scope);
}

/** A localized headline for an API error plus the server's own detail. */
export function describeError(t: T, err: unknown): { title: string; detail: string; code: string } {
  if (err instanceof ApiError && err.code === 'insufficient_scope') {
    // Name the permission the role lacks, in words and as the scope the API knows it by.
    const missing = scopesInDetail(err.detail);
    const perm = missing.map((s) => `${scopeLabel(t, s)} (${s})`).join(t('common.list_sep'));
    return {
      title: missing.length ? t('error.insufficient_scope_named', { perm }) : t('error.insufficient_scope'),
      detail: t('error.insufficient_scope_hint'),
      code: err.code,
    };
  }
  if (err instanceof ApiError) {
    const key = `error.${err.code}`;
    const title = hasKey(key) ? t(key) : t('error.generic', { status: err.status });
    const detail = err.status === 0 ? t('error.network_hint') : err.detail;
    return { title, detail: detail === title ? '' : detail, code: err.code };
  }
  return { title: t('error.unexpected'), detail: err instanceof Error ? err.message : String(err), code: 'unexpected' };
}

export function ErrorText({ error }: { error: unknown }) {
  const { t } = useI18n();
  const d = describeError(t, error);
  return (
    <div className="error-text" role="alert" data-code={d.code}>
      <Icon name="alert" size={15} />
      <div>
        <div className="error-title">{d.title}</div>
        {d.detail && <div className="error-detail">{d.detail}</div>}
      </div>
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  const d = describeError(t, error);
  return (
    <div className="state state-error" data-state="error" role="alert" data-code={d.code}>
      <Icon name="alert" size={28} className="state-icon" />
      <div className="state-title">{d.title}</div>
      {d.detail && <div className="state-hint">{d.detail}</div>}
      {onRetry && (
        <div className="state-action">
          <Button icon="refresh" onClick={onRetry}>
            {t('common.retry')}
          </Button>
        </div>
      )}
    </div>
  );
}

export function Panel({
  title,
  actions,
  children,
  className,
  subtitle,
  id,
}: {
  title?: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  id?: string;
}) {
  return (
    <section className={cx('panel', className)} id={id}>
      {(title || actions) && (
        <header className="panel-head">
          <div>
            {title && <h2 className="panel-title">{title}</h2>}
            {subtitle && <div className="panel-subtitle">{subtitle}</div>}
          </div>
          {actions && <div className="panel-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1 className="page-title">{title}</h1>
        {subtitle && <div className="page-subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

export function Field({
  label: text,
  hint,
  error,
  children,
  className,
}: {
  label: ReactNode;
  hint?: ReactNode;
  error?: ReactNode;
  children: (id: string) => ReactNode;
  className?: string;
}) {
  const id = useId();
  return (
    <div className={cx('field', className, error ? 'has-error' : null)}>
      <label htmlFor={id} className="field-label">
        {text}
      </label>
      {children(id)}
      {error ? <div className="field-error">{error}</div> : hint ? <div className="field-hint">{hint}</div> : null}
    </div>
  );
}

/** A modal on the native <dialog> element (focus trap, Escape and backdrop for free). */
export function Dialog({
  open,
  onClose,
  title,
  children,
  footer,
  wide,
  drawer,
  testId,
}: {
  open: boolean;
  onClose: () => void;
  title: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  drawer?: boolean;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const { t } = useI18n();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className={cx('dialog', wide && 'dialog-wide', drawer && 'dialog-drawer')}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === ref.current) onClose();
      }}
      data-testid={testId}
    >
      {open && (
        <div className="dialog-body">
          <header className="dialog-head">
            <h2>{title}</h2>
            <button type="button" className="icon-btn" onClick={onClose} aria-label={t('common.close')}>
              <Icon name="x" />
            </button>
          </header>
          <div className="dialog-content">{children}</div>
          {footer && <footer className="dialog-foot">{footer}</footer>}
        </div>
      )}
    </dialog>
  );
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through */
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'offscreen';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}

export function CopyButton({ text, label: l }: { text: string; label?: string }) {
  const { t } = useI18n();
  const [state, setState] = useState<'idle' | 'ok' | 'fail'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const h = setTimeout(() => setState('idle'), 1800);
    return () => clearTimeout(h);
  }, [state]);
  return (
    <Button
      size="sm"
      icon={state === 'ok' ? 'check' : 'copy'}
      onClick={async () => setState((await copyText(text)) ? 'ok' : 'fail')}
      aria-label={l ?? t('common.copy')}
    >
      {state === 'ok' ? t('common.copied') : state === 'fail' ? t('common.copy_failed') : (l ?? t('common.copy'))}
    </Button>
  );
}

/**
 * Whether an action needing `scope` is out of the user's reach, and the tooltip saying why.
 * Spread over a button: `disabled={lock.locked || …} title={lock.title}`.
 */
export function useLock(scope: Scope): { locked: boolean; title: string | undefined } {
  const { t } = useI18n();
  const locked = !useCan(scope);
  return { locked, title: locked ? t('access.locked', { perm: scopeLabel(t, scope) }) : undefined };
}

/**
 * A short note where the user's role cannot act: only the owner may (the role lacks `scope`).
 * Renders nothing when the user may act.
 */
export function OwnerOnly({ scope, text, className }: { scope: Scope; text?: string; className?: string }) {
  const { t } = useI18n();
  if (useCan(scope)) return null;
  return (
    <div className={cx('notice', 'notice-amber', 'owner-only', className)} role="note" data-testid="owner-only" data-scope={scope}>
      <Icon name="lock" />
      <div>
        <strong>{text ?? t('access.owner_only')}</strong> <span>{t('access.owner_only_hint', { perm: scopeLabel(t, scope), scope })}</span>
      </div>
    </div>
  );
}

/** A value shown in monospace with a copy button beside it. */
export function SecretValue({ value, testId, label: l }: { value: string; testId?: string; label?: string }) {
  return (
    <div className="secret-value">
      <code data-testid={testId}>{value}</code>
      <CopyButton text={value} label={l} />
    </div>
  );
}

// Toasts: short confirmations and errors that do not belong to a form.
type ToastItem = { id: number; tone: 'ok' | 'error' | 'info'; text: string };
const ToastCtx = createContext<(tone: ToastItem['tone'], text: string) => void>(() => {});

export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<ToastItem[]>([]);
  const next = useRef(1);
  const push = useCallback((tone: ToastItem['tone'], text: string) => {
    const id = next.current++;
    setItems((xs) => [...xs.slice(-3), { id, tone, text }]);
    setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== id)), tone === 'error' ? 8000 : 4000);
  }, []);
  return (
    <ToastCtx.Provider value={push}>
      {children}
      <div className="toasts" aria-live="polite">
        {items.map((x) => (
          <div key={x.id} className={cx('toast', `toast-${x.tone}`)} role={x.tone === 'error' ? 'alert' : 'status'}>
            <Icon name={x.tone === 'error' ? 'alert' : 'check'} />
            <span>{x.text}</span>
          </div>
        ))}
      </div>
    </ToastCtx.Provider>
  );
}

export function useToast() {
  return useContext(ToastCtx);
}

export function Tabs<K extends string>({
  tabs,
  value,
  onChange,
  testId,
}: {
  tabs: { key: K; label: ReactNode; count?: number | null }[];
  value: K;
  onChange: (k: K) => void;
  testId?: string;
}) {
  const { lang } = useI18n();
  const fmt = new Intl.NumberFormat(lang);
  return (
    <div className="tabs" role="tablist" data-testid={testId}>
      {tabs.map((tab) => (
        <button
          key={tab.key}
          type="button"
          role="tab"
          aria-selected={tab.key === value}
          className={cx('tab', tab.key === value && 'is-active')}
          onClick={() => onChange(tab.key)}
          data-tab={tab.key}
        >
          {tab.label}
          {tab.count !== undefined && tab.count !== null && <span className="tab-count">{fmt.format(tab.count)}</span>}
        </button>
      ))}
    </div>
  );
}

/** A definition list of label/value pairs. */
export function Facts({ items }: { items: [MsgKey | string, ReactNode][] }) {
  const { t } = useI18n();
  return (
    <dl className="facts">
      {items.map(([k, v]) => (
        <div key={k} className="fact">
          <dt>{hasKey(k) ? t(k) : k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
