//! `/v1/channels` (connect shops) and `/v1/webhooks/bazaar/{channel_id}` (ingress).

use crate::domain::{
    refund,
    shop::{self, Credentials, DEFAULT_HOLD_TTL_SECONDS, MARKETPLACES},
    webhook::MAX_SKEW_SECONDS,
};
use crate::{
    adapters::{bazaar, shopify},
    db::{channel_pull_finds, channel_sync, channels, stock_pushes},
    ingest::{self, Ingested, Ingestor, OwnedIncoming, Source},
    reconcile::{ReconcileError, Reconciler},
    writeback::{self, state},
};
use auth::BearerAuth;
use chrono::{DateTime, Utc};
use kernel::Timestamp;
use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};
use problem::{ApiResult, Code, Problem};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Connected marketplace shops.
    Channels,
    /// Marketplace callbacks (signed; no bearer token).
    Webhooks,
}

/// The channels HTTP API.
pub struct ChannelsApi {
    db: store::Db,
    public_url: String,
    reconciler: Reconciler,
    ingestor: Ingestor,
}

impl ChannelsApi {
    /// `public_url` is where marketplaces reach this deployment (for `webhook_url`).
    pub fn new(db: store::Db, public_url: impl Into<String>, reconciler: Reconciler) -> Self {
        ChannelsApi {
            ingestor: Ingestor::new(db.clone()),
            db,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            reconciler,
        }
    }
}

/// A shop's Open API credentials (Bazaar: BAZAAR.md "Open API"), for reconciliation and
/// write-backs. Without them a shop is push-only.
#[derive(Debug, Clone, PartialEq, Object)]
struct ApiCredentials {
    /// e.g. `https://api.bazaar.example` (no trailing path).
    #[oai(validator(min_length = 8, max_length = 300))]
    base_url: String,
    #[oai(validator(min_length = 1, max_length = 128))]
    app_key: String,
    #[oai(validator(min_length = 1, max_length = 256))]
    app_secret: String,
    #[oai(validator(min_length = 1, max_length = 512))]
    access_token: String,
}

/// A shop's new webhook secret.
#[derive(Debug, Object)]
struct NewWebhookSecret {
    /// Bazaar: a random string you generate; Shopify: the app's client secret.
    #[oai(validator(min_length = 24, max_length = 256))]
    secret: String,
}

/// How much of each SKU's sellable stock the shop displays: `percent` of what the other shops'
/// reserves leave, at least `min` and this shop's own `reserve`, at most `max`, never more than
/// there is.
#[derive(Debug, Clone, Copy, PartialEq, Object)]
struct StockSync {
    /// 0-100; default 100.
    #[oai(default = "default_percent", validator(minimum(value = "0"), maximum(value = "100")))]
    percent: i32,
    #[oai(validator(minimum(value = "0")))]
    max: Option<i64>,
    #[oai(default, validator(minimum(value = "0")))]
    min: i64,
    /// Units set aside for this shop: the other shops never display them.
    #[oai(default, validator(minimum(value = "0")))]
    reserve: i64,
}

fn default_percent() -> i32 {
    100
}

impl StockSync {
    fn of(c: &channels::Model) -> StockSync {
        let r = c.stock_rules();
        StockSync { percent: r.percent, max: r.max, min: r.min, reserve: r.reserve }
    }
}

impl ApiCredentials {
    fn domain(&self) -> Credentials {
        Credentials {
            base_url: self.base_url.clone(),
            app_key: self.app_key.clone(),
            app_secret: self.app_secret.clone(),
            access_token: self.access_token.clone(),
        }
    }
}

fn check_api(api: Option<&ApiCredentials>) -> Result<(), Problem> {
    match api {
        Some(a) => a.domain().check().map_err(|e| Problem::new(Code::InvalidInput, e.to_string())),
        None => Ok(()),
    }
}

fn same_api(c: &channels::Model, api: Option<&ApiCredentials>) -> bool {
    c.stored_api().is(api.map(ApiCredentials::domain).as_ref())
}

impl Default for StockSync {
    fn default() -> Self {
        StockSync { percent: 100, max: None, min: 0, reserve: 0 }
    }
}

/// Where the shop's Open API is (secrets are never shown).
#[derive(Debug, Object)]
struct ApiInfo {
    base_url: String,
    app_key: String,
}

