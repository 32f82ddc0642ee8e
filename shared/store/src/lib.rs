//! Database connections and write transactions for every service.
//!
//! The same code runs on SQLite (`cairn up`) and PostgreSQL (distributed mode). SQLite allows
//! one writer at a time; rather than let concurrent writers fail with `SQLITE_BUSY`, every write
//! transaction passes a process-wide gate on SQLite (a no-op on PostgreSQL), measured for
//! `/metrics` (`cairn_sqlite_write_gate_*`: passes, time waited, time held). Each commit also
//! bumps a change counter that the embedded bus waits on instead of polling.
//!
//! **Every statement runs in a scope.** A [`Db`] is only a factory: [`Db::tenant`] gives a
//! [`TenantDb`] that sees one tenant's rows, [`Db::system`] a [`SystemDb`] for the few
//! workers whose work genuinely spans tenants. On PostgreSQL each of their transactions
//! (and each statement run through their `conn()`, which gets a transaction of its own) first
//! runs `select set_config('app.tenant_id', …, true)`: transaction-local, so it ends with the
//! transaction and a pooled connection carries nothing into the next one. Row-level security
//! policies (migration `m0014_row_level_security`) then restrict every tenant table to that
//! tenant. On SQLite there is no row-level security: the scopes are the same connections and
//! gate as before, and the explicit `tenant_id` filters in every query are what isolates.

