//! `/v1/subscriptions`: subscribe URLs to events, see every delivery and its attempts,
//! redeliver one, replay a time range, enable a disabled subscription again.

use crate::{
    catalog::EventType,
    db::{event_deliveries, event_delivery_attempts, event_subscriptions},
    sign,
};
use auth::{BearerAuth, Scope};
use kernel::SharedClock;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
};
use problem::status::{AUTHENTICATED, CONFLICT, READ_BY_ID, WRITE, WRITE_BY_ID};
use problem::{ApiResult, Code, Json, Problem};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Event subscriptions: the tenant's events, delivered to URLs (Standard Webhooks).
    Subscriptions,
}

/// The subscriptions API.
pub struct SubscriptionsApi {
    db: store::Db,
    clock: SharedClock,
    allow_private_targets: bool,
}

impl SubscriptionsApi {
    pub fn new(db: store::Db, clock: SharedClock, allow_private_targets: bool) -> Self {
        SubscriptionsApi { db, clock, allow_private_targets }
    }
}

#[derive(Debug, Object)]
struct SubscriptionIn {
    /// Where to POST the events. `https://`; plain `http://` and private or loopback
    /// addresses only where the operator allows them (`cairn up` does).
    #[oai(validator(min_length = 8, max_length = 2000))]
    url: String,
    #[oai(validator(min_items = 1, max_items = 20))]
    event_types: Vec<EventType>,
    #[oai(default, validator(max_length = 200))]
    description: String,
}

#[derive(Debug, Object)]
struct SubscriptionUpdate {
    #[oai(validator(min_length = 8, max_length = 2000))]
    url: String,
    #[oai(validator(min_items = 1, max_items = 20))]
    event_types: Vec<EventType>,
    #[oai(default, validator(max_length = 200))]
    description: String,
    /// `true` enables a disabled subscription (its waiting deliveries go out again);
    /// `false` pauses it (deliveries wait).
    enabled: bool,
}

/// `active` or `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename = "SubscriptionStatus", rename_all = "snake_case")]
enum Status {
    Active,
    Disabled,
}

