//! Courier's state: sellers and their accounts, waybills with their parcels, the indexes
//! (token → seller, parcel code → package, live waybill per object_id), the timers of pending
//! collections and parcel moves, and the code counters. It lives inside the simulator's
//! `State` (one lock, one `--state-file`) and, like it, is never touched across an `.await`.

use super::model::{
    CourierAccount, CourierAccountUpdate, CourierSeller, DrawRequest, DrawResult, NewCourierAccount, NewCourierSeller,
    TrackingSubscription, WaybillFilter, WaybillView,
};
use crate::config::{CourierSchedule, Unreachable};
use crate::domain::courier::waybill::{self, Draft, TrackingEvent, Waybill, WaybillState};
use crate::domain::courier::{Carrier, CourierError, PackageError, TrackingStatus, codes, routing};
use crate::domain::ids::fnv1a;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many packages per draw call (COURIER.md).
pub const MAX_PACKAGES: usize = 10;
/// At most this many parcels in one multi-parcel package.
pub const MAX_PARCELS: u32 = 50;

/// Warehouse towns sellers ship from: (province, city, district, area code, towns).
const BASES: &[(&str, &str, &str, &str, &[&str])] = &[
    ("浙江省", "杭州市", "余杭区", "571", &["仓前", "良渚", "五常", "闲林"]),
    ("浙江省", "金华市", "义乌市", "579", &["稠城", "北苑", "福田", "江东"]),
    ("广东省", "广州市", "白云区", "020", &["太和", "人和", "嘉禾", "石井"]),
    ("广东省", "深圳市", "龙华区", "755", &["观澜", "民治", "大浪", "龙华"]),
    ("上海市", "上海市", "青浦区", "021", &["华新", "徐泾", "赵巷", "重固"]),
    ("江苏省", "苏州市", "吴中区", "512", &["木渎", "甪直", "郭巷", "胥口"]),
    ("四川省", "成都市", "双流区", "028", &["东升", "九江", "西航港", "黄甲"]),
    ("湖北省", "武汉市", "东西湖区", "027", &["吴家山", "走马岭", "径河", "金银湖"]),
    ("福建省", "泉州市", "晋江市", "595", &["陈埭", "安海", "磁灶", "青阳"]),
];
const SELLER_WORDS: &[&str] = &["云栈", "星河", "汇通", "鼎盛", "华创", "锦程", "瑞丰", "蓝海", "天择", "启明"];
const SELLER_KINDS: &[&str] = &["优品仓", "电商仓", "发货中心", "供应链", "云仓"];

/// A pending collection of a package or move of a parcel, by code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Collect(String),
    Step(String),
}

/// A tracking event to push, and whose account it is.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    pub seller_id: String,
    pub branch_code: String,
    pub event: TrackingEvent,
}

/// Where an account's pushes go in the dispatcher.
pub(crate) fn account_key(seller_id: &str, cp_code: Carrier, branch_code: &str) -> String {
    format!("{seller_id}/{cp_code}/{branch_code}")
}

/// What `--state-file` holds of Courier.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Persisted {
    sellers: Vec<CourierSeller>,
    waybills: Vec<Waybill>,
    /// Codes issued so far, per carrier.
    issued: BTreeMap<Carrier, u64>,
    sellers_created: u64,
    /// The key of the code permutation (kept so a restart issues no code twice, seed or not).
    salt: Option<u64>,
}

/// Everything Courier knows.
pub(crate) struct CourierBook {
    sellers: BTreeMap<String, CourierSeller>,
    /// access_token → seller_id
    tokens: HashMap<String, String>,
    /// Package code → waybill.
    waybills: HashMap<String, Waybill>,
    /// Parcel code (parent, child or only) → (package code, parcel index).
    parcels: HashMap<String, (String, usize)>,
    /// (seller_id, object_id) → the live (not cancelled) waybill's package code.
    live: HashMap<(String, String), String>,
    timers: BTreeSet<(i64, Timer)>,
    issued: BTreeMap<Carrier, u64>,
    sellers_created: u64,
    salt: u64,
    rng: StdRng,
}