/// Declares a plain sea-orm entity (no relations) in a module of its own:
/// `store::entity!(/// doc\n name, "table", { #[sea_orm(primary_key, auto_increment = false)] id: Uuid, field: Type });`.
/// Doc comments (of the module, inside the call, and of fields) and field attributes are kept. The caller's crate must depend on `sea-orm`.
#[macro_export]
macro_rules! entity {
    ($(#[$ma:meta])* $m:ident, $table:literal, { $($(#[$a:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$ma])*
        pub mod $m {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($(#[$a])* pub $f: $t,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use uuid::Uuid;

mod trace;

/// Prepared statements each connection keeps (sqlx's default is 100). A multi-row
/// insert or an `in (…)` list is a statement of its own for every row count, so one Double-11
/// run's writer ran about 760 distinct statements. With 100 slots the cache churned and the
/// common single-row statements were parsed and planned again and again (about 5% of all CPU
/// in `sqlite3Prepare`); with 2,000 they stay prepared (about 12% less CPU per order, measured
/// side by side). A prepared statement costs a few KiB.
const STATEMENT_CACHE: usize = 2000;

/// A connection pool plus the write gate and change signal.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite: the one connection write transactions use. The gate lets one writer in at a
    /// time anyway, and a single connection keeps its page cache across transactions, where a
    /// pool's connections each discard theirs after another connection's commit.
    writer: Option<DatabaseConnection>,
    gate: Option<Arc<Mutex<()>>>,
    /// SQLite: the writer connection's `synchronous` is NORMAL (for [`Db::write_derived`]),
    /// else FULL. Read and set only by the holder of the gate.
    relaxed: Arc<std::sync::atomic::AtomicBool>,
    changed: Arc<watch::Sender<u64>>,
    /// SQLite with `CAIRN_SQL_TRACE`: where the writer's statements are written.
    trace: Option<trace::Trace>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend()).finish()
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbErr> {
        Self::connect_traced(url, max_connections, None).await
    }

    /// [`Db::connect`], writing every statement the SQLite writer runs to `trace` (created or
    /// truncated) as SQL a `sqlite3` shell can replay: the database's own share of a workload,
    /// measured without Cairn around it. Ignored on PostgreSQL.
    pub async fn connect_traced(url: &str, max_connections: u32, trace: Option<&std::path::Path>) -> Result<Db, DbErr> {
        let opts = Self::options(url, max_connections, None);
        let conn = sea_orm::Database::connect(opts).await?;
        let sqlite = url.starts_with("sqlite:");
        let trace = match trace.filter(|_| sqlite) {
            Some(path) => Some(
                trace::Trace::create(path)
                    .map_err(|e| DbErr::Custom(format!("creating the SQL trace {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let writer = match sqlite {
            true => {
                // 64 MiB of page cache (negative: KiB).
                let mut w = sea_orm::Database::connect(Self::options(url, 1, Some("-65536"))).await?;
                if let Some(t) = &trace {
                    let t = t.clone();
                    w.set_metric_callback(move |i| t.statement(i.statement));
                }
                // The checkpointer below keeps the log short; the writer checkpoints itself
                // only if it falls far behind (10,000 pages, about 40 MB).
                w.execute_unprepared("pragma wal_autocheckpoint = 10000").await?;
                Some(w)
            }
            false => None,
        };
        let db = Db {
            conn,
            writer,
            gate: sqlite.then(|| Arc::new(Mutex::new(()))),
            relaxed: Default::default(),
            changed: Arc::new(watch::channel(0).0),
            trace,
        };
        if sqlite {
            let checkpointer = sea_orm::Database::connect(Self::options(url, 1, None)).await?;
            tokio::spawn(checkpoint(checkpointer, db.subscribe_commits()));
        }
        Ok(db)
    }

    fn options(url: &str, max_connections: u32, cache_size: Option<&'static str>) -> ConnectOptions {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            // WAL lets readers run beside the writer; FULL makes every commit durable against
            // power loss, not only against a crash of the process.
            opts.map_sqlx_sqlite_opts(move |o| {
                let o = o
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .create_if_missing(true)
                    .statement_cache_capacity(STATEMENT_CACHE);
                match cache_size {
                    Some(c) => o.pragma("cache_size", c),
                    None => o,
                }
            });
        } else {
            // The same churn on PostgreSQL costs a Parse round trip and a plan per eviction.
            opts.map_sqlx_postgres_opts(|o| o.statement_cache_capacity(STATEMENT_CACHE));
        }
        opts
    }

    /// A handle that is not connected (every call fails): for building API objects whose
    /// handlers never run, such as when printing the OpenAPI document.
    pub fn disconnected() -> Db {
        Db {
            conn: DatabaseConnection::default(),
            writer: None,
            gate: None,
            relaxed: Default::default(),
            changed: Arc::new(watch::channel(0).0),
            trace: None,
        }
    }

    /// The pool itself, with no scope: for schema work by the database owner (migrations,
    /// grants) and nothing else. Under row-level security a statement here sees no tenant's
    /// rows at all (no `app.tenant_id` is set); services use [`Db::tenant`] or [`Db::system`].
    pub fn schema_conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// A handle that sees only `tenant`'s rows: what an API handler builds from its token's
    /// tenant, and what a worker builds from the row or message it is handling.
    pub fn tenant(&self, tenant: Uuid) -> TenantDb {
        TenantDb { conn: ScopedConn::new(self, Scope::Tenant(tenant)), db: self.clone(), tenant }
    }

    /// A handle that sees every tenant's rows. Only for work that genuinely spans tenants and
    /// cannot be split by tenant first: the outbox relay and the event tail, claims of due
    /// rows across tenants (write-backs, event deliveries, waybill cancellations, label
    /// batches), counts for the operator (the `/metrics` gauges), the inventory
    /// engine's group commits (one transaction for a partition's tenants), the embedded bus's
    /// batches, and look-ups that start from something global (a webhook URL's channel id, a
    /// login email, an app's client id) — each of these says so where it calls this.
    ///
    /// *Why a marker and not a second role:* the system scope sets `app.tenant_id` to `*`,
    /// which a policy of its own admits. A separate database role (with its own pool and
    /// credentials, or `SET ROLE` to it) would guard against nothing more: the process that
    /// holds the app role's credentials can already set any tenant it likes, since it must
    /// set the tenant itself. Row-level security here guards against the application's own
    /// mistakes (a forgotten filter, a row of the wrong tenant written), and the marker keeps
    /// those guards for tenant handles: a [`TenantDb`] always sets its own tenant at the start
    /// of each of its transactions, so it never sees `*`, and nothing set in one transaction
    /// outlives it.
    pub fn system(&self) -> SystemDb {
        SystemDb { conn: ScopedConn::new(self, Scope::System), db: self.clone() }
    }

    /// Which database this is.
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.backend() == DatabaseBackend::Postgres
    }

    async fn write_as(&self, writer: Writer, relaxed: bool, scope: Scope) -> Result<WriteTx, DbErr> {
        let guard = match &self.gate {
            Some(g) => {
                let waiting = std::time::Instant::now();
                let guard = g.clone().lock_owned().await;
                telemetry::metrics::write_gate_acquired(waiting.elapsed());
                Some(GateHold { _guard: guard, since: std::time::Instant::now() })
            }
            None => None,
        };
        if let Some(w) = &self.writer {
            // Outside a transaction (SQLite ignores this pragma inside one). A reconnect of
            // the writer starts at FULL whatever this flag says, which errs on the safe side.
            use std::sync::atomic::Ordering::Relaxed;
            // The flag says "maybe NORMAL" from before the switch to NORMAL until after the
            // switch back has run, so a switch cut short (this future dropped) cannot leave a
            // durable transaction on a NORMAL connection.
            if self.relaxed.load(Relaxed) != relaxed {
                if relaxed {
                    self.relaxed.store(true, Relaxed);
                    w.execute_unprepared("pragma synchronous = normal").await?;
                } else {
                    w.execute_unprepared("pragma synchronous = full").await?;
                    self.relaxed.store(false, Relaxed);
                }
            }
        }
        let tx = match &self.writer {
            // IMMEDIATE takes the write lock at BEGIN (waiting on busy_timeout if a plain
            // single-statement write of the pool holds it). A deferred transaction would read
            // first and then fail at once with SQLITE_BUSY_SNAPSHOT if such a write committed
            // in between.
            Some(w) => {
                let options = sea_orm::TransactionOptions {
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                    ..Default::default()
                };
                w.begin_with_options(options).await?
            }
            None => self.conn.begin().await?,
        };
        if self.writer.is_none() && self.is_postgres() {
            scope.enter(&tx).await?;
        }
        let trace = trace::TxTrace::begin(self.trace.as_ref(), relaxed);
        let held = guard.is_some().then(|| (writer, std::time::Instant::now()));
        Ok(WriteTx { tx, _guard: guard, changed: self.changed.clone(), held, trace })
    }

    /// A receiver that sees a new value after every commit through [`WriteTx::commit`].
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Is the database answering?
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }
}

/// The name of the PostgreSQL setting the row-level security policies read.
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The value of [`TENANT_SETTING`] that admits every tenant's rows ([`Db::system`]).
pub const SYSTEM_MARKER: &str = "*";

/// Whose rows a transaction may see and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One tenant's.
    Tenant(Uuid),
    /// Every tenant's ([`Db::system`]).
    System,
}

impl Scope {
    /// PostgreSQL: sets [`TENANT_SETTING`] for the rest of the transaction `tx` (transaction-
    /// local: `set_config(…, true)`). The value is a UUID's canonical text or `*`, so it is
    /// written into the statement, which then needs no round trip to prepare.
    async fn enter(self, tx: &DatabaseTransaction) -> Result<(), DbErr> {
        let value = match self {
            Scope::Tenant(t) => t.hyphenated().to_string(),
            Scope::System => SYSTEM_MARKER.to_owned(),
        };
        tx.execute_unprepared(&format!("select set_config('{TENANT_SETTING}', '{value}', true)")).await?;
        Ok(())
    }
}

/// Anything that knows which database it talks to (for [`stmt`]).
pub trait Dialect {
    /// Which database this is.
    fn dialect(&self) -> DatabaseBackend;
}

impl Dialect for Db {
    fn dialect(&self) -> DatabaseBackend {
        self.backend()
    }
}

impl Dialect for DatabaseBackend {
    fn dialect(&self) -> DatabaseBackend {
        *self
    }
}

/// A connection-like handle whose every statement runs in a scope: on PostgreSQL in a
/// transaction of its own that first sets the scope (so a single read or a single-statement
/// write needs no transaction of the caller's); on SQLite straight on the pool.
#[derive(Clone)]
pub struct ScopedConn {
    pool: DatabaseConnection,
    /// `None` on SQLite (no row-level security there).
    scope: Option<Scope>,
}

impl std::fmt::Debug for ScopedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedConn").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl ScopedConn {
    fn new(db: &Db, scope: Scope) -> ScopedConn {
        let pg = matches!(&db.conn.inner, sea_orm::DatabaseConnectionType::SqlxPostgresPoolConnection(_));
        ScopedConn { pool: db.conn.clone(), scope: pg.then_some(scope) }
    }

    async fn begin(&self, scope: Scope) -> Result<DatabaseTransaction, DbErr> {
        let tx = self.pool.begin().await?;
        scope.enter(&tx).await?;
        Ok(tx)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ScopedConn {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: sea_orm::Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match self.scope {
            None => self.pool.execute_raw(stmt).await,
            Some(scope) => {
                let tx = self.begin(scope).await?;
                let r = tx.execute_raw(stmt).await?;
                tx.commit().await?;
                Ok(r)
            }
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match self.scope {
            None => self.pool.execute_unprepared(sql).await,
            Some(scope) => {
                let tx = self.begin(scope).await?;
                let r = tx.execute_unprepared(sql).await?;
                tx.commit().await?;
                Ok(r)
            }
        }
    }

    async fn query_one_raw(&self, stmt: sea_orm::Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match self.scope {
            None => self.pool.query_one_raw(stmt).await,
            Some(scope) => {
                let tx = self.begin(scope).await?;
                let r = tx.query_one_raw(stmt).await?;
                tx.commit().await?;
                Ok(r)
            }
        }
    }

    async fn query_all_raw(&self, stmt: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match self.scope {
            None => self.pool.query_all_raw(stmt).await,
            Some(scope) => {
                let tx = self.begin(scope).await?;
                let r = tx.query_all_raw(stmt).await?;
                tx.commit().await?;
                Ok(r)
            }
        }
    }
}

impl Dialect for ScopedConn {
    fn dialect(&self) -> DatabaseBackend {
        self.get_database_backend()
    }
}

/// Declares the methods [`TenantDb`] and [`SystemDb`] share.
macro_rules! scoped_methods {
    ($scope:expr) => {
        /// For reads, and for writes of a single statement: each statement runs in the scope
        /// (on PostgreSQL in a transaction of its own).
        pub fn conn(&self) -> &ScopedConn {
            &self.conn
        }

        /// Which database this is.
        pub fn backend(&self) -> DatabaseBackend {
            self.db.backend()
        }

        /// True on PostgreSQL.
        pub fn is_postgres(&self) -> bool {
            self.db.is_postgres()
        }

        /// Starts a write transaction in the scope (waiting at the gate on SQLite). Its time
        /// at the gate is counted under the caller's source location (see [`gate_report`]).
        #[track_caller]
        pub fn write(&self) -> impl std::future::Future<Output = Result<WriteTx, DbErr>> + Send + '_ {
            self.db.write_as(Writer::At(std::panic::Location::caller()), false, $scope(self))
        }

        /// [`Self::write`], counted under `name` (e.g. a bus consumer's name).
        pub fn write_named(
            &self,
            name: &'static str,
        ) -> impl std::future::Future<Output = Result<WriteTx, DbErr>> + Send + '_ {
            self.db.write_as(Writer::Named(name), false, $scope(self))
        }

        /// A write transaction whose commit need not reach the disk before it returns: on
        /// SQLite it commits with `synchronous = NORMAL` (no fsync), every other one with FULL.
        /// Only for work that is derived from rows already durable in this same database and
        /// that records its own progress in the same transaction — the embedded bus's
        /// consumers, whose cursor and inbox move with their effects. Power loss can then take
        /// back only a suffix of such commits (WAL mode stays consistent), and the consumer
        /// redoes it from the durable outbox. The next FULL commit makes every earlier one
        /// durable too, because it syncs the whole log, and the embedded bus writes one when a
        /// consumer goes idle ([`Self::write_named`]), so the window stays short. Not for
        /// anything acknowledged to the outside (an API response, a webhook's 2xx, a message
        /// acked to a broker). On PostgreSQL this is [`Self::write_named`].
        pub fn write_derived(
            &self,
            name: &'static str,
        ) -> impl std::future::Future<Output = Result<WriteTx, DbErr>> + Send + '_ {
            self.db.write_as(Writer::Named(name), true, $scope(self))
        }

        /// A receiver that sees a new value after every commit through [`WriteTx::commit`].
        pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
            self.db.subscribe_commits()
        }
    };
}

/// One tenant's view of the database ([`Db::tenant`]): under PostgreSQL's row-level security
/// it neither sees nor writes another tenant's rows, whatever a query forgets to filter.
#[derive(Clone)]
pub struct TenantDb {
    db: Db,
    tenant: Uuid,
    conn: ScopedConn,
}

impl std::fmt::Debug for TenantDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantDb").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl TenantDb {
    /// The tenant this handle is scoped to.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant
    }

    scoped_methods!(|s: &TenantDb| Scope::Tenant(s.tenant));
}

