//! `/v1/channels` (connect shops) and `/v1/webhooks/bazaar/{channel_id}` (ingress).

use crate::{
    bazaar,
    db::{channels, webhook_messages},
};
use auth::BearerAuth;
use chrono::{DateTime, Utc};
use kernel::{Envelope, TenantId, events::TradeReceived};
use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};
use problem::{ApiResult, Code, Problem};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::OnConflict};
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
}

impl ChannelsApi {
    /// `public_url` is where marketplaces reach this deployment (for `webhook_url`).
    pub fn new(db: store::Db, public_url: impl Into<String>) -> Self {
        ChannelsApi { db, public_url: public_url.into().trim_end_matches('/').to_owned() }
    }
}

/// The default hold of an unpaid order's stock.
pub const DEFAULT_HOLD_TTL_SECONDS: i64 = 1800;

#[derive(Debug, Object)]
struct NewChannel {
    /// Only `bazaar` for now.
    marketplace: String,
    /// The marketplace's shop id (`X-Bazaar-Shop-Id`).
    #[oai(validator(min_length = 1, max_length = 64))]
    shop_id: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
    /// How long an unpaid order holds stock (default 1800 s).
    #[oai(validator(minimum(value = "60"), maximum(value = "604800")))]
    hold_ttl_seconds: Option<i64>,
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
            content: vec![MetaMediaType { content_type: "application/json", schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))) }],
            required: true,
        })
    }

    async fn from_request(_req: &'a Request, body: &mut RequestBody, _opts: ExtractParamOptions<()>) -> poem::Result<Self> {
        match body.take()?.into_bytes_limit(bazaar::MAX_BODY_BYTES).await {
            Ok(b) => Ok(RawJson(b.to_vec())),
            Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(poem::Error::from_string(
                format!("Webhook bodies are limited to {} bytes.", bazaar::MAX_BODY_BYTES),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            )),
            Err(e) => Err(e.into()),
        }
    }
}

fn new_secret() -> String {
    format!("whsec_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl ChannelsApi {
    fn dto(&self, c: channels::Model, with_secret: bool) -> ChannelDto {
        ChannelDto {
            webhook_url: format!("{}/v1/webhooks/{}/{}", self.public_url, c.marketplace, c.id),
            webhook_secret: with_secret.then_some(c.webhook_secret),
            id: c.id,
            marketplace: c.marketplace,
            shop_id: c.shop_id,
            name: c.name,
            hold_ttl_seconds: c.hold_ttl_seconds,
            created_at: c.created_at,
        }
    }
}

fn header<'h>(h: &'h Header<Option<String>>, name: &str) -> Result<&'h str, Problem> {
    h.0.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| Problem::new(Code::MissingHeader, format!("{name} is required")))
}