#[derive(Debug, Object)]
struct NewChannel {
    /// `bazaar` or `shopify`.
    marketplace: String,
    /// The marketplace's shop id (`X-Bazaar-Shop-Id`).
    #[oai(validator(min_length = 1, max_length = 64))]
    shop_id: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
    /// How long an unpaid order holds stock (default 1800 s).
    #[oai(validator(minimum(value = "60"), maximum(value = "604800")))]
    hold_ttl_seconds: Option<i64>,
    /// The shop's Open API (reconciliation pulls, shipment and stock write-backs).
    api: Option<ApiCredentials>,
    /// Stock sync rules (default: show everything sellable).
    stock_sync: Option<StockSync>,
    /// Shopify only: the app's client secret, which Shopify signs webhooks with. Bazaar
    /// webhooks are signed with a secret Cairn generates.
    #[oai(validator(min_length = 16, max_length = 256))]
    webhook_secret: Option<String>,
}

/// A connected shop.
#[derive(Debug, Object)]
struct ChannelDto {
    id: Uuid,
    marketplace: String,
    shop_id: String,
    name: String,
    hold_ttl_seconds: i64,
    /// Give this URL to the marketplace.
    webhook_url: String,
    /// The HMAC secret the marketplace signs webhooks with.
    #[oai(skip_serializing_if_is_none)]
    webhook_secret: Option<String>,
    /// The shop's Open API, when given (reconciliation and write-backs run only then).
    #[oai(skip_serializing_if_is_none)]
    api: Option<ApiInfo>,
    stock_sync: StockSync,
    created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum ChannelCreated {
    /// Connected (or the same shop again, with the same secret).
    #[oai(status = 201)]
    Created(Json<ChannelDto>),
}

#[derive(ApiResponse)]
enum ChannelList {
    /// The tenant's channels (secrets are shown only when connecting).
    #[oai(status = 200)]
    Ok(Json<Vec<ChannelDto>>),
}

#[derive(ApiResponse)]
enum ChannelFound {
    /// One channel.
    #[oai(status = 200)]
    Ok(Json<ChannelDto>),
}

/// What one pull did.
#[derive(Debug, Object)]
struct RunDto {
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    /// Trade versions the marketplace listed.
    pulled: i64,
    /// Versions Cairn had not received by push; they are now on their way to orders.
    found_by_pull_only: i64,
    /// Trades that could not be read, with why.
    unreadable: Vec<String>,
    /// Why the pull stopped early (the checkpoint stays at the last full window).
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
}

#[derive(ApiResponse)]
enum Reconciled {
    /// The pull ran.
    #[oai(status = 200)]
    Ok(Json<RunDto>),
}

/// The last pull.
#[derive(Debug, Object)]
struct LastRun {
    at: DateTime<Utc>,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    pulled: i64,
    found_by_pull_only: i64,
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
}

/// A trade version found by pull before push delivered it.
#[derive(Debug, Object)]
struct FoundDto {
    external_id: String,
    modified: DateTime<Utc>,
    status: String,
    found_at: DateTime<Utc>,
}

/// Write-backs by state.
#[derive(Debug, Object)]
struct WritebackCounts {
    shipments_pending: i64,
    shipments_done: i64,
    shipments_rejected: i64,
    /// Shipped in Cairn, but the shop has no Open API credentials to write them back with.
    shipments_without_api: i64,
    stock_pending: i64,
    stock_synced: i64,
    stock_rejected: i64,
    /// Quantities waiting because the shop's Open API credentials were removed; they are
    /// planned and sent again once credentials are given.
    stock_without_api: i64,
    #[oai(skip_serializing_if_is_none)]
    last_error: Option<String>,
}

/// How far Cairn's view of a shop can be behind the marketplace.
#[derive(Debug, Object)]
struct SyncReport {
    /// Whether the shop is pulled (it has Open API credentials).
    reconciles: bool,
    interval_seconds: i64,
    /// Every trade modified before this is known to Cairn.
    checkpoint: Option<DateTime<Utc>>,
    /// Now − checkpoint.
    sync_lag_seconds: Option<f64>,
    next_pull_at: Option<DateTime<Utc>>,
    last_run: Option<LastRun>,
    runs: i64,
    pulled: i64,
    /// Trade versions that only pull delivered (push missed or had not yet delivered them).
    found_by_pull_only: i64,
    /// The latest 50 of them.
    recent_found: Vec<FoundDto>,
    writebacks: WritebackCounts,
}

#[derive(ApiResponse)]
enum SyncFound {
    /// The report.
    #[oai(status = 200)]
    Ok(Json<SyncReport>),
}

/// What the webhook answers.
#[derive(Debug, Object)]
struct WebhookAck {
    /// `accepted` the first time, `duplicate` for a message id already stored.
    status: String,
    message_id: String,
}

#[derive(ApiResponse)]
enum WebhookAccepted {
    /// Durably stored (or already stored).
    #[oai(status = 200)]
    Ok(Json<WebhookAck>),
}

/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The raw JSON body of a webhook, read up to [`bazaar::MAX_BODY_BYTES`]: the signature is
/// computed over these exact bytes, so the body must not be parsed before it is verified.
pub struct RawJson(pub Vec<u8>);

impl<'a> ApiExtractor<'a> for RawJson {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("A Bazaar webhook message (BAZAAR.md), at most 1 MiB."),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))),
            }],
            required: true,
        })
    }

    async fn from_request(
        _req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        use futures_util::StreamExt as _;
        let mut stream = body.take()?.into_bytes_stream();
        let mut buf = Vec::new();
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                poem::Error::from_string(format!("reading the body: {e}"), poem::http::StatusCode::BAD_REQUEST)
            })?;
            seen += chunk.len();
            if seen <= bazaar::MAX_BODY_BYTES {
                buf.extend_from_slice(&chunk);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        if seen > bazaar::MAX_BODY_BYTES {
            // The rest of an oversized body is read and dropped (up to DRAIN_LIMIT) so the sender
            // gets the 413 instead of a connection reset in the middle of its upload.
            return Err(poem::Error::from_string(
                format!("Webhook bodies are limited to {} bytes.", bazaar::MAX_BODY_BYTES),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            ));
        }
        Ok(RawJson(buf))
    }
}

