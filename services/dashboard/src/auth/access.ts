// What the logged-in user may do, for display decisions only: actions the role lacks are
// disabled or hidden with a short explanation instead of being sent to meet a 403. The server
// enforces scopes on every call whatever the app shows.
import { useSyncExternalStore } from 'react';
import type { components } from '../api/schema';
import { getSession, subscribe } from './session';

export type Scope = components['schemas']['Scope'];

/** Every scope, in the order of `shared/auth/src/scope.rs` (grouped by area, read before write). */
export const SCOPES: readonly Scope[] = [
  'orders:read',
  'orders:write',
  'stock:read',
  'stock:write',
  'channels:read',
  'channels:write',
  'invoices:read',
  'invoices:write',
  'shipping:read',
  'shipping:write',
  'events:read',
  'events:write',
  'audit:read',
  'settings:write',
  'users:read',
  'users:write',
  'grants:read',
  'grants:write',
  'apps:read',
  'apps:write',
];

/** Scopes an app may never hold (`Scope::grantable` on the server): they stay with the owner. */
const NOT_GRANTABLE: readonly Scope[] = ['grants:read', 'grants:write', 'apps:read', 'apps:write', 'users:write'];

/** The scopes an app may register and be granted. */
export const GRANTABLE: readonly Scope[] = SCOPES.filter((s) => !NOT_GRANTABLE.includes(s));

export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

export interface Access {
  role: string | null;
  /** Whether the session's token carries `scope`; true when the token does not say. */
  can: (scope: Scope) => boolean;
}

function accessOf(scopes: string[] | null | undefined, role: string | null): Access {
  const set = scopes ? new Set(scopes) : null;
  return { role, can: (s) => (set ? set.has(s) : true) };
}

let cached: { scopes: string[] | null; role: string | null; access: Access } | null = null;

function snapshot(): Access {
  const s = getSession();
  const scopes = s?.scopes ?? null;
  const role = s?.role ?? null;
  if (!cached || cached.scopes !== scopes || cached.role !== role) cached = { scopes, role, access: accessOf(scopes, role) };
  return cached.access;
}

/** The current user's role and scopes. */
export function useAccess(): Access {
  return useSyncExternalStore(subscribe, snapshot);
}

/** Whether the current user's token carries `scope`. */
export function useCan(scope: Scope): boolean {
  return useAccess().can(scope);
}

/**
 * The scopes a 403 `insufficient_scope` names. The server's detail quotes them in backticks
 * ("This call needs the scope `settings:write`, …").
 */
export function scopesInDetail(detail: string): Scope[] {
  const out: Scope[] = [];
  for (const m of detail.matchAll(/`([^`]+)`/g)) {
    for (const s of (m[1] ?? '').split(/[ ,]+/)) if (isScope(s) && !out.includes(s)) out.push(s);
  }
  return out;
}
