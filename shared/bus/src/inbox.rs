//! Exactly-once effects: a consumer claims a message in the same transaction as its effect.

use crate::entities::inbox;
use kernel::Envelope;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

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
