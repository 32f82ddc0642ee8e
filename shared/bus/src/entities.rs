//! The bus's own tables.

store::entity!(
    /// Events waiting to be delivered (and, for the embedded bus, the delivery log itself).
    outbox, "outbox", {
    #[sea_orm(primary_key)] seq: i64,
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    envelope: String,
    created_at: DateTimeUtc,
    published_at: Option<DateTimeUtc>,
});

store::entity!(
    /// Which consumer has applied which message.
    inbox, "inbox", {
    #[sea_orm(primary_key, auto_increment = false)] consumer: String,
    #[sea_orm(primary_key, auto_increment = false)] message_id: Uuid,
    tenant_id: Uuid,
    processed_at: DateTimeUtc,
});

store::entity!(
    /// The embedded bus's durable read positions.
    consumer_cursors, "consumer_cursors", {
    #[sea_orm(primary_key, auto_increment = false)] consumer: String,
    position: i64,
});

store::entity!(
    /// Messages that failed too often, kept for a person to inspect and replay.
    parked_messages, "parked_messages", {
    #[sea_orm(primary_key, auto_increment = false)] consumer: String,
    #[sea_orm(primary_key, auto_increment = false)] message_id: Uuid,
    tenant_id: Uuid,
    envelope: String,
    error: String,
    attempts: i32,
    parked_at: DateTimeUtc,
});