#[derive(Debug, Object)]
struct SubscriptionDto {
    id: Uuid,
    url: String,
    event_types: Vec<EventType>,
    description: String,
    status: Status,
    /// Why it was disabled (by the seller, or after three days of failures).
    #[oai(nullable)]
    disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    #[oai(nullable)]
    failing_since: Option<chrono::DateTime<chrono::Utc>>,
    /// `user:<id>` or `app:<client_id>`.
    created_by: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn dto(s: event_subscriptions::Model) -> SubscriptionDto {
    SubscriptionDto {
        id: s.id,
        url: s.url,
        event_types: s.event_types.split(' ').filter_map(EventType::parse).collect(),
        description: s.description,
        status: if s.status == "active" { Status::Active } else { Status::Disabled },
        disabled_reason: s.disabled_reason,
        failing_since: s.failing_since,
        created_by: s.created_by,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

#[derive(Debug, Object)]
struct SubscriptionCreatedDto {
    subscription: SubscriptionDto,
    /// Verifies the `webhook-signature` of each delivery (Standard Webhooks). Shown once.
    secret: String,
}

#[derive(ApiResponse)]
enum Created {
    #[oai(status = 201)]
    Created(Json<SubscriptionCreatedDto>),
}

#[derive(ApiResponse)]
enum Found {
    #[oai(status = 200)]
    Ok(Json<SubscriptionDto>),
}

#[derive(Debug, Object)]
struct SubscriptionList {
    subscriptions: Vec<SubscriptionDto>,
}

#[derive(ApiResponse)]
enum Listed {
    #[oai(status = 200)]
    Ok(Json<SubscriptionList>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted (its waiting deliveries are given up).
    #[oai(status = 204)]
    NoContent,
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename = "DeliveryStatus", rename_all = "snake_case")]
enum DeliveryStatus {
    /// Not delivered yet: due at `next_attempt_at`, or waiting for its subscription to be
    /// enabled (no `next_attempt_at`).
    Pending,
    Delivered,
    /// Given up (the subscription was deleted).
    Failed,
}

#[derive(Debug, Object)]
struct AttemptDto {
    at: chrono::DateTime<chrono::Utc>,
    /// The receiver's HTTP status; `null` when it did not answer.
    #[oai(nullable)]
    status_code: Option<i64>,
    #[oai(nullable)]
    error: Option<String>,
    duration_ms: i64,
}

#[derive(Debug, Object)]
struct DeliveryDto {
    /// The delivery id; the `webhook-id` header is `msg_` and this id without dashes.
    id: Uuid,
    event_id: Uuid,
    event_type: EventType,
    occurred_at: chrono::DateTime<chrono::Utc>,
    status: DeliveryStatus,
    attempts: i64,
    #[oai(nullable)]
    next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    #[oai(nullable)]
    last_status_code: Option<i64>,
    #[oai(nullable)]
    last_error: Option<String>,
    #[oai(nullable)]
    delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Newest first, at most ten.
    attempt_log: Vec<AttemptDto>,
}

#[derive(Debug, Object)]
struct DeliveryPage {
    deliveries: Vec<DeliveryDto>,
    /// Pass as `before` for older ones; `null` on the last page.
    #[oai(nullable)]
    next_cursor: Option<Uuid>,
}

#[derive(ApiResponse)]
enum DeliveriesFound {
    #[oai(status = 200)]
    Ok(Json<DeliveryPage>),
}

#[derive(ApiResponse)]
enum Redelivering {
    /// Queued to go out now.
    #[oai(status = 202)]
    Accepted(Json<DeliveryDto>),
}

#[derive(Debug, Object)]
struct ReplayIn {
    /// Events that occurred at or after this time…
    since: chrono::DateTime<chrono::Utc>,
    /// …and before this one.
    until: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Object)]
struct ReplayOut {
    /// Deliveries queued to go out again.
    requeued: u64,
}

#[derive(ApiResponse)]
enum Replaying {
    #[oai(status = 202)]
    Accepted(Json<ReplayOut>),
}

fn delivery_status(s: &str) -> DeliveryStatus {
    match s {
        "delivered" => DeliveryStatus::Delivered,
        "failed" => DeliveryStatus::Failed,
        _ => DeliveryStatus::Pending,
    }
}

/// Whether `host` names this machine or a private network (not reachable targets for a
/// hosted service, and a way to probe its internals).
fn private_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.ends_with(".localhost") || h.ends_with(".internal") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 100 && v4.octets()[1] >= 64 && v4.octets()[1] < 128
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

impl SubscriptionsApi {
    fn check_url(&self, url: &str) -> Result<(), Problem> {
        let bad = |why: &str| Problem::new(Code::InvalidInput, format!("url {why}"));
        let uri: poem::http::Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| bad("has no host"))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_private_targets => {}
            _ => return Err(bad("must be https://")),
        }
        if !self.allow_private_targets && private_host(host) {
            return Err(bad("points at a private or loopback address"));
        }
        Ok(())
    }

    async fn find(&self, tenant: Uuid, id: Uuid) -> Result<event_subscriptions::Model, Problem> {
        event_subscriptions::Entity::find_by_id((tenant, id))
            .one(self.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("subscription"))
    }

