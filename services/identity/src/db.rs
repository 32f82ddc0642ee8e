//! identity's tables.

store::entity!(tenants, "tenants", {
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    name: String,
    created_at: DateTimeUtc,
});

store::entity!(users, "users", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    email: String,
    password_hash: String,
    role: String,
    created_at: DateTimeUtc,
});

store::entity!(apps, "apps", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    name: String,
    secret_hash: String,
    redirect_uris: String,
    scopes: String,
    rate_limit_per_minute: Option<i64>,
    created_at: DateTimeUtc,
});

store::entity!(app_grants, "app_grants", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    app_id: Uuid,
    scopes: String,
    granted_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    revoked_at: Option<DateTimeUtc>,
});

store::entity!(oauth_codes, "oauth_codes", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] code_hash: String,
    grant_id: Uuid,
    app_id: Uuid,
    redirect_uri: String,
    code_challenge: String,
    scopes: String,
    expires_at: DateTimeUtc,
    used_at: Option<DateTimeUtc>,
});

store::entity!(oauth_refresh_tokens, "oauth_refresh_tokens", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] token_hash: String,
    grant_id: Uuid,
    app_id: Uuid,
    scopes: String,
    created_at: DateTimeUtc,
    expires_at: DateTimeUtc,
    used_at: Option<DateTimeUtc>,
});

store::entity!(user_invites, "user_invites", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    email: String,
    role: String,
    token_hash: String,
    invited_by: Uuid,
    created_at: DateTimeUtc,
    expires_at: DateTimeUtc,
    accepted_at: Option<DateTimeUtc>,
});

store::entity!(api_audit_log, "api_audit_log", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    at: DateTimeUtc,
    actor: String,
    method: String,
    route: String,
    path: String,
    status: i64,
    idempotency_key: Option<String>,
});