impl Dialect for TenantDb {
    fn dialect(&self) -> DatabaseBackend {
        self.backend()
    }
}

/// Every tenant's rows ([`Db::system`]), for work that spans tenants.
#[derive(Clone)]
pub struct SystemDb {
    db: Db,
    conn: ScopedConn,
}

impl std::fmt::Debug for SystemDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemDb")
    }
}

impl SystemDb {
    /// A handle on the same database scoped to one tenant, for the per-tenant part of work
    /// that found its rows through a system scan.
    pub fn tenant(&self, tenant: Uuid) -> TenantDb {
        self.db.tenant(tenant)
    }

    scoped_methods!(|_: &SystemDb| Scope::System);
}

impl Dialect for SystemDb {
    fn dialect(&self) -> DatabaseBackend {
        self.backend()
    }
}

/// SQLite: copies committed pages from the log into the database file on a connection of
/// its own, a few times a second while there are commits. Left to the writer (SQLite's
/// automatic checkpoint, in the commit that crosses 1,000 pages), this copy and its fsyncs
/// ran inside that commit, holding the write gate (Double-11: the orders consumer's time in
/// commit halved without it; overall throughput moved within the machine's noise, but a
/// slow disk's fsync no longer stalls every writer). A PASSIVE checkpoint runs beside
/// readers and the writer. Ends when the last [`Db`] clone is dropped.
async fn checkpoint(conn: DatabaseConnection, mut commits: watch::Receiver<u64>) {
    loop {
        if commits.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        commits.borrow_and_update();
        if let Err(e) = conn.execute_unprepared("pragma wal_checkpoint(passive)").await {
            tracing::warn!(error = %e, "checkpoint failed (the writer checkpoints itself past 10,000 pages)");
        }
    }
}

