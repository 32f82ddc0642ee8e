//! The hot path: one writer per partition of tenants, holding their books in memory, taking
//! commands in batches and persisting each batch in one transaction (group commit) before
//! answering anyone in it.
//!
//! Throughput is bounded by commits per second, not by row-lock contention: a thousand
//! reservations of one hot SKU become one level update, one ledger insert and one reservation
//! upsert. Each stored level carries a `version`; a write that does not find the version it
//! loaded fails the batch, the partition drops its cached book and callers retry — that fences
//! a stale writer (a second instance, or one that lost ownership) instead of overselling.
//!
//! Each batch also announces, in the same transaction, the sellable quantity of every SKU whose
//! levels it wrote (`stock.level_changed`, once per SKU per batch however many commands touched
//! it), for channels to push to the marketplaces.
//!
//! Partitioning is by tenant, not by (tenant, SKU): an API reservation is atomic across all its
//! lines, which needs one writer to own every SKU it names. A tenant's hot SKU therefore shares
//! a writer with its other SKUs, which costs nothing extra because the writer batches anyway.

use crate::{
    db::{self, skus, stock_levels, warehouses},
    domain::{Adjust, Allocation, Book, Reservation, Reserve, Sku, StockError, StockEvent, SyncOrder, Warehouse},
};
use kernel::{
    Envelope, LineReservationState as LineState, TenantId, Timestamp,
    events::{ReservationChanged, ReservedLine, StockLevelChanged, WarehouseQuantity},
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The consumer name under which order messages are recorded in the inbox.
pub const CONSUMER: &str = "inventory";
/// Most commands one transaction carries.
pub const MAX_BATCH: usize = 1024;
/// Callers' Idempotency-Keys of adjustments.
const IDEMPOTENCY_SCOPE: &str = "stock.adjustment";
/// Adjustments without a caller's key, by the id of the command that carried them to the
/// shard's owner (see [`AdjustKey::command`]); apart from callers' keys.
const COMMAND_SCOPE: &str = "stock.adjustment.command";

/// What makes an adjustment safe to apply again: it is applied once per key, and a repeat
/// with the same request answers the first result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustKey {
    pub key: String,
    /// A hash of the request; the same key with another request is `KeyReused`.
    pub request_hash: String,
    /// `key` is a command's id, not a caller's Idempotency-Key.
    #[serde(default)]
    pub command: bool,
}

impl AdjustKey {
    /// A caller's Idempotency-Key.
    pub fn caller(key: String, request_hash: String) -> AdjustKey {
        AdjustKey { key, request_hash, command: false }
    }

    /// The key of an adjustment the caller gave none: the id of the command that carries it to
    /// the shard's owner, so that a command delivered again after a failover is applied once.
    pub fn command(id: Uuid) -> AdjustKey {
        AdjustKey { key: id.to_string(), request_hash: String::new(), command: true }
    }

    fn scope(&self) -> &'static str {
        if self.command { COMMAND_SCOPE } else { IDEMPOTENCY_SCOPE }
    }
}

/// A command for a tenant's book. The API's commands serialize, to be sent to the owner of
/// the tenant's shard (see `crate::remote`); the event-driven ones (`SyncOrder`, `Return`)
/// are made by the owner's own consumer and never travel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    CreateWarehouse {
        code: String,
        name: String,
    },
    CreateSku {
        code: String,
        name: String,
        safety_stock: i64,
    },
    /// With its idempotency key, when it has one.
    Adjust {
        adjust: Adjust,
        idempotency: Option<AdjustKey>,
    },
    Reserve(Reserve),
    /// Replaces the tenant's allocation settings.
    SetAllocation(Allocation),
    Confirm(Uuid),
    Release(Uuid),
    Commit(Uuid),
    /// From an `order.changed` message; the message is claimed in the batch's transaction.
    #[serde(skip)]
    SyncOrder {
        sync: SyncOrder,
        message: Envelope,
    },
    /// From a `stock.returned` message (claimed likewise): goods back on hand.
    #[serde(skip)]
    Return {
        warehouse_code: String,
        lines: Vec<(String, i64)>,
        cause: String,
        message: Envelope,
    },
}

/// One SKU's stock as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockView {
    pub sku_code: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    pub available: i64,
    pub warehouses: Vec<WarehouseStock>,
}

/// One warehouse's part of a [`StockView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseStock {
    pub warehouse_code: String,
    pub on_hand: i64,
    pub reserved: i64,
}

