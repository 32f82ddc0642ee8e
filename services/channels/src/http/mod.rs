//! `/v1/channels` (connect shops, their settings, reconciliation and sync report) and
//! `/v1/webhooks/{marketplace}/{channel_id}` (ingress): poem-openapi handlers that turn requests
//! into [`Channels`] calls and its answers and errors into responses. No SQL and no rules here.

mod dto;
mod webhooks;

pub use webhooks::RawJson;

use crate::items::NewMapping;
use crate::{
    adapters::{bazaar, shopify},
    domain::webhook::WebhookError,
    reconcile::Reconciler,
    service::{self, Channels},
};
use auth::{BearerAuth, Scope};
use dto::{
    ApiCredentials, ChannelCreated, ChannelDto, ChannelFound, ChannelList, ItemDto, ItemsDto, ItemsFound, MappingsIn,
    MappingsSaved, MappingsSet, NewChannel, NewWebhookSecret, PreviewFound, PreviewItem, Reconciled, StockPreview,
    StockSync, SyncFound,
};
use kernel::{SharedClock, events::Mapping};
use poem_openapi::{
    OpenApi, Tags,
    param::{Header, Path},
};
use problem::status::{AUTHENTICATED, CALLBACK, CONFLICT, READ_BY_ID, UNPROCESSABLE, WRITE, WRITE_BY_ID};
use problem::{ApiResult, Code, Errors, Json, Problem};
use uuid::Uuid;
use webhooks::WebhookAccepted;

#[derive(Tags)]
enum Tag {
    /// Connected marketplace shops.
    Channels,
    /// Marketplace callbacks (signed; no bearer token).
    Webhooks,
}

/// The channels HTTP API.
pub struct ChannelsApi {
    service: Channels,
    public_url: String,
}

impl ChannelsApi {
    /// `public_url` is where marketplaces reach this deployment (for `webhook_url`); `clock`
    /// is the time the service goes by.
    pub fn new(db: store::Db, public_url: impl Into<String>, reconciler: Reconciler, clock: SharedClock) -> Self {
        ChannelsApi {
            service: Channels::new(db, reconciler, clock),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
        }
    }

    fn dto(&self, c: crate::db::channels::Model, with_secret: bool) -> ChannelDto {
        ChannelDto::new(c, &self.public_url, with_secret)
    }
}

/// The problem each service error answers with: one table for the whole channels API. The
/// detail is the error's own message, except for a 500, which logs its cause and says nothing.
impl<const S: u16> From<service::Error> for Errors<S> {
    fn from(e: service::Error) -> Self {
        use service::Error as E;
        let code = match &e {
            E::NotFound => Code::NotFound,
            E::Invalid(_) => Code::InvalidInput,
            E::Webhook(WebhookError::Unsigned(_) | WebhookError::BadSignature) => Code::InvalidSignature,
            E::Webhook(WebhookError::StaleTimestamp(_)) => Code::StaleTimestamp,
            E::Webhook(WebhookError::MissingHeader(_)) => Code::MissingHeader,
            E::Webhook(WebhookError::Invalid(_)) => Code::InvalidInput,
            E::Webhook(WebhookError::Malformed(_)) => Code::MalformedRequest,
            E::AlreadyConnected(_) | E::ConnectedConcurrently => Code::AlreadyExists,
            E::SecretChangedConcurrently | E::PullRunning => Code::Busy,
            E::NotConfigured => Code::NotConfigured,
            E::UnknownSkus(_) => Code::UnknownReference,
            E::Unknown(_) => Code::Internal,
        };
        match e {
            E::Unknown(cause) => Problem::internal(cause),
            e => Problem::new(code, e.to_string()),
        }
        .into()
    }
}

#[OpenApi(prefix_path = "/v1")]
impl ChannelsApi {
    /// Connect a marketplace shop. Returns the webhook URL and secret to configure there.
    /// Connecting the same shop again with the same settings returns it unchanged.
    #[oai(path = "/channels", method = "post", tag = "Tag::Channels")]
    async fn create(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<NewChannel>,
    ) -> ApiResult<ChannelCreated, { WRITE | CONFLICT }> {
        let c = self.service.connect(auth.0.tenant_id, body.0.into()).await?;
        Ok(ChannelCreated::Created(Json(self.dto(c, true))))
    }

