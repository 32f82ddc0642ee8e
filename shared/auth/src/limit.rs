//! Rate limits per (caller, tenant): a user of a tenant, or an app under one tenant's grant.
//!
//! GCRA (governor): a caller may spend `per_minute` requests at once and earns them back
//! evenly over the minute. Every answer to an authenticated call carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the full allowance is back);
//! past the limit the answer is 429 `rate_limited` with `Retry-After`. An app's limit is
//! what it registered (`rate_limit_per_minute`), else the server's default for apps.
//!
//! The state is per process: with N instances behind a balancer a caller may get up to N
//! times its allowance. Signed webhooks are never limited here (they carry no bearer token):
//! the marketplace's deliveries must not be refused into lost orders.

use crate::{Actor, TenantContext};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::HashMapStateStore,
};
use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};
use uuid::Uuid;

type Keyed = RateLimiter<(Uuid, Uuid), HashMapStateStore<(Uuid, Uuid)>, DefaultClock, StateInformationMiddleware>;

/// What the answer's headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full allowance is back.
    pub reset_seconds: u64,
    /// Set when the call was refused: seconds to wait.
    pub retry_after: Option<u64>,
}

/// The server's rate limits.
pub struct Limits {
    users_per_minute: NonZeroU32,
    apps_per_minute: NonZeroU32,
    clock: DefaultClock,
    /// One keyed limiter per distinct allowance (apps may each register their own).
    by_quota: Mutex<HashMap<u32, Arc<Keyed>>>,
}

impl Limits {
    /// Limits with these defaults (requests per minute per caller and tenant).
    pub fn new(users_per_minute: u32, apps_per_minute: u32) -> Limits {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        Limits {
            users_per_minute: nz(users_per_minute),
            apps_per_minute: nz(apps_per_minute),
            clock: DefaultClock::default(),
            by_quota: Mutex::new(HashMap::new()),
        }
    }

    fn limiter(&self, per_minute: NonZeroU32) -> Arc<Keyed> {
        let mut map = self.by_quota.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(per_minute.get())
            .or_insert_with(|| {
                Arc::new(
                    RateLimiter::hashmap_with_clock(Quota::per_minute(per_minute), self.clock.clone())
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    /// Spends one request of `ctx`'s allowance (`app_limit`: the app's own, if it set one).
    pub fn spend(&self, ctx: &TenantContext, app_limit: Option<u32>) -> RateState {
        let (who, per_minute) = match ctx.actor {
            Actor::User(id) => (id, self.users_per_minute),
            Actor::App { app_id, .. } => (app_id, app_limit.and_then(NonZeroU32::new).unwrap_or(self.apps_per_minute)),
        };
        let limiter = self.limiter(per_minute);
        let limit = per_minute.get();
        let per_request = Duration::from_secs(60) / limit;
        match limiter.check_key(&(who, ctx.tenant_id.0)) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let reset = per_request * (limit - remaining.min(limit));
                RateState { limit, remaining, reset_seconds: reset.as_secs_f64().ceil() as u64, retry_after: None }
            }
            Err(not_until) => {
                telemetry::metrics::rate_limit_rejected(match ctx.actor {
                    Actor::User(_) => "user",
                    Actor::App { .. } => "app",
                });
                let wait = not_until.wait_time_from(self.clock.now());
                let wait_s = wait.as_secs_f64().ceil().max(1.0) as u64;
                let reset = per_request * limit;
                RateState {
                    limit,
                    remaining: 0,
                    reset_seconds: reset.as_secs_f64().ceil() as u64,
                    retry_after: Some(wait_s),
                }
            }
        }
    }

    /// Forgets callers whose allowance is full again (call now and then).
    pub fn prune(&self) {
        let map = self.by_quota.lock().unwrap_or_else(|e| e.into_inner());
        for l in map.values() {
            l.retain_recent();
        }
    }
}

impl RateState {
    /// The `RateLimit-*` headers (and `Retry-After` when refused).
    pub fn apply(&self, headers: &mut poem::http::HeaderMap) {
        let mut set = |k: &'static str, v: u64| {
            headers.insert(k, poem::http::HeaderValue::from(v));
        };
        set("ratelimit-limit", u64::from(self.limit));
        set("ratelimit-remaining", u64::from(self.remaining));
        set("ratelimit-reset", self.reset_seconds);
        if let Some(r) = self.retry_after {
            set("retry-after", r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, Scopes};
    use kernel::TenantId;

    #[test]
    fn an_allowance_runs_out_per_caller_and_tenant() {
        let limits = Limits::new(3, 2);
        let user = TenantContext::user(TenantId(Uuid::now_v7()), Uuid::now_v7(), Role::Owner);
        let states: Vec<RateState> = (0..4).map(|_| limits.spend(&user, None)).collect();
        assert_eq!(states.iter().map(|s| s.remaining).collect::<Vec<_>>(), [2, 1, 0, 0]);
        assert_eq!(states[0].limit, 3);
        assert!(states[..3].iter().all(|s| s.retry_after.is_none()));
        assert!(states[3].retry_after.is_some_and(|r| (1..=20).contains(&r)), "{:?}", states[3]);
        // Another tenant's allowance is its own.
        let other = TenantContext::user(TenantId(Uuid::now_v7()), Uuid::now_v7(), Role::Owner);
        assert!(limits.spend(&other, None).retry_after.is_none());
        // An app uses its own limit, or the apps' default.
        let app = TenantContext {
            tenant_id: TenantId(Uuid::now_v7()),
            actor: Actor::App { app_id: Uuid::now_v7(), grant_id: Uuid::now_v7() },
            role: None,
            scopes: Scopes::default(),
        };
        assert_eq!(limits.spend(&app, None).limit, 2);
        assert_eq!(limits.spend(&app, Some(10)).limit, 10);
        let mut h = poem::http::HeaderMap::new();
        states[3].apply(&mut h);
        assert_eq!(h["ratelimit-remaining"], "0");
        assert!(h.contains_key("retry-after"));
    }
}
