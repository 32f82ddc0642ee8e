// Money, numbers and dates for the seller. Money arrives as decimal strings ("398.00") and
// is never turned into a float: it is formatted as a string and summed as integer fen.
import type { Lang } from './i18n';

const MONEY_RE = /^([+-])?(\d+)(?:\.(\d+))?$/;

function group(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1234.5" → "¥1,234.50"; "-12" → "-¥12.00"; unknown shapes are shown as they came. */
export function formatMoney(amount: string | null | undefined, currency = 'CNY'): string {
  if (amount === null || amount === undefined || amount === '') return '—';
  const m = MONEY_RE.exec(amount.trim());
  if (!m) return amount;
  const sign = m[1] === '-' && /[1-9]/.test(amount) ? '-' : '';
  const int = group(m[2]!.replace(/^0+(?=\d)/, ''));
  const frac = (m[3] ?? '').padEnd(2, '0');
  const symbol = currency === 'CNY' || currency === '' ? '¥' : `${currency} `;
  return `${sign}${symbol}${int}.${frac}`;
}

/** Sums decimal strings exactly (as scaled integers) and returns a decimal string. */
export function sumMoney(amounts: readonly string[]): string {
  let scale = 2;
  for (const a of amounts) {
    const m = MONEY_RE.exec(a.trim());
    if (m?.[3]) scale = Math.max(scale, m[3].length);
  }
  let total = 0n;
  for (const a of amounts) {
    const m = MONEY_RE.exec(a.trim());
    if (!m) continue;
    const frac = (m[3] ?? '').padEnd(scale, '0');
    const v = BigInt(m[2]! + frac);
    total += m[1] === '-' ? -v : v;
  }
  const neg = total < 0n;
  const digits = (neg ? -total : total).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

const locales: Record<Lang, string> = { 'zh-CN': 'zh-CN', en: 'en-GB' };

const cache = new Map<string, Intl.DateTimeFormat>();
function dtf(lang: Lang, tz: string, opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${lang}|${tz}|${JSON.stringify(opts)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locales[lang], { timeZone: tz, hourCycle: 'h23', ...opts });
    cache.set(key, f);
  }
  return f;
}

function parse(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** 2026-11-11 00:00:03 in the seller's time zone. */
export function formatDateTime(iso: string | null | undefined, lang: Lang, tz: string, seconds = true): string {
  const d = parse(iso);
  if (!d) return '—';
  const parts = dtf(lang, tz, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const time = `${get('hour')}:${get('minute')}${seconds ? `:${get('second')}` : ''}`;
  return `${get('year')}-${get('month')}-${get('day')} ${time}`;
}

export function formatTime(iso: string | null | undefined, lang: Lang, tz: string): string {
  const d = parse(iso);
  if (!d) return '—';
  return dtf(lang, tz, { hour: '2-digit', minute: '2-digit' }).format(d);
}

/** The calendar date (YYYY-MM-DD) of an instant in a time zone. */
export function dateInZone(d: Date, tz: string): string {
  const parts = dtf('en', tz, { year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}`;
}

/** The offset of a time zone at an instant, in minutes east of UTC. */
function offsetMinutes(d: Date, tz: string): number {
  const parts = dtf('en', tz, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(d);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? '0');
  const asUtc = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour') % 24, n('minute'), n('second'));
  return Math.round((asUtc - d.getTime()) / 60000);
}

/** Midnight of a calendar date (YYYY-MM-DD) in a time zone, as an instant. */
export function startOfDayInZone(date: string, tz: string): Date {
  const [y, m, day] = date.split('-').map(Number) as [number, number, number];
  const guess = new Date(Date.UTC(y, m - 1, day));
  const off = offsetMinutes(guess, tz);
  const d = new Date(guess.getTime() - off * 60000);
  // Correct across a DST change between the guess and the answer.
  const off2 = offsetMinutes(d, tz);
  return off2 === off ? d : new Date(guess.getTime() - off2 * 60000);
}

/** The end of a calendar date (exclusive: next midnight) in a time zone. */
export function endOfDayInZone(date: string, tz: string): Date {
  const start = startOfDayInZone(date, tz);
  return startOfDayInZone(dateInZone(new Date(start.getTime() + 36 * 3600_000), tz), tz);
}

export function formatInt(n: number | null | undefined, lang: Lang): string {
  if (n === null || n === undefined) return '—';
  return new Intl.NumberFormat(locales[lang]).format(n);
}

/** "3 分钟前" / "3 min ago". */
export function formatAgo(iso: string | null | undefined, lang: Lang, now = Date.now()): string {
  const d = parse(iso);
  if (!d) return '—';
  return formatDuration((now - d.getTime()) / 1000, lang, true);
}

/** A duration in seconds, short: "42 秒", "5 min", "2 h 3 min". */
export function formatDuration(seconds: number | null | undefined, lang: Lang, ago = false): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  const zh = lang === 'zh-CN';
  let out: string;
  if (s < 60) out = zh ? `${s} 秒` : `${s} s`;
  else if (s < 3600) out = zh ? `${Math.floor(s / 60)} 分钟` : `${Math.floor(s / 60)} min`;
  else if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    out = zh ? `${h} 小时${m ? ` ${m} 分` : ''}` : `${h} h${m ? ` ${m} min` : ''}`;
  } else out = zh ? `${Math.floor(s / 86400)} 天` : `${Math.floor(s / 86400)} d`;
  if (!ago) return out;
  if (s < 5) return zh ? '刚刚' : 'just now';
  return zh ? `${out}前` : `${out} ago`;
}

/** A `datetime-local` value (YYYY-MM-DDTHH:mm) read as a wall-clock time in a time zone. */
export function instantInZone(local: string, tz: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  const off = offsetMinutes(new Date(guess), tz);
  const first = new Date(guess - off * 60000);
  const off2 = offsetMinutes(first, tz);
  return off2 === off ? first : new Date(guess - off2 * 60000);
}

/** An instant as a `datetime-local` value (YYYY-MM-DDTHH:mm) in a time zone. */
export function localInputInZone(d: Date, tz: string): string {
  const parts = dtf('en', tz, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}