/// A write transaction; dropping it without `commit` rolls back.
pub struct WriteTx {
    tx: DatabaseTransaction,
    /// Ends the transaction in the SQL trace (`ROLLBACK` when dropped). Declared before the
    /// gate's guard, so that it is dropped while the gate is still held and no other
    /// writer's `BEGIN` can come before this `ROLLBACK` in the trace.
    trace: trace::TxTrace,
    _guard: Option<GateHold>,
    changed: Arc<watch::Sender<u64>>,
    /// Who holds the SQLite gate, since when.
    held: Option<(Writer, std::time::Instant)>,
}

/// SQLite's write gate, held: releasing it (at the end of a commit, or when a transaction is
/// dropped and rolls back) records for how long (`cairn_sqlite_write_gate_held_seconds`). The
/// Double-11 figures in [`gate_report`] count committed transactions only; this counts all.
struct GateHold {
    _guard: OwnedMutexGuard<()>,
    since: std::time::Instant,
}

impl Drop for GateHold {
    fn drop(&mut self) {
        telemetry::metrics::write_gate_released(self.since.elapsed());
    }
}

/// Who wrote: a source location or a name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    At(&'static std::panic::Location<'static>),
    Named(&'static str),
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Writer::At(l) => write!(f, "{}:{}", l.file(), l.line()),
            Writer::Named(n) => f.write_str(n),
        }
    }
}

