//! The marketplace's in-memory state: shops, items, trades (with a per-shop index by
//! `modified` for the incremental API), the write-back log, the generator RNG, and Courier's
//! book (`crate::courier::book`). One `std::sync::Mutex` guards it all and is never held across
//! an `.await`; every operation is a few microseconds, so a single lock keeps the model simple
//! at flash-sale rates.

use crate::courier::book::CourierBook;
use crate::domain::SimError;
use crate::domain::ids;
use crate::domain::money::{self, Fen};
use crate::domain::people;
use crate::domain::trade::{
    Change, LineDraft, ShipOutcome, Trade, TradeDraft, TradeSnapshot, TradeStatus, format_time,
};
use crate::model::{
    Item, ListedSku, Listing, NewItem, NewShop, NewTrade, Shop, ShopUpdate, Writeback, WritebackKind, WritebackOutcome,
};
use chrono::{FixedOffset, TimeZone};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Wall-clock Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A variant as stored (price in fen), keyed by its SKU code. The ids and the item title are
/// absent from state files written before variants had them; `State::restore` fills them in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredItem {
    shop_id: String,
    outer_sku_id: String,
    title: String,
    price: Fen,
    quantity: i64,
    #[serde(default = "yes")]
    merchant_code: bool,
    #[serde(default)]
    num_iid: String,
    #[serde(default)]
    sku_id: String,
    #[serde(default)]
    item_title: String,
    #[serde(default)]
    properties: Option<String>,
}

fn yes() -> bool {
    true
}

impl StoredItem {
    fn public(&self) -> Item {
        Item {
            shop_id: self.shop_id.clone(),
            outer_sku_id: self.outer_sku_id.clone(),
            merchant_code: self.merchant_code,
            num_iid: self.num_iid.clone(),
            sku_id: self.sku_id.clone(),
            item_title: self.item_title.clone(),
            properties: self.properties.clone(),
            title: self.title.clone(),
            price: money::format(self.price),
            quantity: self.quantity,
        }
    }

    fn listed(&self) -> ListedSku {
        ListedSku {
            sku_id: self.sku_id.clone(),
            outer_sku_id: self.merchant_code.then(|| self.outer_sku_id.clone()),
            properties: self.properties.clone(),
            quantity: self.quantity,
            price: money::format(self.price),
        }
    }
}

/// The item a SKU code is a variant of (`product`), the item's title and the variant's
/// properties: the catalog's product for catalog codes, else an item of its own.
fn product_of(code: &str, title: &str) -> (String, String, Option<String>) {
    match people::variant_of(code) {
        Some(v) => (v.product, v.item_title, v.properties),
        None => (format!("code:{code}"), title.to_owned(), None),
    }
}

/// What `--state-file` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Persisted {
    shops: Vec<Shop>,
    items: Vec<StoredItem>,
    trades: Vec<Trade>,
    seq: u64,
    /// Absent from state files written before the simulator played Courier.
    #[serde(default)]
    courier: crate::courier::book::Persisted,
}

/// The app credentials new shops get unless told otherwise.
#[derive(Debug, Clone)]
pub(crate) struct AppDefaults {
    pub app_key: String,
    pub app_secret: String,
}

/// Everything the marketplace knows.
pub(crate) struct State {
    shops: BTreeMap<String, Shop>,
    /// access_token → shop_id
    tokens: HashMap<String, String>,
    items: HashMap<String, BTreeMap<String, StoredItem>>,
    trades: HashMap<String, Trade>,
    /// Per shop, (modified, tid) of every trade: the incremental API's index.
    by_modified: HashMap<String, BTreeSet<(i64, String)>>,
    /// (created, tid) of trades waiting for payment, for the pay-timeout sweep.
    unpaid: BTreeSet<(i64, String)>,
    writebacks: Vec<Writeback>,
    /// The number part of trade and line ids.
    seq: u64,
    /// Salt of the per-variant merchant-code draw (the `--seed`, 0 without one).
    salt: u64,
    pub rng: StdRng,
    /// The carrier network (Courier) the simulator also plays.
    pub courier: CourierBook,
}

/// Trade numbers start at (Unix seconds mod 10^5) × 10^5, so runs of the simulator started at
/// least a second apart do not reuse trade ids unless one created more than 100,000 trades per
/// second it ran; a Cairn database kept across simulator restarts never sees a tid twice.
fn first_seq(now_ms: i64) -> u64 {
    (now_ms / 1000).rem_euclid(100_000) as u64 * 100_000
}

