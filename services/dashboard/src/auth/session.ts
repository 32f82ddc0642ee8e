// The access token lives in sessionStorage: it is kept for this tab only and dropped on
// logout, at its `exp`, or on any 401 from the API.

export interface Session {
  token: string;
  email: string;
  tenantId: string;
  /** Unix seconds, from the JWT. */
  exp: number;
}

export type LogoutReason = 'logout' | 'expired';

const KEY = 'cairn.session';
const NOTICE_KEY = 'cairn.notice';

type Listener = () => void;
const listeners = new Set<Listener>();
let current: Session | null = load();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

/** Decodes a JWT's payload without verifying it (the server does that). */
export function decodeJwt(token: string): { exp?: number; tenant_id?: string; sub?: string } | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as { exp?: number; tenant_id?: string; sub?: string };
  } catch {
    return null;
  }
}

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token || !s.exp) return null;
    if (s.exp * 1000 <= Date.now()) {
      sessionStorage.removeItem(KEY);
      sessionStorage.setItem(NOTICE_KEY, 'expired');
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

function emit() {
  for (const l of listeners) l();
}

function armExpiry() {
  clearTimeout(expiryTimer);
  if (!current) return;
  // setTimeout holds at most ~24.8 days; re-arm past that.
  const ms = Math.min(current.exp * 1000 - Date.now(), 2 ** 31 - 1);
  expiryTimer = setTimeout(
    () => {
      if (current && current.exp * 1000 <= Date.now() + 1000) endSession('expired');
      else armExpiry();
    },
    Math.max(ms, 0),
  );
}

export function getSession(): Session | null {
  return current;
}

export function getToken(): string | null {
  if (current && current.exp * 1000 <= Date.now()) {
    endSession('expired');
    return null;
  }
  return current?.token ?? null;
}

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function startSession(token: string, email: string): Session {
  const claims = decodeJwt(token);
  // A token without `exp` is kept for a day at most: the server decides anyway.
  const exp = claims?.exp ?? Math.floor(Date.now() / 1000) + 86_400;
  current = { token, email, tenantId: claims?.tenant_id ?? '', exp };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  sessionStorage.removeItem(NOTICE_KEY);
  armExpiry();
  emit();
  return current;
}

export function endSession(reason: LogoutReason) {
  if (!current) return;
  current = null;
  clearTimeout(expiryTimer);
  sessionStorage.removeItem(KEY);
  if (reason === 'expired') sessionStorage.setItem(NOTICE_KEY, 'expired');
  else sessionStorage.removeItem(NOTICE_KEY);
  emit();
}

/** The notice to show on the login screen once (e.g. the session expired). */
export function takeNotice(): 'expired' | null {
  const n = sessionStorage.getItem(NOTICE_KEY);
  return n === 'expired' ? 'expired' : null;
}

export function clearNotice() {
  sessionStorage.removeItem(NOTICE_KEY);
}

armExpiry();