/// How long one writer held SQLite's write gate, summed over its committed transactions.
#[derive(Debug, Clone)]
pub struct GateUse {
    /// A consumer's name or the source location that started the transactions.
    pub writer: String,
    pub transactions: u64,
    /// From BEGIN to the end of COMMIT.
    pub held: Duration,
    /// In COMMIT (the WAL write and fsync).
    pub committing: Duration,
}

static GATE_USE: std::sync::Mutex<Vec<(Writer, u64, Duration, Duration)>> = std::sync::Mutex::new(Vec::new());

/// Where the single SQLite writer's time went in this process, longest first: with one write
/// gate, the sum of `held` over a busy period is how much of it the gate was busy, so this
/// tells which writer to make cheaper. Empty on PostgreSQL (no gate).
pub fn gate_report() -> Vec<GateUse> {
    let mut v: Vec<GateUse> = GATE_USE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(w, n, h, c)| GateUse { writer: w.to_string(), transactions: *n, held: *h, committing: *c })
        .collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.held));
    v
}

impl WriteTx {
    /// Commits and wakes whoever waits for new rows.
    pub async fn commit(self) -> Result<(), DbErr> {
        let commit_start = std::time::Instant::now();
        let committed = self.tx.commit().await;
        self.trace.commit(committed.is_ok());
        committed?;
        if let Some((writer, since)) = self.held {
            let end = std::time::Instant::now();
            let mut uses = GATE_USE.lock().unwrap_or_else(|e| e.into_inner());
            match uses.iter_mut().find(|u| u.0 == writer) {
                Some(u) => {
                    u.1 += 1;
                    u.2 += end - since;
                    u.3 += end - commit_start;
                }
                None => uses.push((writer, 1, end - since, end - commit_start)),
            }
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

/// The largest `page` an offset-paged list takes. List routes bound their `page` parameter to
/// it in the spec (`validator(maximum(value = "1000000"))`; a test in services/cairn checks that
/// every integer query parameter has bounds), so a huge page is a 400, never a query.
pub const MAX_PAGE: u64 = 1_000_000;

/// The row offset of `page` (from 1) of `per_page` rows, saturating at the largest `OFFSET`
/// the databases take (a signed 64-bit integer): past the end of any table, so an
/// out-of-range page is an empty page and never a panic in the SQL layer.
pub fn page_offset(page: u64, per_page: u64) -> u64 {
    page.saturating_sub(1).saturating_mul(per_page).min(i64::MAX as u64)
}

/// True when `err` is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

crate::entity!(
    /// Stored responses of mutating API calls, keyed by the caller's `Idempotency-Key`.
    idempotency_keys, "idempotency_keys", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    /// Which operation the key belongs to, e.g. `stock.adjustment`.
    #[sea_orm(primary_key, auto_increment = false)] scope: String,
    #[sea_orm(primary_key, auto_increment = false)] key: String,
    request_hash: String,
    status: i32,
    response: String,
    created_at: DateTimeUtc,
});

/// Hex SHA-256 of a request's canonical JSON, to tell a replay from a different request.
pub fn request_hash<T: serde::Serialize>(req: &T) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(req).expect("requests serialize");
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SQL written with `?` placeholders, numbered `$1, $2…` for PostgreSQL.
pub fn stmt(db: &impl Dialect, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    stmt_for(db.dialect(), sql, values)
}

/// [`stmt`] for a backend (where only a connection is at hand, not a [`Db`]).
pub fn stmt_for(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    let sql = if backend == DatabaseBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + sql.len() / 2);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_owned()
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// `(?, ?, …), (?, ?, …), …`: the `VALUES` of a multi-row insert of `rows` rows of `cols`
/// columns, for [`stmt`].
pub fn value_rows(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(", "));
    vec![one; rows].join(", ")
}

#[cfg(test)]
mod paging_tests {
    #[test]
    fn page_offsets_fit_a_signed_64_bit_offset() {
        assert_eq!(super::page_offset(1, 50), 0);
        assert_eq!(super::page_offset(3, 50), 100);
        assert_eq!(super::page_offset(0, 50), 0);
        assert_eq!(super::page_offset(27_144_795_537_361_116, 467), i64::MAX as u64);
        assert_eq!(super::page_offset(super::MAX_PAGE, 500), 499_999_500);
    }
}