fn new_secret() -> String {
    format!("whsec_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl ChannelsApi {
    fn dto(&self, c: channels::Model, with_secret: bool) -> ChannelDto {
        ChannelDto {
            stock_sync: StockSync::of(&c),
            webhook_url: format!("{}/v1/webhooks/{}/{}", self.public_url, c.marketplace, c.id),
            webhook_secret: with_secret.then_some(c.webhook_secret),
            id: c.id,
            marketplace: c.marketplace,
            shop_id: c.shop_id,
            name: c.name,
            hold_ttl_seconds: c.hold_ttl_seconds,
            api: c
                .api_base_url
                .clone()
                .map(|base_url| ApiInfo { base_url, app_key: c.app_key.clone().unwrap_or_default() }),
            created_at: c.created_at,
        }
    }

    /// A shop's write-backs of one table (`shipment_writebacks`, `stock_pushes`), counted by state.
    async fn by_state(&self, table: &str, tenant: Uuid, channel: Uuid) -> Result<HashMap<String, i64>, sea_orm::DbErr> {
        let sql = format!("select state, count(*) from {table} where tenant_id = ? and channel_id = ? group by state");
        let rows =
            self.db.conn().query_all_raw(store::stmt(&self.db, &sql, vec![tenant.into(), channel.into()])).await?;
        rows.iter().map(|r| Ok((r.try_get_by_index::<String>(0)?, r.try_get_by_index::<i64>(1)?))).collect()
    }

    /// The channel a webhook URL names, of the marketplace whose route it came in on.
    async fn webhook_channel(&self, id: Uuid, marketplace: &str) -> Result<channels::Model, Problem> {
        channels::Entity::find()
            .filter(channels::Column::Id.eq(id))
            .filter(channels::Column::Marketplace.eq(marketplace))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("channel"))
    }

    async fn channel(&self, tenant: uuid::Uuid, id: Uuid) -> Result<channels::Model, Problem> {
        channels::Entity::find_by_id((tenant, id))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("channel"))
    }
}

fn header<'h>(h: &'h Header<Option<String>>, name: &str) -> Result<&'h str, Problem> {
    h.0.as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::new(Code::MissingHeader, format!("{name} is required")))
}

