//! identity: invited users, ISV apps, the grants sellers give them, and the OAuth 2.0
//! authorization codes and refresh tokens issued under those grants.
//!
//! Every primary key starts with `tenant_id`. Codes, refresh tokens and invitations are
//! stored as SHA-256 hashes and carry their tenant in the clear before a dot, so the token
//! endpoint finds them by primary key without knowing the tenant beforehand. `apps.id` (the
//! `client_id`) is also indexed alone: an app registered by one tenant (its developer) is
//! used under grants of many.

const UP: &str = r#"
create table apps (
    tenant_id {uuid} not null,
    id {uuid} not null,
    name text not null,
    secret_hash text not null,
    redirect_uris text not null,
    scopes text not null,
    rate_limit_per_minute bigint,
    created_at {ts} not null,
    primary key (tenant_id, id)
);
create index apps_id on apps (id);
create table app_grants (
    tenant_id {uuid} not null,
    id {uuid} not null,
    app_id {uuid} not null,
    scopes text not null,
    granted_by {uuid} not null,
    created_at {ts} not null,
    updated_at {ts} not null,
    revoked_at {ts},
    primary key (tenant_id, id)
);
create index app_grants_app on app_grants (tenant_id, app_id);
create table oauth_codes (
    tenant_id {uuid} not null,
    code_hash text not null,
    grant_id {uuid} not null,
    app_id {uuid} not null,
    redirect_uri text not null,
    code_challenge text not null,
    scopes text not null,
    expires_at {ts} not null,
    used_at {ts},
    primary key (tenant_id, code_hash)
);
create table oauth_refresh_tokens (
    tenant_id {uuid} not null,
    token_hash text not null,
    grant_id {uuid} not null,
    app_id {uuid} not null,
    scopes text not null,
    created_at {ts} not null,
    expires_at {ts} not null,
    used_at {ts},
    primary key (tenant_id, token_hash)
);
create table user_invites (
    tenant_id {uuid} not null,
    id {uuid} not null,
    email text not null,
    role text not null,
    token_hash text not null,
    invited_by {uuid} not null,
    created_at {ts} not null,
    expires_at {ts} not null,
    accepted_at {ts},
    primary key (tenant_id, id)
);
create index user_invites_token on user_invites (tenant_id, token_hash)
"#;

const DOWN: &str = "drop table user_invites; drop table oauth_refresh_tokens; drop table oauth_codes; \
    drop table app_grants; drop table apps";

ddl_migration!("m0011_apps", UP, DOWN);
