//! subscriptions' tables.

store::entity!(event_subscriptions, "event_subscriptions", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    url: String,
    /// Space-separated public event types.
    event_types: String,
    /// `whsec_<base64>`: signs deliveries (kept: it is needed to sign).
    secret: String,
    description: String,
    /// `user:<id>` or `app:<client_id>`.
    created_by: String,
    /// `active` or `disabled`.
    status: String,
    disabled_reason: Option<String>,
    /// Since when every attempt failed (cleared by a success).
    failing_since: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

store::entity!(event_deliveries, "event_deliveries", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    subscription_id: Uuid,
    event_id: Uuid,
    event_type: String,
    occurred_at: DateTimeUtc,
    /// The JSON body sent.
    body: String,
    /// `pending`, `delivered` or `failed` (given up: the subscription was deleted).
    status: String,
    attempts: i64,
    next_attempt_at: Option<DateTimeUtc>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at: DateTimeUtc,
    delivered_at: Option<DateTimeUtc>,
});

store::entity!(event_delivery_attempts, "event_delivery_attempts", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    delivery_id: Uuid,
    subscription_id: Uuid,
    at: DateTimeUtc,
    status_code: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
});
