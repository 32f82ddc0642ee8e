// 分仓策略: which warehouse an order's lines are reserved in. Built against the planned
// GET/PUT /v1/inventory/allocation (src/api/allocation.ts); a server without the route
// gets an explanation instead of a form.
import { useEffect, useId, useState } from 'react';
import { Link } from 'wouter';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { PROVINCES, STRATEGIES, type AllocationSettings, type AllocationStrategy, type RegionRule } from '../api/allocation';
import { routeMissing } from '../api/problem';
import { useWarehouses, type Warehouse } from '../data';
import { useI18n, type MsgKey } from '../i18n';
import {
  Button,
  cx,
  EmptyState,
  ErrorState,
  ErrorText,
  LoadingBlock,
  PageHeader,
  Panel,
  useToast,
  OwnerOnly,
  useLock,
} from '../ui/components';
import { Icon } from '../ui/icons';

const HINTS: Record<AllocationStrategy, MsgKey> = {
  priority: 'allocation.strategy_priority_hint',
  most_stock: 'allocation.strategy_most_stock_hint',
  region: 'allocation.strategy_region_hint',
};

export default function AllocationScreen() {
  const { t } = useI18n();
  const warehouses = useWarehouses();
  const q = useQuery({
    queryKey: ['stock', 'allocation'],
    queryFn: () => call(api.GET('/v1/inventory/allocation')),
    retry: (n, e) => !routeMissing(e) && n < 2,
  });
  return (
    <div className="page" data-testid="allocation">
      <Link href="/stock" className="back-link">
        <Icon name="chevronLeft" size={14} /> {t('nav.stock')}
      </Link>
      <PageHeader title={t('allocation.title')} subtitle={t('allocation.subtitle')} />
      {q.isPending || warehouses.isPending ? (
        <div className="panel">
          <LoadingBlock />
        </div>
      ) : q.isError && routeMissing(q.error) ? (
        <div className="panel">
          <EmptyState icon="stock" title={t('allocation.title')} hint={t('allocation.unsupported')} />
        </div>
      ) : q.isError || warehouses.isError ? (
        <div className="panel">
          <ErrorState
            error={q.error ?? warehouses.error}
            onRetry={() => {
              void q.refetch();
              void warehouses.refetch();
            }}
          />
        </div>
      ) : warehouses.data.length === 0 ? (
        <div className="panel">
          <EmptyState
            icon="stock"
            title={t('allocation.no_warehouses')}
            action={
              <Link href="/stock" className="btn btn-secondary">
                {t('stock.new_warehouse')}
              </Link>
            }
          />
        </div>
      ) : (
        <AllocationForm settings={q.data} warehouses={warehouses.data} />
      )}
    </div>
  );
}

