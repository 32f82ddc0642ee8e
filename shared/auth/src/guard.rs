//! The middleware around the API: marks each request with the scopes its operation needs (for
//! the checker), and afterwards puts the rate-limit headers on the answer and records every
//! mutating call of a known caller in the audit log.

use crate::{AuthSlot, Required, ScopeTable, TenantContext};
use poem::{Endpoint, IntoResponse, Request, Response, http::Method};
use std::{future::Future, pin::Pin, sync::Arc};

/// One mutating call, as the audit log keeps it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub ctx: TenantContext,
    pub method: String,
    /// The operation's path template (`/v1/orders/{id}/hold`), or the path if none matched.
    pub route: String,
    /// The path as called.
    pub path: String,
    pub status: u16,
    pub idempotency_key: Option<String>,
}

/// Where audit entries go. A failure to record is logged, never turned into a failed call
/// (the call's effect is already committed).
pub trait AuditSink: Send + Sync {
    fn record(&self, entry: AuditEntry) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Wraps the API endpoint (see the module doc).
pub struct Guard<E> {
    pub table: Arc<ScopeTable>,
    pub audit: Option<Arc<dyn AuditSink>>,
    pub inner: E,
}

fn mutating(m: &Method) -> bool {
    matches!(*m, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

impl<E: Endpoint> Endpoint for Guard<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let route = self.table.route(&method, &path);
        if let Some((_, scopes)) = route {
            req.set_data(Required(scopes));
        }
        let route = route.map(|(t, _)| t.to_owned());
        let idempotency_key =
            req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(|v| v.chars().take(200).collect());
        let slot = AuthSlot::default();
        req.set_data(slot.clone());
        let mut resp = match self.inner.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => problem::catch_all(e).await,
        };
        let (ctx, rate) = slot.get();
        if let Some(rate) = rate {
            rate.apply(resp.headers_mut());
        }
        if let (Some(ctx), Some(audit)) = (ctx, &self.audit)
            && mutating(&method)
        {
            let entry = AuditEntry {
                ctx,
                method: method.to_string(),
                route: route.unwrap_or_else(|| path.clone()),
                path,
                status: resp.status().as_u16(),
                idempotency_key,
            };
            audit.record(entry).await;
        }
        Ok(resp)
    }
}
