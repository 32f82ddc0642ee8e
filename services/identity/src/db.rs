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
