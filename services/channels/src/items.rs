//! The shop's items and its product mapping (商品对应): which marketplace variants it sells, and
//! the SKU each maps to. Owns `channel_items` and `channel_item_mappings`.
//!
//! - Ingest resolves every trade line through the mapping ([`mappings_of`], one read per
//!   round of webhooks) and records the variants it could not resolve ([`record_seen`]), so
//!   the seller sees them on the mapping screen without waiting for a pull.
//! - Setting a mapping ([`set`]) emits `channel.item_mapped` for each variant whose SKU
//!   changed, in the same transaction: orders and inventory release what waited on it.
//! - Stock pushes go to a SKU's mapped variants ([`targets_of`]), or by merchant code.

use crate::{
    db::{channel_item_mappings, channel_items, channel_stock_levels},
    domain::mapping::{Variant, VariantKey, variant_key, variant_of},
};
use kernel::{Envelope, TenantId, Timestamp, events::ItemMapped};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// Where an item row came from.
pub mod source {
    /// The marketplace's item list.
    pub const PULL: &str = "pull";
    /// A trade line.
    pub const ORDER: &str = "order";
}

/// The mappings of each (tenant, channel) in `shops`, in one read.
pub async fn mappings_of<C: ConnectionTrait>(
    conn: &C,
    shops: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), HashMap<VariantKey, String>>, DbErr> {
    let mut out: HashMap<(Uuid, Uuid), HashMap<VariantKey, String>> = HashMap::new();
    if shops.is_empty() {
        return Ok(out);
    }
    let cond = shops.iter().fold(Condition::any(), |c, (t, ch)| {
        c.add(
            Condition::all()
                .add(channel_item_mappings::Column::TenantId.eq(*t))
                .add(channel_item_mappings::Column::ChannelId.eq(*ch)),
        )
    });
    for m in channel_item_mappings::Entity::find().filter(cond).all(conn).await? {
        out.entry((m.tenant_id, m.channel_id)).or_default().insert((m.item_id, m.variant_id), m.sku_code);
    }
    Ok(out)
}

/// Records the shop's `variants` as known (from `src`: [`source`]), newest description wins.
pub async fn record_seen<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    channel: Uuid,
    variants: &[Variant],
    src: &str,
    now: Timestamp,
) -> Result<(), DbErr> {
    // One row per key (a trade may name a variant twice).
    let mut rows: BTreeMap<VariantKey, channel_items::ActiveModel> = BTreeMap::new();
    for v in variants {
        let (item_id, variant_id) = variant_key(&v.item_id, v.variant_id.as_deref());
        rows.insert(
            (item_id.clone(), variant_id.clone()),
            channel_items::ActiveModel {
                tenant_id: Set(tenant),
                channel_id: Set(channel),
                item_id: Set(item_id),
                variant_id: Set(variant_id),
                title: Set(v.title.clone()),
                properties: Set(v.properties.clone()),
                merchant_code: Set(v.merchant_code.clone()),
                source: Set(src.to_owned()),
                seen_at: Set(now),
            },
        );
    }
    for chunk in rows.into_values().collect::<Vec<_>>().chunks(500) {
        use channel_items::Column as C;
        channel_items::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::TenantId, C::ChannelId, C::ItemId, C::VariantId])
                    .update_columns([C::Title, C::Properties, C::MerchantCode, C::Source, C::SeenAt])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// A variant of the shop with the SKU it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub variant: Variant,
    /// The shop's mapping for it, if any.
    pub mapped_sku: Option<String>,
    /// Its merchant code names a SKU the tenant has.
    pub merchant_code_known: bool,
    pub source: String,
    pub seen_at: Timestamp,
}

