//! The channels use cases: connect a shop and change its settings, report and run its
//! reconciliation, and receive its webhooks (verify, parse, ingest). The HTTP API is a thin
//! layer over [`Channels`]; nothing here knows about requests or responses.
//!
//! Errors are [`Error`], not `problem::Problem`: the use cases say what went wrong in the
//! domain's words, and `http` alone decides which problem code and status each one answers
//! with (a table in one place, as `problem` keeps for the whole API).

use crate::{
    adapters::{bazaar, shopify},
    db::{channel_pull_finds, channel_sync, channels, shops},
    domain::{
        refund,
        shop::{self, Credentials, NewShop, ShopError},
        stock::Rules,
        webhook::WebhookError,
    },
    ingest::{self, Ingested, Ingestor, OwnedIncoming, Source},
    reconcile::{self, ReconcileError, Reconciler, RunReport},
    writeback,
};
use kernel::{SharedClock, TenantId, Timestamp};
use uuid::Uuid;

/// Why a use case did not do what was asked. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such channel (another tenant's looks the same).
    #[error("channel not found")]
    NotFound,
    /// The shop's settings were refused.
    #[error(transparent)]
    Invalid(#[from] ShopError),
    /// A webhook was refused.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The shop is connected already, with other settings.
    #[error("shop `{0}` is already connected with different settings")]
    AlreadyConnected(String),
    /// The same shop was being connected at the same time.
    #[error("this shop was connected concurrently; retry")]
    ConnectedConcurrently,
    /// Another rotation changed the secret between our read and our write.
    #[error("the secret was changed at the same time; read the channel and retry")]
    SecretChangedConcurrently,
    /// The shop cannot be pulled: it has no Open API credentials.
    #[error("{}", ReconcileError::NotConfigured)]
    NotConfigured,
    /// A pull of the shop is running already.
    #[error("{}", ReconcileError::Busy)]
    PullRunning,
    /// Product mappings name SKUs the tenant does not have.
    #[error("no SKU {}: create it first", .0.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))]
    UnknownSkus(Vec<String>),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Unknown(e.into())
    }
}

impl From<ReconcileError> for Error {
    fn from(e: ReconcileError) -> Self {
        match e {
            ReconcileError::NotConfigured => Error::NotConfigured,
            ReconcileError::Busy => Error::PullRunning,
            ReconcileError::Db(e) => e.into(),
        }
    }
}

/// One SKU of a stock-sync preview.
#[derive(Debug)]
pub struct Preview {
    pub sku_code: String,
    /// Sellable now.
    pub available: i64,
    /// What the shop is meant to display now (`None` before its first plan).
    pub shown_now: Option<i64>,
    /// What it would display with the previewed rules.
    pub shown: i64,
}

/// How far Cairn's view of a shop can be behind the marketplace.
#[derive(Debug)]
pub struct SyncReport {
    /// Whether the shop is pulled (it has Open API credentials).
    pub reconciles: bool,
    /// How often it is pulled.
    pub interval: std::time::Duration,
    /// When its latest webhook arrived.
    pub last_webhook_at: Option<Timestamp>,
    /// Its reconciliation row, once it was pulled.
    pub sync: Option<channel_sync::Model>,
    /// Now − checkpoint.
    pub sync_lag: Option<chrono::Duration>,
    /// The latest trade versions only pull delivered, newest first.
    pub recent_found: Vec<channel_pull_finds::Model>,
    pub writebacks: writeback::Counts,
}

/// How many of the trade versions pull found the sync report lists.
const RECENT_FOUND: u64 = 50;

/// The channels service.
#[derive(Clone)]
pub struct Channels {
    db: store::Db,
    reconciler: Reconciler,
    ingestor: Ingestor,
    clock: SharedClock,
    /// For the marketplaces' item lists.
    http: reqwest::Client,
}

