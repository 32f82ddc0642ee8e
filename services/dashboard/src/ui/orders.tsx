// Pieces the orders list, the holds view and the order page share: a line summary, an
// order's hold reasons, row selection and the pager.
import { useCallback, useState } from 'react';
import type { Order } from '../data';
import { formatDateTime, formatInt } from '../format';
import { useI18n } from '../i18n';
import { Badge, Button, label, type Tone } from './components';

type Hold = Order['holds'][number];

const HOLD_TONES: Record<string, Tone> = {
  unmapped_sku: 'red',
  refund_pending: 'red',
  address_changed: 'amber',
  buyer_memo: 'blue',
  seller_memo: 'blue',
  amount_over: 'amber',
  manual: 'purple',
};

/** Every hold reason, in the order the server documents them. */
export const HOLD_REASONS = [
  'unmapped_sku',
  'refund_pending',
  'address_changed',
  'buyer_memo',
  'seller_memo',
  'amount_over',
  'manual',
] as const;

export function HoldBadge({ hold }: { hold: Hold }) {
  const { t } = useI18n();
  const title = [hold.detail, hold.releasable ? '' : t('hold.not_releasable')].filter(Boolean).join('\n');
  return (
    <span data-hold={hold.reason}>
      <Badge tone={HOLD_TONES[hold.reason] ?? 'neutral'} title={title || undefined}>
        {label(t, 'hold', hold.reason)}
      </Badge>
    </span>
  );
}

/** An order's hold reasons as badges, with what caused each (the memo, the note) beneath. */
export function HoldReasons({ holds, details = true }: { holds: Hold[]; details?: boolean }) {
  if (!holds.length) return <span className="muted">—</span>;
  return (
    <div className="holds" data-testid="hold-reasons">
      {holds.map((h) => (
        <div key={h.reason} className="hold">
          <HoldBadge hold={h} />
          {details && h.detail && (
            <span className="hold-detail small muted ellipsis" title={h.detail}>
              {h.detail}
            </span>
          )}
        </div>
      ))}
    </div>
  );
}

/** The earliest `since` of an order's holds. */
export function heldSince(holds: Hold[]): string | null {
  return holds.reduce<string | null>((min, h) => (min === null || h.since < min ? h.since : min), null);
}

/** One hold in full: reason, cause, since, who, and whether a person may release it. */
export function HoldItem({ hold }: { hold: Hold }) {
  const { t, lang, tz } = useI18n();
  return (
    <li className="hold-item" data-hold={hold.reason}>
      <div className="hold-item-head">
        <HoldBadge hold={hold} />
        {!hold.releasable && <span className="small muted">{t('hold.not_releasable_short')}</span>}
      </div>
      {hold.detail && <div className="hold-item-detail">{hold.detail}</div>}
      <div className="small muted">
        {t('hold.since', { at: formatDateTime(hold.since, lang, tz) })}
        {hold.by && ` · ${t('hold.by', { by: hold.by })}`}
      </div>
    </li>
  );
}

export function LinesSummary({ order }: { order: Order }) {
  const { t } = useI18n();
  const first = order.lines[0];
  if (!first) return <span className="muted">—</span>;
  const units = order.lines.reduce((n, l) => n + l.quantity, 0);
  return (
    <span title={order.lines.map((l) => `${l.title} ×${l.quantity}`).join('\n')}>
      {first.title} <span className="muted">×{first.quantity}</span>
      {order.lines.length > 1 && (
        <span className="muted"> {t('orders.more_lines', { n: order.lines.length, more: order.lines.length - 1, units })}</span>
      )}
    </span>
  );
}

/** Rows picked by id, kept across pages (the orders themselves travel with them). */
export function useSelection<T extends { id: string }>() {
  const [selected, setSelected] = useState<Map<string, T>>(new Map());
  const toggle = useCallback(
    (x: T) =>
      setSelected((s) => {
        const m = new Map(s);
        if (m.has(x.id)) m.delete(x.id);
        else m.set(x.id, x);
        return m;
      }),
    [],
  );
  const toggleAll = useCallback(
    (xs: T[]) =>
      setSelected((s) => {
        const m = new Map(s);
        const all = xs.length > 0 && xs.every((x) => m.has(x.id));
        for (const x of xs) {
          if (all) m.delete(x.id);
          else m.set(x.id, x);
        }
        return m;
      }),
    [],
  );
  const remove = useCallback(
    (ids: string[]) =>
      setSelected((s) => {
        const m = new Map(s);
        ids.forEach((id) => m.delete(id));
        return m;
      }),
    [],
  );
  const clear = useCallback(() => setSelected(new Map()), []);
  return {
    selected,
    items: [...selected.values()],
    toggle,
    toggleAll,
    remove,
    clear,
    allOf: (xs: T[]) => xs.length > 0 && xs.every((x) => selected.has(x.id)),
  };
}

export interface PagerProps {
  /** Keyset cursors or page numbers. */
  mode: 'cursor' | 'offset';
  page: number;
  perPage: number;
  perPageOptions: readonly number[];
  /** Rows on this page (for "is there a next page" without a total). */
  count: number;
  total: number | null;
  /** Cursor mode: the server gave a next cursor. */
  hasNext: boolean;
  canPrev: boolean;
  onPrev: () => void;
  onNext: () => void;
  onJump: (n: number) => void;
  onPerPage: (n: number) => void;
}

export function Pager(props: PagerProps) {
  const { mode, page, perPage, perPageOptions, count, total, hasNext, canPrev, onPrev, onNext, onJump, onPerPage } = props;
  const { t, lang } = useI18n();
  const pages = total !== null ? Math.max(1, Math.ceil(total / perPage)) : null;
  const canNext = mode === 'cursor' ? hasNext : pages !== null ? page < pages : count === perPage;
  const [jump, setJump] = useState('');
  return (
    <div className="pager" data-testid="pager" data-mode={mode} data-page={page}>
      <div className="pager-left">
        <label className="select-inline">
          {t('pager.per_page')}
          <select value={perPage} onChange={(e) => onPerPage(Number(e.target.value))}>
            {perPageOptions.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        {total !== null && <span className="muted small">{t('pager.total', { n: formatInt(total, lang) })}</span>}
      </div>
      <div className="pager-right">
        {mode === 'offset' && pages !== null && (
          <>
            <span className="small" data-testid="page-indicator">
              {t('pager.page_of', { page: formatInt(page, lang), pages: formatInt(pages, lang) })}
            </span>
            <form
              className="pager-jump"
              onSubmit={(e) => {
                e.preventDefault();
                const n = Math.min(Math.max(1, Number(jump) || 1), pages);
                setJump('');
                onJump(n);
              }}
            >
              <input
                inputMode="numeric"
                value={jump}
                onChange={(e) => setJump(e.target.value.replace(/\D/g, ''))}
                aria-label={t('pager.jump')}
                placeholder={t('pager.jump')}
              />
            </form>
          </>
        )}
        <Button size="sm" icon="chevronLeft" disabled={!canPrev} onClick={onPrev} data-testid="page-prev">
          {t('pager.prev')}
        </Button>
        <Button size="sm" disabled={!canNext} onClick={onNext} data-testid="page-next">
          {t('pager.next')}
        </Button>
      </div>
    </div>
  );
}