function AllocationForm({ settings, warehouses }: { settings: AllocationSettings; warehouses: Warehouse[] }) {
  const { t } = useI18n();
  const qc = useQueryClient();
  const toast = useToast();
  const [s, setS] = useState(settings);
  useEffect(() => setS(settings), [settings]);
  const set = <K extends keyof AllocationSettings>(k: K, v: AllocationSettings[K]) => setS((x) => ({ ...x, [k]: v }));
  const save = useMutation({
    mutationFn: () => call(api.PUT('/v1/inventory/allocation', { body: clean(s) })),
    onSuccess: (r) => {
      qc.setQueryData(['stock', 'allocation'], r);
      toast('ok', t('allocation.saved'));
    },
  });
  const provinceErrors = s.strategy === 'region' ? regionErrors(s.regions) : [];
  const lock = useLock('settings:write');
  const invalid = provinceErrors.some(Boolean);

  return (
    <div className="stack">
      <OwnerOnly scope="settings:write" />
      <Panel title={t('allocation.strategy')}>
        <div className="choice-grid" role="radiogroup" aria-label={t('allocation.strategy')}>
          {STRATEGIES.map((k) => (
            <label key={k} className={cx('choice', s.strategy === k && 'is-active')}>
              <input type="radio" name="strategy" value={k} checked={s.strategy === k} onChange={() => set('strategy', k)} />
              <span>
                <strong>{t(`allocation.strategy_${k}`)}</strong>
                <span className="small muted">{t(HINTS[k])}</span>
              </span>
            </label>
          ))}
        </div>
      </Panel>

      {s.strategy === 'priority' && (
        <Panel title={t('allocation.priority')}>
          <WarehouseOrder value={s.priority} onChange={(v) => set('priority', v)} warehouses={warehouses} testId="priority" />
        </Panel>
      )}

      {s.strategy === 'region' && (
        <>
          <Panel title={t('allocation.regions')} className="panel-flush">
            <table className="table" data-testid="regions">
              <thead>
                <tr>
                  <th className="w-province">{t('allocation.province')}</th>
                  <th>{t('stock.warehouse')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {s.regions.length === 0 && (
                  <tr>
                    <td colSpan={3} className="muted center">
                      {t('allocation.empty_list')}
                    </td>
                  </tr>
                )}
                {s.regions.map((r, i) => (
                  <RegionRow
                    key={i}
                    rule={r}
                    error={provinceErrors[i]}
                    warehouses={warehouses}
                    onChange={(nr) =>
                      set(
                        'regions',
                        s.regions.map((x, j) => (j === i ? nr : x)),
                      )
                    }
                    onRemove={() =>
                      set(
                        'regions',
                        s.regions.filter((_, j) => j !== i),
                      )
                    }
                  />
                ))}
              </tbody>
            </table>
            <div className="panel-foot">
              <Button size="sm" icon="plus" onClick={() => set('regions', [...s.regions, { province: '', warehouses: [] }])}>
                {t('allocation.add_region')}
              </Button>
            </div>
          </Panel>
          <Panel title={t('allocation.fallback')} subtitle={t('allocation.fallback_hint')}>
            <WarehouseOrder value={s.fallback} onChange={(v) => set('fallback', v)} warehouses={warehouses} testId="fallback" />
          </Panel>
        </>
      )}

      <Panel>
        <label className="check">
          <input type="checkbox" name="allow_split" checked={s.allow_split} onChange={(e) => set('allow_split', e.target.checked)} />
          {t('allocation.allow_split')}
        </label>
        <div className="field-hint">{t('allocation.allow_split_hint')}</div>
        {save.isError && <ErrorText error={save.error} />}
        <div className="form-actions">
          <Button
            variant="primary"
            busy={save.isPending}
            disabled={invalid || lock.locked}
            title={lock.title}
            onClick={() => save.mutate()}
            data-testid="allocation-save"
          >
            {t('common.save')}
          </Button>
        </div>
      </Panel>
    </div>
  );
}

function clean(s: AllocationSettings): AllocationSettings {
  return { ...s, regions: s.regions.map((r) => ({ ...r, province: r.province.trim() })) };
}

function regionErrors(regions: RegionRule[]): (MsgKey | undefined)[] {
  const seen = new Set<string>();
  return regions.map((r) => {
    const p = r.province.trim();
    if (!p) return 'allocation.province_missing';
    if (seen.has(p)) return 'allocation.province_duplicate';
    seen.add(p);
    return undefined;
  });
}

function RegionRow({
  rule,
  error,
  warehouses,
  onChange,
  onRemove,
}: {
  rule: RegionRule;
  error: MsgKey | undefined;
  warehouses: Warehouse[];
  onChange: (r: RegionRule) => void;
  onRemove: () => void;
}) {
  const { t } = useI18n();
  const listId = useId();
  return (
    <tr data-province={rule.province}>
      <td className={cx(error && 'has-error')}>
        <input
          className="input-sm"
          list={listId}
          value={rule.province}
          onChange={(e) => onChange({ ...rule, province: e.target.value })}
          placeholder={t('allocation.province_placeholder')}
          aria-label={t('allocation.province')}
          name="province"
        />
        <datalist id={listId}>
          {PROVINCES.map((p) => (
            <option key={p} value={p} />
          ))}
        </datalist>
        {error && <div className="field-error">{t(error)}</div>}
      </td>
      <td>
        <WarehouseOrder value={rule.warehouses} onChange={(w) => onChange({ ...rule, warehouses: w })} warehouses={warehouses} compact />
      </td>
      <td className="num">
        <Button size="sm" variant="ghost" onClick={onRemove}>
          {t('common.remove')}
        </Button>
      </td>
    </tr>
  );
}

/** An ordered list of warehouses: add, move up and down, remove. */
function WarehouseOrder({
  value,
  onChange,
  warehouses,
  compact,
  testId,
}: {
  value: string[];
  onChange: (v: string[]) => void;
  warehouses: Warehouse[];
  compact?: boolean;
  testId?: string;
}) {
  const { t } = useI18n();
  const name = new Map(warehouses.map((w) => [w.code, w.name]));
  const rest = warehouses.filter((w) => !value.includes(w.code));
  const move = (i: number, d: -1 | 1) => {
    const v = [...value];
    const j = i + d;
    if (j < 0 || j >= v.length) return;
    [v[i], v[j]] = [v[j]!, v[i]!];
    onChange(v);
  };
  return (
    <div className={cx('wh-order', compact && 'is-compact')} data-testid={testId}>
      {value.length === 0 && <span className="muted small">{t('allocation.empty_list')}</span>}
      <ol>
        {value.map((code, i) => (
          <li key={code} data-warehouse={code}>
            <span className="wh-rank">{i + 1}</span>
            <span className="mono">{code}</span>
            <span className="muted small ellipsis">{name.get(code) ?? ''}</span>
            <span className="wh-actions">
              <button type="button" className="icon-btn" onClick={() => move(i, -1)} disabled={i === 0} aria-label={t('allocation.up')}>
                <Icon name="chevronLeft" size={14} className="rot-90" />
              </button>
              <button
                type="button"
                className="icon-btn"
                onClick={() => move(i, 1)}
                disabled={i === value.length - 1}
                aria-label={t('allocation.down')}
              >
                <Icon name="chevronRight" size={14} className="rot-90" />
              </button>
              <button
                type="button"
                className="icon-btn"
                onClick={() => onChange(value.filter((c) => c !== code))}
                aria-label={t('common.remove')}
              >
                <Icon name="x" size={14} />
              </button>
            </span>
          </li>
        ))}
      </ol>
      {rest.length > 0 && (
        <select
          className="input-sm"
          value=""
          onChange={(e) => e.target.value && onChange([...value, e.target.value])}
          aria-label={t('allocation.add_warehouse')}
        >
          <option value="">+ {t('allocation.add_warehouse')}</option>
          {rest.map((w) => (
            <option key={w.code} value={w.code}>
              {w.code} · {w.name}
            </option>
          ))}
        </select>
      )}
    </div>
  );
}