fn date_of(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    cst.timestamp_millis_opt(ms).single().map(|t| t.format("%Y%m%d").to_string()).unwrap_or_default()
}

fn hex_token<R: rand::Rng + ?Sized>(rng: &mut R, bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

impl State {
    /// An empty marketplace.
    pub fn new(seed: Option<u64>) -> State {
        State {
            shops: BTreeMap::new(),
            tokens: HashMap::new(),
            items: HashMap::new(),
            trades: HashMap::new(),
            by_modified: HashMap::new(),
            unpaid: BTreeSet::new(),
            writebacks: Vec::new(),
            seq: first_seq(now_ms()),
            salt: seed.unwrap_or(0),
            rng: seed.map_or_else(rand::make_rng, StdRng::seed_from_u64),
            courier: CourierBook::new(seed),
        }
    }

    /// A marketplace restored from `--state-file` (indexes rebuilt, numbering continued).
    pub fn restore(p: Persisted, seed: Option<u64>) -> State {
        let mut s = State::new(seed);
        s.seq = s.seq.max(p.seq);
        s.courier = CourierBook::restore(p.courier, seed);
        for shop in p.shops {
            s.tokens.insert(shop.access_token.clone(), shop.shop_id.clone());
            s.shops.insert(shop.shop_id.clone(), shop);
        }
        for mut item in p.items {
            if item.num_iid.is_empty() || item.sku_id.is_empty() {
                let fresh = s.new_item(&item.shop_id, &item.outer_sku_id, &item.title, item.price, item.merchant_code);
                (item.num_iid, item.sku_id, item.item_title, item.properties) =
                    (fresh.num_iid, fresh.sku_id, fresh.item_title, fresh.properties);
            }
            s.items.entry(item.shop_id.clone()).or_default().insert(item.outer_sku_id.clone(), item);
        }
        for mut t in p.trades {
            for l in t.lines.iter_mut().filter(|l| l.num_iid.is_empty()) {
                if let Some(item) = s.items.get(&t.shop_id).and_then(|m| m.get(&l.code)) {
                    (l.num_iid, l.sku_id, l.properties) =
                        (item.num_iid.clone(), item.sku_id.clone(), item.properties.clone());
                }
            }
            s.index(&t);
            s.trades.insert(t.tid.clone(), t);
        }
        s
    }

    /// A variant not yet stored, with its marketplace ids: the item of its product, and a
    /// variant id no other variant of the shop has.
    fn new_item(&self, shop_id: &str, code: &str, title: &str, price: Fen, merchant_code: bool) -> StoredItem {
        let (product, item_title, properties) = product_of(code, title);
        let taken = |id: &str| {
            self.items.get(shop_id).is_some_and(|m| m.values().any(|i| i.sku_id == id && i.outer_sku_id != code))
        };
        let sku_id = (0..).map(|a| ids::sku_id(shop_id, code, a)).find(|id| !taken(id)).expect("some id is free");
        StoredItem {
            shop_id: shop_id.to_owned(),
            outer_sku_id: code.to_owned(),
            title: title.to_owned(),
            price,
            quantity: 0,
            merchant_code,
            num_iid: ids::num_iid(shop_id, &product),
            sku_id,
            item_title,
            properties,
        }
    }

    /// Whether a variant listed without saying gets a merchant code (see `no_merchant_code_share`).
    fn draws_merchant_code(&self, shop_id: &str, code: &str, no_merchant_code_share: f64) -> bool {
        !ids::lacks_merchant_code(self.salt, shop_id, code, no_merchant_code_share)
    }

    /// What `--state-file` gets.
    pub fn persist(&self) -> Persisted {
        Persisted {
            shops: self.shops.values().cloned().collect(),
            items: self.items.values().flat_map(|m| m.values().cloned()).collect(),
            trades: self.trades.values().cloned().collect(),
            seq: self.seq,
            courier: self.courier.persist(),
        }
    }

    fn index(&mut self, t: &Trade) {
        self.by_modified.entry(t.shop_id.clone()).or_default().insert((t.modified, t.tid.clone()));
        if t.status == TradeStatus::WaitBuyerPay {
            self.unpaid.insert((t.created, t.tid.clone()));
        }
    }

    fn next_id(&mut self, prefix: char, now: i64) -> String {
        self.seq += 1;
        format!("{prefix}{}{:010}", date_of(now), self.seq)
    }

    // ---- shops ------------------------------------------------------------------------------

    pub fn shops(&self) -> Vec<Shop> {
        self.shops.values().cloned().collect()
    }

    pub fn shop(&self, shop_id: &str) -> Option<&Shop> {
        self.shops.get(shop_id)
    }

    pub fn shop_by_token(&self, token: &str) -> Option<&Shop> {
        self.tokens.get(token).and_then(|id| self.shops.get(id))
    }

    /// Creates a shop; fields left out are generated.
    pub fn create_shop(&mut self, spec: NewShop, app: &AppDefaults) -> Result<Shop, SimError> {
        let update = ShopUpdate {
            name: spec.name,
            app_key: spec.app_key,
            app_secret: spec.app_secret,
            access_token: spec.access_token,
            webhook_url: spec.webhook_url,
            webhook_secret: spec.webhook_secret,
        };
        let shop = self.fresh_shop(spec.shop_id, app)?;
        self.put_shop(shop, update)
    }

    /// Updates a shop, or creates it with this id when it does not exist.
    pub fn upsert_shop(&mut self, shop_id: &str, update: ShopUpdate, app: &AppDefaults) -> Result<Shop, SimError> {
        let shop = match self.shops.get(shop_id) {
            Some(s) => s.clone(),
            None => self.fresh_shop(Some(shop_id.to_owned()), app)?,
        };
        self.put_shop(shop, update)
    }

    /// A new shop (not yet stored) with generated name and token and the default app.
    fn fresh_shop(&mut self, shop_id: Option<String>, app: &AppDefaults) -> Result<Shop, SimError> {
        let shop_id = match shop_id {
            Some(id) if id.trim().is_empty() || id.contains('/') => {
                return Err(SimError::InvalidParameter("shop_id must be non-empty and contain no `/`".into()));
            }
            Some(id) if self.shops.contains_key(&id) => return Err(SimError::ShopExists(id)),
            Some(id) => id,
            None => loop {
                let id = format!("shop-{}", self.rng.random_range(1000..100_000));
                if !self.shops.contains_key(&id) {
                    break id;
                }
            },
        };
        Ok(Shop {
            name: format!("Bazaar 店铺 {shop_id}"),
            app_key: app.app_key.clone(),
            app_secret: app.app_secret.clone(),
            access_token: format!("at_{}", hex_token(&mut self.rng, 16)),
            webhook_url: None,
            webhook_secret: None,
            shop_id,
        })
    }

    fn put_shop(&mut self, mut shop: Shop, u: ShopUpdate) -> Result<Shop, SimError> {
        let old_token = shop.access_token.clone();
        if let Some(v) = u.name {
            shop.name = v;
        }
        if let Some(v) = u.app_key {
            shop.app_key = v;
        }
        if let Some(v) = u.app_secret {
            shop.app_secret = v;
        }
        if let Some(v) = u.access_token {
            shop.access_token = v;
        }
        match u.webhook_url {
            Some(url) if url.is_empty() => {
                shop.webhook_url = None;
                shop.webhook_secret = None;
            }
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(SimError::InvalidParameter(format!("webhook_url `{url}` is not an http(s) URL")));
                }
                shop.webhook_url = Some(url);
            }
            None => {}
        }
        if let Some(secret) = u.webhook_secret {
            shop.webhook_secret = Some(secret).filter(|s| !s.is_empty());
        }
        if shop.webhook_url.is_some() && shop.webhook_secret.is_none() {
            return Err(SimError::InvalidParameter("a webhook_url needs a webhook_secret".into()));
        }
        if [&shop.app_key, &shop.app_secret, &shop.access_token].iter().any(|v| v.is_empty()) {
            return Err(SimError::InvalidParameter("app_key, app_secret and access_token must not be empty".into()));
        }
        if let Some(owner) = self.tokens.get(&shop.access_token).filter(|owner| **owner != shop.shop_id) {
            return Err(SimError::InvalidParameter(format!("access_token is already used by shop `{owner}`")));
        }
        if self.tokens.get(&old_token) == Some(&shop.shop_id) {
            self.tokens.remove(&old_token);
        }
        self.tokens.insert(shop.access_token.clone(), shop.shop_id.clone());
        self.shops.insert(shop.shop_id.clone(), shop.clone());
        Ok(shop)
    }

    // ---- items ------------------------------------------------------------------------------

    pub fn items(&self, shop_id: &str) -> Vec<Item> {
        self.items.get(shop_id).map(|m| m.values().map(StoredItem::public).collect()).unwrap_or_default()
    }

    /// The shop's items with their variants, one page of them (by `num_iid`), and how many
    /// items there are in all.
    pub fn listings(&self, shop_id: &str, page_no: usize, page_size: usize) -> (Vec<Listing>, usize) {
        let mut by_item: BTreeMap<&str, Listing> = BTreeMap::new();
        for i in self.items.get(shop_id).into_iter().flat_map(|m| m.values()) {
            let listing = by_item.entry(&i.num_iid).or_insert_with(|| Listing {
                num_iid: i.num_iid.clone(),
                title: i.item_title.clone(),
                skus: Vec::new(),
            });
            listing.skus.push(i.listed());
        }
        let total = by_item.len();
        let page = by_item
            .into_values()
            .skip(page_no.saturating_sub(1).saturating_mul(page_size))
            .take(page_size)
            .map(|mut l| {
                l.skus.sort_by(|a, b| a.sku_id.cmp(&b.sku_id));
                l
            })
            .collect();
        (page, total)
    }

    /// Creates or replaces an item (a replaced item keeps its quantity, ids and merchant code
    /// unless given). A new item without `merchant_code` draws it with `no_merchant_code_share`.
    pub fn upsert_item(&mut self, spec: NewItem, no_merchant_code_share: f64) -> Result<Item, SimError> {
        if !self.shops.contains_key(&spec.shop_id) {
            return Err(SimError::ShopNotFound(spec.shop_id));
        }
        if spec.outer_sku_id.trim().is_empty() {
            return Err(SimError::InvalidParameter("outer_sku_id must not be empty".into()));
        }
        if spec.quantity.is_some_and(|q| q < 0) {
            return Err(SimError::InvalidParameter("quantity must not be negative".into()));
        }
        let price = money::parse(&spec.price)?;
        let title = spec.title.unwrap_or_else(|| spec.outer_sku_id.clone());
        let old = self.items.get(&spec.shop_id).and_then(|m| m.get(&spec.outer_sku_id)).cloned();
        let mut item = match old {
            Some(old) => StoredItem { title, price, ..old },
            None => {
                let merchant_code = spec.merchant_code.unwrap_or_else(|| {
                    self.draws_merchant_code(&spec.shop_id, &spec.outer_sku_id, no_merchant_code_share)
                });
                self.new_item(&spec.shop_id, &spec.outer_sku_id, &title, price, merchant_code)
            }
        };
        if let Some(q) = spec.quantity {
            item.quantity = q;
        }
        if let Some(m) = spec.merchant_code {
            item.merchant_code = m;
        }
        let public = item.public();
        self.items.entry(spec.shop_id).or_default().insert(spec.outer_sku_id, item);
        Ok(public)
    }

    /// Sets the displayed quantity (the quantity write-back). An unknown SKU becomes an item
    /// titled by its code at price 0, so Cairn can push stock for SKUs the demo did not list.
    /// Returns the item and whether the quantity was already this (a repeat).
    /// A variant the seller set no merchant code on is not found by its code
    /// ([`SimError::ItemNotFound`]): only its ids reach it.
    pub fn set_quantity(&mut self, shop_id: &str, sku: &str, quantity: i64) -> Result<(Item, bool), SimError> {
        if quantity < 0 {
            return Err(SimError::InvalidParameter("quantity must not be negative".into()));
        }
        match self.items.get(shop_id).and_then(|m| m.get(sku)) {
            Some(item) if !item.merchant_code => {
                return Err(SimError::ItemNotFound(format!(
                    "shop `{shop_id}` has no variant with merchant code `{sku}`"
                )));
            }
            Some(_) => {}
            None => {
                let mut item = self.new_item(shop_id, sku, sku, 0, true);
                item.quantity = -1;
                self.items.entry(shop_id.to_owned()).or_default().insert(sku.to_owned(), item);
            }
        }
        let item = self.items.get_mut(shop_id).and_then(|m| m.get_mut(sku)).expect("inserted above");
        let repeat = item.quantity == quantity;
        item.quantity = quantity;
        Ok((item.public(), repeat))
    }

    /// Sets the displayed quantity of a variant by the marketplace's ids (the quantity
    /// write-back for variants without a merchant code). Returns the item with just that
    /// variant, and whether the quantity was already this.
    pub fn set_quantity_by_ids(
        &mut self,
        shop_id: &str,
        num_iid: &str,
        sku_id: &str,
        quantity: i64,
    ) -> Result<(Listing, bool), SimError> {
        if quantity < 0 {
            return Err(SimError::InvalidParameter("quantity must not be negative".into()));
        }
        let items = self.items.get_mut(shop_id);
        let mut of_item = items.into_iter().flat_map(|m| m.values_mut()).filter(|i| i.num_iid == num_iid).peekable();
        if of_item.peek().is_none() {
            return Err(SimError::ItemNotFound(format!("shop `{shop_id}` has no item `{num_iid}`")));
        }
        let item = of_item
            .find(|i| i.sku_id == sku_id)
            .ok_or_else(|| SimError::ItemNotFound(format!("item `{num_iid}` has no variant `{sku_id}`")))?;
        let repeat = item.quantity == quantity;
        item.quantity = quantity;
        Ok((
            Listing { num_iid: item.num_iid.clone(), title: item.item_title.clone(), skus: vec![item.listed()] },
            repeat,
        ))
    }

    // ---- trades -----------------------------------------------------------------------------

    pub fn trade_count(&self) -> usize {
        self.trades.len()
    }

    /// A trade's snapshot, if it exists and (when `shop_id` is given) belongs to that shop.
    pub fn snapshot(&self, tid: &str, shop_id: Option<&str>) -> Result<TradeSnapshot, SimError> {
        self.trades
            .get(tid)
            .filter(|t| shop_id.is_none_or(|s| t.shop_id == s))
            .map(Trade::snapshot)
            .ok_or_else(|| SimError::TradeNotFound(tid.to_owned()))
    }

    pub fn trade(&self, tid: &str) -> Option<&Trade> {
        self.trades.get(tid)
    }

    /// Snapshots of every trade (of one shop), oldest first.
    pub fn snapshots(&self, shop_id: Option<&str>, status: Option<TradeStatus>) -> Vec<TradeSnapshot> {
        let mut ts: Vec<&Trade> = self
            .trades
            .values()
            .filter(|t| shop_id.is_none_or(|s| t.shop_id == s) && status.is_none_or(|st| t.status == st))
            .collect();
        ts.sort_by(|a, b| (a.created, &a.tid).cmp(&(b.created, &b.tid)));
        ts.into_iter().map(Trade::snapshot).collect()
    }

    /// Creates a trade waiting for payment. Returns its shop and the `trade.TradeCreate` change.
    /// A line for a SKU the shop does not list makes it an item (its merchant code drawn with
    /// `no_merchant_code_share`).
    pub fn create_trade(&mut self, spec: NewTrade, now: i64, no_merchant_code_share: f64) -> Result<Change, SimError> {
        if !self.shops.contains_key(&spec.shop_id) {
            return Err(SimError::ShopNotFound(spec.shop_id));
        }
        let mut lines = Vec::with_capacity(spec.lines.len());
        let mut new_items = Vec::new();
        for l in &spec.lines {
            let listed = self.items.get(&spec.shop_id).and_then(|m| m.get(&l.outer_sku_id));
            let price = match (&l.price, listed) {
                (Some(p), _) => money::parse(p)?,
                (None, Some(item)) => item.price,
                (None, None) => {
                    return Err(SimError::InvalidParameter(format!(
                        "shop `{}` does not list `{}`: give the line a price",
                        spec.shop_id, l.outer_sku_id
                    )));
                }
            };
            let title =
                l.title.clone().or_else(|| listed.map(|i| i.title.clone())).unwrap_or_else(|| l.outer_sku_id.clone());
            let variant = match listed {
                Some(item) => item.clone(),
                None => {
                    let merchant_code =
                        self.draws_merchant_code(&spec.shop_id, &l.outer_sku_id, no_merchant_code_share);
                    let item = self.new_item(&spec.shop_id, &l.outer_sku_id, &title, price, merchant_code);
                    new_items.push(item.clone());
                    item
                }
            };
            lines.push(LineDraft {
                oid: String::new(),
                num_iid: variant.num_iid,
                sku_id: variant.sku_id,
                code: l.outer_sku_id.clone(),
                merchant_code: variant.merchant_code,
                properties: variant.properties,
                title,
                num: l.num,
                price,
            });
        }
        let buyer = match spec.buyer {
            Some(b) => people::Buyer { nick: b.nick, receiver: b.receiver },
            None => people::buyer(&mut self.rng),
        };
        let invoice_request = match spec.invoice_request {
            Some(choice) => choice,
            None => people::invoice_request(&mut self.rng, &buyer.receiver),
        };
        let draft = TradeDraft {
            tid: String::new(),
            shop_id: spec.shop_id.clone(),
            buyer_nick: buyer.nick,
            buyer_memo: spec.buyer_memo.filter(|m| !m.is_empty()),
            receiver: buyer.receiver,
            post_fee: spec.post_fee.as_deref().map(money::parse).transpose()?.unwrap_or(0),
            discount_fee: spec.discount_fee.as_deref().map(money::parse).transpose()?.unwrap_or(0),
            invoice_request,
            lines,
        };
        // Validate before numbering, so a refused trade leaves no gap in the ids.
        Trade::create(draft.clone(), now)?;
        let mut draft = draft;
        draft.tid = self.next_id('T', now);
        for l in &mut draft.lines {
            l.oid = self.next_id('O', now);
        }
        let (trade, change) = Trade::create(draft, now)?;
        let items = self.items.entry(spec.shop_id).or_default();
        for item in new_items {
            items.entry(item.outer_sku_id.clone()).or_insert(item);
        }
        for l in &trade.lines {
            if let Some(item) = items.get_mut(&l.code) {
                item.quantity = (item.quantity - l.num).max(0);
            }
        }
        self.index(&trade);
        self.trades.insert(trade.tid.clone(), trade);
        Ok(change)
    }

    /// Runs a state change on a trade (of `shop_id`, when given) and keeps the indexes right.
    pub fn update_trade<R>(
        &mut self,
        tid: &str,
        shop_id: Option<&str>,
        f: impl FnOnce(&mut Trade, &mut StdRng) -> Result<R, SimError>,
    ) -> Result<R, SimError> {
        let trade = self
            .trades
            .get_mut(tid)
            .filter(|t| shop_id.is_none_or(|s| t.shop_id == s))
            .ok_or_else(|| SimError::TradeNotFound(tid.to_owned()))?;
        let (modified, status) = (trade.modified, trade.status);
        let r = f(trade, &mut self.rng)?;
        if trade.modified != modified {
            let set = self.by_modified.entry(trade.shop_id.clone()).or_default();
            set.remove(&(modified, trade.tid.clone()));
            set.insert((trade.modified, trade.tid.clone()));
        }
        if status == TradeStatus::WaitBuyerPay && trade.status != TradeStatus::WaitBuyerPay {
            self.unpaid.remove(&(trade.created, trade.tid.clone()));
        }
        Ok(r)
    }

    /// Ship, from the Open API (`shop_id` given) or the admin side.
    pub fn ship(
        &mut self,
        tid: &str,
        shop_id: Option<&str>,
        company_code: &str,
        waybill_no: &str,
        oids: Option<&[String]>,
        now: i64,
    ) -> Result<ShipOutcome, SimError> {
        self.update_trade(tid, shop_id, |t, _| t.ship(company_code, waybill_no, oids, now))
    }

    /// Trades of `shop_id` with `modified` in [start, end] (milliseconds, inclusive), newest
    /// first (ties by tid, descending), one page of them, and how many there are in all.
    pub fn modified_between(
        &self,
        shop_id: &str,
        start: i64,
        end: i64,
        page_no: usize,
        page_size: usize,
    ) -> (Vec<TradeSnapshot>, usize) {
        let Some(set) = self.by_modified.get(shop_id) else { return (Vec::new(), 0) };
        let range = set.range((start, String::new())..(end.saturating_add(1), String::new()));
        let total = range.clone().count();
        let page = range
            .rev()
            .skip(page_no.saturating_sub(1).saturating_mul(page_size))
            .take(page_size)
            .filter_map(|(_, tid)| self.trades.get(tid).map(Trade::snapshot))
            .collect();
        (page, total)
    }

    /// Trades still unpaid that were created at or before `cutoff` (ms).
    pub fn unpaid_before(&self, cutoff: i64) -> Vec<String> {
        self.unpaid.iter().take_while(|(created, _)| *created <= cutoff).map(|(_, tid)| tid.clone()).collect()
    }

    // ---- write-backs ------------------------------------------------------------------------

    /// Logs a write-back call; returns its sequence number.
    #[allow(clippy::too_many_arguments)]
    pub fn record_writeback(
        &mut self,
        shop_id: &str,
        kind: WritebackKind,
        target: &str,
        payload: serde_json::Value,
        outcome: WritebackOutcome,
        status: u16,
        code: Option<&str>,
        now: i64,
    ) -> u64 {
        let seq = self.writebacks.len() as u64 + 1;
        self.writebacks.push(Writeback {
            seq,
            at: format_time(now),
            shop_id: shop_id.to_owned(),
            kind,
            target: target.to_owned(),
            payload,
            outcome,
            status,
            code: code.map(str::to_owned),
            response_lost: false,
        });
        seq
    }

    pub fn mark_response_lost(&mut self, seq: u64) {
        if let Some(w) = seq.checked_sub(1).and_then(|i| self.writebacks.get_mut(i as usize)) {
            w.response_lost = true;
        }
    }

    pub fn writebacks(&self, shop_id: Option<&str>) -> Vec<Writeback> {
        self.writebacks.iter().filter(|w| shop_id.is_none_or(|s| w.shop_id == s)).cloned().collect()
    }

    pub fn writeback_count(&self) -> usize {
        self.writebacks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewLine;

    fn state_with_shop() -> State {
        let mut s = State::new(Some(1));
        let app = AppDefaults { app_key: "k".into(), app_secret: "s".into() };
        s.create_shop(NewShop { shop_id: Some("shop-1".into()), ..NewShop::default() }, &app).unwrap();
        s.upsert_item(
            NewItem {
                shop_id: "shop-1".into(),
                outer_sku_id: "A".into(),
                title: None,
                price: "10.00".into(),
                quantity: Some(5),
                merchant_code: None,
            },
            0.0,
        )
        .unwrap();
        s
    }

    #[test]
    fn trades_are_numbered_and_take_displayed_quantity() {
        let mut s = state_with_shop();
        let now = 1_794_326_400_120;
        let c = s.create_trade(NewTrade::new("shop-1", vec![NewLine::new("A", 2)]), now, 0.0).unwrap();
        assert!(c.snapshot.tid.starts_with("T20261111") && c.snapshot.tid.len() == 19, "{}", c.snapshot.tid);
        assert!(c.snapshot.orders[0].oid.starts_with("O20261111"));
        assert_eq!(s.items("shop-1")[0].quantity, 3);
        let err = s.create_trade(NewTrade::new("shop-1", vec![NewLine::new("B", 1)]), now, 0.0).unwrap_err();
        assert_eq!(err.code(), "isv.invalid-parameter");
        assert!(s.create_trade(NewTrade::new("nope", vec![NewLine::new("A", 1)]), now, 0.0).is_err());
    }

    #[test]
    fn the_modified_index_follows_changes() {
        let mut s = state_with_shop();
        let tid = s.create_trade(NewTrade::new("shop-1", vec![NewLine::new("A", 1)]), 1000, 0.0).unwrap().snapshot.tid;
        assert_eq!(s.unpaid_before(1000), vec![tid.clone()]);
        s.update_trade(&tid, Some("shop-1"), |t, _| t.pay(5000)).unwrap();
        assert!(s.unpaid_before(i64::MAX).is_empty());
        assert_eq!(s.modified_between("shop-1", 0, 4999, 1, 10).1, 0);
        assert_eq!(s.modified_between("shop-1", 5000, 5000, 1, 10).1, 1);
        assert!(s.update_trade(&tid, Some("other"), |t, _| t.confirm(6000)).is_err());
    }

    #[test]
    fn persisted_state_restores() {
        let mut s = state_with_shop();
        s.create_trade(NewTrade::new("shop-1", vec![NewLine::new("A", 1)]), 1000, 0.0).unwrap();
        let json = serde_json::to_string(&s.persist()).unwrap();
        let r = State::restore(serde_json::from_str(&json).unwrap(), None);
        assert_eq!(r.trade_count(), 1);
        assert!(r.seq >= s.seq);
        assert_eq!(r.modified_between("shop-1", 0, 2000, 1, 10).1, 1);
        assert!(r.shop_by_token(&s.shop("shop-1").unwrap().access_token).is_some());
    }
}
