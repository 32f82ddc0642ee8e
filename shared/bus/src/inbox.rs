//! Exactly-once effects: a consumer claims a message in the same transaction as its effect.

use kernel::Envelope;
use sea_orm::{ConnectionTrait, DbErr};
use std::collections::HashSet;

/// Records that `consumer` handled `env`. Returns `false` when it already had: the caller
/// must then skip the effect (and may commit or roll back; nothing changes either way).
pub async fn claim<C: ConnectionTrait>(conn: &C, consumer: &str, env: &Envelope) -> Result<bool, DbErr> {
    Ok(claim_many(conn, consumer, std::slice::from_ref(env)).await?.contains(&env.id))
}

/// [`claim`] for many messages in one statement: returns the ids of those not handled before
/// (the caller applies exactly those).
pub async fn claim_many<C: ConnectionTrait>(conn: &C, consumer: &str, envs: &[Envelope]) -> Result<HashSet<uuid::Uuid>, DbErr> {
    if envs.is_empty() {
        return Ok(HashSet::new());
    }
    let now = chrono::Utc::now();
    let sql = format!(
        "insert into inbox (consumer, message_id, tenant_id, processed_at) values {} on conflict (consumer, message_id) do nothing returning message_id",
        store::value_rows(envs.len(), 4)
    );
    let values = envs.iter().flat_map(|env| [consumer.into(), env.id.into(), env.tenant_id.0.into(), now.into()]).collect();
    let rows = conn.query_all_raw(store::stmt_for(conn.get_database_backend(), &sql, values)).await?;
    rows.iter().map(|r| r.try_get::<uuid::Uuid>("", "message_id")).collect()
}