/// What a command answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Warehouse(Warehouse),
    Sku(Sku),
    Stock(StockView),
    Allocation(Allocation),
    /// `created` is false when the same request was replayed.
    Reservation {
        reservation: Reservation,
        created: bool,
    },
    Done,
}

/// Why a command got no answer from the book.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineError {
    #[error(transparent)]
    Stock(#[from] StockError),
    /// The batch could not be stored; nothing of it took effect. Retry.
    #[error("inventory is temporarily unavailable: {0}")]
    Unavailable(String),
}

/// Adjustments' idempotency keys (tenant, scope, key) used earlier in a batch, with their
/// request hash and answer.
type BatchKeys = HashMap<(TenantId, &'static str, String), (String, StockView)>;

/// Where a command's answer goes.
type ReplyTo = oneshot::Sender<Result<Reply, EngineError>>;

struct Job {
    tenant: TenantId,
    cmd: Command,
    reply: ReplyTo,
}

/// Handle to the partition writers.
#[derive(Clone)]
pub struct Engine {
    parts: std::sync::Arc<Vec<mpsc::Sender<Job>>>,
}

impl Engine {
    /// Starts `partitions` writers over `db`. They stop when every `Engine` clone is dropped.
    /// With `background`, they also expire holds every second, by `clock`'s time.
    pub fn start(
        db: store::Db,
        partitions: usize,
        background: bool,
        clock: kernel::SharedClock,
    ) -> (Engine, Vec<tokio::task::JoinHandle<()>>) {
        let partitions = partitions.max(1);
        let mut senders = Vec::new();
        let mut tasks = Vec::new();
        for index in 0..partitions {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            senders.push(tx);
            let p = Partition {
                db: db.clone(),
                clock: clock.clone(),
                books: HashMap::new(),
                index,
                count: partitions,
                background,
            };
            tasks.push(tokio::spawn(p.run(rx)));
        }
        (Engine { parts: std::sync::Arc::new(senders) }, tasks)
    }

    /// An engine with no writers (every call fails): for building the API when only its
    /// OpenAPI document is wanted.
    pub fn detached() -> Engine {
        Engine { parts: std::sync::Arc::new(vec![mpsc::channel(1).0]) }
    }

    fn partition_of(tenant: TenantId, count: usize) -> usize {
        (tenant.0.as_u128() % count as u128) as usize
    }

    /// Runs a command on the tenant's book and waits until its effect is committed.
    pub async fn call(&self, tenant: TenantId, cmd: Command) -> Result<Reply, EngineError> {
        let (tx, rx) = oneshot::channel();
        let part = &self.parts[Self::partition_of(tenant, self.parts.len())];
        part.send(Job { tenant, cmd, reply: tx })
            .await
            .map_err(|_| EngineError::Unavailable("shutting down".into()))?;
        rx.await.map_err(|_| EngineError::Unavailable("writer stopped".into()))?
    }
}

/// What one batch must write.
#[derive(Default)]
struct Pending {
    warehouses: Vec<(TenantId, Uuid)>,
    skus: Vec<(TenantId, Uuid)>,
    levels: BTreeSet<(TenantId, Uuid, Uuid)>,
    /// Tenants whose allocation settings changed.
    allocations: BTreeSet<TenantId>,
    ledger: Vec<db::stock_ledger::ActiveModel>,
    reservations: BTreeSet<(TenantId, String)>,
    inbox: Vec<Envelope>,
    idempotency: Vec<store::idempotency_keys::ActiveModel>,
}

impl Pending {
    fn record(&mut self, tenant: TenantId, events: &[StockEvent], now: Timestamp) {
        for e in events {
            match e {
                StockEvent::WarehouseCreated(id) => self.warehouses.push((tenant, *id)),
                StockEvent::SkuCreated(id) => self.skus.push((tenant, *id)),
                StockEvent::Moved(m) => {
                    self.levels.insert((tenant, m.sku_id, m.warehouse_id));
                    self.ledger.push(db::ledger_row(tenant, m, now));
                }
                StockEvent::ReservationChanged(key) => {
                    self.reservations.insert((tenant, key.clone()));
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.warehouses.is_empty()
            && self.skus.is_empty()
            && self.levels.is_empty()
            && self.allocations.is_empty()
            && self.reservations.is_empty()
            && self.inbox.is_empty()
            && self.idempotency.is_empty()
    }
}

struct Partition {
    db: store::Db,
    clock: kernel::SharedClock,
    books: HashMap<TenantId, Book>,
    index: usize,
    count: usize,
    background: bool,
}

impl Partition {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        if self.background {
            self.load_tenants_with_holds().await;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = rx.recv() => {
                    let Some(job) = job else { return };
                    let mut jobs = vec![job];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => jobs.push(j),
                            Err(_) => break,
                        }
                    }
                    self.run_batch(jobs).await;
                }
                _ = tick.tick(), if self.background => self.expire().await,
            }
        }
    }

    /// After a restart, tenants with held stock must be loaded so that their holds expire.
    /// Which tenants those are is a question across tenants (the system scope).
    async fn load_tenants_with_holds(&mut self) {
        let rows: Result<Vec<Uuid>, DbErr> = db::reservations::Entity::find()
            .select_only()
            .column(db::reservations::Column::TenantId)
            .distinct()
            .filter(db::reservations::Column::ExpiresAt.is_not_null())
            .into_tuple()
            .all(self.db.system().conn())
            .await;
        match rows {
            Ok(ids) => {
                for t in ids.into_iter().map(TenantId) {
                    if Engine::partition_of(t, self.count) == self.index {
                        let _ = self.book(t).await;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list tenants with holds"),
        }
    }

    async fn book(&mut self, tenant: TenantId) -> Result<&mut Book, DbErr> {
        if !self.books.contains_key(&tenant) {
            let book = db::load_book(self.db.tenant(tenant.0).conn(), tenant).await?;
            self.books.insert(tenant, book);
        }
        Ok(self.books.get_mut(&tenant).expect("just inserted"))
    }

    async fn expire(&mut self) {
        let now = self.clock.now();
        let mut pending = Pending::default();
        for (tenant, book) in &mut self.books {
            let ev = book.expire_due(now);
            pending.record(*tenant, &ev, now);
        }
        if !pending.is_empty()
            && let Err(e) = self.persist(pending, now).await
        {
            tracing::error!(error = %e, "storing expired holds failed; reloading books");
            self.books.clear();
        }
    }

    async fn seen_messages(&self, jobs: &[Job]) -> Result<HashSet<Uuid>, DbErr> {
        let ids: Vec<Uuid> = jobs
            .iter()
            .filter_map(|j| match &j.cmd {
                Command::SyncOrder { message, .. } | Command::Return { message, .. } => Some(message.id),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<Uuid> = bus::entities::inbox::Entity::find()
            .select_only()
            .column(bus::entities::inbox::Column::MessageId)
            .filter(bus::entities::inbox::Column::Consumer.eq(CONSUMER))
            .filter(bus::entities::inbox::Column::MessageId.is_in(ids))
            .into_tuple()
            // A batch's messages are of the partition's tenants.
            .all(self.db.system().conn())
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn stored_idempotency(
        &self,
        tenant: TenantId,
        key: &AdjustKey,
    ) -> Result<Option<store::idempotency_keys::Model>, DbErr> {
        store::idempotency_keys::Entity::find_by_id((tenant.0, key.scope().to_owned(), key.key.clone()))
            .one(self.db.tenant(tenant.0).conn())
            .await
    }

    async fn run_batch(&mut self, jobs: Vec<Job>) {
        let now = self.clock.now();
        let mut seen = match self.seen_messages(&jobs).await {
            Ok(s) => s,
            Err(e) => return fail_all(jobs, &e),
        };
        let mut pending = Pending::default();
        let mut replies: Vec<(ReplyTo, Result<Reply, EngineError>)> = Vec::with_capacity(jobs.len());
        let mut batch_keys: BatchKeys = HashMap::new();
        let mut tally = Tally::default();
        for job in jobs {
            let tenant = job.tenant;
            // Stored idempotency keys are looked up before the book is borrowed.
            let stored = match &job.cmd {
                Command::Adjust { idempotency: Some(key), .. }
                    if !batch_keys.contains_key(&(tenant, key.scope(), key.key.clone())) =>
                {
                    match self.stored_idempotency(tenant, key).await {
                        Ok(s) => s,
                        Err(e) => {
                            replies.push((job.reply, Err(EngineError::Unavailable(e.to_string()))));
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let book = match self.book(tenant).await {
                Ok(b) => b,
                Err(e) => {
                    replies.push((job.reply, Err(EngineError::Unavailable(e.to_string()))));
                    continue;
                }
            };
            let ev = book.ensure_main(kernel::new_id);
            pending.record(tenant, &ev, now);
            let watched = Watched::before(book, &job.cmd, &seen);
            let result = apply(book, tenant, job.cmd, now, &mut pending, &mut seen, &mut batch_keys, stored);
            watched.after(book, &result, &mut tally);
            replies.push((job.reply, result));
        }
        // Lines the batch resolved are served by paid time, whatever order their messages
        // came in.
        for (tenant, book) in &mut self.books {
            let ev = book.fill_waiting(now);
            pending.record(*tenant, &ev, now);
        }
        if !pending.is_empty()
            && let Err(e) = self.persist(pending, now).await
        {
            tracing::warn!(error = %e, "stock batch failed; dropping cached books");
            self.books.clear();
            for (tx, _) in replies {
                let _ = tx.send(Err(EngineError::Unavailable(e.to_string())));
            }
            return;
        }
        // Only now: a batch that failed to store decided nothing.
        tally.record();
        for (tx, r) in replies {
            let _ = tx.send(r);
        }
    }

    /// Stores a batch in one transaction (group commit). A partition serves several tenants
    /// and a batch holds any of them, so it is written in the system scope; every row it
    /// writes comes from the book of the tenant it names.
    async fn persist(&mut self, p: Pending, now: Timestamp) -> Result<(), DbErr> {
        let tx = self.db.system().write_named("inventory").await?;
        for (tenant, id) in &p.warehouses {
            let w = self.books[tenant]
                .warehouses()
                .iter()
                .find(|w| w.id == *id)
                .cloned()
                .expect("created warehouse is in the book");
            warehouses::Entity::insert(warehouses::ActiveModel {
                tenant_id: Set(tenant.0),
                id: Set(w.id),
                code: Set(w.code),
                name: Set(w.name),
                created_at: Set(now),
            })
            .exec_without_returning(&*tx)
            .await?;
        }
        for (tenant, id) in &p.skus {
            let s = self.books[tenant].sku_by_id(*id).cloned().expect("created SKU is in the book");
            skus::Entity::insert(skus::ActiveModel {
                tenant_id: Set(tenant.0),
                id: Set(s.id),
                code: Set(s.code),
                name: Set(s.name),
                safety_stock: Set(s.safety_stock),
                created_at: Set(now),
            })
            .exec_without_returning(&*tx)
            .await?;
        }
        for tenant in &p.allocations {
            use db::inventory_allocation as a;
            let settings = serde_json::to_string(self.books[tenant].allocation()).expect("settings serialize");
            a::Entity::insert(a::ActiveModel {
                tenant_id: Set(tenant.0),
                settings: Set(settings),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(a::Column::TenantId)
                    .update_columns([a::Column::Settings, a::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&*tx)
            .await?;
        }
        for (tenant, sku, wh) in &p.levels {
            let l = self.books[tenant].level(*sku, *wh);
            if l.version == 0 {
                stock_levels::Entity::insert(stock_levels::ActiveModel {
                    tenant_id: Set(tenant.0),
                    sku_id: Set(*sku),
                    warehouse_id: Set(*wh),
                    on_hand: Set(l.on_hand),
                    reserved: Set(l.reserved),
                    version: Set(1),
                })
                .exec_without_returning(&*tx)
                .await?;
            } else {
                let res = stock_levels::Entity::update_many()
                    .col_expr(stock_levels::Column::OnHand, Expr::value(l.on_hand))
                    .col_expr(stock_levels::Column::Reserved, Expr::value(l.reserved))
                    .col_expr(stock_levels::Column::Version, Expr::value(l.version + 1))
                    .filter(stock_levels::Column::TenantId.eq(tenant.0))
                    .filter(stock_levels::Column::SkuId.eq(*sku))
                    .filter(stock_levels::Column::WarehouseId.eq(*wh))
                    .filter(stock_levels::Column::Version.eq(l.version))
                    .exec(&*tx)
                    .await?;
                if res.rows_affected != 1 {
                    return Err(DbErr::Custom(format!(
                        "stock level {sku}/{wh} changed under us (stale writer fenced)"
                    )));
                }
            }
        }
        for chunk in p.ledger.chunks(500) {
            db::stock_ledger::Entity::insert_many(chunk.to_vec()).exec_without_returning(&*tx).await?;
        }
        let mut envs = Vec::with_capacity(p.reservations.len() + 1);
        let rows: Vec<_> = p
            .reservations
            .iter()
            .map(|(tenant, key)| {
                let r = self.books[tenant].reservation(key).expect("changed reservation is in the book");
                envs.push(Envelope::new(*tenant, &changed_event(&self.books[tenant], r), now, None));
                db::reservation_to_row(*tenant, r)
            })
            .collect();
        for chunk in rows.chunks(200) {
            use db::reservations::Column as C;
            db::reservations::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::columns([C::TenantId, C::Id])
                        .update_columns([
                            C::State,
                            C::ExpiresAt,
                            C::PaidAt,
                            C::Revision,
                            C::Province,
                            C::Version,
                            C::Lines,
                            C::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&*tx)
                .await?;
        }
        envs.extend(self.level_events(&p.levels, &p.skus, now));
        for chunk in envs.chunks(500) {
            bus::outbox::enqueue(&*tx, chunk).await?;
        }
        for chunk in p.inbox.chunks(500) {
            bus::inbox::claim_many(&tx, CONSUMER, chunk).await?;
        }
        for row in p.idempotency {
            store::idempotency_keys::Entity::insert(row).exec_without_returning(&*tx).await?;
        }
        tx.commit().await?;
        for (tenant, sku, wh) in &p.levels {
            if let Some(l) = self.books.get_mut(tenant).and_then(|b| b.level_mut(*sku, *wh)) {
                l.version += 1;
            }
        }
        Ok(())
    }
}

impl Partition {
    /// `stock.level_changed` for every SKU with a level in `levels` (the levels a batch is
    /// about to write) or `created` in the batch, with its totals after the batch.
    ///
    /// `version` is the sum, over the SKU's warehouses, of `stock_levels.version` as the batch
    /// stores it. Every write of a level row adds one to its version (a new row starts at 1),
    /// rows are never deleted, and a batch that does not find the versions it loaded fails
    /// whole (see the module docs), so the sum strictly increases with every committed batch
    /// that changes the SKU, also across restarts and a change of writer, at no extra storage.
    /// It is not contiguous: a batch that writes two warehouses of a SKU adds two. A SKU
    /// created without stock is announced at version 0 (it has no level rows yet).
    fn level_events(
        &self,
        levels: &BTreeSet<(TenantId, Uuid, Uuid)>,
        created: &[(TenantId, Uuid)],
        now: Timestamp,
    ) -> Vec<Envelope> {
        let mut out = Vec::new();
        // By (tenant, SKU), each once.
        let skus: BTreeSet<(TenantId, Uuid)> =
            levels.iter().map(|(t, s, _)| (*t, *s)).chain(created.iter().copied()).collect();
        for (tenant, sku) in &skus {
            let book = &self.books[tenant];
            let Some(s) = book.sku_by_id(*sku) else { continue };
            let (mut on_hand, mut reserved, mut version) = (0, 0, 0);
            for w in book.warehouses() {
                let l = book.level(*sku, w.id);
                on_hand += l.on_hand;
                reserved += l.reserved;
                version += l.version + i64::from(levels.contains(&(*tenant, *sku, w.id)));
            }
            let ev = StockLevelChanged {
                sku_code: s.code.clone(),
                available: book.sellable(*sku),
                on_hand,
                reserved,
                version,
            };
            out.push(Envelope::new(*tenant, &ev, now, None));
        }
        out
    }
}

fn fail_all(jobs: Vec<Job>, e: &DbErr) {
    for j in jobs {
        let _ = j.reply.send(Err(EngineError::Unavailable(e.to_string())));
    }
}

/// The integration event for a changed reservation.
pub fn changed_event(book: &Book, r: &Reservation) -> ReservationChanged {
    ReservationChanged {
        reservation_id: r.id,
        reservation_key: r.key.clone(),
        reference: r.reference.clone(),
        order_id: r.order_id,
        version: r.version,
        lines: r
            .lines
            .iter()
            .map(|l| ReservedLine {
                line_ref: l.line_ref.clone(),
                sku_code: (l.state != LineState::Unmapped && !l.sku_code.is_empty()).then(|| l.sku_code.clone()),
                quantity: l.quantity,
                state: l.state,
                warehouses: l
                    .allocations
                    .iter()
                    .map(|a| WarehouseQuantity {
                        warehouse_code: book
                            .warehouses()
                            .iter()
                            .find(|w| w.id == a.warehouse_id)
                            .map_or_else(|| a.warehouse_id.to_string(), |w| w.code.clone()),
                        quantity: a.quantity,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The API view of one SKU's stock in a book.
pub fn stock_view(book: &Book, sku: &Sku) -> StockView {
    let warehouses: Vec<WarehouseStock> = book
        .warehouses()
        .iter()
        .map(|w| {
            let l = book.level(sku.id, w.id);
            WarehouseStock { warehouse_code: w.code.clone(), on_hand: l.on_hand, reserved: l.reserved }
        })
        .collect();
    let on_hand = warehouses.iter().map(|w| w.on_hand).sum();
    let reserved = warehouses.iter().map(|w| w.reserved).sum();
    StockView {
        sku_code: sku.code.clone(),
        on_hand,
        reserved,
        safety_stock: sku.safety_stock,
        available: book.sellable(sku.id),
        warehouses,
    }
}

/// Reservation outcomes of a batch for `/metrics` (`cairn_reservations_total`), recorded once
/// the batch is stored.
#[derive(Default)]
struct Tally(HashMap<(&'static str, &'static str), u64>);

impl Tally {
    fn add(&mut self, source: &'static str, outcome: &'static str, n: u64) {
        if n > 0 {
            *self.0.entry((source, outcome)).or_default() += n;
        }
    }

    fn record(self) {
        for ((source, outcome), n) in self.0 {
            telemetry::metrics::reservation(source, outcome, n);
        }
    }
}

/// What a command may decide about reservations, seen before it runs, so that its outcome can be
/// told after. *Decisions:* an API reservation counts once (all its lines or none); an order
/// counts per line, when the line newly holds or confirms stock (`reserved`) or newly waits for
/// it paid (`out_of_stock`, a backorder); a message seen before is a `duplicate`. Lines that
/// only move on (held → confirmed → committed), wait for a mapping, or are filled from the
/// backorder queue later (`Book::fill_waiting`) are not counted here.
enum Watched {
    Nothing,
    Api,
    OrderDuplicate,
    /// The order's reservation key and each line's state before.
    Order(String, HashMap<String, LineState>),
}

impl Watched {
    fn before(book: &Book, cmd: &Command, seen: &HashSet<Uuid>) -> Watched {
        match cmd {
            Command::Reserve(_) => Watched::Api,
            Command::SyncOrder { message, .. } if seen.contains(&message.id) => Watched::OrderDuplicate,
            Command::SyncOrder { sync, .. } => {
                let key = format!("order:{}", sync.order_id);
                let states = book
                    .reservation(&key)
                    .map(|r| r.lines.iter().map(|l| (l.line_ref.clone(), l.state)).collect())
                    .unwrap_or_default();
                Watched::Order(key, states)
            }
            _ => Watched::Nothing,
        }
    }

    fn after(self, book: &Book, result: &Result<Reply, EngineError>, tally: &mut Tally) {
        match (self, result) {
            (Watched::Api, Ok(Reply::Reservation { created: true, .. })) => tally.add("api", "reserved", 1),
            (Watched::Api, Ok(_)) => tally.add("api", "duplicate", 1),
            (Watched::Api, Err(EngineError::Stock(StockError::Insufficient(_)))) => tally.add("api", "out_of_stock", 1),
            (Watched::Api, Err(EngineError::Stock(_))) => tally.add("api", "rejected", 1),
            (Watched::OrderDuplicate, Ok(_)) => tally.add("order", "duplicate", 1),
            (Watched::Order(key, before), Ok(_)) => {
                let Some(r) = book.reservation(&key) else { return };
                let held = |s: Option<&LineState>| matches!(s, Some(LineState::Held | LineState::Confirmed));
                for line in &r.lines {
                    let was = before.get(&line.line_ref);
                    if held(Some(&line.state)) && !held(was) {
                        tally.add("order", "reserved", 1);
                    } else if line.state == LineState::Backordered && was != Some(&LineState::Backordered) {
                        tally.add("order", "out_of_stock", 1);
                    }
                }
            }
            // Nothing decided (a store or book failure answers `Unavailable`: the caller retries).
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply(
    book: &mut Book,
    tenant: TenantId,
    cmd: Command,
    now: Timestamp,
    pending: &mut Pending,
    seen: &mut HashSet<Uuid>,
    batch_keys: &mut BatchKeys,
    stored: Option<store::idempotency_keys::Model>,
) -> Result<Reply, EngineError> {
    match cmd {
        Command::CreateWarehouse { code, name } => {
            let (w, ev) = book.create_warehouse(kernel::new_id(), &code, &name)?;
            pending.record(tenant, &ev, now);
            Ok(Reply::Warehouse(w))
        }
        Command::CreateSku { code, name, safety_stock } => {
            let (s, ev) = book.create_sku(kernel::new_id(), &code, &name, safety_stock, now)?;
            pending.record(tenant, &ev, now);
            Ok(Reply::Sku(s))
        }
        Command::Adjust { adjust, idempotency } => {
            if let Some(key) = &idempotency {
                let earlier = stored
                    .map(|s| (s.request_hash, serde_json::from_str::<StockView>(&s.response).ok()))
                    .or_else(|| {
                        batch_keys
                            .get(&(tenant, key.scope(), key.key.clone()))
                            .map(|(h, v)| (h.clone(), Some(v.clone())))
                    });
                if let Some((h, view)) = earlier {
                    return match view {
                        Some(v) if h == key.request_hash => Ok(Reply::Stock(v)),
                        Some(_) => Err(StockError::KeyReused.into()),
                        None => Err(EngineError::Unavailable("stored response unreadable".into())),
                    };
                }
            }
            let ev = book.adjust(&adjust, now)?;
            pending.record(tenant, &ev, now);
            let sku = book.sku(&adjust.sku_code).expect("adjusted SKU exists").clone();
            let view = stock_view(book, &sku);
            if let Some(key) = idempotency {
                let scope = key.scope();
                pending.idempotency.push(store::idempotency_keys::ActiveModel {
                    tenant_id: Set(tenant.0),
                    scope: Set(scope.into()),
                    key: Set(key.key.clone()),
                    request_hash: Set(key.request_hash.clone()),
                    status: Set(201),
                    response: Set(serde_json::to_string(&view).expect("views serialize")),
                    created_at: Set(now),
                });
                batch_keys.insert((tenant, scope, key.key), (key.request_hash, view.clone()));
            }
            Ok(Reply::Stock(view))
        }
        Command::Reserve(r) => {
            let key = r.key.clone();
            let (created, ev) = book.reserve(kernel::new_id(), r, now)?;
            pending.record(tenant, &ev, now);
            Ok(Reply::Reservation { reservation: book.reservation(&key).expect("reserved").clone(), created })
        }
        Command::SetAllocation(a) => {
            let ev = book.set_allocation(a, now)?;
            pending.record(tenant, &ev, now);
            pending.allocations.insert(tenant);
            Ok(Reply::Allocation(book.allocation().clone()))
        }
        Command::Confirm(id) | Command::Release(id) | Command::Commit(id) if book.reservation_by_id(id).is_none() => {
            Err(StockError::UnknownReservation.into())
        }
        Command::Confirm(id) => transition(book, tenant, id, now, pending, Book::confirm),
        Command::Release(id) => transition(book, tenant, id, now, pending, Book::release),
        Command::Commit(id) => transition(book, tenant, id, now, pending, Book::commit),
        Command::SyncOrder { sync, message } => {
            if !seen.insert(message.id) {
                return Ok(Reply::Done);
            }
            let ev = book.sync_order(kernel::new_id(), sync, now);
            pending.record(tenant, &ev, now);
            pending.inbox.push(message);
            Ok(Reply::Done)
        }
        Command::Return { warehouse_code, lines, cause, message } => {
            if !seen.insert(message.id) {
                return Ok(Reply::Done);
            }
            let (ev, skipped) = book.return_stock(&warehouse_code, &lines, &cause, now);
            if !skipped.is_empty() {
                tracing::warn!(tenant_id = %tenant.0, ?skipped, %cause, "returned units of SKUs the tenant does not have were not restocked");
            }
            pending.record(tenant, &ev, now);
            pending.inbox.push(message);
            Ok(Reply::Done)
        }
    }
}

fn transition(
    book: &mut Book,
    tenant: TenantId,
    id: Uuid,
    now: Timestamp,
    pending: &mut Pending,
    f: fn(&mut Book, Uuid, Timestamp) -> Result<Vec<StockEvent>, StockError>,
) -> Result<Reply, EngineError> {
    let ev = f(book, id, now)?;
    pending.record(tenant, &ev, now);
    Ok(Reply::Reservation { reservation: book.reservation_by_id(id).expect("exists").clone(), created: false })
}