/// The shop's known variants (and mapped ones never seen), by item and variant.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: Uuid, channel: Uuid) -> Result<Vec<ItemRow>, DbErr> {
    let items = channel_items::Entity::find()
        .filter(channel_items::Column::TenantId.eq(tenant))
        .filter(channel_items::Column::ChannelId.eq(channel))
        .order_by_asc(channel_items::Column::ItemId)
        .order_by_asc(channel_items::Column::VariantId)
        .all(conn)
        .await?;
    let mut mapped: HashMap<VariantKey, channel_item_mappings::Model> = channel_item_mappings::Entity::find()
        .filter(channel_item_mappings::Column::TenantId.eq(tenant))
        .filter(channel_item_mappings::Column::ChannelId.eq(channel))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| ((m.item_id.clone(), m.variant_id.clone()), m))
        .collect();
    let codes: Vec<String> = items.iter().filter_map(|i| i.merchant_code.clone()).collect();
    let known = known_skus(conn, tenant, &codes).await?;
    let mut rows: Vec<ItemRow> = items
        .into_iter()
        .map(|i| {
            let m = mapped.remove(&(i.item_id.clone(), i.variant_id.clone()));
            ItemRow {
                merchant_code_known: i.merchant_code.as_ref().is_some_and(|c| known.contains(c)),
                variant: Variant {
                    variant_id: variant_of(&i.variant_id),
                    item_id: i.item_id,
                    title: i.title,
                    properties: i.properties,
                    merchant_code: i.merchant_code,
                },
                mapped_sku: m.map(|m| m.sku_code),
                source: i.source,
                seen_at: i.seen_at,
            }
        })
        .collect();
    // Mapped before Cairn ever saw the variant (e.g. from a spreadsheet).
    rows.extend(mapped.into_values().map(|m| ItemRow {
        variant: Variant {
            variant_id: variant_of(&m.variant_id),
            item_id: m.item_id,
            title: String::new(),
            properties: None,
            merchant_code: None,
        },
        mapped_sku: Some(m.sku_code),
        merchant_code_known: false,
        source: "mapping".into(),
        seen_at: m.updated_at,
    }));
    Ok(rows)
}

/// Which of `codes` name a SKU the tenant has (channels' copy of the catalog, from
/// `stock.level_changed`, which every SKU announces on creation).
pub async fn known_skus<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    codes: &[String],
) -> Result<HashSet<String>, DbErr> {
    if codes.is_empty() {
        return Ok(HashSet::new());
    }
    let mut known = HashSet::new();
    for chunk in codes.chunks(500) {
        for l in channel_stock_levels::Entity::find()
            .filter(channel_stock_levels::Column::TenantId.eq(tenant))
            .filter(channel_stock_levels::Column::SkuCode.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            known.insert(l.sku_code);
        }
    }
    Ok(known)
}

/// A mapping to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMapping {
    pub item_id: String,
    pub variant_id: Option<String>,
    pub sku_code: String,
}

/// Stores `mappings` for the shop inside `tx` and, for each variant whose SKU changed, puts
/// `channel.item_mapped` in the outbox. Returns how many changed; the same mappings again
/// change nothing.
pub async fn set(
    tx: &sea_orm::DatabaseTransaction,
    tenant: Uuid,
    channel: Uuid,
    mappings: &[NewMapping],
    now: Timestamp,
) -> Result<usize, DbErr> {
    let current = mappings_of(tx, &[(tenant, channel)]).await?.remove(&(tenant, channel)).unwrap_or_default();
    let mut changed: BTreeMap<VariantKey, &NewMapping> = BTreeMap::new();
    for m in mappings {
        let key = variant_key(&m.item_id, m.variant_id.as_deref());
        if current.get(&key) != Some(&m.sku_code) {
            changed.insert(key, m);
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let rows: Vec<channel_item_mappings::ActiveModel> = changed
        .iter()
        .map(|((item_id, variant_id), m)| channel_item_mappings::ActiveModel {
            tenant_id: Set(tenant),
            channel_id: Set(channel),
            item_id: Set(item_id.clone()),
            variant_id: Set(variant_id.clone()),
            sku_code: Set(m.sku_code.clone()),
            updated_at: Set(now),
        })
        .collect();
    {
        use channel_item_mappings::Column as C;
        channel_item_mappings::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::ChannelId, C::ItemId, C::VariantId])
                    .update_columns([C::SkuCode, C::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
    }
    let events: Vec<Envelope> = changed
        .into_iter()
        .map(|((item_id, variant_id), m)| {
            let ev = ItemMapped {
                channel_id: channel,
                item_id,
                variant_id: variant_of(&variant_id),
                sku_code: m.sku_code.clone(),
            };
            Envelope::new(TenantId(tenant), &ev, now, None)
        })
        .collect();
    let n = events.len();
    bus::outbox::enqueue(tx, &events).await?;
    Ok(n)
}

/// The variants of the shop mapped to `sku_code`: where its quantity is pushed (empty: by
/// merchant code).
pub async fn targets_of<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    channel: Uuid,
    sku_code: &str,
) -> Result<Vec<(String, Option<String>)>, DbErr> {
    Ok(channel_item_mappings::Entity::find()
        .filter(channel_item_mappings::Column::TenantId.eq(tenant))
        .filter(channel_item_mappings::Column::ChannelId.eq(channel))
        .filter(channel_item_mappings::Column::SkuCode.eq(sku_code))
        .order_by_asc(channel_item_mappings::Column::ItemId)
        .order_by_asc(channel_item_mappings::Column::VariantId)
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.item_id, variant_of(&m.variant_id)))
        .collect())
}