#[OpenApi(prefix_path = "/v1")]
impl ChannelsApi {
    /// Connect a marketplace shop. Returns the webhook URL and secret to configure there.
    #[oai(path = "/channels", method = "post", tag = "Tag::Channels")]
    async fn create(&self, auth: BearerAuth, body: Json<NewChannel>) -> ApiResult<ChannelCreated> {
        let t = auth.0.tenant_id.0;
        if body.marketplace != "bazaar" {
            return Err(Problem::new(Code::InvalidInput, "marketplace must be `bazaar`").into());
        }
        let ttl = body.hold_ttl_seconds.unwrap_or(DEFAULT_HOLD_TTL_SECONDS);
        let existing = channels::Entity::find()
            .filter(channels::Column::TenantId.eq(t))
            .filter(channels::Column::Marketplace.eq(body.marketplace.clone()))
            .filter(channels::Column::ShopId.eq(body.shop_id.clone()))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        if let Some(c) = existing {
            return if c.name == body.name && c.hold_ttl_seconds == ttl {
                Ok(ChannelCreated::Created(Json(self.dto(c, true))))
            } else {
                Err(Problem::new(Code::AlreadyExists, format!("shop `{}` is already connected with different settings", c.shop_id)).into())
            };
        }
        let row = channels::Model {
            tenant_id: t,
            id: kernel::new_id(),
            marketplace: body.0.marketplace,
            shop_id: body.0.shop_id,
            name: body.0.name,
            webhook_secret: new_secret(),
            previous_secret: None,
            secret_rotated_at: None,
            hold_ttl_seconds: ttl,
            created_at: Utc::now(),
        };
        let tx = self.db.write().await.map_err(Problem::internal)?;
        let am: channels::ActiveModel = row.clone().into();
        if let Err(e) = channels::Entity::insert(am).exec_without_returning(&*tx).await {
            return Err(if store::is_unique_violation(&e) { Problem::new(Code::AlreadyExists, "this shop was connected concurrently; retry") } else { Problem::internal(e) }.into());
        }
        tx.commit().await.map_err(Problem::internal)?;
        Ok(ChannelCreated::Created(Json(self.dto(row, true))))
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
        let c = channels::Entity::find_by_id((auth.0.tenant_id.0, id.0)).one(self.db.conn()).await.map_err(Problem::internal)?.ok_or_else(|| Problem::not_found("channel"))?;
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
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
        let channel = channels::Entity::find()
            .filter(channels::Column::Id.eq(channel_id.0))
            .filter(channels::Column::Marketplace.eq("bazaar"))
            .one(self.db.conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("channel"))?;
        let (Some(sig), Some(ts)) = (signature.0.as_deref(), timestamp.0.as_deref()) else {
            return Err(Problem::new(Code::InvalidSignature, "X-Bazaar-Signature and X-Bazaar-Timestamp are required").into());
        };
        let now = Utc::now();
        let ts_num: i64 = ts.trim().parse().map_err(|_| Problem::new(Code::StaleTimestamp, "X-Bazaar-Timestamp must be Unix seconds"))?;
        if (now.timestamp() - ts_num).abs() > bazaar::MAX_SKEW_SECONDS {
            return Err(Problem::new(Code::StaleTimestamp, format!("X-Bazaar-Timestamp is more than {} s from now", bazaar::MAX_SKEW_SECONDS)).into());
        }
        let previous_valid = channel.previous_secret.as_deref().filter(|_| channel.secret_rotated_at.is_some_and(|at| now - at < chrono::Duration::hours(1)));
        let ok = bazaar::verify(&channel.webhook_secret, ts.trim(), &body.0, sig) || previous_valid.is_some_and(|s| bazaar::verify(s, ts.trim(), &body.0, sig));
        if !ok {
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
        let msg: bazaar::Message = serde_json::from_slice(&body.0).map_err(|e| Problem::new(Code::MalformedRequest, format!("body is not a Bazaar message: {e}")))?;
        if msg.shop_id != channel.shop_id || msg.topic != topic {
            return Err(Problem::new(Code::InvalidInput, "body shop_id/topic do not match the headers").into());
        }
        let trade = msg.trade.into_snapshot().map_err(|e| Problem::new(Code::InvalidInput, e))?;
        let tenant = TenantId(channel.tenant_id);
        let event = TradeReceived {
            channel_id: channel.id,
            marketplace: "bazaar".into(),
            shop_id: channel.shop_id.clone(),
            topic: topic.to_owned(),
            message_id: message_id.to_owned(),
            hold_ttl_seconds: channel.hold_ttl_seconds,
            trade,
        };
        let tx = self.db.write().await.map_err(Problem::internal)?;
        let inserted = webhook_messages::Entity::insert(webhook_messages::ActiveModel {
            tenant_id: Set(tenant.0),
            channel_id: Set(channel.id),
            message_id: Set(message_id.to_owned()),
            topic: Set(topic.to_owned()),
            body: Set(String::from_utf8_lossy(&body.0).into_owned()),
            received_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([webhook_messages::Column::TenantId, webhook_messages::Column::ChannelId, webhook_messages::Column::MessageId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&*tx)
        .await
        .map_err(Problem::internal)?;
        if inserted == 0 {
            return Ok(WebhookAccepted::Ok(Json(WebhookAck { status: "duplicate".into(), message_id: message_id.to_owned() })));
        }
        bus::outbox::enqueue(&*tx, &[Envelope::new(tenant, &event, now, None)]).await.map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(WebhookAccepted::Ok(Json(WebhookAck { status: "accepted".into(), message_id: message_id.to_owned() })))
    }
}