impl CourierBook {
    /// An empty network; codes and tokens derive from `seed` (random without one).
    pub fn new(seed: Option<u64>) -> CourierBook {
        let salt = seed.unwrap_or_else(|| rand::make_rng::<StdRng>().random());
        CourierBook {
            sellers: BTreeMap::new(),
            tokens: HashMap::new(),
            waybills: HashMap::new(),
            parcels: HashMap::new(),
            live: HashMap::new(),
            timers: BTreeSet::new(),
            issued: BTreeMap::new(),
            sellers_created: 0,
            salt,
            rng: StdRng::seed_from_u64(fnv1a(&["courier-rng", &salt.to_string()])),
        }
    }

    /// The network restored from `--state-file` (indexes and timers rebuilt).
    pub fn restore(p: Persisted, seed: Option<u64>) -> CourierBook {
        let mut b = CourierBook::new(p.salt.or(seed));
        b.rng = StdRng::seed_from_u64(fnv1a(&["courier-rng", &b.salt.to_string(), &p.sellers_created.to_string()]));
        b.issued = p.issued;
        b.sellers_created = p.sellers_created;
        for s in p.sellers {
            b.tokens.insert(s.access_token.clone(), s.seller_id.clone());
            b.sellers.insert(s.seller_id.clone(), s);
        }
        for w in p.waybills {
            b.index(&w);
            b.waybills.insert(w.waybill_code.clone(), w);
        }
        b
    }

    pub fn persist(&self) -> Persisted {
        let mut waybills: Vec<Waybill> = self.waybills.values().cloned().collect();
        waybills.sort_by(|a, b| (a.created, &a.waybill_code).cmp(&(b.created, &b.waybill_code)));
        Persisted {
            sellers: self.sellers.values().cloned().collect(),
            waybills,
            issued: self.issued.clone(),
            sellers_created: self.sellers_created,
            salt: Some(self.salt),
        }
    }

    /// Indexes a waybill and sets its timers.
    fn index(&mut self, w: &Waybill) {
        for (i, p) in w.parcels.iter().enumerate() {
            self.parcels.insert(p.code.clone(), (w.waybill_code.clone(), i));
        }
        if w.state != WaybillState::Cancelled {
            self.live.insert((w.seller_id.clone(), w.object_id.clone()), w.waybill_code.clone());
        }
        self.set_timers(w);
    }

    /// Adds the timers a waybill now has. Timers are checked when they fire, so one a change
    /// made obsolete simply does nothing.
    fn set_timers(&mut self, w: &Waybill) {
        if let (WaybillState::Allocated, Some(due)) = (w.state, w.collect_due) {
            self.timers.insert((due, Timer::Collect(w.waybill_code.clone())));
        }
        for p in &w.parcels {
            if let Some(due) = p.next_due {
                self.timers.insert((due, Timer::Step(p.code.clone())));
            }
        }
    }

    /// When the next timer fires.
    pub fn next_due(&self) -> Option<i64> {
        self.timers.first().map(|(due, _)| *due)
    }

    pub fn waybill_count(&self) -> usize {
        self.waybills.len()
    }

    // ---- sellers and accounts ---------------------------------------------------------------

    pub fn sellers(&self) -> Vec<CourierSeller> {
        self.sellers.values().cloned().collect()
    }

    pub fn seller(&self, seller_id: &str) -> Option<&CourierSeller> {
        self.sellers.get(seller_id)
    }

    pub fn seller_by_token(&self, token: &str) -> Option<&CourierSeller> {
        self.tokens.get(token).and_then(|id| self.sellers.get(id))
    }

    fn seller_mut(&mut self, seller_id: &str) -> Result<&mut CourierSeller, CourierError> {
        self.sellers.get_mut(seller_id).ok_or_else(|| CourierError::SellerNotFound(seller_id.to_owned()))
    }

    fn account_mut(
        &mut self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
    ) -> Result<&mut CourierAccount, CourierError> {
        self.seller_mut(seller_id)?
            .accounts
            .iter_mut()
            .find(|a| a.cp_code == cp_code && a.branch_code == branch_code)
            .ok_or_else(|| CourierError::AccountNotFound {
                cp_code: cp_code.code().to_owned(),
                branch_code: branch_code.to_owned(),
            })
    }