/// The shop's variants and where the list came from.
#[derive(Debug)]
pub struct Items {
    pub rows: Vec<crate::items::ItemRow>,
    /// The marketplace's item list was read just now (else: what Cairn saw in trades).
    pub pulled: bool,
    /// Why it could not be read, when it could not.
    pub pull_error: Option<String>,
}

/// The most mappings one request sets.
pub const MAX_MAPPINGS: usize = 1000;

/// A Bazaar webhook secret: random, and long enough that guessing is no attack.
fn new_secret() -> String {
    format!("whsec_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl Channels {
    /// The service over `db`, pulling with `reconciler`; `clock` decides webhook skew, the
    /// rotated secret's hour and the timestamps written.
    pub fn new(db: store::Db, reconciler: Reconciler, clock: SharedClock) -> Self {
        Channels {
            ingestor: Ingestor::new(db.clone(), clock.clone()),
            db,
            reconciler,
            clock,
            http: crate::adapters::http_client(),
        }
    }

    /// The tenant's view of the database.
    fn db(&self, tenant: TenantId) -> store::TenantDb {
        self.db.tenant(tenant.0)
    }

    /// One of the tenant's shops.
    pub async fn get(&self, tenant: TenantId, id: Uuid) -> Result<channels::Model, Error> {
        shops::find(self.db(tenant).conn(), tenant.0, id).await?.ok_or(Error::NotFound)
    }

    /// The tenant's shops, oldest first.
    pub async fn list(&self, tenant: TenantId) -> Result<Vec<channels::Model>, Error> {
        Ok(shops::list(self.db(tenant).conn(), tenant.0).await?)
    }

    /// Connects a shop; connecting the same shop again with the same settings returns it
    /// unchanged. A new shop starts displaying what the tenant has (and the others' reserves
    /// may shift), so the tenant's stock is planned again.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn connect(&self, tenant: TenantId, new: NewShop) -> Result<channels::Model, Error> {
        let t = tenant.0;
        let db = self.db(tenant);
        new.check()?;
        if let Some(c) = shops::find_by_shop(db.conn(), t, &new.marketplace, &new.shop_id).await? {
            return if new.repeats(&c.settings()) { Ok(c) } else { Err(Error::AlreadyConnected(c.shop_id)) };
        }
        let (hold_ttl_seconds, rules) = (new.hold_ttl_seconds(), new.stock_rules());
        let (api_base_url, app_key, app_secret, access_token) = match new.api.map(Credentials::trimmed) {
            Some(a) => (Some(a.base_url), Some(a.app_key), Some(a.app_secret), Some(a.access_token)),
            None => (None, None, None, None),
        };
        let row = channels::Model {
            tenant_id: t,
            id: kernel::new_id(),
            marketplace: new.marketplace,
            shop_id: new.shop_id,
            name: new.name,
            webhook_secret: new.webhook_secret.unwrap_or_else(new_secret),
            previous_secret: None,
            secret_rotated_at: None,
            hold_ttl_seconds,
            created_at: self.clock.now(),
            api_base_url,
            app_key,
            app_secret,
            access_token,
            stock_percent: rules.percent,
            stock_max: rules.max,
            stock_min: rules.min,
            stock_reserve: rules.reserve,
        };
        let tx = db.write().await?;
        if !shops::insert(&*tx, &row).await? {
            return Err(Error::ConnectedConcurrently);
        }
        tx.commit().await?;
        writeback::replan_tenant(&db, t, self.clock.now()).await?;
        Ok(row)
    }

    /// Replaces a shop's stock sync rules and plans every SKU's displayed quantity again.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn set_stock_rules(&self, tenant: TenantId, id: Uuid, r: Rules) -> Result<channels::Model, Error> {
        let t = tenant.0;
        let mut c = self.get(tenant, id).await?;
        shop::check_stock_rules(&r)?;
        let db = self.db(tenant);
        let tx = db.write().await?;
        shops::set_stock_rules(&*tx, t, c.id, r).await?;
        tx.commit().await?;
        writeback::replan_tenant(&db, t, self.clock.now()).await?;
        (c.stock_percent, c.stock_max, c.stock_min, c.stock_reserve) = (r.percent, r.max, r.min, r.reserve);
        Ok(c)
    }

    /// What the shop would display for each SKU with rules `r`, beside what it is meant to
    /// display now; nothing changes.
    pub async fn preview_stock_rules(&self, tenant: TenantId, id: Uuid, r: Rules) -> Result<Vec<Preview>, Error> {
        let c = self.get(tenant, id).await?;
        shop::check_stock_rules(&r)?;
        let rows = writeback::preview(&self.db(tenant), tenant.0, c.id, r).await?;
        Ok(rows
            .into_iter()
            .map(|(sku_code, available, shown_now, shown)| Preview { sku_code, available, shown_now, shown })
            .collect())
    }

    /// Makes `secret` the shop's webhook secret; the previous one stays accepted for an hour.
    /// The current secret again changes nothing, so a retry is safe.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn rotate_secret(&self, tenant: TenantId, id: Uuid, secret: String) -> Result<channels::Model, Error> {
        let t = tenant.0;
        let mut c = self.get(tenant, id).await?;
        shop::check_webhook_secret(&secret)?;
        if secret == c.webhook_secret {
            return Ok(c);
        }
        let now = self.clock.now();
        let tx = self.db(tenant).write().await?;
        if !shops::rotate_secret(&self.db, &*tx, t, c.id, &c.webhook_secret, &secret, now).await? {
            return Err(Error::SecretChangedConcurrently);
        }
        tx.commit().await?;
        tracing::info!(tenant_id = %t, channel_id = %c.id, "webhook secret rotated");
        c.previous_secret = Some(std::mem::replace(&mut c.webhook_secret, secret));
        c.secret_rotated_at = Some(now);
        Ok(c)
    }

    /// Sets or replaces a shop's Open API credentials: pulls start, shipments recorded without
    /// credentials are queued for write-back and the tenant's stock is planned again. The same
    /// credentials again change nothing.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn set_api(&self, tenant: TenantId, id: Uuid, api: Credentials) -> Result<channels::Model, Error> {
        let t = tenant.0;
        let a = api.trimmed();
        a.check()?;
        let mut c = self.get(tenant, id).await?;
        if c.stored_api().is(Some(&a)) {
            return Ok(c);
        }
        let now = self.clock.now();
        let db = self.db(tenant);
        let tx = db.write().await?;
        shops::set_api(&db, &*tx, t, c.id, &a).await?;
        writeback::resume_channel(&db, &*tx, t, c.id, now).await?;
        tx.commit().await?;
        tracing::info!(tenant_id = %t, channel_id = %c.id, "Open API credentials set");
        writeback::replan_tenant(&db, t, self.clock.now()).await?;
        (c.api_base_url, c.app_key, c.app_secret, c.access_token) =
            (Some(a.base_url), Some(a.app_key), Some(a.app_secret), Some(a.access_token));
        Ok(c)
    }

    /// Removes a shop's Open API credentials: pulls stop and write-backs not yet sent wait for
    /// new ones. Removing them again changes nothing.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn remove_api(&self, tenant: TenantId, id: Uuid) -> Result<channels::Model, Error> {
        let t = tenant.0;
        let mut c = self.get(tenant, id).await?;
        if c.stored_api().is_empty() {
            return Ok(c);
        }
        let db = self.db(tenant);
        let tx = db.write().await?;
        shops::clear_api(&db, &*tx, t, c.id).await?;
        writeback::pause_channel(&db, &*tx, t, c.id).await?;
        tx.commit().await?;
        tracing::info!(tenant_id = %t, channel_id = %c.id, "Open API credentials removed");
        (c.api_base_url, c.app_key, c.app_secret, c.access_token) = (None, None, None, None);
        Ok(c)
    }

    /// Pulls the shop's trades now, from its checkpoint.
    pub async fn reconcile_now(&self, tenant: TenantId, id: Uuid) -> Result<RunReport, Error> {
        let c = self.get(tenant, id).await?;
        Ok(self.reconciler.reconcile(&c).await?)
    }

    /// The shop's items and variants with the SKU each maps to. The marketplace's item list is
    /// read first when it has one and the shop gave credentials (Bazaar); otherwise (Shopify)
    /// the list is the variants seen in the shop's trades.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn items(&self, tenant: TenantId, id: Uuid) -> Result<Items, Error> {
        let c = self.get(tenant, id).await?;
        let db = self.db(tenant);
        let (mut pulled, mut pull_error) = (false, None);
        if let Some(api) = crate::adapters::api_for(&c, &self.http) {
            match api.items().await {
                Ok(Some(variants)) => {
                    let tx = db.write().await?;
                    let now = self.clock.now();
                    crate::items::record_seen(&*tx, c.tenant_id, c.id, &variants, crate::items::source::PULL, now)
                        .await?;
                    tx.commit().await?;
                    pulled = true;
                }
                Ok(None) => {}
                Err(e) => pull_error = Some(e.to_string()),
            }
        }
        Ok(Items { rows: crate::items::list(db.conn(), c.tenant_id, c.id).await?, pulled, pull_error })
    }

    /// Maps marketplace variants to SKUs. Every SKU must exist; the same mappings again change
    /// nothing. Each changed mapping releases what waited on it (`channel.item_mapped`), and
    /// the SKU's quantity is pushed to the newly mapped variants.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, channel_id = %id))]
    pub async fn set_mappings(
        &self,
        tenant: TenantId,
        id: Uuid,
        mappings: Vec<crate::items::NewMapping>,
    ) -> Result<usize, Error> {
        let c = self.get(tenant, id).await?;
        if mappings.is_empty() || mappings.len() > MAX_MAPPINGS {
            return Err(ShopError::Mappings(format!("send 1 to {MAX_MAPPINGS} mappings")).into());
        }
        let fine = |s: &str| !s.trim().is_empty() && s.len() <= 64 && s.trim() == s;
        if let Some(bad) = mappings
            .iter()
            .find(|m| !fine(&m.item_id) || !fine(&m.sku_code) || m.variant_id.as_deref().is_some_and(|v| !fine(v)))
        {
            return Err(ShopError::Mappings(format!(
                "item_id, variant_id and sku_code must be 1-64 characters without spaces at their ends (item `{}`)",
                bad.item_id
            ))
            .into());
        }
        let mut codes: Vec<String> = mappings.iter().map(|m| m.sku_code.clone()).collect();
        codes.sort();
        codes.dedup();
        let db = self.db(tenant);
        let known = crate::items::known_skus(db.conn(), c.tenant_id, &codes).await?;
        let unknown: Vec<String> = codes.iter().filter(|c| !known.contains(*c)).cloned().collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownSkus(unknown));
        }
        let now = self.clock.now();
        let tx = db.write().await?;
        let changed = crate::items::set(&tx, c.tenant_id, c.id, &mappings, now).await?;
        if changed > 0 {
            writeback::resend_stock(&*tx, c.tenant_id, c.id, &codes, now).await?;
        }
        tx.commit().await?;
        if changed > 0 {
            writeback::replan_tenant(&db, c.tenant_id, now).await?;
            tracing::info!(changed, "product mappings set");
        }
        Ok(changed)
    }

    /// The shop's reconciliation checkpoint and lag, what pull found that push missed, and
    /// its write-backs by state.
    pub async fn sync_report(&self, tenant: TenantId, id: Uuid) -> Result<SyncReport, Error> {
        let t = tenant.0;
        let c = self.get(tenant, id).await?;
        let db = self.db(tenant);
        let sync = reconcile::status(&db, t, c.id).await?;
        let recent_found = ingest::recent_pull_finds(&db, t, c.id, RECENT_FOUND).await?;
        let writebacks = writeback::counts(&db, t, c.id).await?;
        let last_webhook_at = ingest::last_webhook_at(&db, t, c.id).await?;
        let now = self.clock.now();
        Ok(SyncReport {
            reconciles: c.api_base_url.is_some(),
            interval: self.reconciler.settings().interval,
            last_webhook_at,
            sync_lag: sync.as_ref().and_then(|s| s.checkpoint).map(|cp| now - cp),
            sync,
            recent_found,
            writebacks,
        })
    }

    /// The channel a webhook URL names, of the marketplace whose route it came in on. The URL
    /// carries no tenant (the channel's secret is what authenticates the webhook), so this
    /// one look-up spans tenants; everything after it runs in the channel's tenant's scope.
    async fn webhook_channel(&self, id: Uuid, marketplace: &str) -> Result<channels::Model, Error> {
        shops::find_for_webhook(self.db.system().conn(), id, marketplace).await?.ok_or(Error::NotFound)
    }

    /// Verifies, parses and stores a Bazaar webhook to channel `id`; it is durable when this
    /// returns.
    pub async fn receive_bazaar(
        &self,
        id: Uuid,
        headers: &bazaar::webhook::Headers<'_>,
        body: &[u8],
    ) -> Result<Ingested, Error> {
        let channel = self.webhook_channel(id, "bazaar").await?;
        let now = self.clock.now();
        let v = bazaar::webhook::verify(headers, body, &channel.shop_id, channel.webhook_secrets().accepted(now), now)
            .inspect_err(|e| log_refused(e, &channel))?;
        let m = OwnedIncoming {
            message_id: v.message_id.to_owned(),
            topic: v.topic.to_owned(),
            body: String::from_utf8_lossy(body).into_owned(),
            trade: v.trade,
            source: Source::Push,
            channel,
        };
        Ok(self.ingestor.ingest(m, now).await?)
    }

    /// Verifies, parses and stores a Shopify webhook to channel `id`; it is durable when this
    /// returns. A refund is applied to the newest snapshot of its order.
    pub async fn receive_shopify(
        &self,
        id: Uuid,
        headers: &shopify::webhook::Headers<'_>,
        body: &[u8],
    ) -> Result<Ingested, Error> {
        let channel = self.webhook_channel(id, "shopify").await?;
        let now = self.clock.now();
        let v = shopify::webhook::verify(headers, body, &channel.shop_id, channel.webhook_secrets().accepted(now))
            .inspect_err(|e| log_refused(e, &channel))?;
        let raw = String::from_utf8_lossy(body);
        let trade = match v.inbound {
            shopify::Inbound::Order(t) => Some(*t),
            shopify::Inbound::Refund(r) => {
                let db = self.db.tenant(channel.tenant_id);
                ingest::latest(&db, &channel, &r.order_id).await?.and_then(|s| refund::apply(s, &r))
            }
        };
        Ok(match trade {
            Some(trade) => {
                let m = OwnedIncoming {
                    message_id: v.message_id.to_owned(),
                    topic: v.topic.to_owned(),
                    body: raw.into_owned(),
                    trade,
                    source: Source::Push,
                    channel,
                };
                self.ingestor.ingest(m, now).await?
            }
            // A refund of an order we have not seen (its orders/* will carry the refund) or that
            // changes no line as a whole: kept for dedupe and audit.
            None => {
                let db = self.db.tenant(channel.tenant_id);
                ingest::store_only(&db, &channel, v.message_id, v.topic, &raw, now).await?
            }
        })
    }
}

/// A bad signature is worth a warning (a misconfigured secret, or someone probing); the other
/// refusals are the sender's problem and answered as such.
fn log_refused(e: &WebhookError, channel: &channels::Model) {
    if *e == WebhookError::BadSignature {
        tracing::warn!(channel_id = %channel.id, marketplace = %channel.marketplace, "webhook with a bad signature rejected");
    }
}