    async fn attempts(&self, tenant: Uuid, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Vec<AttemptDto>>, Problem> {
        let mut out: HashMap<Uuid, Vec<AttemptDto>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = event_delivery_attempts::Entity::find()
            .filter(event_delivery_attempts::Column::TenantId.eq(tenant))
            .filter(event_delivery_attempts::Column::DeliveryId.is_in(ids))
            .order_by_desc(event_delivery_attempts::Column::Id)
            .all(self.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)?;
        for a in rows {
            let list = out.entry(a.delivery_id).or_default();
            if list.len() < 10 {
                list.push(AttemptDto {
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                });
            }
        }
        Ok(out)
    }

    fn delivery_dto(d: event_deliveries::Model, attempts: &mut HashMap<Uuid, Vec<AttemptDto>>) -> DeliveryDto {
        DeliveryDto {
            attempt_log: attempts.remove(&d.id).unwrap_or_default(),
            id: d.id,
            event_id: d.event_id,
            event_type: EventType::parse(&d.event_type).unwrap_or(EventType::OrderChanged),
            occurred_at: d.occurred_at,
            status: delivery_status(&d.status),
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
        }
    }
}

fn types_text(types: &[EventType]) -> String {
    let mut names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    names.sort();
    names.dedup();
    names.join(" ")
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Subscriptions")]
impl SubscriptionsApi {
    /// Subscribes a URL to event types. Events from now on are delivered to it, signed with the
    /// secret in this answer (shown once). One subscription per URL: posting the same URL
    /// again answers 409 with the existing one's id, so a retry makes no duplicate.
    #[oai(path = "/subscriptions", method = "post")]
    async fn create(
        &self,
        #[oai(scope = "Scope::EventsWrite")] auth: BearerAuth,
        body: Json<SubscriptionIn>,
    ) -> ApiResult<Created, { WRITE | CONFLICT }> {
        let url = body.url.trim().to_owned();
        self.check_url(&url)?;
        let t = auth.0.tenant_id.0;
        let now = self.clock.now();
        let secret = sign::new_secret();
        let row = event_subscriptions::Model {
            tenant_id: t,
            id: kernel::new_id(),
            url: url.clone(),
            event_types: types_text(&body.event_types),
            secret: secret.clone(),
            description: body.description.trim().to_owned(),
            created_by: auth.0.actor.to_string(),
            status: "active".into(),
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let existing = event_subscriptions::Entity::find()
            .filter(event_subscriptions::Column::TenantId.eq(t))
            .filter(event_subscriptions::Column::Url.eq(url))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?;
        if let Some(e) = existing {
            return Err(Problem::new(
                Code::AlreadyExists,
                format!("Subscription {} already delivers to this URL.", e.id),
            )
            .into());
        }
        // Two creates of one URL at once both pass the check above; the unique index decides.
        let conflict = |e: sea_orm::DbErr| {
            if store::is_unique_violation(&e) {
                Problem::new(Code::AlreadyExists, "A subscription already delivers to this URL.")
            } else {
                Problem::internal(e)
            }
        };
        event_subscriptions::Entity::insert(event_subscriptions::ActiveModel::from(row.clone()))
            .exec_without_returning(&*tx)
            .await
            .map_err(conflict)?;
        tx.commit().await.map_err(conflict)?;
        Ok(Created::Created(Json(SubscriptionCreatedDto { subscription: dto(row), secret })))
    }

    /// The tenant's subscriptions.
    #[oai(path = "/subscriptions", method = "get")]
    async fn list(&self, #[oai(scope = "Scope::EventsRead")] auth: BearerAuth) -> ApiResult<Listed, AUTHENTICATED> {
        let rows = event_subscriptions::Entity::find()
            .filter(event_subscriptions::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(event_subscriptions::Column::CreatedAt)
            .all(self.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        Ok(Listed::Ok(Json(SubscriptionList { subscriptions: rows.into_iter().map(dto).collect() })))
    }

    /// One subscription.
    #[oai(path = "/subscriptions/:id", method = "get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::EventsRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Found, READ_BY_ID> {
        Ok(Found::Ok(Json(dto(self.find(auth.0.tenant_id.0, id.0).await?))))
    }

    /// Changes a subscription; `enabled: true` enables a disabled one and sends what waited.
    #[oai(path = "/subscriptions/:id", method = "put")]
    async fn update(
        &self,
        #[oai(scope = "Scope::EventsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SubscriptionUpdate>,
    ) -> ApiResult<Found, { WRITE_BY_ID | CONFLICT }> {
        let url = body.url.trim().to_owned();
        self.check_url(&url)?;
        let t = auth.0.tenant_id.0;
        let now = self.clock.now();
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let s = event_subscriptions::Entity::find_by_id((t, id.0))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("subscription"))?;
        let clash = event_subscriptions::Entity::find()
            .filter(event_subscriptions::Column::TenantId.eq(t))
            .filter(event_subscriptions::Column::Url.eq(url.clone()))
            .filter(event_subscriptions::Column::Id.ne(id.0))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?;
        if let Some(c) = clash {
            return Err(Problem::new(
                Code::AlreadyExists,
                format!("Subscription {} already delivers to this URL.", c.id),
            )
            .into());
        }
        let was_active = s.status == "active";
        let mut m: event_subscriptions::ActiveModel = s.into();
        m.url = Set(url);
        m.event_types = Set(types_text(&body.event_types));
        m.description = Set(body.description.trim().to_owned());
        m.updated_at = Set(now);
        if body.enabled && !was_active {
            m.status = Set("active".into());
            m.disabled_reason = Set(None);
            m.failing_since = Set(None);
            event_deliveries::Entity::update_many()
                .col_expr(event_deliveries::Column::NextAttemptAt, sea_orm::sea_query::Expr::value(now))
                .filter(event_deliveries::Column::TenantId.eq(t))
                .filter(event_deliveries::Column::SubscriptionId.eq(id.0))
                .filter(event_deliveries::Column::Status.eq("pending"))
                .exec(&*tx)
                .await
                .map_err(Problem::internal)?;
        } else if !body.enabled && was_active {
            m.status = Set("disabled".into());
            m.disabled_reason = Set(Some(format!("Disabled by {}.", auth.0.actor)));
        }
        let saved = event_subscriptions::Entity::update(m).exec(&*tx).await.map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(Found::Ok(Json(dto(saved))))
    }

    /// Deletes a subscription; its waiting deliveries are given up.
    #[oai(path = "/subscriptions/:id", method = "delete")]
    async fn delete(
        &self,
        #[oai(scope = "Scope::EventsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted, READ_BY_ID> {
        let t = auth.0.tenant_id.0;
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let r = event_subscriptions::Entity::delete_many()
            .filter(event_subscriptions::Column::TenantId.eq(t))
            .filter(event_subscriptions::Column::Id.eq(id.0))
            .exec(&*tx)
            .await
            .map_err(Problem::internal)?;
        if r.rows_affected == 0 {
            return Err(Problem::not_found("subscription").into());
        }
        event_deliveries::Entity::update_many()
            .col_expr(event_deliveries::Column::Status, sea_orm::sea_query::Expr::value("failed"))
            .col_expr(
                event_deliveries::Column::NextAttemptAt,
                sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .col_expr(
                event_deliveries::Column::LastError,
                sea_orm::sea_query::Expr::value("the subscription was deleted"),
            )
            .filter(event_deliveries::Column::TenantId.eq(t))
            .filter(event_deliveries::Column::SubscriptionId.eq(id.0))
            .filter(event_deliveries::Column::Status.eq("pending"))
            .exec(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(Deleted::NoContent)
    }

    /// The subscription's deliveries, newest first, each with its latest attempts.
    #[oai(path = "/subscriptions/:id/deliveries", method = "get")]
    async fn deliveries(
        &self,
        #[oai(scope = "Scope::EventsRead")] auth: BearerAuth,
        id: Path<Uuid>,
        status: Query<Option<DeliveryStatus>>,
        /// The `next_cursor` of the previous page.
        before: Query<Option<Uuid>>,
        /// At most 100.
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<u64>,
    ) -> ApiResult<DeliveriesFound, READ_BY_ID> {
        let t = auth.0.tenant_id.0;
        self.find(t, id.0).await?;
        let mut q = event_deliveries::Entity::find()
            .filter(event_deliveries::Column::TenantId.eq(t))
            .filter(event_deliveries::Column::SubscriptionId.eq(id.0));
        if let Some(s) = status.0 {
            let name = match s {
                DeliveryStatus::Pending => "pending",
                DeliveryStatus::Delivered => "delivered",
                DeliveryStatus::Failed => "failed",
            };
            q = q.filter(event_deliveries::Column::Status.eq(name));
        }
        if let Some(b) = before.0 {
            q = q.filter(event_deliveries::Column::Id.lt(b));
        }
        let rows = q
            .order_by_desc(event_deliveries::Column::Id)
            .limit(limit.0 + 1)
            .all(self.db.tenant(t).conn())
            .await
            .map_err(Problem::internal)?;
        let more = rows.len() as u64 > limit.0;
        let rows: Vec<_> = rows.into_iter().take(limit.0 as usize).collect();
        let next_cursor = if more { rows.last().map(|r| r.id) } else { None };
        let mut attempts = self.attempts(t, rows.iter().map(|r| r.id).collect()).await?;
        let deliveries = rows.into_iter().map(|d| Self::delivery_dto(d, &mut attempts)).collect();
        Ok(DeliveriesFound::Ok(Json(DeliveryPage { deliveries, next_cursor })))
    }

    /// Sends a delivery again now (delivered or not), with the same `webhook-id`.
    #[oai(path = "/subscriptions/:id/deliveries/:delivery_id/redeliver", method = "post")]
    async fn redeliver(
        &self,
        #[oai(scope = "Scope::EventsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> ApiResult<Redelivering, { READ_BY_ID | CONFLICT }> {
        let t = auth.0.tenant_id.0;
        let sub = self.find(t, id.0).await?;
        if sub.status != "active" {
            return Err(
                Problem::new(Code::InvalidStateTransition, "The subscription is disabled; enable it first.").into()
            );
        }
        let now = self.clock.now();
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let d = event_deliveries::Entity::find_by_id((t, delivery_id.0))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?
            .filter(|d| d.subscription_id == id.0)
            .ok_or_else(|| Problem::not_found("delivery"))?;
        let mut m: event_deliveries::ActiveModel = d.into();
        m.status = Set("pending".into());
        m.next_attempt_at = Set(Some(now));
        let saved = event_deliveries::Entity::update(m).exec(&*tx).await.map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        let mut attempts = self.attempts(t, vec![saved.id]).await?;
        Ok(Redelivering::Accepted(Json(Self::delivery_dto(saved, &mut attempts))))
    }

    /// Sends again every delivery of events that occurred in `[since, until)`.
    #[oai(path = "/subscriptions/:id/replay", method = "post")]
    async fn replay(
        &self,
        #[oai(scope = "Scope::EventsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ReplayIn>,
    ) -> ApiResult<Replaying, { WRITE_BY_ID | CONFLICT }> {
        let t = auth.0.tenant_id.0;
        if body.until <= body.since {
            return Err(Problem::new(Code::InvalidInput, "until must be after since").into());
        }
        let sub = self.find(t, id.0).await?;
        if sub.status != "active" {
            return Err(
                Problem::new(Code::InvalidStateTransition, "The subscription is disabled; enable it first.").into()
            );
        }
        let now = self.clock.now();
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let r = event_deliveries::Entity::update_many()
            .col_expr(event_deliveries::Column::Status, sea_orm::sea_query::Expr::value("pending"))
            .col_expr(event_deliveries::Column::NextAttemptAt, sea_orm::sea_query::Expr::value(now))
            .filter(event_deliveries::Column::TenantId.eq(t))
            .filter(event_deliveries::Column::SubscriptionId.eq(id.0))
            .filter(event_deliveries::Column::OccurredAt.gte(body.since))
            .filter(event_deliveries::Column::OccurredAt.lt(body.until))
            .exec(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(Replaying::Accepted(Json(ReplayOut { requeued: r.rows_affected })))
    }
}

fn default_limit() -> u64 {
    50
}

#[cfg(test)]
mod tests {
    #[test]
    fn private_hosts_are_recognised() {
        for h in [
            "localhost",
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "[::1]",
            "100.64.0.1",
            "api.internal",
        ] {
            assert!(super::private_host(h), "{h}");
        }
        for h in ["example.com", "8.8.8.8", "[2001:db8::1]"] {
            assert!(!super::private_host(h), "{h}");
        }
    }
}
