import { useSyncExternalStore } from 'react';
import { zhCN, type MsgKey } from './zh-CN';
import { en } from './en';

export type Lang = 'zh-CN' | 'en';
export type { MsgKey };

const dicts = { 'zh-CN': zhCN, en } as const;

const LANG_KEY = 'cairn.lang';
const TZ_KEY = 'cairn.tz';
export const DEFAULT_TZ = 'Asia/Shanghai';

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

interface Prefs {
  lang: Lang;
  tz: string;
}

function validTz(tz: string | null): tz is string {
  if (!tz) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

let prefs: Prefs = {
  lang: read(LANG_KEY) === 'en' ? 'en' : 'zh-CN',
  tz: validTz(read(TZ_KEY)) ? (read(TZ_KEY) as string) : DEFAULT_TZ,
};
const listeners = new Set<() => void>();

function apply() {
  document.documentElement.lang = prefs.lang;
}
apply();

export function setLang(lang: Lang) {
  prefs = { ...prefs, lang };
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* private mode: remembered for this page only */
  }
  apply();
  for (const l of listeners) l();
}

export function setTimeZone(tz: string) {
  if (!validTz(tz)) return;
  prefs = { ...prefs, tz };
  try {
    localStorage.setItem(TZ_KEY, tz);
  } catch {
    /* ignore */
  }
  for (const l of listeners) l();
}

export function getPrefs(): Prefs {
  return prefs;
}

export type Vars = Record<string, string | number>;

/** Translates a key; `{name}` placeholders are filled from vars. */
export function translate(lang: Lang, key: MsgKey, vars?: Vars): string {
  const s: string = dicts[lang][key];
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

export type T = (key: MsgKey, vars?: Vars) => string;

export interface I18n {
  lang: Lang;
  tz: string;
  t: T;
}

const cache = new Map<Lang, T>();
function tFor(lang: Lang): T {
  let t = cache.get(lang);
  if (!t) {
    t = (key, vars) => translate(lang, key, vars);
    cache.set(lang, t);
  }
  return t;
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useI18n(): I18n {
  const p = useSyncExternalStore(subscribe, getPrefs);
  return { lang: p.lang, tz: p.tz, t: tFor(p.lang) };
}

/** Whether a key exists (for codes and states that come from the server). */
export function hasKey(key: string): key is MsgKey {
  return key in zhCN;
}