    /// Change a shop's stock sync rules; every SKU's displayed quantity is recomputed and
    /// pushed.
    #[oai(path = "/channels/:id/stock-sync", method = "put", tag = "Tag::Channels")]
    async fn set_stock_sync(
        &self,
        #[oai(scope = "Scope::ChannelsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<StockSync>,
    ) -> ApiResult<ChannelFound, WRITE_BY_ID> {
        let c = self.service.set_stock_rules(auth.0.tenant_id, id.0, body.0.into()).await?;
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// What the shop would display for each SKU under these stock sync rules (the other shops'
    /// rules as they are), beside what it displays now. Changes nothing; a push-only shop is
    /// shown what it would display if it had Open API credentials.
    #[oai(path = "/channels/:id/stock-sync/preview", method = "post", tag = "Tag::Channels")]
    async fn preview_stock_sync(
        &self,
        #[oai(scope = "Scope::ChannelsRead")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<StockSync>,
    ) -> ApiResult<PreviewFound, WRITE_BY_ID> {
        let rows = self.service.preview_stock_rules(auth.0.tenant_id, id.0, body.0.into()).await?;
        let items = rows
            .into_iter()
            .map(|p| PreviewItem {
                sku_code: p.sku_code,
                available: p.available,
                shown_now: p.shown_now,
                shown: p.shown,
            })
            .collect();
        Ok(PreviewFound::Ok(Json(StockPreview { items })))
    }

    /// The shop's items and variants (商品) with the SKU each sells: read from the marketplace's
    /// item list when it has one (Bazaar, with Open API credentials), else the variants seen in
    /// the shop's trades (Shopify). Unmapped variants come first.
    #[oai(path = "/channels/:id/items", method = "get", tag = "Tag::Channels")]
    async fn items(
        &self,
        #[oai(scope = "Scope::ChannelsRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ItemsFound, READ_BY_ID> {
        let found = self.service.items(auth.0.tenant_id, id.0).await?;
        let mut items: Vec<ItemDto> = found
            .rows
            .into_iter()
            .map(|r| {
                let (sku_code, mapping) = match (&r.mapped_sku, r.merchant_code_known) {
                    (Some(sku), _) => (Some(sku.clone()), Mapping::Mapped),
                    (None, true) => (r.variant.merchant_code.clone(), Mapping::MerchantCode),
                    (None, false) => (None, Mapping::Unmapped),
                };
                ItemDto {
                    item_id: r.variant.item_id,
                    variant_id: r.variant.variant_id,
                    title: r.variant.title,
                    properties: r.variant.properties,
                    merchant_code: r.variant.merchant_code,
                    sku_code,
                    mapping: mapping.as_str().to_owned(),
                    source: r.source,
                    seen_at: r.seen_at,
                }
            })
            .collect();
        items.sort_by_key(|i| i.mapping != Mapping::Unmapped.as_str());
        Ok(ItemsFound::Ok(Json(ItemsDto { items, pulled: found.pulled, pull_error: found.pull_error })))
    }

    /// Map marketplace variants to SKUs (商品对应). Every SKU named must exist (else 422
    /// naming them, and nothing changes); the same mappings again change nothing. Orders
    /// waiting on a newly mapped variant take stock, oldest-paid first, and leave their
    /// `unmapped_sku` hold; the SKU's quantity is pushed to the variant.
    #[oai(path = "/channels/:id/item-mappings", method = "put", tag = "Tag::Channels")]
    async fn set_mappings(
        &self,
        #[oai(scope = "Scope::ChannelsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<MappingsIn>,
    ) -> ApiResult<MappingsSaved, { WRITE_BY_ID | UNPROCESSABLE }> {
        let mappings = body
            .0
            .mappings
            .into_iter()
            .map(|m| NewMapping { item_id: m.item_id, variant_id: m.variant_id, sku_code: m.sku_code })
            .collect();
        let changed = self.service.set_mappings(auth.0.tenant_id, id.0, mappings).await?;
        Ok(MappingsSaved::Ok(Json(MappingsSet { changed: changed as u64 })))
    }

    /// Rotate the secret this shop's webhooks are signed with. The previous secret is still
    /// accepted for an hour (BAZAAR.md), so the marketplace can be switched over without losing
    /// a webhook. Bazaar: a random string you generate (`openssl rand -hex 32`) and then set on
    /// the shop; Shopify: the app's new client secret. Sending the current secret again changes
    /// nothing, so a retry is safe.
    #[oai(path = "/channels/:id/webhook-secret", method = "put", tag = "Tag::Channels")]
    async fn rotate_secret(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<NewWebhookSecret>,
    ) -> ApiResult<ChannelFound, { WRITE_BY_ID | CONFLICT }> {
        let c = self.service.rotate_secret(auth.0.tenant_id, id.0, body.0.into_secret()).await?;
        Ok(ChannelFound::Ok(Json(self.dto(c, true))))
    }

    /// Set or replace the shop's Open API credentials, e.g. after the seller authorised Cairn
    /// again and the marketplace issued a new access token, or to turn a push-only shop into
    /// one that is reconciled and written back to. Reconciliation starts with the next pull,
    /// shipments recorded while the shop had no credentials are queued for write-back, and
    /// every SKU's quantity is planned for the shop. The same credentials again change nothing.
    #[oai(path = "/channels/:id/api", method = "put", tag = "Tag::Channels")]
    async fn set_api(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ApiCredentials>,
    ) -> ApiResult<ChannelFound, WRITE_BY_ID> {
        let c = self.service.set_api(auth.0.tenant_id, id.0, body.0.into()).await?;
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Remove the shop's Open API credentials, e.g. when the seller withdrew Cairn's
    /// authorisation on the marketplace. Pulls stop. Shipments not yet written back, and
    /// stock quantities not yet pushed, wait (`shipments_without_api`, `stock_without_api` in
    /// the sync report) until credentials are given again with `PUT`, which sends them.
    /// Webhooks keep arriving. Removing them again changes nothing.
    #[oai(path = "/channels/:id/api", method = "delete", tag = "Tag::Channels")]
    async fn remove_api(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ChannelFound, READ_BY_ID> {
        let c = self.service.remove_api(auth.0.tenant_id, id.0).await?;
        Ok(ChannelFound::Ok(Json(self.dto(c, false))))
    }

    /// Pull the shop's trades from the marketplace now (from the stored checkpoint) and feed
    /// whatever push missed into the order pipeline.
    #[oai(path = "/channels/:id/reconcile", method = "post", tag = "Tag::Channels")]
    async fn reconcile_now(
        &self,
        #[oai(scope = "Scope::ChannelsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Reconciled, { READ_BY_ID | CONFLICT }> {
        let r = self.service.reconcile_now(auth.0.tenant_id, id.0).await?;
        Ok(Reconciled::Ok(Json(r.into())))
    }

    /// The shop's sync report: reconciliation checkpoint and lag, what pull found that push
    /// missed, and the write-backs waiting or refused.
    #[oai(path = "/channels/:id/sync", method = "get", tag = "Tag::Channels")]
    async fn sync_report(
        &self,
        #[oai(scope = "Scope::ChannelsRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<SyncFound, READ_BY_ID> {
        let r = self.service.sync_report(auth.0.tenant_id, id.0).await?;
        Ok(SyncFound::Ok(Json(r.into())))
    }

    /// List connected shops.
    #[oai(path = "/channels", method = "get", tag = "Tag::Channels")]
    async fn list(
        &self,
        #[oai(scope = "Scope::ChannelsRead")] auth: BearerAuth,
    ) -> ApiResult<ChannelList, AUTHENTICATED> {
        let rows = self.service.list(auth.0.tenant_id).await?;
        Ok(ChannelList::Ok(Json(rows.into_iter().map(|c| self.dto(c, false)).collect())))
    }

    /// One connected shop.
    #[oai(path = "/channels/:id", method = "get", tag = "Tag::Channels")]
    async fn get(
        &self,
        #[oai(scope = "Scope::ChannelsRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ChannelFound, READ_BY_ID> {
        let c = self.service.get(auth.0.tenant_id, id.0).await?;
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
    ) -> ApiResult<WebhookAccepted, CALLBACK> {
        let headers = shopify::webhook::Headers {
            topic: topic.0.as_deref(),
            hmac: hmac.0.as_deref(),
            webhook_id: webhook_id.0.as_deref(),
            shop_domain: shop_domain.0.as_deref(),
        };
        let started = std::time::Instant::now();
        let received = self.service.receive_shopify(channel_id.0, &headers, &body.0).await;
        let outcome = webhooks::observe("shopify", started, received)?;
        // Accepted means the webhook id header was there.
        Ok(WebhookAccepted::of(outcome, webhook_id.0.unwrap_or_default()))
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
    ) -> ApiResult<WebhookAccepted, CALLBACK> {
        let headers = bazaar::webhook::Headers {
            topic: topic.0.as_deref(),
            message_id: message_id.0.as_deref(),
            timestamp: timestamp.0.as_deref(),
            signature: signature.0.as_deref(),
            shop_id: shop_id.0.as_deref(),
        };
        let started = std::time::Instant::now();
        let received = self.service.receive_bazaar(channel_id.0, &headers, &body.0).await;
        let outcome = webhooks::observe("bazaar", started, received)?;
        // Accepted means the message id header was there.
        Ok(WebhookAccepted::of(outcome, message_id.0.unwrap_or_default()))
    }
}
