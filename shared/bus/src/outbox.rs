//! Writing events in the producer's transaction.

use crate::entities::outbox;
use kernel::Envelope;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

/// Adds `envs` to the outbox; call inside the transaction that makes the change they announce.
pub async fn enqueue<C: ConnectionTrait>(conn: &C, envs: &[Envelope]) -> Result<(), DbErr> {
    if envs.is_empty() {
        return Ok(());
    }
    let rows = envs.iter().map(|e| outbox::ActiveModel {
        seq: sea_orm::ActiveValue::NotSet,
        id: Set(e.id),
        tenant_id: Set(e.tenant_id.0),
        kind: Set(e.kind.clone()),
        envelope: Set(serde_json::to_string(e).expect("envelopes serialize")),
        created_at: Set(e.occurred_at),
        published_at: Set(None),
    });
    outbox::Entity::insert_many(rows).exec_without_returning(conn).await?;
    Ok(())
}
