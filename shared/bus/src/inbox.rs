//! Exactly-once effects: a consumer claims a message in the same transaction as its effect.

use crate::entities::inbox;
use kernel::Envelope;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};
use std::collections::HashSet;

/// Records that `consumer` handled `env`. Returns `false` when it already had: the caller
/// must then skip the effect (and may commit or roll back; nothing changes either way).
pub async fn claim<C: ConnectionTrait>(conn: &C, consumer: &str, env: &Envelope) -> Result<bool, DbErr> {
    let row = inbox::ActiveModel {
        consumer: Set(consumer.to_owned()),
        message_id: Set(env.id),
        tenant_id: Set(env.tenant_id.0),
        processed_at: Set(chrono::Utc::now()),
    };
    let n = inbox::Entity::insert(row)
        .on_conflict(OnConflict::columns([inbox::Column::Consumer, inbox::Column::MessageId]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await?;
    Ok(n == 1)
}

/// [`claim`] for many messages in one statement: returns the ids of those not handled before
/// (the caller applies exactly those).
pub async fn claim_many<C: ConnectionTrait>(conn: &C, consumer: &str, envs: &[Envelope]) -> Result<HashSet<uuid::Uuid>, DbErr> {
    if envs.is_empty() {
        return Ok(HashSet::new());
    }
    let now = chrono::Utc::now();
    let backend = conn.get_database_backend();
    let mut sql = String::from("insert into inbox (consumer, message_id, tenant_id, processed_at) values ");
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(envs.len() * 4);
    for (i, env) in envs.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                let n = i * 4;
                sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            }
            _ => sql.push_str("(?, ?, ?, ?)"),
        }
        values.extend([consumer.into(), env.id.into(), env.tenant_id.0.into(), now.into()]);
    }
    sql.push_str(" on conflict (consumer, message_id) do nothing returning message_id");
    let rows = conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.iter().map(|r| r.try_get::<uuid::Uuid>("", "message_id")).collect()
}
