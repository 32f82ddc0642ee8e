import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './schema';
import type { PlannedPaths } from './planned';
import type { AllocationPaths } from './allocation';
import { ApiError, toApiError } from './problem';
import { endSession, getToken } from '../auth/session';

export type Paths = paths & PlannedPaths & AllocationPaths;

/** Calls that carry no bearer token; their 401 means wrong credentials, not an expired session. */
const PUBLIC = ['/v1/auth/token', '/v1/signup', '/v1/invites/accept'];

const auth: Middleware = {
  onRequest({ request }) {
    const path = new URL(request.url, location.origin).pathname;
    if (PUBLIC.includes(path)) return request;
    // A call may bring its own token (a new user's, before the session holds it).
    if (request.headers.has('Authorization')) return request;
    const token = getToken();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    const path = new URL(request.url, location.origin).pathname;
    if (response.status === 401 && !PUBLIC.includes(path) && request.headers.get('Authorization') === `Bearer ${getToken()}`)
      endSession('expired');
    return response;
  },
};

/** The typed client: same origin, so it works behind the Vite proxy and embedded in cairn. */
export const api = createClient<Paths>({ baseUrl: '' });
api.use(auth);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Resolves to the data of a 2xx answer; throws an ApiError for anything else. */
export async function call<T>(p: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await p;
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, null, e instanceof Error ? e.message : String(e));
  }
  if (!r.response.ok) throw toApiError(r.response.status, r.error);
  return r.data as T;
}

/**
 * A binary download (PDF, CSV) with the bearer token, which a plain link cannot send.
 * Returns the blob and the file name from Content-Disposition.
 */
export async function fetchBlob(url: string): Promise<{ blob: Blob; filename: string | null }> {
  const token = getToken();
  let res: Response;
  try {
    res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  } catch (e) {
    throw new ApiError(0, null, e instanceof Error ? e.message : String(e));
  }
  if (res.status === 401) endSession('expired');
  if (!res.ok) {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    throw toApiError(res.status, body);
  }
  const cd = res.headers.get('Content-Disposition') ?? '';
  const m = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(cd);
  const filename = m ? decodeURIComponent((m[1] ?? m[2] ?? '').trim()) : null;
  return { blob: await res.blob(), filename };
}

/** A fresh idempotency key; crypto.randomUUID needs a secure context, so fall back. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