#[OpenApi(prefix_path = "/v1")]
impl ChannelsApi {
    /// Connect a marketplace shop. Returns the webhook URL and secret to configure there.
    /// Connecting the same shop again with the same settings returns it unchanged.
    #[oai(path = "/channels", method = "post", tag = "Tag::Channels")]
    async fn create(&self, auth: BearerAuth, body: Json<NewChannel>) -> ApiResult<ChannelCreated> {
        let t = auth.0.tenant_id.0;
        if !MARKETPLACES.contains(&body.marketplace.as_str()) {
            return Err(Problem::new(
                Code::InvalidInput,
                format!("marketplace must be one of {}", MARKETPLACES.join(", ")),
            )
            .into());
        }
        if body.marketplace == "shopify" && body.webhook_secret.is_none() {
            return Err(Problem::new(
                Code::InvalidInput,
                "a Shopify shop needs `webhook_secret`: the app's client secret, which signs its webhooks",
            )
            .into());
        }
        if body.marketplace != "shopify" && body.webhook_secret.is_some() {
            return Err(Problem::new(
                Code::InvalidInput,
                "`webhook_secret` is generated by Cairn for this marketplace; leave it out",
            )
            .into());
        }
        check_api(body.api.as_ref())?;
        let ttl = body.hold_ttl_seconds.unwrap_or(DEFAULT_HOLD_TTL_SECONDS);
        let rules = body.stock_sync.unwrap_or_default();
        let existing = channels::Entity::find()
            .filter(channels::Column::TenantId.eq(t))
            .filter(channels::Column::Marketplace.eq(body.marketplace.clone()))
            .filter(channels::Column::ShopId.eq(body.shop_id.clone()))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        if let Some(c) = existing {
            let same = c.name == body.name
                && c.hold_ttl_seconds == ttl
                && same_api(&c, body.api.as_ref())
                && body.webhook_secret.as_ref().is_none_or(|s| *s == c.webhook_secret)
                && StockSync::of(&c) == rules;
            return if same {
                Ok(ChannelCreated::Created(Json(self.dto(c, true))))
            } else {
                Err(Problem::new(
                    Code::AlreadyExists,
                    format!("shop `{}` is already connected with different settings", c.shop_id),
                )
                .into())
            };
        }
        let body = body.0;
        let api = body.api;
        let row = channels::Model {
            tenant_id: t,
            id: kernel::new_id(),
            marketplace: body.marketplace,
            shop_id: body.shop_id,
            name: body.name,
            webhook_secret: body.webhook_secret.unwrap_or_else(new_secret),
            previous_secret: None,
            secret_rotated_at: None,
            hold_ttl_seconds: ttl,
            created_at: Utc::now(),
            api_base_url: api.as_ref().map(|a| a.base_url.trim_end_matches('/').to_owned()),
            app_key: api.as_ref().map(|a| a.app_key.clone()),
            app_secret: api.as_ref().map(|a| a.app_secret.clone()),
            access_token: api.map(|a| a.access_token),
            stock_percent: rules.percent,
            stock_max: rules.max,
            stock_min: rules.min,
            stock_reserve: rules.reserve,
        };
        let tx = self.db.write().await.map_err(Problem::internal)?;
        let am: channels::ActiveModel = row.clone().into();
        if let Err(e) = channels::Entity::insert(am).exec_without_returning(&*tx).await {
            return Err(if store::is_unique_violation(&e) {
                Problem::new(Code::AlreadyExists, "this shop was connected concurrently; retry")
            } else {
                Problem::internal(e)
            }
            .into());
        }
        tx.commit().await.map_err(Problem::internal)?;
        // A new shop starts displaying what the tenant has (and others' reserves may shift).
        writeback::replan_tenant(&self.db, t).await.map_err(Problem::internal)?;
        Ok(ChannelCreated::Created(Json(self.dto(row, true))))
    }