    /// Creates a seller with its accounts (see [`NewCourierSeller`] for the defaults).
    pub fn create_seller(&mut self, spec: NewCourierSeller) -> Result<CourierSeller, CourierError> {
        let seller_id = match spec.seller_id {
            Some(id) if id.trim().is_empty() || id.contains('/') => {
                return Err(CourierError::InvalidRequest("seller_id must be non-empty and contain no `/`".into()));
            }
            Some(id) if self.sellers.contains_key(&id) => return Err(CourierError::SellerExists(id)),
            Some(id) => id,
            None => (self.sellers_created + 1..)
                .map(|n| format!("cs-{}", 10_000 + n))
                .find(|id| !self.sellers.contains_key(id))
                .expect("some id is free"),
        };
        let access_token = match spec.access_token {
            Some(t) if t.trim().is_empty() => return Err(CourierError::InvalidRequest("access_token is empty".into())),
            Some(t) if self.tokens.contains_key(&t) => {
                return Err(CourierError::InvalidRequest("access_token is already used by another seller".into()));
            }
            Some(t) => t,
            None => loop {
                let t: String = (0..16).map(|_| format!("{:02x}", self.rng.random::<u8>())).collect();
                let t = format!("ct_{t}");
                if !self.tokens.contains_key(&t) {
                    break t;
                }
            },
        };
        let base = BASES[(fnv1a(&["base", &self.salt.to_string(), &seller_id]) % BASES.len() as u64) as usize];
        let name = spec.name.unwrap_or_else(|| {
            let h = fnv1a(&["seller-name", &self.salt.to_string(), &seller_id]);
            let city = routing::city_short(base.1);
            let word = SELLER_WORDS[(h % SELLER_WORDS.len() as u64) as usize];
            let kind = SELLER_KINDS[((h >> 16) % SELLER_KINDS.len() as u64) as usize];
            format!("{city}{word}{kind}")
        });
        let specs = if spec.accounts.is_empty() {
            vec![NewCourierAccount::new(Carrier::Zto), NewCourierAccount::new(Carrier::Sf)]
        } else {
            spec.accounts
        };
        let mut accounts: Vec<CourierAccount> = Vec::with_capacity(specs.len());
        for a in specs {
            let account = self.open_account(&seller_id, base, a, &accounts)?;
            accounts.push(account);
        }
        let seller =
            CourierSeller { seller_id: seller_id.clone(), name, access_token, accounts, subscriptions: Vec::new() };
        self.sellers_created += 1;
        self.tokens.insert(seller.access_token.clone(), seller_id.clone());
        self.sellers.insert(seller_id, seller.clone());
        Ok(seller)
    }

