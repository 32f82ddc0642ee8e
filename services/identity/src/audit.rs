//! The API audit log: every mutating call (POST, PUT, PATCH, DELETE) of a caller whose token
//! verified — who (user or app), the tenant, the operation, the status (refusals included:
//! 403 for a missing scope, 429 past the rate limit), the `Idempotency-Key` and when. The
//! [`auth::Guard`] around the API hands each call to [`AuditLog`]; `GET /v1/audit-log` lists
//! the tenant's, newest first. Webhooks are not here (no caller token; the inbox keeps them).
//!
//! The row is written after the call's own transaction, before the answer leaves: a crash
//! between the two loses the row, never the call's effect. Rows are kept until deleted by
//! the operator (no retention policy yet).

use crate::db::{api_audit_log, apps, users};
use auth::{AuditEntry, AuditSink, BearerAuth, Scope};
use kernel::SharedClock;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, param::Query};
use problem::status::READ;
use problem::{ApiResult, Code, Json, Problem};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::{collections::HashMap, future::Future, pin::Pin};
use uuid::Uuid;

/// Writes audit entries.
pub struct AuditLog {
    db: store::Db,
    clock: SharedClock,
}

impl AuditLog {
    pub fn new(db: store::Db, clock: SharedClock) -> AuditLog {
        AuditLog { db, clock }
    }

    async fn write(&self, e: AuditEntry) -> Result<(), sea_orm::DbErr> {
        let row = api_audit_log::Model {
            tenant_id: e.ctx.tenant_id.0,
            id: kernel::new_id(),
            at: self.clock.now(),
            actor: e.ctx.actor.to_string(),
            method: e.method,
            route: e.route,
            path: e.path.chars().take(500).collect(),
            status: i64::from(e.status),
            idempotency_key: e.idempotency_key,
        };
        let tx = self.db.tenant(row.tenant_id).write_named("audit").await?;
        api_audit_log::Entity::insert(api_audit_log::ActiveModel::from(row)).exec_without_returning(&*tx).await?;
        tx.commit().await
    }
}

impl AuditSink for AuditLog {
    fn record(&self, entry: AuditEntry) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let (tenant, route) = (entry.ctx.tenant_id, entry.route.clone());
            if let Err(e) = self.write(entry).await {
                tracing::error!(tenant_id = %tenant, %route, error = %e, "could not record an API call in the audit log");
            }
        })
    }
}

#[derive(Tags)]
enum Tag {
    /// Who changed what through the API.
    Audit,
}

/// The audit-log API.
pub struct AuditApi {
    db: store::Db,
}

impl AuditApi {
    pub fn new(db: store::Db) -> AuditApi {
        AuditApi { db }
    }
}

/// A user or an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
enum ActorKind {
    User,
    App,
}