    /// Change a shop's stock sync rules; every SKU's displayed quantity is recomputed and
    /// pushed.
    #[oai(path = "/channels/:id/stock-sync", method = "put", tag = "Tag::Channels")]
    async fn set_stock_sync(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<StockSync>) -> ApiResult<ChannelFound> {
        let t = auth.0.tenant_id.0;
        let mut c = self.channel(t, id.0).await?;
        let r = body.0;
        if r.max.is_some_and(|m| m < r.min) {
            return Err(Problem::new(Code::InvalidInput, "stock_sync.max must not be below min").into());
        }
        channels::Entity::update_many()
            .col_expr(channels::Column::StockPercent, r.percent.into())
            .col_expr(channels::Column::StockMax, r.max.into())
            .col_expr(channels::Column::StockMin, r.min.into())
            .col_expr(channels::Column::StockReserve, r.reserve.into())
            .filter(channels::Column::TenantId.eq(t))
            .filter(channels::Column::Id.eq(c.id))
            .exec(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        writeback::replan_tenant(&self.db, t).await.map_err(Problem::internal)?;
        (c.stock_percent, c.stock_max, c.stock_min, c.stock_reserve) = (r.percent, r.max, r.min, r.reserve);
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Rotate the secret this shop's webhooks are signed with. The previous secret is still
    /// accepted for an hour (BAZAAR.md), so the marketplace can be switched over without losing
    /// a webhook. Bazaar: a random string you generate (`openssl rand -hex 32`) and then set on
    /// the shop; Shopify: the app's new client secret. Sending the current secret again changes
    /// nothing, so a retry is safe.
    #[oai(path = "/channels/:id/webhook-secret", method = "put", tag = "Tag::Channels")]
    async fn rotate_secret(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<NewWebhookSecret>,
    ) -> ApiResult<ChannelFound> {
        let t = auth.0.tenant_id.0;
        let mut c = self.channel(t, id.0).await?;
        let secret = body.0.secret;
        shop::check_webhook_secret(&secret).map_err(|e| Problem::new(Code::InvalidInput, e.to_string()))?;
        if secret == c.webhook_secret {
            return Ok(ChannelFound::Ok(Json(self.dto(c, true))));
        }
        let now = Utc::now();
        // Conditional on the secret just read: of two rotations at once, the second fails
        // rather than drop the secret the marketplace may still be using.
        let changed = self
            .db
            .conn()
            .execute_raw(store::stmt(
                &self.db,
                "update channels set previous_secret = webhook_secret, webhook_secret = ?, secret_rotated_at = ? where tenant_id = ? and id = ? and webhook_secret = ?",
                vec![secret.clone().into(), now.into(), t.into(), c.id.into(), c.webhook_secret.clone().into()],
            ))
            .await
            .map_err(Problem::internal)?
            .rows_affected();
        if changed == 0 {
            return Err(Problem::new(
                Code::Busy,
                "the secret was changed at the same time; read the channel and retry",
            )
            .into());
        }
        tracing::info!(tenant_id = %t, channel_id = %c.id, "webhook secret rotated");
        c.previous_secret = Some(std::mem::replace(&mut c.webhook_secret, secret));
        c.secret_rotated_at = Some(now);
        Ok(ChannelFound::Ok(Json(self.dto(c, true))))
    }

    /// Set or replace the shop's Open API credentials, e.g. after the seller authorised Cairn
    /// again and the marketplace issued a new access token, or to turn a push-only shop into
    /// one that is reconciled and written back to. Reconciliation starts with the next pull,
    /// shipments recorded while the shop had no credentials are queued for write-back, and
    /// every SKU's quantity is planned for the shop. The same credentials again change nothing.
    #[oai(path = "/channels/:id/api", method = "put", tag = "Tag::Channels")]
    async fn set_api(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<ApiCredentials>) -> ApiResult<ChannelFound> {
        let t = auth.0.tenant_id.0;
        let a = ApiCredentials { base_url: body.0.base_url.trim_end_matches('/').to_owned(), ..body.0 };
        check_api(Some(&a))?;
        let mut c = self.channel(t, id.0).await?;
        if same_api(&c, Some(&a)) {
            return Ok(ChannelFound::Ok(Json(self.dto(c, false))));
        }
        let now = Utc::now();
        let tx = self.db.write().await.map_err(Problem::internal)?;
        tx.execute_raw(store::stmt(
            &self.db,
            "update channels set api_base_url = ?, app_key = ?, app_secret = ?, access_token = ? where tenant_id = ? and id = ?",
            vec![a.base_url.clone().into(), a.app_key.clone().into(), a.app_secret.clone().into(), a.access_token.clone().into(), t.into(), c.id.into()],
        ))
        .await
        .map_err(Problem::internal)?;
        tx.execute_raw(store::stmt(
            &self.db,
            "update shipment_writebacks set state = ?, next_attempt_at = ?, last_error = null where tenant_id = ? and channel_id = ? and state = ?",
            vec![state::PENDING.into(), now.into(), t.into(), c.id.into(), state::NO_API.into()],
        ))
        .await
        .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        tracing::info!(tenant_id = %t, channel_id = %c.id, "Open API credentials set");
        writeback::replan_tenant(&self.db, t).await.map_err(Problem::internal)?;
        (c.api_base_url, c.app_key, c.app_secret, c.access_token) =
            (Some(a.base_url), Some(a.app_key), Some(a.app_secret), Some(a.access_token));
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Remove the shop's Open API credentials, e.g. when the seller withdrew Cairn's
    /// authorisation on the marketplace. Pulls stop. Shipments not yet written back, and
    /// stock quantities not yet pushed, wait (`shipments_without_api`, `stock_without_api` in
    /// the sync report) until credentials are given again with `PUT`, which sends them.
    /// Webhooks keep arriving. Removing them again changes nothing.
    #[oai(path = "/channels/:id/api", method = "delete", tag = "Tag::Channels")]
    async fn remove_api(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<ChannelFound> {
        let t = auth.0.tenant_id.0;
        let mut c = self.channel(t, id.0).await?;
        if c.stored_api().is_empty() {
            return Ok(ChannelFound::Ok(Json(self.dto(c, false))));
        }
        let tx = self.db.write().await.map_err(Problem::internal)?;
        tx.execute_raw(store::stmt(
            &self.db,
            "update channels set api_base_url = null, app_key = null, app_secret = null, access_token = null where tenant_id = ? and id = ?",
            vec![t.into(), c.id.into()],
        ))
        .await
        .map_err(Problem::internal)?;
        // A row a worker is sending right now ends as that call ends (done, or back to waiting
        // here with its error); every other one waits for new credentials.
        for table in ["shipment_writebacks", "stock_pushes"] {
            let values = vec![state::NO_API.into(), t.into(), c.id.into(), state::PENDING.into()];
            tx.execute_raw(store::stmt(
                &self.db,
                &format!("update {table} set state = ? where tenant_id = ? and channel_id = ? and state = ?"),
                values,
            ))
            .await
            .map_err(Problem::internal)?;
        }
        tx.commit().await.map_err(Problem::internal)?;
        tracing::info!(tenant_id = %t, channel_id = %c.id, "Open API credentials removed");
        (c.api_base_url, c.app_key, c.app_secret, c.access_token) = (None, None, None, None);
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Pull the shop's trades from the marketplace now (from the stored checkpoint) and feed
    /// whatever push missed into the order pipeline.
    #[oai(path = "/channels/:id/reconcile", method = "post", tag = "Tag::Channels")]
    async fn reconcile_now(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Reconciled> {
        let c = self.channel(auth.0.tenant_id.0, id.0).await?;
        match self.reconciler.reconcile(&c).await {
            Ok(r) => Ok(Reconciled::Ok(Json(RunDto {
                window_start: r.window_start,
                window_end: r.window_end,
                pulled: r.pulled,
                found_by_pull_only: r.found,
                unreadable: r.unreadable,
                error: r.error,
            }))),
            Err(ReconcileError::NotConfigured) => {
                Err(Problem::new(Code::NotConfigured, ReconcileError::NotConfigured.to_string()).into())
            }
            Err(ReconcileError::Busy) => Err(Problem::new(Code::Busy, ReconcileError::Busy.to_string()).into()),
            Err(ReconcileError::Db(e)) => Err(Problem::internal(e).into()),
        }
    }

    /// The shop's sync report: reconciliation checkpoint and lag, what pull found that push
    /// missed, and the write-backs waiting or refused.
    #[oai(path = "/channels/:id/sync", method = "get", tag = "Tag::Channels")]
    async fn sync_report(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<SyncFound> {
        let t = auth.0.tenant_id.0;
        let c = self.channel(t, id.0).await?;
        let conn = self.db.conn();
        let sync = channel_sync::Entity::find_by_id((t, c.id)).one(conn).await.map_err(Problem::internal)?;
        let recent = channel_pull_finds::Entity::find()
            .filter(channel_pull_finds::Column::TenantId.eq(t))
            .filter(channel_pull_finds::Column::ChannelId.eq(c.id))
            .order_by_desc(channel_pull_finds::Column::FoundAt)
            .limit(50)
            .all(conn)
            .await
            .map_err(Problem::internal)?;
        let ships = self.by_state("shipment_writebacks", t, c.id).await.map_err(Problem::internal)?;
        let stock = self.by_state("stock_pushes", t, c.id).await.map_err(Problem::internal)?;
        let n = |m: &HashMap<String, i64>, st: &str| m.get(st).copied().unwrap_or(0);
        let last_error = stock_pushes::Entity::find()
            .filter(stock_pushes::Column::TenantId.eq(t))
            .filter(stock_pushes::Column::ChannelId.eq(c.id))
            .filter(stock_pushes::Column::LastError.is_not_null())
            .order_by_desc(stock_pushes::Column::UpdatedAt)
            .one(conn)
            .await
            .map_err(Problem::internal)?
            .and_then(|p| p.last_error);
        let now = Utc::now();
        let checkpoint = sync.as_ref().and_then(|s| s.checkpoint);
        Ok(SyncFound::Ok(Json(SyncReport {
            reconciles: c.api_base_url.is_some(),
            interval_seconds: self.reconciler.settings().interval.as_secs() as i64,
            checkpoint,
            sync_lag_seconds: checkpoint.map(|cp| (now - cp).num_milliseconds() as f64 / 1000.0),
            next_pull_at: sync.as_ref().map(|s| s.next_pull_at),
            last_run: sync.as_ref().and_then(|s| {
                s.last_run_at.map(|at| LastRun {
                    at,
                    window_start: s.last_window_start,
                    window_end: s.last_window_end,
                    pulled: s.last_pulled,
                    found_by_pull_only: s.last_found,
                    error: s.last_error.clone(),
                })
            }),
            runs: sync.as_ref().map_or(0, |s| s.runs),
            pulled: sync.as_ref().map_or(0, |s| s.pulled),
            found_by_pull_only: sync.as_ref().map_or(0, |s| s.found),
            recent_found: recent
                .into_iter()
                .map(|f| FoundDto {
                    external_id: f.external_id,
                    modified: Timestamp::from_timestamp_micros(f.modified_us).unwrap_or_default(),
                    status: f.status,
                    found_at: f.found_at,
                })
                .collect(),
            writebacks: WritebackCounts {
                shipments_pending: n(&ships, state::PENDING),
                shipments_done: n(&ships, state::DONE),
                shipments_rejected: n(&ships, state::REJECTED),
                shipments_without_api: n(&ships, state::NO_API),
                stock_pending: n(&stock, state::PENDING),
                stock_synced: n(&stock, state::SYNCED),
                stock_rejected: n(&stock, state::REJECTED),
                stock_without_api: n(&stock, state::NO_API),
                last_error,
            },
        })))
    }

    /// List connected shops.
    #[oai(path = "/channels", method = "get", tag = "Tag::Channels")]
    async fn list(&self, auth: BearerAuth) -> ApiResult<ChannelList> {
        let rows = channels::Entity::find()
            .filter(channels::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(channels::Column::CreatedAt)
            .all(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        Ok(ChannelList::Ok(Json(rows.into_iter().map(|c| self.dto(c, false)).collect())))
    }

    /// One connected shop.
    #[oai(path = "/channels/:id", method = "get", tag = "Tag::Channels")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<ChannelFound> {
        let c = channels::Entity::find_by_id((auth.0.tenant_id.0, id.0))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("channel"))?;
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Shopify webhook (`orders/create`, `orders/paid`, `orders/cancelled`, `orders/updated`,
    /// `refunds/create`). Authenticated by `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw
    /// body with the app's client secret); deduplicated by `X-Shopify-Webhook-Id`.
    #[oai(path = "/webhooks/shopify/:channel_id", method = "post", tag = "Tag::Webhooks")]
    async fn shopify_webhook(
        &self,
        channel_id: Path<Uuid>,
        #[oai(name = "X-Shopify-Topic")] topic: Header<Option<String>>,
        #[oai(name = "X-Shopify-Hmac-Sha256")] hmac: Header<Option<String>>,
        #[oai(name = "X-Shopify-Webhook-Id")] webhook_id: Header<Option<String>>,
        #[oai(name = "X-Shopify-Shop-Domain")] shop_domain: Header<Option<String>>,
        body: RawJson,
    ) -> ApiResult<WebhookAccepted> {
        let channel = self.webhook_channel(channel_id.0, "shopify").await?;
        let Some(sig) = hmac.0.as_deref() else {
            return Err(Problem::new(Code::InvalidSignature, "X-Shopify-Hmac-Sha256 is required").into());
        };
        let now = Utc::now();
        if !channel.webhook_secrets().accepted(now).any(|s| shopify::verify(s, &body.0, sig)) {
            tracing::warn!(channel_id = %channel.id, "Shopify webhook with a bad signature rejected");
            return Err(Problem::new(Code::InvalidSignature, "The signature does not match the body").into());
        }
        let topic = header(&topic, "X-Shopify-Topic")?;
        let webhook_id = header(&webhook_id, "X-Shopify-Webhook-Id")?;
        if webhook_id.len() > 128 {
            return Err(Problem::new(Code::InvalidInput, "X-Shopify-Webhook-Id is longer than 128 characters").into());
        }
        if shop_domain.0.as_deref().is_some_and(|d| d != channel.shop_id) {
            return Err(Problem::new(Code::InvalidInput, "X-Shopify-Shop-Domain is not this channel's shop").into());
        }
        if !shopify::TOPICS.contains(&topic) {
            return Err(Problem::new(Code::InvalidInput, format!("unknown topic `{topic}`")).into());
        }
        let inbound = shopify::parse(topic, &body.0).map_err(|e| {
            if serde_json::from_slice::<serde_json::Value>(&body.0).is_err() {
                Problem::new(Code::MalformedRequest, e)
            } else {
                Problem::new(Code::InvalidInput, e)
            }
        })?;
        let raw = String::from_utf8_lossy(&body.0);
        let trade = match inbound {
            shopify::Inbound::Order(t) => Some(t),
            shopify::Inbound::Refund(r) => {
                let latest = ingest::latest(&self.db, &channel, &r.order_id).await.map_err(Problem::internal)?;
                latest.and_then(|s| refund::apply(s, &r))
            }
        };
        let outcome = match trade {
            Some(trade) => {
                let m = OwnedIncoming {
                    channel: channel.clone(),
                    source: Source::Push,
                    message_id: webhook_id.to_owned(),
                    topic: topic.to_owned(),
                    body: raw.into_owned(),
                    trade,
                };
                self.ingestor.ingest(m, now).await
            }
            // A refund of an order we have not seen (its orders/* will carry the refund) or that
            // changes no line as a whole: kept for dedupe and audit.
            None => ingest::store_only(&self.db, &channel, webhook_id, topic, &raw, now).await,
        };
        let status = match outcome.map_err(Problem::internal)? {
            Ingested::Duplicate => "duplicate",
            Ingested::Applied | Ingested::Stale => "accepted",
        };
        Ok(WebhookAccepted::Ok(Json(WebhookAck { status: status.into(), message_id: webhook_id.to_owned() })))
    }

    /// Bazaar webhook. Authenticated by `X-Bazaar-Signature` (HMAC-SHA256 over
    /// `"{timestamp}.{raw body}"`); answered 200 only once the message is durably stored.
    #[oai(path = "/webhooks/bazaar/:channel_id", method = "post", tag = "Tag::Webhooks")]
    #[allow(clippy::too_many_arguments)]
    async fn bazaar_webhook(
        &self,
        channel_id: Path<Uuid>,
        #[oai(name = "X-Bazaar-Topic")] topic: Header<Option<String>>,
        #[oai(name = "X-Bazaar-Message-Id")] message_id: Header<Option<String>>,
        #[oai(name = "X-Bazaar-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Bazaar-Signature")] signature: Header<Option<String>>,
        #[oai(name = "X-Bazaar-Shop-Id")] shop_id: Header<Option<String>>,
        body: RawJson,
    ) -> ApiResult<WebhookAccepted> {
        let channel = self.webhook_channel(channel_id.0, "bazaar").await?;
        let (Some(sig), Some(ts)) = (signature.0.as_deref(), timestamp.0.as_deref()) else {
            return Err(
                Problem::new(Code::InvalidSignature, "X-Bazaar-Signature and X-Bazaar-Timestamp are required").into()
            );
        };
        let now = Utc::now();
        let ts_num: i64 = ts
            .trim()
            .parse()
            .map_err(|_| Problem::new(Code::StaleTimestamp, "X-Bazaar-Timestamp must be Unix seconds"))?;
        if (now.timestamp() - ts_num).abs() > MAX_SKEW_SECONDS {
            return Err(Problem::new(
                Code::StaleTimestamp,
                format!("X-Bazaar-Timestamp is more than {} s from now", MAX_SKEW_SECONDS),
            )
            .into());
        }
        if !channel.webhook_secrets().accepted(now).any(|s| bazaar::verify(s, ts.trim(), &body.0, sig)) {
            tracing::warn!(channel_id = %channel.id, "webhook with a bad signature rejected");
            return Err(Problem::new(Code::InvalidSignature, "The signature does not match the body").into());
        }
        let topic = header(&topic, "X-Bazaar-Topic")?;
        let message_id = header(&message_id, "X-Bazaar-Message-Id")?;
        if message_id.len() > 128 {
            return Err(Problem::new(Code::InvalidInput, "X-Bazaar-Message-Id is longer than 128 characters").into());
        }
        if header(&shop_id, "X-Bazaar-Shop-Id")? != channel.shop_id {
            return Err(Problem::new(Code::InvalidInput, "X-Bazaar-Shop-Id is not this channel's shop").into());
        }
        if !bazaar::TOPICS.contains(&topic) {
            return Err(Problem::new(Code::InvalidInput, format!("unknown topic `{topic}`")).into());
        }
        let msg: bazaar::Message = serde_json::from_slice(&body.0)
            .map_err(|e| Problem::new(Code::MalformedRequest, format!("body is not a Bazaar message: {e}")))?;
        if msg.shop_id != channel.shop_id || msg.topic != topic {
            return Err(Problem::new(Code::InvalidInput, "body shop_id/topic do not match the headers").into());
        }
        let trade = msg.trade.into_snapshot().map_err(|e| Problem::new(Code::InvalidInput, e))?;
        let body = String::from_utf8_lossy(&body.0);
        let m = OwnedIncoming {
            channel,
            source: Source::Push,
            message_id: message_id.to_owned(),
            topic: topic.to_owned(),
            body: body.into_owned(),
            trade,
        };
        let status = match self.ingestor.ingest(m, now).await.map_err(Problem::internal)? {
            Ingested::Duplicate => "duplicate",
            Ingested::Applied | Ingested::Stale => "accepted",
        };
        Ok(WebhookAccepted::Ok(Json(WebhookAck { status: status.into(), message_id: message_id.to_owned() })))
    }
}