    fn open_account(
        &self,
        seller_id: &str,
        base: (&str, &str, &str, &str, &[&str]),
        a: NewCourierAccount,
        opened: &[CourierAccount],
    ) -> Result<CourierAccount, CourierError> {
        let carrier = a.cp_code;
        let quantity = match (carrier.is_franchise(), a.quantity) {
            (true, Some(q)) if q < 0 => {
                return Err(CourierError::InvalidRequest("quantity must not be negative".into()));
            }
            (true, q) => Some(q.unwrap_or(1000)),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(CourierError::InvalidRequest(format!(
                    "{carrier} is a direct carrier: its accounts have no quantity"
                )));
            }
        };
        let taken = |code: &str| opened.iter().any(|o| o.cp_code == carrier && o.branch_code == code);
        let branch_code = match a.branch_code {
            Some(code) if code.trim().is_empty() || code.contains('/') => {
                return Err(CourierError::InvalidRequest("branch_code must be non-empty and contain no `/`".into()));
            }
            Some(code) if taken(&code) => {
                return Err(CourierError::InvalidRequest(format!("the seller already has {carrier} branch {code}")));
            }
            Some(code) => code,
            None => (0..)
                .map(|k: u32| {
                    let h = fnv1a(&["branch", &self.salt.to_string(), seller_id, carrier.code(), &k.to_string()]);
                    format!("{}{:03}", base.3, h % 1000)
                })
                .find(|code| !taken(code))
                .expect("some code is free"),
        };
        let branch_name = a.branch_name.unwrap_or_else(|| {
            let towns = base.4;
            let town = towns[(fnv1a(&["town", seller_id, carrier.code(), &branch_code]) % towns.len() as u64) as usize];
            let (city, district) = (routing::city_short(base.1), routing::district_short(base.2));
            match carrier {
                Carrier::Sf => format!("顺丰速运{city}{district}{town}营业点"),
                Carrier::Jd => format!("京东物流{city}{district}{town}营业部"),
                Carrier::Ems => format!("中国邮政{city}{district}{town}揽投部"),
                _ => format!("{}{city}{district}{town}分部", carrier.short()),
            }
        });
        Ok(CourierAccount {
            cp_code: carrier,
            branch_code,
            branch_name,
            quantity,
            allocated: 0,
            cancelled: 0,
            printed: 0,
        })
    }

    /// Sets a franchise branch's balance and/or the printed counter.
    pub fn update_account(
        &mut self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
        u: CourierAccountUpdate,
    ) -> Result<CourierAccount, CourierError> {
        let account = self.account_mut(seller_id, cp_code, branch_code)?;
        if let Some(q) = u.quantity {
            if !cp_code.is_franchise() {
                return Err(CourierError::InvalidRequest(format!(
                    "{cp_code} is a direct carrier: its accounts have no quantity"
                )));
            }
            if q < 0 {
                return Err(CourierError::InvalidRequest("quantity must not be negative".into()));
            }
            account.quantity = Some(q);
        }
        if let Some(p) = u.printed {
            account.printed = p;
        }
        Ok(account.clone())
    }

    /// Registers (or replaces) where an account's tracking events go.
    pub fn subscribe(
        &mut self,
        seller_id: &str,
        cp_code: Carrier,
        branch_code: &str,
        url: &str,
        secret: &str,
    ) -> Result<TrackingSubscription, CourierError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(CourierError::InvalidRequest(format!("url `{url}` is not an http(s) URL")));
        }
        if secret.is_empty() {
            return Err(CourierError::InvalidRequest("secret must not be empty".into()));
        }
        self.account_mut(seller_id, cp_code, branch_code)?;
        let seller = self.seller_mut(seller_id)?;
        let sub = TrackingSubscription {
            cp_code,
            branch_code: branch_code.to_owned(),
            url: url.to_owned(),
            secret: secret.to_owned(),
        };
        seller.subscriptions.retain(|s| !(s.cp_code == cp_code && s.branch_code == branch_code));
        seller.subscriptions.push(sub.clone());
        Ok(sub)
    }

    // ---- waybills ---------------------------------------------------------------------------

    /// The next unused code of a carrier.
    fn issue(&mut self, carrier: Carrier) -> String {
        loop {
            let n = self.issued.entry(carrier).or_insert(0);
            let code = codes::waybill_code(carrier, self.salt, *n);
            *n += 1;
            if !self.parcels.contains_key(&code) {
                return code;
            }
        }
    }

    /// Draws waybills for up to [`MAX_PACKAGES`] packages, one result per package in order.
    /// A package whose object_id has a live waybill gets that one again at no cost; a package
    /// refused (address, balance) leaves the others alone. Returns the results and how many
    /// packages got a new waybill, were repeats, failed.
    pub fn draw(
        &mut self,
        seller_id: &str,
        req: DrawRequest,
        unreachable: &[Unreachable],
        now: i64,
    ) -> Result<(Vec<DrawResult>, [u64; 3]), CourierError> {
        if req.packages.is_empty() {
            return Err(CourierError::InvalidRequest("packages must not be empty".into()));
        }
        if req.packages.len() > MAX_PACKAGES {
            return Err(CourierError::TooManyPackages { max: MAX_PACKAGES, got: req.packages.len() });
        }
        for (i, p) in req.packages.iter().enumerate() {
            if p.object_id.trim().is_empty() {
                return Err(CourierError::InvalidRequest(format!("packages[{i}].object_id is required")));
            }
            if !(1..=MAX_PARCELS).contains(&p.parcels) {
                return Err(CourierError::InvalidRequest(format!(
                    "packages[{i}].parcels must be between 1 and {MAX_PARCELS}"
                )));
            }
        }
        let not_found =
            || CourierError::AccountNotFound { cp_code: req.cp_code.clone(), branch_code: req.branch_code.clone() };
        let carrier = Carrier::parse(&req.cp_code).ok_or_else(not_found)?;
        let branch_name = self.account_mut(seller_id, carrier, &req.branch_code)?.branch_name.clone();
        if let Some(field) = req.sender.missing_field() {
            return Err(CourierError::InvalidRequest(format!("the sender's {field} is missing")));
        }
        if routing::province(&req.sender.province).is_none() {
            return Err(CourierError::InvalidRequest(format!(
                "the sender's province `{}` is not a province of the mainland",
                req.sender.province
            )));
        }
        let mut results = Vec::with_capacity(req.packages.len());
        let mut counts = [0u64; 3];
        for p in req.packages {
            let key = (seller_id.to_owned(), p.object_id.clone());
            if let Some(w) = self.live.get(&key).and_then(|code| self.waybills.get(code)) {
                results.push(DrawResult::Drawn(WaybillView::of(w).drawn()));
                counts[1] += 1;
                continue;
            }
            let failed = |error: PackageError| DrawResult::Failed { object_id: p.object_id.clone(), error };
            let (province, print_data) = match waybill::route(carrier, &p.recipient) {
                Ok(r) => r,
                Err(e) => {
                    results.push(failed(e));
                    counts[2] += 1;
                    continue;
                }
            };
            if unreachable.iter().any(|u| u.matches(carrier, province)) {
                results.push(failed(PackageError::unreachable(format!(
                    "{} does not deliver to {}",
                    carrier.name(),
                    province.name
                ))));
                counts[2] += 1;
                continue;
            }
            let account = self.account_mut(seller_id, carrier, &req.branch_code)?;
            let n = i64::from(p.parcels);
            if let Some(q) = account.quantity {
                if q < n {
                    results.push(failed(PackageError::insufficient_balance(format!(
                        "branch {} has {q} numbers left; the package needs {n}",
                        req.branch_code
                    ))));
                    counts[2] += 1;
                    continue;
                }
                account.quantity = Some(q - n);
            }
            account.allocated += n as u64;
            let codes: Vec<String> = (0..p.parcels).map(|_| self.issue(carrier)).collect();
            let draft = Draft {
                seller_id: seller_id.to_owned(),
                cp_code: carrier,
                branch_code: req.branch_code.clone(),
                branch_name: branch_name.clone(),
                object_id: p.object_id.clone(),
                sender: req.sender.clone(),
                recipient: p.recipient,
                items: p.items,
                weight_grams: p.weight_grams,
                trade_ids: p.trade_ids,
            };
            let w = Waybill::drawn(draft, print_data, codes, now);
            results.push(DrawResult::Drawn(WaybillView::of(&w).drawn()));
            counts[0] += 1;
            self.index(&w);
            self.waybills.insert(w.waybill_code.clone(), w);
        }
        Ok((results, counts))
    }

    /// The package a code (parent, child or only) belongs to, and the parcel's index; a
    /// seller sees only its own.
    fn find(&self, code: &str, seller_id: Option<&str>) -> Result<(&Waybill, usize), CourierError> {
        self.parcels
            .get(code)
            .and_then(|(pkg, i)| self.waybills.get(pkg).map(|w| (w, *i)))
            .filter(|(w, _)| seller_id.is_none_or(|s| w.seller_id == s))
            .ok_or_else(|| CourierError::WaybillNotFound(code.to_owned()))
    }

    fn find_mut(&mut self, code: &str, seller_id: Option<&str>) -> Result<(&mut Waybill, usize), CourierError> {
        let (pkg, i) = {
            let (w, i) = self.find(code, seller_id)?;
            (w.waybill_code.clone(), i)
        };
        Ok((self.waybills.get_mut(&pkg).expect("indexed"), i))
    }

    /// A waybill by any of its codes.
    pub fn view(&self, code: &str, seller_id: Option<&str>) -> Result<WaybillView, CourierError> {
        self.find(code, seller_id).map(|(w, _)| WaybillView::of(w))
    }

    /// Waybills matching the filter, oldest first.
    pub fn waybills(&self, f: &WaybillFilter) -> Vec<WaybillView> {
        let mut ws: Vec<&Waybill> = self
            .waybills
            .values()
            .filter(|w| {
                f.seller_id.as_ref().is_none_or(|s| &w.seller_id == s)
                    && f.cp_code.is_none_or(|c| w.cp_code == c)
                    && f.object_id.as_ref().is_none_or(|o| &w.object_id == o)
                    && f.status.as_ref().is_none_or(|s| w.status_word() == s)
            })
            .collect();
        ws.sort_by(|a, b| (a.created, &a.waybill_code).cmp(&(b.created, &b.waybill_code)));
        ws.into_iter().map(WaybillView::of).collect()
    }

    /// Cancels a package by its code (the parent's for a multi-parcel one): its numbers go back
    /// to a franchise branch.
    pub fn cancel(&mut self, code: &str, seller_id: Option<&str>, now: i64) -> Result<WaybillView, CourierError> {
        let (w, i) = self.find_mut(code, seller_id)?;
        if i > 0 {
            return Err(CourierError::InvalidRequest(format!(
                "`{code}` is a child of `{}`: cancel the package by the parent's code",
                w.waybill_code
            )));
        }
        w.cancel(now)?;
        let (seller, carrier, branch, object_id, n) =
            (w.seller_id.clone(), w.cp_code, w.branch_code.clone(), w.object_id.clone(), w.parcels.len() as u64);
        let view = WaybillView::of(w);
        self.live.remove(&(seller.clone(), object_id));
        let account = self.account_mut(&seller, carrier, &branch)?;
        account.cancelled += n;
        if let Some(q) = account.quantity.as_mut() {
            *q += n as i64;
        }
        Ok(view)
    }

    /// A ship write-back named `code`: the package is collected `delay_ms` from `now`, unless
    /// it is cancelled, already collected or already due. Returns whether a collection was set.
    pub fn schedule_collection(&mut self, code: &str, now: i64, delay_ms: i64) -> bool {
        let Ok((w, _)) = self.find_mut(code, None) else { return false };
        if w.state != WaybillState::Allocated || w.collect_due.is_some() {
            return false;
        }
        w.collect_due = Some(now + delay_ms.max(0));
        let w = w.clone();
        self.set_timers(&w);
        true
    }

    /// Whether the parcel `code` fails delivery, for a share of parcels: a fixed draw per
    /// (seed, code), so a rerun with the same seed returns the same parcels.
    fn returns(salt: u64, share: f64) -> impl Fn(&str) -> bool {
        move |code: &str| {
            share > 0.0 && {
                let draw = fnv1a(&["returns", &salt.to_string(), code]) >> 11;
                (draw as f64 / (1u64 << 53) as f64) < share
            }
        }
    }

    /// Applies `f` to the package of `code` and collects the pushes it produced.
    fn track(
        &mut self,
        code: &str,
        f: impl FnOnce(&mut Waybill, usize) -> Result<Vec<TrackingEvent>, CourierError>,
    ) -> Result<(WaybillView, Vec<Push>), CourierError> {
        let (w, i) = self.find_mut(code, None)?;
        let events = f(w, i)?;
        let w = w.clone();
        self.set_timers(&w);
        let pushes = events
            .into_iter()
            .map(|event| Push { seller_id: w.seller_id.clone(), branch_code: w.branch_code.clone(), event })
            .collect();
        Ok((WaybillView::of(&w), pushes))
    }

    /// The carrier collects the package of `code` now.
    pub fn collect(
        &mut self,
        code: &str,
        now: i64,
        s: &CourierSchedule,
    ) -> Result<(WaybillView, Vec<Push>), CourierError> {
        let returns = Self::returns(self.salt, s.exception_share);
        self.track(code, |w, _| w.collect(now, returns, |t| s.delay_ms(t)))
    }

    /// The parcel `code` takes its next step now (collecting the package if it is not yet).
    pub fn advance(
        &mut self,
        code: &str,
        now: i64,
        s: &CourierSchedule,
    ) -> Result<(WaybillView, Vec<Push>), CourierError> {
        let returns = Self::returns(self.salt, s.exception_share);
        self.track(code, |w, i| match w.state {
            WaybillState::Allocated => w.collect(now, returns, |t| s.delay_ms(t)),
            _ => {
                let p = &w.parcels[i];
                let current = p.status.map_or("not collected", TrackingStatus::as_str);
                let code = p.code.clone();
                w.step(i, now, |t| s.delay_ms(t)).map(|e| vec![e]).ok_or_else(|| match w.state {
                    WaybillState::Cancelled => CourierError::AlreadyCancelled(w.waybill_code.clone()),
                    _ => CourierError::InvalidStatus(format!("parcel `{code}` is {current}: it moves no further")),
                })
            }
        })
    }

    /// The parcel `code` moves to `target` now, through every status on the way.
    pub fn force(
        &mut self,
        code: &str,
        target: TrackingStatus,
        now: i64,
        s: &CourierSchedule,
    ) -> Result<(WaybillView, Vec<Push>), CourierError> {
        let returns = Self::returns(self.salt, s.exception_share);
        self.track(code, |w, i| w.force(i, target, now, returns, |t| s.delay_ms(t)))
    }

    /// Fires every timer due at `now`: collections and parcel moves, each at its due time.
    pub fn run_due(&mut self, now: i64, s: &CourierSchedule) -> Vec<Push> {
        let mut pushes = Vec::new();
        while let Some((due, timer)) = self.timers.first().cloned() {
            if due > now {
                break;
            }
            self.timers.pop_first();
            let done = match &timer {
                Timer::Collect(code) => match self.find(code, None) {
                    Ok((w, _)) if w.state == WaybillState::Allocated && w.collect_due == Some(due) => {
                        self.collect(code, due, s)
                    }
                    _ => continue,
                },
                Timer::Step(code) => match self.find(code, None) {
                    Ok((w, i)) if w.parcels[i].next_due == Some(due) => {
                        let code = code.clone();
                        self.track(&code, |w, i| Ok(w.step(i, due, |t| s.delay_ms(t)).into_iter().collect()))
                    }
                    _ => continue,
                },
            };
            match done {
                Ok((_, p)) => pushes.extend(p),
                Err(e) => tracing::debug!(?timer, error = %e, "a courier timer did nothing"),
            }
        }
        pushes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::courier::model::DrawPackage;
    use crate::domain::courier::Address;

    fn address(name: &str, province: &str, city: &str, district: &str) -> Address {
        Address {
            name: name.into(),
            phone: "13800000000".into(),
            province: province.into(),
            city: city.into(),
            district: district.into(),
            address: "幸福大道88号".into(),
        }
    }

    fn request(branch_code: &str, packages: &[(&str, u32)]) -> DrawRequest {
        DrawRequest {
            cp_code: "ZTO".into(),
            branch_code: branch_code.into(),
            sender: address("云栈优品仓", "浙江省", "杭州市", "余杭区"),
            packages: packages
                .iter()
                .map(|&(object_id, parcels)| DrawPackage {
                    object_id: object_id.into(),
                    recipient: address("王小明", "四川省", "成都市", "都江堰市"),
                    items: Vec::new(),
                    weight_grams: None,
                    parcels,
                    trade_ids: Vec::new(),
                })
                .collect(),
        }
    }

    fn book_with_seller() -> (CourierBook, String) {
        let mut b = CourierBook::new(Some(3));
        let s = b.create_seller(NewCourierSeller { seller_id: Some("cs-1".into()), ..Default::default() }).unwrap();
        (b, s.accounts[0].branch_code.clone())
    }

    #[test]
    fn sellers_get_default_accounts_in_their_town() {
        let (b, branch) = book_with_seller();
        let s = b.seller("cs-1").unwrap();
        assert_eq!(s.accounts.len(), 2);
        let (zto, sf) = (&s.accounts[0], &s.accounts[1]);
        assert_eq!((zto.cp_code, zto.quantity, sf.cp_code, sf.quantity), (Carrier::Zto, Some(1000), Carrier::Sf, None));
        assert_eq!(branch.len(), 6);
        assert!(zto.branch_name.starts_with("中通") && zto.branch_name.ends_with("分部"), "{}", zto.branch_name);
        assert!(sf.branch_name.starts_with("顺丰速运"), "{}", sf.branch_name);
        assert!(s.access_token.starts_with("ct_") && s.access_token.len() == 35);
        assert_eq!(b.seller_by_token(&s.access_token).unwrap().seller_id, "cs-1");
    }

    #[test]
    fn balance_idempotency_and_cancel() {
        let (mut b, branch) = book_with_seller();
        let (r, counts) = b.draw("cs-1", request(&branch, &[("a", 1), ("b", 3)]), &[], 10).unwrap();
        assert_eq!(counts, [2, 0, 0]);
        let b_codes = r[1].drawn().unwrap();
        assert_eq!(b_codes.child_waybill_codes.len(), 2);
        assert_eq!(b_codes.parent_waybill_code.as_deref(), Some(b_codes.waybill_code.as_str()));
        let acc = |b: &CourierBook| b.seller("cs-1").unwrap().accounts[0].clone();
        assert_eq!((acc(&b).quantity, acc(&b).allocated), (Some(996), 4));
        let (again, counts) = b.draw("cs-1", request(&branch, &[("a", 1)]), &[], 11).unwrap();
        assert_eq!((counts, &again[0]), ([0, 1, 0], &r[0]));
        let err = b.cancel(&b_codes.child_waybill_codes[0], Some("cs-1"), 12).unwrap_err();
        assert_eq!(err.code(), "courier.invalid-request");
        assert_eq!(b.cancel(&b_codes.waybill_code, Some("other"), 12).unwrap_err().code(), "courier.waybill-not-found");
        b.cancel(&b_codes.waybill_code, Some("cs-1"), 12).unwrap();
        assert_eq!((acc(&b).quantity, acc(&b).cancelled), (Some(999), 3));
        let (fresh, _) = b.draw("cs-1", request(&branch, &[("b", 1)]), &[], 13).unwrap();
        assert_ne!(fresh[0].drawn().unwrap().waybill_code, b_codes.waybill_code);
        b.update_account("cs-1", Carrier::Zto, &branch, CourierAccountUpdate { quantity: Some(1), printed: None })
            .unwrap();
        let (r, counts) = b.draw("cs-1", request(&branch, &[("c", 2), ("d", 1)]), &[], 14).unwrap();
        assert_eq!(counts, [1, 0, 1]);
        assert_eq!(r[0].error_code(), Some("courier.insufficient-balance"));
        assert!(r[1].drawn().is_some());
        assert_eq!(acc(&b).quantity, Some(0));
    }

    #[test]
    fn timers_collect_and_move_parcels_at_their_due_times() {
        let (mut b, branch) = book_with_seller();
        let (r, _) = b.draw("cs-1", request(&branch, &[("a", 2)]), &[], 10).unwrap();
        let code = r[0].drawn().unwrap().waybill_code.clone();
        let s = CourierSchedule::every(100);
        assert!(b.schedule_collection(&code, 1000, s.delay_ms(TrackingStatus::Collected)));
        assert!(!b.schedule_collection(&code, 1050, 100), "already due");
        assert_eq!(b.next_due(), Some(1100));
        assert!(b.run_due(1099, &s).is_empty());
        let pushes = b.run_due(1100, &s);
        assert_eq!(pushes.len(), 2, "both parcels are collected");
        assert!(
            pushes.iter().all(|p| p.event.status == TrackingStatus::Collected && p.event.time.contains(".100+08:00"))
        );
        let pushes = b.run_due(10_000, &s);
        let statuses: Vec<_> = pushes.iter().filter(|p| p.event.waybill_code == code).map(|p| p.event.status).collect();
        assert_eq!(statuses, [TrackingStatus::InTransit, TrackingStatus::Delivering, TrackingStatus::Delivered]);
        assert_eq!(pushes.len(), 6);
        assert_eq!(b.next_due(), None);
        assert_eq!(b.view(&code, None).unwrap().status, "DELIVERED");
        assert_eq!(b.cancel(&code, None, 10_001).unwrap_err().code(), "courier.already-collected");
    }

    #[test]
    fn the_book_survives_persisting() {
        let (mut b, branch) = book_with_seller();
        let (r, _) = b.draw("cs-1", request(&branch, &[("a", 1)]), &[], 10).unwrap();
        let code = r[0].drawn().unwrap().waybill_code.clone();
        b.schedule_collection(&code, 20, 5);
        let json = serde_json::to_string(&b.persist()).unwrap();
        let mut r = CourierBook::restore(serde_json::from_str(&json).unwrap(), None);
        assert_eq!(r.next_due(), Some(25));
        assert_eq!(r.view(&code, Some("cs-1")).unwrap(), b.view(&code, Some("cs-1")).unwrap());
        let (again, counts) = r.draw("cs-1", request(&branch, &[("a", 1), ("z", 1)]), &[], 30).unwrap();
        assert_eq!(counts, [1, 1, 0]);
        assert_eq!(again[0].drawn().unwrap().waybill_code, code);
        let (orig_next, _) = b.draw("cs-1", request(&branch, &[("z", 1)]), &[], 30).unwrap();
        assert_eq!(again[1], orig_next[0], "the restored book issues the code the original would have");
    }
}