#[derive(Debug, Object)]
struct AuditEntryDto {
    id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    actor_kind: ActorKind,
    actor_id: Uuid,
    /// The user's email or the app's name (`null` if since deleted).
    #[oai(nullable)]
    actor_name: Option<String>,
    method: String,
    /// The operation, e.g. `/v1/orders/{id}/hold`.
    route: String,
    path: String,
    status: u16,
    #[oai(nullable)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Object)]
struct AuditPage {
    entries: Vec<AuditEntryDto>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    #[oai(nullable)]
    next_cursor: Option<Uuid>,
}

#[derive(ApiResponse)]
enum AuditFound {
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
}

/// Which calls to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
enum Outcome {
    /// 2xx.
    Succeeded,
    /// 4xx and 5xx.
    Failed,
}

fn parse_actor(s: &str) -> Option<(ActorKind, Uuid)> {
    let (kind, id) = s.split_once(':')?;
    let kind = match kind {
        "user" => ActorKind::User,
        "app" => ActorKind::App,
        _ => return None,
    };
    Some((kind, Uuid::try_parse(id).ok()?))
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Audit")]
impl AuditApi {
    /// The tenant's API audit log, newest first.
    #[oai(path = "/audit-log", method = "get")]
    async fn list(
        &self,
        #[oai(scope = "Scope::AuditRead")] auth: BearerAuth,
        /// Only this caller: `user:<id>` or `app:<client_id>`.
        actor: Query<Option<String>>,
        outcome: Query<Option<Outcome>>,
        /// The `next_cursor` of the previous page.
        before: Query<Option<Uuid>>,
        /// At most 200.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<u64>,
    ) -> ApiResult<AuditFound, READ> {
        let t = auth.0.tenant_id.0;
        let db = self.db.tenant(t);
        let mut q = api_audit_log::Entity::find().filter(api_audit_log::Column::TenantId.eq(t));
        if let Some(a) = actor.0.as_deref() {
            if parse_actor(a).is_none() {
                return Err(Problem::new(Code::InvalidInput, "actor must be user:<id> or app:<client_id>").into());
            }
            q = q.filter(api_audit_log::Column::Actor.eq(a));
        }
        match outcome.0 {
            Some(Outcome::Succeeded) => q = q.filter(api_audit_log::Column::Status.lt(400)),
            Some(Outcome::Failed) => q = q.filter(api_audit_log::Column::Status.gte(400)),
            None => {}
        }
        if let Some(b) = before.0 {
            q = q.filter(api_audit_log::Column::Id.lt(b));
        }
        let rows = q
            .order_by_desc(api_audit_log::Column::Id)
            .limit(limit.0 + 1)
            .all(db.conn())
            .await
            .map_err(Problem::internal)?;
        let more = rows.len() as u64 > limit.0;
        let rows: Vec<_> = rows.into_iter().take(limit.0 as usize).collect();
        let names = self.names(t, &rows).await?;
        let next_cursor = if more { rows.last().map(|r| r.id) } else { None };
        let entries = rows
            .into_iter()
            .filter_map(|r| {
                let (kind, id) = parse_actor(&r.actor)?;
                Some(AuditEntryDto {
                    id: r.id,
                    at: r.at,
                    actor_kind: kind,
                    actor_id: id,
                    actor_name: names.get(&id).cloned(),
                    method: r.method,
                    route: r.route,
                    path: r.path,
                    status: u16::try_from(r.status).unwrap_or(0),
                    idempotency_key: r.idempotency_key,
                })
            })
            .collect();
        Ok(AuditFound::Ok(Json(AuditPage { entries, next_cursor })))
    }
}

fn default_limit() -> u64 {
    50
}

impl AuditApi {
    /// Users' emails and apps' names for the page's actors.
    async fn names(&self, tenant: Uuid, rows: &[api_audit_log::Model]) -> Result<HashMap<Uuid, String>, Problem> {
        let mut user_ids = Vec::new();
        let mut app_ids = Vec::new();
        for r in rows {
            match parse_actor(&r.actor) {
                Some((ActorKind::User, id)) if !user_ids.contains(&id) => user_ids.push(id),
                Some((ActorKind::App, id)) if !app_ids.contains(&id) => app_ids.push(id),
                _ => {}
            }
        }
        let mut names = HashMap::new();
        if !user_ids.is_empty() {
            for u in users::Entity::find()
                .filter(users::Column::TenantId.eq(tenant))
                .filter(users::Column::Id.is_in(user_ids))
                .all(self.db.tenant(tenant).conn())
                .await
                .map_err(Problem::internal)?
            {
                names.insert(u.id, u.email);
            }
        }
        if !app_ids.is_empty() {
            // Apps are registered by other tenants (their ISVs): their names are looked up
            // across tenants, by the ids this tenant's own rows name.
            for a in apps::Entity::find()
                .filter(apps::Column::Id.is_in(app_ids))
                .all(self.db.system().conn())
                .await
                .map_err(Problem::internal)?
            {
                names.insert(a.id, a.name);
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn actors_parse() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(super::parse_actor(&format!("user:{id}")).map(|a| a.1), Some(id));
        assert!(super::parse_actor("root").is_none());
        assert!(super::parse_actor("user:nope").is_none());
    }
}
