// The access token lives in sessionStorage: it is kept for this tab only and dropped on
// logout, at its `exp`, or on any 401 from the API.

export interface Session {
  token: string;
  email: string;
  tenantId: string;
  /** The user's id (the JWT's `sub`). */
  userId: string;
  /** `owner` or `staff`; null when the token does not say (an older token). */
  role: string | null;
  /**
   * The scopes the token carries, from the login answer or the JWT's `scope` claim; null when
   * unknown. For display decisions only: the server enforces them.
   */
  scopes: string[] | null;
  /** Unix seconds, from the JWT. */
  exp: number;
}

/** The claims the app reads from its token (unverified: the server verifies). */
export interface Claims {
  exp?: number;
  tenant_id?: string;
  sub?: string;
  /** Space-separated scopes (RFC 9068). */
  scope?: string;
  roles?: string[];
}

export type LogoutReason = 'logout' | 'expired';

const KEY = 'cairn.session';
const NOTICE_KEY = 'cairn.notice';

type Listener = () => void;
const listeners = new Set<Listener>();
let current: Session | null = load();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

/** Decodes a JWT's payload without verifying it (the server does that). */
export function decodeJwt(token: string): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Claims;
  } catch {
    return null;
  }
}

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (!s.token || !s.exp) return null;
    if (s.exp * 1000 <= Date.now()) {
      sessionStorage.removeItem(KEY);
      sessionStorage.setItem(NOTICE_KEY, 'expired');
      return null;
    }
    // Sessions stored before roles existed lack these; the token says.
    return { ...describeToken(s.token), ...s, email: s.email ?? '' } as Session;
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

/** What a token says about its holder, read from its claims. */
function describeToken(token: string): Omit<Session, 'token' | 'email'> {
  const claims = decodeJwt(token);
  return {
    tenantId: claims?.tenant_id ?? '',
    userId: claims?.sub ?? '',
    role: claims?.roles?.[0] ?? null,
    scopes: typeof claims?.scope === 'string' ? claims.scope.split(/[ ,]+/).filter(Boolean) : null,
    // A token without `exp` is kept for a day at most: the server decides anyway.
    exp: claims?.exp ?? Math.floor(Date.now() / 1000) + 86_400,
  };
}

/**
 * Starts a session with `token`. The login answer's `role` and `scope` win over the token's
 * claims (signup and invitations answer with the token only, so there the claims say).
 */
export function startSession(token: string, email: string, known: { role?: string; scope?: string } = {}): Session {
  const fromToken = describeToken(token);
  current = {
    ...fromToken,
    token,
    email,
    role: known.role ?? fromToken.role,
    scopes: known.scope !== undefined ? known.scope.split(/[ ,]+/).filter(Boolean) : fromToken.scopes,
  };
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
