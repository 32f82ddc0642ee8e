// A SKU picker: type a code or part of a name, pick from the list the browser offers (a
// native <datalist>, so it scales to thousands of SKUs without a widget library).
import { useId } from 'react';
import type { Sku } from '../data';
import { useI18n } from '../i18n';
import { cx } from './components';

export function SkuPicker({
  value,
  onChange,
  skus,
  label: ariaLabel,
  name,
  disabled,
  className,
}: {
  value: string;
  onChange: (code: string) => void;
  skus: readonly Sku[];
  label: string;
  name?: string;
  disabled?: boolean;
  className?: string;
}) {
  const { t } = useI18n();
  const listId = useId();
  const v = value.trim();
  const unknown = v !== '' && skus.length > 0 && !skus.some((s) => s.code === v);
  return (
    <span className={cx('sku-picker', unknown && 'has-error', className)}>
      <input
        className="input-sm mono"
        list={listId}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder={t('sku_picker.placeholder')}
        aria-label={ariaLabel}
        aria-invalid={unknown || undefined}
        name={name}
        disabled={disabled}
        autoComplete="off"
        spellCheck={false}
      />
      <datalist id={listId}>
        {skus.map((s) => (
          <option key={s.code} value={s.code}>
            {s.name}
          </option>
        ))}
      </datalist>
      {unknown && (
        <span className="sku-picker-error small text-red" data-testid="sku-unknown">
          {t('sku_picker.unknown')}
        </span>
      )}
    </span>
  );
}
