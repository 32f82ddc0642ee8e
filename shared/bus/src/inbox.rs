//! Exactly-once effects: a consumer claims a message in the same transaction as its effect.

use kernel::Envelope;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use std::collections::HashSet;

tokio::task_local! {
    /// Set by the embedded bus's group commit when the transaction also moves the consumer's
    /// cursor past every message it applies: those are never read again, so on SQLite
    /// [`claim_many`] only checks the inbox (a message handled one by one before a crash is
    /// still skipped) and writes no rows. Any other transaction records its claims.
    pub(crate) static CURSOR_MOVES: bool;
}

/// Records that `consumer` handled `env`. Returns `false` when it already had: the caller
/// must then skip the effect (and may commit or roll back; nothing changes either way).
pub async fn claim(tx: &sea_orm::DatabaseTransaction, consumer: &str, env: &Envelope) -> Result<bool, DbErr> {
    Ok(claim_many(tx, consumer, std::slice::from_ref(env)).await?.contains(&env.id))
}

/// [`claim`] for many messages at once: returns the ids of those not handled before (the
/// caller applies exactly those).
///
/// PostgreSQL: one insert that returns the new rows (concurrent consumers are told apart by
/// the unique key). SQLite: every write transaction there holds the database's write lock from
/// BEGIN (`store::Db::write`), so nothing can claim between a read and an insert; it reads the
/// few ids already claimed and inserts the rest without RETURNING, because every returned row
/// crosses from the driver's thread one by one and cost more than the insert itself. Inside
/// the embedded bus's group commit that also moves the cursor past them ([`CURSOR_MOVES`]) it
/// inserts nothing: the cursor already makes them read once.
pub async fn claim_many(
    tx: &sea_orm::DatabaseTransaction,
    consumer: &str,
    envs: &[Envelope],
) -> Result<HashSet<uuid::Uuid>, DbErr> {
    if envs.is_empty() {
        return Ok(HashSet::new());
    }
    let backend = tx.get_database_backend();
    let now = chrono::Utc::now();
    let insert = |rows: usize| {
        format!(
            "insert into inbox (consumer, message_id, tenant_id, processed_at) values {}",
            store::value_rows(rows, 4)
        )
    };
    let values = |envs: &[&Envelope]| {
        envs.iter().flat_map(|env| [consumer.into(), env.id.into(), env.tenant_id.0.into(), now.into()]).collect()
    };
    if backend == DatabaseBackend::Sqlite {
        let sql = format!(
            "select message_id from inbox where consumer = ? and message_id in ({})",
            vec!["?"; envs.len()].join(", ")
        );
        let mut keys: Vec<sea_orm::Value> = vec![consumer.into()];
        keys.extend(envs.iter().map(|e| e.id.into()));
        let mut seen: HashSet<uuid::Uuid> = HashSet::new();
        for r in tx.query_all_raw(store::stmt_for(backend, &sql, keys)).await? {
            seen.insert(r.try_get("", "message_id")?);
        }
        let fresh: Vec<&Envelope> = envs.iter().filter(|e| seen.insert(e.id)).collect();
        let cursor_moves = CURSOR_MOVES.try_with(|m| *m).unwrap_or(false);
        if !fresh.is_empty() && !cursor_moves {
            tx.execute_raw(store::stmt_for(backend, &insert(fresh.len()), values(&fresh))).await?;
        }
        return Ok(fresh.iter().map(|e| e.id).collect());
    }
    let sql = format!("{} on conflict do nothing returning message_id", insert(envs.len()));
    let rows = tx.query_all_raw(store::stmt_for(backend, &sql, values(&envs.iter().collect::<Vec<_>>()))).await?;
    rows.iter().map(|r| r.try_get::<uuid::Uuid>("", "message_id")).collect()
}
