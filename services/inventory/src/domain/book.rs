//! [`Book`]: the aggregate that owns one tenant's levels, reservations and backorder queue.

use super::*;
use chrono::Duration;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The code of the warehouse every tenant has.
pub const MAIN_WAREHOUSE: &str = "MAIN";

/// One tenant's stock: everything a reservation decision needs, in memory.
#[derive(Debug, Default, Clone)]
pub struct Book {
    warehouses: Vec<Warehouse>,
    skus: HashMap<String, Sku>,
    sku_codes: HashMap<Uuid, String>,
    levels: HashMap<(Uuid, Uuid), Level>,
    reservations: HashMap<String, Reservation>,
    keys_by_id: HashMap<Uuid, String>,
    /// Per SKU, backordered lines in FIFO order: (queued at, reservation key, line index).
    backorders: HashMap<Uuid, BTreeSet<(Timestamp, String, usize)>>,
    /// Reservations with held lines, by expiry (entries may be stale; checked on use).
    holds: BTreeSet<(Timestamp, String)>,
    /// Per SKU code, lines that name a code no SKU has yet: (paid or created at, reservation
    /// key, line index). Creating the SKU resolves them in this order.
    unmapped: HashMap<String, BTreeSet<(Timestamp, String, usize)>>,
    /// Per marketplace variant, unmapped lines that sell it: (paid or created at, reservation
    /// key, line index). The first message that maps the variant resolves them all.
    waiting_on: HashMap<VariantRef, BTreeSet<(Timestamp, String, usize)>>,
    /// SKUs whose backorder queue took lines that were resolved since [`Book::fill_waiting`].
    to_fill: BTreeSet<Uuid>,
    allocation: Allocation,
}

impl Book {
    /// A book from stored state.
    pub fn from_parts(
        warehouses: Vec<Warehouse>,
        skus: Vec<Sku>,
        levels: Vec<((Uuid, Uuid), Level)>,
        reservations: Vec<Reservation>,
        allocation: Allocation,
    ) -> Book {
        let mut b = Book { warehouses, levels: levels.into_iter().collect(), allocation, ..Book::default() };
        for s in skus {
            b.sku_codes.insert(s.id, s.code.clone());
            b.skus.insert(s.code.clone(), s);
        }
        for mut r in reservations {
            // Stored before lines without a SKU had a state of their own.
            for l in &mut r.lines {
                if l.sku_id.is_nil() && l.state == LineState::Unreserved {
                    l.state = LineState::Unmapped;
                }
            }
            b.index(&r);
            b.keys_by_id.insert(r.id, r.key.clone());
            b.reservations.insert(r.key.clone(), r);
        }
        b
    }

    fn index(&mut self, r: &Reservation) {
        for (i, l) in r.lines.iter().enumerate() {
            if l.state == LineState::Backordered {
                let at = l.backordered_at.unwrap_or(r.created_at);
                self.backorders.entry(l.sku_id).or_default().insert((at, r.key.clone(), i));
            }
            if l.state == LineState::Unmapped && !l.sku_code.is_empty() {
                let at = l.backordered_at.unwrap_or(r.created_at);
                self.unmapped.entry(l.sku_code.clone()).or_default().insert((at, r.key.clone(), i));
            }
            if l.state == LineState::Unmapped
                && let Some(v) = &l.variant
            {
                let at = l.backordered_at.unwrap_or(r.created_at);
                self.waiting_on.entry(v.clone()).or_default().insert((at, r.key.clone(), i));
            }
        }
        if let Some(exp) = r.expires_at
            && r.lines.iter().any(|l| l.state == LineState::Held)
        {
            self.holds.insert((exp, r.key.clone()));
        }
    }

    fn unindex(&mut self, r: &Reservation) {
        for (i, l) in r.lines.iter().enumerate() {
            if l.state == LineState::Backordered {
                let at = l.backordered_at.unwrap_or(r.created_at);
                if let Some(q) = self.backorders.get_mut(&l.sku_id) {
                    q.remove(&(at, r.key.clone(), i));
                }
            }
            if l.state == LineState::Unmapped
                && let Some(q) = self.unmapped.get_mut(&l.sku_code)
            {
                q.remove(&(l.backordered_at.unwrap_or(r.created_at), r.key.clone(), i));
            }
            if l.state == LineState::Unmapped
                && let Some(q) = l.variant.as_ref().and_then(|v| self.waiting_on.get_mut(v))
            {
                q.remove(&(l.backordered_at.unwrap_or(r.created_at), r.key.clone(), i));
            }
        }
    }

    /// Takes a reservation out for mutation; [`Book::put`] re-indexes it.
    fn take_reservation(&mut self, key: &str) -> Option<Reservation> {
        let r = self.reservations.remove(key)?;
        self.unindex(&r);
        Some(r)
    }

    fn put(&mut self, r: Reservation) {
        self.index(&r);
        self.keys_by_id.insert(r.id, r.key.clone());
        self.reservations.insert(r.key.clone(), r);
    }

    // ---- reads ----

    /// All warehouses, in creation order.
    pub fn warehouses(&self) -> &[Warehouse] {
        &self.warehouses
    }
    /// A warehouse by code.
    pub fn warehouse(&self, code: &str) -> Option<&Warehouse> {
        self.warehouses.iter().find(|w| w.code == code)
    }
    /// A SKU by code.
    pub fn sku(&self, code: &str) -> Option<&Sku> {
        self.skus.get(code)
    }
    /// A SKU by id.
    pub fn sku_by_id(&self, id: Uuid) -> Option<&Sku> {
        self.sku_codes.get(&id).and_then(|c| self.skus.get(c))
    }
    /// The level of one SKU in one warehouse.
    pub fn level(&self, sku_id: Uuid, warehouse_id: Uuid) -> Level {
        self.levels.get(&(sku_id, warehouse_id)).copied().unwrap_or_default()
    }
    /// Mutable access for the engine to record stored versions.
    pub fn level_mut(&mut self, sku_id: Uuid, warehouse_id: Uuid) -> Option<&mut Level> {
        self.levels.get_mut(&(sku_id, warehouse_id))
    }
    /// Units that can still be promised, over every warehouse (see [`super::available`]).
    pub fn available(&self, sku_id: Uuid) -> i64 {
        let (on_hand, reserved) = self.warehouses.iter().fold((0, 0), |(o, r), w| {
            let l = self.level(sku_id, w.id);
            (o + l.on_hand, r + l.reserved)
        });
        super::available(on_hand, reserved, self.sku_by_id(sku_id).map_or(0, |s| s.safety_stock))
    }
    /// [`Book::available`], never below 0: what is shown as sellable.
    pub fn sellable(&self, sku_id: Uuid) -> i64 {
        self.available(sku_id).max(0)
    }
    /// A reservation by key.
    pub fn reservation(&self, key: &str) -> Option<&Reservation> {
        self.reservations.get(key)
    }
    /// A reservation by id.
    pub fn reservation_by_id(&self, id: Uuid) -> Option<&Reservation> {
        self.keys_by_id.get(&id).and_then(|k| self.reservations.get(k))
    }
    /// The tenant's allocation settings.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }
    /// Lines waiting for a SKU with this code, oldest first: (reservation key, line index).
    pub fn unmapped_queue(&self, sku_code: &str) -> Vec<(String, usize)> {
        self.unmapped.get(sku_code).map_or_else(Vec::new, |q| q.iter().map(|(_, k, i)| (k.clone(), *i)).collect())
    }
    /// Backordered lines of a SKU, oldest first: (reservation key, line index).
    pub fn backorder_queue(&self, sku_id: Uuid) -> Vec<(String, usize)> {
        self.backorders.get(&sku_id).map_or_else(Vec::new, |q| q.iter().map(|(_, k, i)| (k.clone(), *i)).collect())
    }

    // ---- low-level movements ----

    #[allow(clippy::too_many_arguments)]
    fn mv(
        &mut self,
        sku_id: Uuid,
        warehouse_id: Uuid,
        kind: MovementKind,
        on_hand_delta: i64,
        reserved_delta: i64,
        reservation_id: Option<Uuid>,
        cause: &str,
        ev: &mut Vec<StockEvent>,
    ) {
        let l = self.levels.entry((sku_id, warehouse_id)).or_default();
        l.on_hand += on_hand_delta;
        l.reserved += reserved_delta;
        debug_assert!(l.reserved >= 0 && l.reserved <= l.on_hand, "level out of bounds: {l:?}");
        ev.push(StockEvent::Moved(Movement {
            sku_id,
            warehouse_id,
            kind,
            on_hand_delta,
            reserved_delta,
            reservation_id,
            cause: cause.to_owned(),
        }));
    }

    /// Units of a SKU in a warehouse not reserved by anyone.
    fn free(&self, sku_id: Uuid, warehouse_id: Uuid) -> i64 {
        let l = self.level(sku_id, warehouse_id);
        l.on_hand - l.reserved
    }

    /// The warehouses in the order the strategy prefers them for `wanted` (SKU, units)
    /// shipped to `province`: the ones the settings list first, then the others (by code
    /// under `priority`, most free units of `wanted` first otherwise; ties in creation order).
    fn preference(&self, wanted: &[(Uuid, i64)], province: Option<&str>) -> Vec<Uuid> {
        if self.warehouses.len() == 1 {
            return vec![self.warehouses[0].id];
        }
        let a = &self.allocation;
        let listed: Vec<&String> = match a.strategy {
            Strategy::MostStock => Vec::new(),
            Strategy::Priority => a.priority.iter().collect(),
            Strategy::Region => {
                let rule =
                    province.map(province_key).and_then(|p| a.regions.iter().find(|r| province_key(&r.province) == p));
                rule.into_iter().flat_map(|r| &r.warehouses).chain(&a.fallback).collect()
            }
        };
        let mut out: Vec<Uuid> = Vec::with_capacity(self.warehouses.len());
        for id in listed.into_iter().filter_map(|c| self.warehouse(c).map(|w| w.id)) {
            if !out.contains(&id) {
                out.push(id);
            }
        }
        let mut rest: Vec<&Warehouse> = self.warehouses.iter().filter(|w| !out.contains(&w.id)).collect();
        if a.strategy == Strategy::Priority {
            rest.sort_by(|x, y| x.code.cmp(&y.code));
        } else {
            rest.sort_by_key(|w| {
                std::cmp::Reverse(wanted.iter().map(|(s, _)| self.free(*s, w.id).max(0)).sum::<i64>())
            });
        }
        out.extend(rest.into_iter().map(|w| w.id));
        out
    }

    /// Reserves `qty` of a SKU in the strategy's order — from several warehouses when `split`,
    /// else from the first that has it all — or nothing.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        sku_id: Uuid,
        qty: i64,
        reservation_id: Uuid,
        province: Option<&str>,
        split: bool,
        cause: &str,
        ev: &mut Vec<StockEvent>,
    ) -> Option<Vec<Alloc>> {
        if qty <= 0 || self.available(sku_id) < qty {
            return None;
        }
        let order = self.preference(&[(sku_id, qty)], province);
        if !split {
            let wh = order.into_iter().find(|w| self.free(sku_id, *w) >= qty)?;
            self.mv(sku_id, wh, MovementKind::Reserve, 0, qty, Some(reservation_id), cause, ev);
            return Some(vec![Alloc { warehouse_id: wh, quantity: qty }]);
        }
        let mut left = qty;
        let mut allocs = Vec::new();
        for wh in order {
            let q = self.free(sku_id, wh).min(left);
            if q <= 0 {
                continue;
            }
            self.mv(sku_id, wh, MovementKind::Reserve, 0, q, Some(reservation_id), cause, ev);
            allocs.push(Alloc { warehouse_id: wh, quantity: q });
            left -= q;
            if left == 0 {
                break;
            }
        }
        debug_assert_eq!(left, 0);
        Some(allocs)
    }

    /// Reserves every one of `lines` (index, SKU, units) from one warehouse — `only`, when
    /// given, else the first in the strategy's order that can serve them all — or nothing.
    #[allow(clippy::too_many_arguments)]
    fn take_whole(
        &mut self,
        lines: &[(usize, Uuid, i64)],
        reservation_id: Uuid,
        province: Option<&str>,
        only: Option<Uuid>,
        cause: &str,
        ev: &mut Vec<StockEvent>,
    ) -> Option<Vec<(usize, Alloc)>> {
        let mut wanted: Vec<(Uuid, i64)> = Vec::new();
        for (_, sku, q) in lines {
            match wanted.iter_mut().find(|w| w.0 == *sku) {
                Some(w) => w.1 += q,
                None => wanted.push((*sku, *q)),
            }
        }
        if wanted.is_empty() || wanted.iter().any(|(s, q)| *q <= 0 || self.available(*s) < *q) {
            return None;
        }
        let wh = self
            .preference(&wanted, province)
            .into_iter()
            .filter(|w| only.is_none_or(|o| o == *w))
            .find(|w| wanted.iter().all(|(s, q)| self.free(*s, *w) >= *q))?;
        let mut out = Vec::with_capacity(lines.len());
        for (i, sku, q) in lines {
            self.mv(*sku, wh, MovementKind::Reserve, 0, *q, Some(reservation_id), cause, ev);
            out.push((*i, Alloc { warehouse_id: wh, quantity: *q }));
        }
        Some(out)
    }

    fn give_back(
        &mut self,
        line: &mut ResLine,
        kind: MovementKind,
        reservation_id: Uuid,
        cause: &str,
        ev: &mut Vec<StockEvent>,
    ) {
        let on_hand = if kind == MovementKind::Commit { -1 } else { 0 };
        for a in std::mem::take(&mut line.allocations) {
            self.mv(
                line.sku_id,
                a.warehouse_id,
                kind,
                on_hand * a.quantity,
                -a.quantity,
                Some(reservation_id),
                cause,
                ev,
            );
        }
    }

    /// Gives waiting backorders of `sku_id` their stock, strictly oldest first.
    fn fill_backorders(&mut self, sku_id: Uuid, now: Timestamp, ev: &mut Vec<StockEvent>) {
        self.fill_queues(vec![sku_id], now, ev);
    }

    /// Fills the backorder queues of `work`'s SKUs, each strictly oldest first: a queue stops
    /// at the first line it cannot serve. Without splitting, a line is served only with the
    /// rest of its order's backordered lines, from one warehouse, and only once the order is
    /// first in the queue of every SKU it waits for (so no later order overtakes an earlier
    /// one on any SKU); the queues it leaves are looked at again.
    fn fill_queues(&mut self, mut work: Vec<Uuid>, now: Timestamp, ev: &mut Vec<StockEvent>) {
        while let Some(sku_id) = work.pop() {
            while let Some((_, key, idx)) = self.backorders.get(&sku_id).and_then(|q| q.first().cloned()) {
                let r = &self.reservations[&key];
                let (rid, province) = (r.id, r.province.clone());
                let cause = format!("backorder filled: {}", r.reference);
                let filled: Vec<(usize, Alloc)> = if self.allocation.allow_split {
                    let qty = r.lines[idx].quantity;
                    match self.take(sku_id, qty, rid, province.as_deref(), true, &cause, ev) {
                        Some(a) => a.into_iter().map(|a| (idx, a)).collect(),
                        None => break,
                    }
                } else {
                    let lines: Vec<(usize, Uuid, i64)> = r
                        .lines
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| l.state == LineState::Backordered)
                        .map(|(i, l)| (i, l.sku_id, l.quantity))
                        .collect();
                    let first_everywhere = lines.iter().all(|(_, s, _)| {
                        self.backorders.get(s).and_then(|q| q.first()).is_some_and(|(_, k, _)| *k == key)
                    });
                    if !first_everywhere {
                        break;
                    }
                    let only = single_warehouse(r);
                    match self.take_whole(&lines, rid, province.as_deref(), only, &cause, ev) {
                        Some(a) => {
                            work.extend(lines.iter().map(|l| l.1).filter(|s| *s != sku_id));
                            a
                        }
                        None => break,
                    }
                };
                let mut r = self.take_reservation(&key).expect("queued reservations exist");
                for i in filled.iter().map(|f| f.0).collect::<BTreeSet<_>>() {
                    let line = &mut r.lines[i];
                    line.allocations = filled.iter().filter(|f| f.0 == i).map(|f| f.1).collect();
                    line.state = LineState::Confirmed;
                    line.backordered_at = None;
                }
                r.version += 1;
                r.updated_at = now;
                ev.push(StockEvent::ReservationChanged(key));
                self.put(r);
            }
        }
    }

    /// Serves the lines that were resolved (given their SKU) since the last call, in
    /// paid-time order with everything else waiting. The engine calls it once per batch, so
    /// that lines resolved by messages of one batch are served by paid time, not by arrival.
    pub fn fill_waiting(&mut self, now: Timestamp) -> Vec<StockEvent> {
        let mut ev = Vec::new();
        let work: Vec<Uuid> = std::mem::take(&mut self.to_fill).into_iter().collect();
        self.fill_queues(work, now, &mut ev);
        ev
    }

    // ---- commands ----

    /// Creates the `MAIN` warehouse (with the id `new_id` gives) if the tenant has none yet.
    pub fn ensure_main(&mut self, new_id: impl FnOnce() -> Uuid) -> Vec<StockEvent> {
        if self.warehouse(MAIN_WAREHOUSE).is_some() {
            return Vec::new();
        }
        let id = new_id();
        self.warehouses.push(Warehouse { id, code: MAIN_WAREHOUSE.into(), name: "Main warehouse".into() });
        vec![StockEvent::WarehouseCreated(id)]
    }

    /// Creates a warehouse; the same code with the same name again is the first result.
    pub fn create_warehouse(
        &mut self,
        id: Uuid,
        code: &str,
        name: &str,
    ) -> Result<(Warehouse, Vec<StockEvent>), StockError> {
        if let Some(w) = self.warehouse(code) {
            return if w.name == name
                || code == MAIN_WAREHOUSE && self.warehouses.len() == 1 && w.name == "Main warehouse" && name.is_empty()
            {
                Ok((w.clone(), Vec::new()))
            } else {
                Err(StockError::AlreadyExists("warehouse", code.to_owned()))
            };
        }
        let w = Warehouse { id, code: code.to_owned(), name: name.to_owned() };
        self.warehouses.push(w.clone());
        Ok((w, vec![StockEvent::WarehouseCreated(id)]))
    }

    /// Creates a SKU; the same code with the same fields again is the first result. Lines
    /// that waited for a SKU with this code take it, oldest first: those of paid orders join
    /// its backorder queue by paid time (the new SKU has no stock yet), the others wait for
    /// their order's next revision to hold or reserve.
    pub fn create_sku(
        &mut self,
        id: Uuid,
        code: &str,
        name: &str,
        safety_stock: i64,
        now: Timestamp,
    ) -> Result<(Sku, Vec<StockEvent>), StockError> {
        if safety_stock < 0 {
            return Err(StockError::Invalid("safety_stock must not be negative".into()));
        }
        if let Some(s) = self.skus.get(code) {
            return if s.name == name && s.safety_stock == safety_stock {
                Ok((s.clone(), Vec::new()))
            } else {
                Err(StockError::AlreadyExists("sku", code.to_owned()))
            };
        }
        let s = Sku { id, code: code.to_owned(), name: name.to_owned(), safety_stock };
        self.sku_codes.insert(id, code.to_owned());
        self.skus.insert(code.to_owned(), s.clone());
        let mut ev = vec![StockEvent::SkuCreated(id)];
        let waiting = self.unmapped.remove(code).unwrap_or_default();
        let mut done: HashSet<String> = HashSet::new();
        for (_, key, _) in waiting {
            if !done.insert(key.clone()) {
                continue;
            }
            let Some(mut r) = self.take_reservation(&key) else { continue };
            for l in r.lines.iter_mut().filter(|l| l.state == LineState::Unmapped && l.sku_code == code) {
                l.sku_id = id;
                l.state = if l.backordered_at.is_some() { LineState::Backordered } else { LineState::Unreserved };
            }
            r.version += 1;
            r.updated_at = now;
            ev.push(StockEvent::ReservationChanged(key));
            self.put(r);
        }
        self.fill_backorders(id, now, &mut ev);
        Ok((s, ev))
    }

    /// Replaces the allocation settings; they may name only warehouses the tenant has
    /// (`UnknownWarehouses` lists the others). Backorders that the new settings can serve
    /// are served.
    pub fn set_allocation(&mut self, a: Allocation, now: Timestamp) -> Result<Vec<StockEvent>, StockError> {
        let unknown: Vec<String> =
            a.warehouse_codes().into_iter().filter(|c| self.warehouse(c).is_none()).map(str::to_owned).collect();
        if !unknown.is_empty() {
            return Err(StockError::UnknownWarehouses(unknown));
        }
        let mut ev = Vec::new();
        if a != self.allocation {
            self.allocation = a;
            let work: Vec<Uuid> = self.backorders.keys().copied().collect();
            self.fill_queues(work, now, &mut ev);
        }
        Ok(ev)
    }

    /// Receives (delta > 0) or removes (delta < 0) units; arriving units fill backorders.
    pub fn adjust(&mut self, cmd: &Adjust, now: Timestamp) -> Result<Vec<StockEvent>, StockError> {
        let sku = self.sku(&cmd.sku_code).ok_or_else(|| StockError::UnknownSku(cmd.sku_code.clone()))?.id;
        let wcode = cmd.warehouse_code.as_deref().unwrap_or(MAIN_WAREHOUSE);
        let wh = self.warehouse(wcode).ok_or_else(|| StockError::UnknownWarehouse(wcode.to_owned()))?.id;
        if cmd.delta == 0 {
            return Err(StockError::Invalid("delta must not be zero".into()));
        }
        let l = self.level(sku, wh);
        if l.on_hand + cmd.delta < l.reserved {
            return Err(StockError::Insufficient(vec![Shortage {
                sku_code: cmd.sku_code.clone(),
                requested: -cmd.delta,
                available: l.on_hand - l.reserved,
            }]));
        }
        let mut ev = Vec::new();
        let kind = if cmd.delta > 0 { MovementKind::Receipt } else { MovementKind::Adjustment };
        self.mv(sku, wh, kind, cmd.delta, 0, None, &cmd.reason, &mut ev);
        if cmd.delta > 0 {
            self.fill_backorders(sku, now, &mut ev);
        }
        Ok(ev)
    }

    /// An API reservation: every line or none. The same key with the same request returns
    /// the first result (`Ok(false, [])`); with a different request, `KeyReused`.
    pub fn reserve(&mut self, id: Uuid, cmd: Reserve, now: Timestamp) -> Result<(bool, Vec<StockEvent>), StockError> {
        if let Some(r) = self.reservations.get(&cmd.key) {
            return if r.request_hash == cmd.request_hash {
                Ok((false, Vec::new()))
            } else {
                Err(StockError::KeyReused)
            };
        }
        if cmd.lines.is_empty() {
            return Err(StockError::Invalid("a reservation needs at least one line".into()));
        }
        let mut wanted: Vec<(Uuid, &str, i64)> = Vec::new();
        for l in &cmd.lines {
            if l.quantity <= 0 {
                return Err(StockError::Invalid(format!("quantity of `{}` must be positive", l.sku_code)));
            }
            let sku = self.sku(&l.sku_code).ok_or_else(|| StockError::UnknownSku(l.sku_code.clone()))?;
            match wanted.iter_mut().find(|w| w.0 == sku.id) {
                Some(w) => w.2 += l.quantity,
                None => wanted.push((sku.id, &l.sku_code, l.quantity)),
            }
        }
        let short: Vec<Shortage> = wanted
            .iter()
            .filter(|(sku, _, q)| self.available(*sku) < *q)
            .map(|(sku, code, q)| Shortage {
                sku_code: (*code).to_owned(),
                requested: *q,
                available: self.sellable(*sku),
            })
            .collect();
        if !short.is_empty() {
            return Err(StockError::Insufficient(short));
        }
        let mut ev = Vec::new();
        let cause = format!("reservation {}", cmd.reference);
        let lines = cmd
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let sku = self.skus[&l.sku_code].id;
                let allocations = self
                    .take(sku, l.quantity, id, None, true, &cause, &mut ev)
                    .expect("availability checked for the whole request");
                ResLine {
                    line_ref: (i + 1).to_string(),
                    sku_id: sku,
                    sku_code: l.sku_code.clone(),
                    quantity: l.quantity,
                    state: LineState::Held,
                    allocations,
                    backordered_at: None,
                    variant: None,
                }
            })
            .collect();
        let r = Reservation {
            id,
            key: cmd.key.clone(),
            reference: cmd.reference,
            order_id: None,
            request_hash: cmd.request_hash,
            expires_at: Some(now + Duration::seconds(cmd.ttl_seconds)),
            paid_at: None,
            revision: 0,
            province: None,
            version: 1,
            lines,
            created_at: now,
            updated_at: now,
        };
        ev.push(StockEvent::ReservationChanged(cmd.key));
        self.put(r);
        Ok((true, ev))
    }

    /// Applies `f` to every line; `f` returns whether it changed the line, or an error.
    fn transition(
        &mut self,
        id: Uuid,
        now: Timestamp,
        action: &'static str,
        target: LineState,
        allowed: &[LineState],
        kind: MovementKind,
    ) -> Result<Vec<StockEvent>, StockError> {
        let key = self.keys_by_id.get(&id).cloned().ok_or(StockError::UnknownReservation)?;
        let r = &self.reservations[&key];
        let applicable = r.lines.iter().any(|l| allowed.contains(&l.state));
        if !applicable {
            return if r.lines.iter().all(|l| l.state == target) {
                Ok(Vec::new())
            } else {
                Err(StockError::InvalidTransition { action, state: r.state().as_str() })
            };
        }
        let mut r = self.take_reservation(&key).expect("exists");
        let mut ev = Vec::new();
        let cause = format!("{action} {}", r.reference);
        let mut freed = Vec::new();
        for i in 0..r.lines.len() {
            if !allowed.contains(&r.lines[i].state) {
                continue;
            }
            let mut line = r.lines[i].clone();
            if target != LineState::Confirmed {
                self.give_back(&mut line, kind, r.id, &cause, &mut ev);
                freed.push(line.sku_id);
            }
            line.state = target;
            line.backordered_at = None;
            r.lines[i] = line;
        }
        if target == LineState::Confirmed {
            r.expires_at = None;
        }
        r.version += 1;
        r.updated_at = now;
        ev.push(StockEvent::ReservationChanged(key.clone()));
        self.put(r);
        for sku in freed {
            self.fill_backorders(sku, now, &mut ev);
        }
        Ok(ev)
    }

    /// Held → confirmed: the hold no longer expires.
    pub fn confirm(&mut self, id: Uuid, now: Timestamp) -> Result<Vec<StockEvent>, StockError> {
        self.transition(id, now, "confirm", LineState::Confirmed, &[LineState::Held], MovementKind::Reserve)
    }

    /// Held, confirmed or backordered → released: the stock returns.
    pub fn release(&mut self, id: Uuid, now: Timestamp) -> Result<Vec<StockEvent>, StockError> {
        self.transition(
            id,
            now,
            "release",
            LineState::Released,
            &[LineState::Held, LineState::Confirmed, LineState::Backordered],
            MovementKind::Release,
        )
    }

    /// Held or confirmed → committed (shipped): on-hand and reserved both drop.
    pub fn commit(&mut self, id: Uuid, now: Timestamp) -> Result<Vec<StockEvent>, StockError> {
        self.transition(
            id,
            now,
            "commit",
            LineState::Committed,
            &[LineState::Held, LineState::Confirmed],
            MovementKind::Commit,
        )
    }

    /// Brings an order's reservation to what its status implies. Older revisions change nothing.
    ///
    /// Lines are served by the allocation settings. A line whose SKU is unknown is `unmapped`
    /// and waits, by paid time, for a later revision to name a known SKU or for the SKU to be
    /// created; it is then served like a backorder (see [`Book::fill_waiting`]).
    pub fn sync_order(&mut self, new_id: Uuid, cmd: SyncOrder, now: Timestamp) -> Vec<StockEvent> {
        use LineState as S;
        use OrderStatus as O;
        let key = format!("order:{}", cmd.order_id);
        let mut r = match self.take_reservation(&key) {
            Some(r) if r.revision >= cmd.revision => {
                self.put(r);
                return Vec::new();
            }
            Some(r) => r,
            None => Reservation {
                id: new_id,
                key: key.clone(),
                reference: cmd.reference.clone(),
                order_id: Some(cmd.order_id),
                request_hash: String::new(),
                expires_at: None,
                paid_at: None,
                revision: 0,
                province: None,
                version: 0,
                lines: Vec::new(),
                created_at: now,
                updated_at: now,
            },
        };
        let mut ev = Vec::new();
        let mut freed = Vec::new();
        let cause = format!("order {}", cmd.reference);
        let hold_until = cmd.created_at + Duration::seconds(cmd.hold_ttl_seconds);
        let paid_like = matches!(cmd.status, O::Paid | O::Allocated | O::Backordered | O::OnHold | O::PartiallyShipped);
        let queued_at = cmd.paid_at.unwrap_or(now);
        r.province = cmd.province.clone();
        // Lines to hold (unpaid) or to reserve (paid) once every line has been looked at.
        let mut wanted: Vec<usize> = Vec::new();
        // Variants this revision maps (to a SKU code): what else waits on them is resolved too.
        let mut mapped: Vec<(VariantRef, String)> = Vec::new();
        for ol in &cmd.lines {
            let code = ol.sku_code.as_deref().filter(|c| !c.is_empty());
            let idx = match r.lines.iter().position(|l| l.line_ref == ol.external_line_id) {
                Some(i) => i,
                None => {
                    let sku = code.and_then(|c| self.sku(c));
                    r.lines.push(ResLine {
                        line_ref: ol.external_line_id.clone(),
                        sku_id: sku.map_or(Uuid::nil(), |s| s.id),
                        sku_code: code.unwrap_or_default().to_owned(),
                        quantity: ol.quantity,
                        state: if sku.is_some() { S::Unreserved } else { S::Unmapped },
                        allocations: Vec::new(),
                        backordered_at: None,
                        variant: None,
                    });
                    r.lines.len() - 1
                }
            };
            let mut line = r.lines[idx].clone();
            // Kept only while the line waits for its SKU.
            if line.state == S::Unmapped && line.variant.is_none() {
                line.variant = ol.item_id.as_ref().map(|item| VariantRef {
                    channel_id: cmd.channel_id,
                    item_id: item.clone(),
                    variant_id: ol.variant_id.clone(),
                });
            }
            let mut resolved = false;
            if line.state == S::Unmapped
                && let Some(c) = code
            {
                // The seller mapped the line (or fixed its code) since the last revision.
                line.sku_code = c.to_owned();
                if let Some(s) = self.sku(c) {
                    line.sku_id = s.id;
                    line.state = S::Unreserved;
                    resolved = true;
                    if let Some(v) = &line.variant {
                        mapped.push((v.clone(), c.to_owned()));
                    }
                }
            }
            let release = cmd.status == O::Cancelled || ol.refunded;
            match (line.state, cmd.status) {
                (S::Committed | S::Released, _) => {}
                // Shipped through Cairn: the stock has left, whatever the order's status says
                // (a partial shipment commits exactly its lines) and even if a refund or a
                // cancellation came with the same revision (that is a return, not a release).
                (S::Held | S::Confirmed, _) if ol.shipped => {
                    self.give_back(&mut line, MovementKind::Commit, r.id, &cause, &mut ev);
                    line.state = S::Committed;
                }
                (S::Held | S::Confirmed, _) if release => {
                    self.give_back(&mut line, MovementKind::Release, r.id, &cause, &mut ev);
                    freed.push(line.sku_id);
                    line.state = S::Released;
                }
                (S::Backordered | S::Unreserved | S::Expired | S::Unmapped, _) if release => line.state = S::Released,
                (S::Held | S::Confirmed, O::Shipped | O::Completed) => {
                    self.give_back(&mut line, MovementKind::Commit, r.id, &cause, &mut ev);
                    line.state = S::Committed;
                }
                (S::Held, O::PendingPayment) => {}
                (S::Unreserved, O::PendingPayment) if hold_until > now => wanted.push(idx),
                (S::Held, _) if paid_like => line.state = S::Confirmed,
                // Resolved lines queue by paid time with what already waits for the SKU.
                (S::Unreserved, _) if paid_like && resolved => {
                    line.state = S::Backordered;
                    line.backordered_at = Some(queued_at);
                    self.to_fill.insert(line.sku_id);
                }
                (S::Unreserved | S::Expired, _) if paid_like => wanted.push(idx),
                // Waits for its SKU, by paid time.
                (S::Unmapped, _) if paid_like => line.backordered_at = Some(queued_at),
                // Shipped by the marketplace without stock reserved here, confirmed lines
                // staying confirmed, backorders still waiting: nothing moves.
                _ => {}
            }
            if !matches!(line.state, S::Backordered | S::Unmapped) || line.state == S::Unmapped && !paid_like {
                line.backordered_at = None;
            }
            if line.state != S::Unmapped {
                line.variant = None;
            }
            r.lines[idx] = line;
        }
        if !wanted.is_empty() {
            let target = if paid_like { S::Confirmed } else { S::Held };
            let got: Vec<Option<Vec<Alloc>>> = if self.allocation.allow_split {
                wanted
                    .iter()
                    .map(|i| {
                        let (sku, qty) = (r.lines[*i].sku_id, r.lines[*i].quantity);
                        self.take(sku, qty, r.id, cmd.province.as_deref(), true, &cause, &mut ev)
                    })
                    .collect()
            } else {
                // The order's lines come from one warehouse: the one its reserved lines are in,
                // if any; and while some of it waits, what it adds waits with it.
                let waiting = r.lines.iter().any(|l| l.state == S::Backordered);
                let lines: Vec<(usize, Uuid, i64)> =
                    wanted.iter().map(|i| (*i, r.lines[*i].sku_id, r.lines[*i].quantity)).collect();
                let whole = if waiting && paid_like {
                    None
                } else {
                    self.take_whole(&lines, r.id, cmd.province.as_deref(), single_warehouse(&r), &cause, &mut ev)
                };
                match whole {
                    Some(a) => a.into_iter().map(|(_, a)| Some(vec![a])).collect(),
                    None => vec![None; wanted.len()],
                }
            };
            for (i, allocs) in wanted.into_iter().zip(got) {
                let line = &mut r.lines[i];
                match allocs {
                    Some(a) => {
                        line.allocations = a;
                        line.state = target;
                    }
                    None if paid_like => {
                        line.state = S::Backordered;
                        line.backordered_at = Some(queued_at);
                    }
                    None => {}
                }
            }
        }
        r.expires_at = r.lines.iter().any(|l| l.state == LineState::Held).then_some(hold_until);
        r.paid_at = cmd.paid_at;
        r.revision = cmd.revision;
        r.version += 1;
        r.updated_at = now;
        ev.push(StockEvent::ReservationChanged(key));
        self.put(r);
        for (v, code) in mapped {
            self.resolve_variant(&v, &code, now, &mut ev);
        }
        self.fill_queues(freed, now, &mut ev);
        ev
    }

    /// Every line still waiting on `v` takes the SKU `code`, the mapping one order's new
    /// revision arrived with. The orders that wait on a variant are told of its mapping in
    /// separate messages, which may reach the engine in different batches and in any order;
    /// resolving them all on the first one queues them together, so that
    /// [`Book::fill_waiting`] serves them by paid time. Paid lines join the SKU's backorder
    /// queue (they were queued by paid time while unmapped); unpaid ones wait for their
    /// order's next revision to hold stock. That revision finds them resolved and moves
    /// nothing more.
    fn resolve_variant(&mut self, v: &VariantRef, code: &str, now: Timestamp, ev: &mut Vec<StockEvent>) {
        let Some(sku) = self.sku(code).map(|s| s.id) else { return };
        let waiting = self.waiting_on.remove(v).unwrap_or_default();
        let mut done: HashSet<String> = HashSet::new();
        for (_, key, _) in waiting {
            if !done.insert(key.clone()) {
                continue;
            }
            let Some(mut r) = self.take_reservation(&key) else { continue };
            for l in r.lines.iter_mut().filter(|l| l.state == LineState::Unmapped && l.variant.as_ref() == Some(v)) {
                l.sku_id = sku;
                l.sku_code = code.to_owned();
                l.state = if l.backordered_at.is_some() { LineState::Backordered } else { LineState::Unreserved };
                l.variant = None;
            }
            r.version += 1;
            r.updated_at = now;
            ev.push(StockEvent::ReservationChanged(key));
            self.put(r);
        }
        self.to_fill.insert(sku);
    }

    /// Puts returned goods back on hand in `warehouse_code` (a `return` movement per SKU, with
    /// `cause`), then gives waiting backorders their stock. SKUs or a warehouse the tenant does
    /// not have are left out and named in the answer (nothing to put them on).
    pub fn return_stock(
        &mut self,
        warehouse_code: &str,
        lines: &[(String, i64)],
        cause: &str,
        now: Timestamp,
    ) -> (Vec<StockEvent>, Vec<String>) {
        let mut ev = Vec::new();
        let mut skipped = Vec::new();
        let Some(wh) = self.warehouse(warehouse_code).or_else(|| self.warehouse(MAIN_WAREHOUSE)).map(|w| w.id) else {
            return (ev, lines.iter().map(|l| l.0.clone()).collect());
        };
        let mut filled = Vec::new();
        for (code, qty) in lines.iter().filter(|l| l.1 > 0) {
            let Some(sku) = self.sku(code).map(|s| s.id) else {
                skipped.push(code.clone());
                continue;
            };
            self.mv(sku, wh, MovementKind::Return, *qty, 0, None, cause, &mut ev);
            filled.push(sku);
        }
        self.fill_queues(filled, now, &mut ev);
        (ev, skipped)
    }

    /// Expires held lines whose time is up; their stock fills backorders.
    pub fn expire_due(&mut self, now: Timestamp) -> Vec<StockEvent> {
        let mut ev = Vec::new();
        while let Some((at, key)) = self.holds.first().cloned() {
            if at > now {
                break;
            }
            self.holds.pop_first();
            let Some(mut r) = self.take_reservation(&key) else { continue };
            if r.expires_at.is_none_or(|e| e > now) || !r.lines.iter().any(|l| l.state == LineState::Held) {
                self.put(r);
                continue;
            }
            let cause = format!("hold expired: {}", r.reference);
            let mut freed = Vec::new();
            for i in 0..r.lines.len() {
                if r.lines[i].state == LineState::Held {
                    let mut line = r.lines[i].clone();
                    self.give_back(&mut line, MovementKind::Expire, r.id, &cause, &mut ev);
                    line.state = LineState::Expired;
                    freed.push(line.sku_id);
                    r.lines[i] = line;
                }
            }
            r.expires_at = None;
            r.version += 1;
            r.updated_at = now;
            ev.push(StockEvent::ReservationChanged(key));
            self.put(r);
            for sku in freed {
                self.fill_backorders(sku, now, &mut ev);
            }
        }
        ev
    }
}

/// The one warehouse an order's reserved lines are in; `None` when none is reserved, or
/// several are (the settings allowed splitting then).
fn single_warehouse(r: &Reservation) -> Option<Uuid> {
    let mut ws = r
        .lines
        .iter()
        .filter(|l| matches!(l.state, LineState::Held | LineState::Confirmed))
        .flat_map(|l| l.allocations.iter().map(|a| a.warehouse_id));
    let first = ws.next()?;
    ws.all(|w| w == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kernel::events::OrderLineRef;

    fn t(s: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn book(on_hand: i64, safety: i64) -> (Book, Uuid) {
        let mut b = Book::default();
        b.ensure_main(Uuid::now_v7);
        let (sku, _) = b.create_sku(Uuid::now_v7(), "TEE", "Tee", safety, t(0)).unwrap();
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: None, delta: on_hand, reason: "count".into() },
            t(0),
        )
        .unwrap();
        (b, sku.id)
    }

    fn reserve(b: &mut Book, key: &str, qty: i64) -> Result<(bool, Vec<StockEvent>), StockError> {
        b.reserve(
            Uuid::now_v7(),
            Reserve {
                key: key.into(),
                request_hash: format!("h{qty}"),
                reference: key.into(),
                lines: vec![ReserveLine { sku_code: "TEE".into(), quantity: qty }],
                ttl_seconds: 60,
            },
            t(1),
        )
    }

    fn order(id: Uuid, rev: i64, status: OrderStatus, qty: i64, paid_at: i64) -> SyncOrder {
        SyncOrder {
            order_id: id,
            channel_id: Uuid::nil(),
            reference: format!("T{rev}"),
            revision: rev,
            status,
            created_at: t(0),
            paid_at: Some(t(paid_at)),
            hold_ttl_seconds: 1800,
            lines: vec![OrderLineRef {
                external_line_id: "O1".into(),
                sku_code: Some("TEE".into()),
                quantity: qty,
                refunded: false,
                ..Default::default()
            }],
            province: None,
        }
    }

    fn check_invariants(b: &Book, sku: Uuid) {
        let (on_hand, reserved): (i64, i64) =
            b.warehouses().iter().map(|w| b.level(sku, w.id)).fold((0, 0), |a, l| (a.0 + l.on_hand, a.1 + l.reserved));
        let live: i64 = b
            .reservations
            .values()
            .flat_map(|r| &r.lines)
            .filter(|l| l.sku_id == sku && matches!(l.state, LineState::Held | LineState::Confirmed))
            .map(|l| l.quantity)
            .sum();
        assert_eq!(live, reserved, "live reservations equal the reserved counter");
        assert!(on_hand - reserved >= b.sku_by_id(sku).unwrap().safety_stock, "never promise safety stock");
    }

    #[test]
    fn reserves_all_or_nothing_and_respects_safety_stock() {
        let (mut b, sku) = book(10, 2);
        assert!(reserve(&mut b, "a", 8).unwrap().0);
        match reserve(&mut b, "b", 1) {
            Err(StockError::Insufficient(s)) => {
                assert_eq!(s, vec![Shortage { sku_code: "TEE".into(), requested: 1, available: 0 }])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.available(sku), 0);
        check_invariants(&b, sku);
    }

    #[test]
    fn same_key_same_request_is_the_first_result_and_different_request_is_refused() {
        let (mut b, sku) = book(10, 0);
        assert!(reserve(&mut b, "k", 3).unwrap().0);
        let (created, ev) = reserve(&mut b, "k", 3).unwrap();
        assert!(!created && ev.is_empty());
        assert_eq!(reserve(&mut b, "k", 4), Err(StockError::KeyReused));
        assert_eq!(b.available(sku), 7);
    }

    #[test]
    fn holds_expire_but_confirmed_reservations_do_not() {
        let (mut b, sku) = book(10, 0);
        reserve(&mut b, "held", 4).unwrap();
        reserve(&mut b, "paid", 5).unwrap();
        let paid = b.reservation("paid").unwrap().id;
        b.confirm(paid, t(2)).unwrap();
        assert!(b.expire_due(t(60)).is_empty(), "not yet due");
        let ev = b.expire_due(t(61));
        assert!(ev.contains(&StockEvent::ReservationChanged("held".into())));
        assert_eq!(b.reservation("held").unwrap().state(), LineState::Expired);
        assert_eq!(b.reservation("paid").unwrap().state(), LineState::Confirmed);
        assert_eq!(b.available(sku), 5);
        check_invariants(&b, sku);
    }

    #[test]
    fn transitions_are_idempotent_and_refuse_the_impossible() {
        let (mut b, sku) = book(10, 0);
        reserve(&mut b, "r", 4).unwrap();
        let id = b.reservation("r").unwrap().id;
        b.commit(id, t(2)).unwrap();
        assert!(b.commit(id, t(3)).unwrap().is_empty());
        assert!(matches!(b.release(id, t(3)), Err(StockError::InvalidTransition { .. })));
        assert_eq!(b.level(sku, b.warehouse("MAIN").unwrap().id), Level { on_hand: 6, reserved: 0, version: 0 });
    }

    #[test]
    fn paid_orders_beyond_stock_are_backordered_and_filled_oldest_first() {
        let (mut b, sku) = book(3, 0);
        let ids: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
        // Paid times deliberately not in arrival order.
        for (i, id) in ids.iter().enumerate() {
            b.sync_order(Uuid::now_v7(), order(*id, 1, OrderStatus::Paid, 1, 100 - i as i64), t(5));
        }
        let state = |b: &Book, id: &Uuid| b.reservation(&format!("order:{id}")).unwrap().lines[0].state;
        assert_eq!(ids.iter().filter(|i| state(&b, i) == LineState::Confirmed).count(), 3);
        assert_eq!(ids.iter().filter(|i| state(&b, i) == LineState::Backordered).count(), 3);
        check_invariants(&b, sku);
        b.adjust(&Adjust { sku_code: "TEE".into(), warehouse_code: None, delta: 2, reason: "receipt".into() }, t(10))
            .unwrap();
        // Backordered were ids[3..6] with paid times 97, 96, 95: the two oldest are ids[5], ids[4].
        assert_eq!(state(&b, &ids[5]), LineState::Confirmed);
        assert_eq!(state(&b, &ids[4]), LineState::Confirmed);
        assert_eq!(state(&b, &ids[3]), LineState::Backordered);
        check_invariants(&b, sku);
    }

    #[test]
    fn order_lifecycle_hold_pay_ship_and_stale_revisions() {
        let (mut b, sku) = book(5, 0);
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), order(id, 1, OrderStatus::PendingPayment, 2, 0), t(1));
        let key = format!("order:{id}");
        assert_eq!(b.reservation(&key).unwrap().state(), LineState::Held);
        b.sync_order(Uuid::now_v7(), order(id, 3, OrderStatus::Shipped, 2, 0), t(2));
        assert_eq!(b.reservation(&key).unwrap().state(), LineState::Committed);
        // A late "paid" snapshot (revision 2) changes nothing.
        assert!(b.sync_order(Uuid::now_v7(), order(id, 2, OrderStatus::Paid, 2, 0), t(3)).is_empty());
        let main = b.warehouse("MAIN").unwrap().id;
        assert_eq!(b.level(sku, main), Level { on_hand: 3, reserved: 0, version: 0 });
    }

    #[test]
    fn cancellation_and_line_refunds_release_and_feed_backorders() {
        let (mut b, sku) = book(1, 0);
        let (a, c) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), order(a, 1, OrderStatus::Paid, 1, 1), t(1));
        b.sync_order(Uuid::now_v7(), order(c, 1, OrderStatus::Paid, 1, 2), t(1));
        assert_eq!(b.reservation(&format!("order:{c}")).unwrap().state(), LineState::Backordered);
        let mut refund = order(a, 2, OrderStatus::Paid, 1, 1);
        refund.lines[0].refunded = true;
        b.sync_order(Uuid::now_v7(), refund, t(2));
        assert_eq!(b.reservation(&format!("order:{a}")).unwrap().state(), LineState::Released);
        assert_eq!(b.reservation(&format!("order:{c}")).unwrap().state(), LineState::Confirmed);
        check_invariants(&b, sku);
    }

    #[test]
    fn unpaid_orders_expire_with_their_hold() {
        let (mut b, sku) = book(5, 0);
        let id = Uuid::now_v7();
        let mut o = order(id, 1, OrderStatus::PendingPayment, 5, 0);
        o.hold_ttl_seconds = 30;
        b.sync_order(Uuid::now_v7(), o, t(1));
        assert_eq!(b.available(sku), 0);
        b.expire_due(t(31));
        assert_eq!(b.available(sku), 5);
        // Paying after expiry reserves again if stock is still there.
        b.sync_order(Uuid::now_v7(), order(id, 2, OrderStatus::Paid, 5, 40), t(41));
        assert_eq!(b.reservation(&format!("order:{id}")).unwrap().state(), LineState::Confirmed);
    }

    fn two_lines(id: Uuid, rev: i64, status: OrderStatus, shipped: [bool; 2]) -> SyncOrder {
        let mut o = order(id, rev, status, 2, 1);
        o.lines.push(OrderLineRef {
            external_line_id: "O2".into(),
            sku_code: Some("TEE".into()),
            quantity: 3,
            ..Default::default()
        });
        for (l, s) in o.lines.iter_mut().zip(shipped) {
            l.shipped = s;
        }
        o
    }

    #[test]
    fn a_partial_shipment_commits_exactly_the_shipped_lines() {
        let (mut b, sku) = book(10, 0);
        let id = Uuid::now_v7();
        let key = format!("order:{id}");
        b.sync_order(Uuid::now_v7(), two_lines(id, 1, OrderStatus::Paid, [false, false]), t(1));
        assert_eq!(b.available(sku), 5);
        let ev = b.sync_order(Uuid::now_v7(), two_lines(id, 2, OrderStatus::PartiallyShipped, [true, false]), t(2));
        let commits: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                StockEvent::Moved(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(commits.len(), 1);
        assert_eq!(
            (commits[0].kind, commits[0].on_hand_delta, commits[0].reserved_delta),
            (MovementKind::Commit, -2, -2)
        );
        let states: Vec<LineState> = b.reservation(&key).unwrap().lines.iter().map(|l| l.state).collect();
        assert_eq!(states, [LineState::Committed, LineState::Confirmed]);
        let main = b.warehouse("MAIN").unwrap().id;
        assert_eq!(b.level(sku, main), Level { on_hand: 8, reserved: 3, version: 0 });
        check_invariants(&b, sku);
        // The rest ships; the first line is not committed twice.
        b.sync_order(Uuid::now_v7(), two_lines(id, 3, OrderStatus::Shipped, [true, true]), t(3));
        assert_eq!(b.level(sku, main), Level { on_hand: 5, reserved: 0, version: 0 });
        assert_eq!(b.reservation(&key).unwrap().state(), LineState::Committed);
        check_invariants(&b, sku);
    }

    #[test]
    fn a_shipped_line_is_committed_even_when_a_hold_or_a_refund_comes_with_it() {
        let (mut b, sku) = book(10, 0);
        let id = Uuid::now_v7();
        let key = format!("order:{id}");
        // Still held (inventory never saw the payment), then shipped with a refunded line.
        b.sync_order(Uuid::now_v7(), two_lines(id, 1, OrderStatus::PendingPayment, [false, false]), t(1));
        let mut o = two_lines(id, 2, OrderStatus::PartiallyShipped, [true, false]);
        o.lines[1].refunded = true;
        b.sync_order(Uuid::now_v7(), o, t(2));
        let r = b.reservation(&key).unwrap();
        assert_eq!(r.lines.iter().map(|l| l.state).collect::<Vec<_>>(), [LineState::Committed, LineState::Released]);
        assert_eq!(r.expires_at, None, "nothing is held any more");
        // Cancelled after shipping: the shipped line stays committed, nothing comes back.
        let mut o = two_lines(id, 3, OrderStatus::Cancelled, [true, false]);
        o.lines[1].refunded = true;
        assert!(b.sync_order(Uuid::now_v7(), o, t(3)).iter().all(|e| !matches!(e, StockEvent::Moved(_))));
        let main = b.warehouse("MAIN").unwrap().id;
        assert_eq!(b.level(sku, main), Level { on_hand: 8, reserved: 0, version: 0 });
        check_invariants(&b, sku);
    }

    #[test]
    fn negative_adjustment_cannot_take_reserved_units() {
        let (mut b, _) = book(5, 0);
        reserve(&mut b, "r", 4).unwrap();
        let cmd = Adjust { sku_code: "TEE".into(), warehouse_code: None, delta: -2, reason: "damaged".into() };
        assert!(matches!(b.adjust(&cmd, t(2)), Err(StockError::Insufficient(_))));
        assert!(b.adjust(&Adjust { delta: -1, ..cmd }, t(2)).is_ok());
    }

    // ---- allocation ----

    /// A book with warehouses HZ and CD (besides MAIN, which stays empty) and `stock` of each
    /// SKU code per warehouse: (code, HZ units, CD units).
    fn two_warehouses(stock: &[(&str, i64, i64)], a: Allocation) -> Book {
        let mut b = Book::default();
        b.ensure_main(Uuid::now_v7);
        b.create_warehouse(Uuid::now_v7(), "HZ", "Hangzhou").unwrap();
        b.create_warehouse(Uuid::now_v7(), "CD", "Chengdu").unwrap();
        for (code, hz, cd) in stock {
            b.create_sku(Uuid::now_v7(), code, code, 0, t(0)).unwrap();
            for (wh, n) in [("HZ", *hz), ("CD", *cd)] {
                if n > 0 {
                    let adj = Adjust {
                        sku_code: (*code).into(),
                        warehouse_code: Some(wh.into()),
                        delta: n,
                        reason: "count".into(),
                    };
                    b.adjust(&adj, t(0)).unwrap();
                }
            }
        }
        b.set_allocation(a, t(0)).unwrap();
        b
    }

    fn region(allow_split: bool) -> Allocation {
        Allocation {
            strategy: Strategy::Region,
            regions: vec![
                RegionRule { province: "浙江省".into(), warehouses: vec!["HZ".into()] },
                RegionRule { province: "四川".into(), warehouses: vec!["CD".into()] },
            ],
            fallback: vec!["CD".into()],
            allow_split,
            ..Allocation::default()
        }
    }

    /// A paid order for `lines` (code, units), shipped to `province`, paid at `paid_at`.
    fn paid(id: Uuid, rev: i64, lines: &[(Option<&str>, i64)], province: Option<&str>, paid_at: i64) -> SyncOrder {
        let mut o = order(id, rev, OrderStatus::Paid, 1, paid_at);
        o.province = province.map(str::to_owned);
        o.lines = lines
            .iter()
            .enumerate()
            .map(|(i, (code, qty))| OrderLineRef {
                external_line_id: format!("L{i}"),
                sku_code: code.map(str::to_owned),
                quantity: *qty,
                ..Default::default()
            })
            .collect();
        o
    }

    /// Each line's state and its units per warehouse code.
    fn placed(b: &Book, id: Uuid) -> Vec<(LineState, Vec<(String, i64)>)> {
        let code = |w: Uuid| b.warehouses().iter().find(|x| x.id == w).unwrap().code.clone();
        b.reservation(&format!("order:{id}"))
            .unwrap()
            .lines
            .iter()
            .map(|l| (l.state, l.allocations.iter().map(|a| (code(a.warehouse_id), a.quantity)).collect()))
            .collect()
    }

    fn at(wh: &str, n: i64) -> (String, i64) {
        (wh.to_owned(), n)
    }

    fn all_invariants(b: &Book) {
        for s in b.skus.values() {
            check_invariants(b, s.id);
            for w in b.warehouses() {
                let l = b.level(s.id, w.id);
                assert!(0 <= l.reserved && l.reserved <= l.on_hand, "{} in {}: {l:?}", s.code, w.code);
            }
        }
    }

    #[test]
    fn most_stock_is_the_default_and_splits_a_line_most_free_first() {
        let mut b = two_warehouses(&[("TEE", 3, 5)], Allocation::default());
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), paid(id, 1, &[(Some("TEE"), 7)], None, 1), t(1));
        assert_eq!(placed(&b, id), [(LineState::Confirmed, vec![at("CD", 5), at("HZ", 2)])]);
        all_invariants(&b);
    }

    #[test]
    fn priority_takes_the_listed_warehouses_in_order_then_the_others_by_code() {
        let a = Allocation { strategy: Strategy::Priority, priority: vec!["HZ".into()], ..Allocation::default() };
        let mut b = two_warehouses(&[("TEE", 3, 5)], a);
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), paid(x, 1, &[(Some("TEE"), 2)], None, 1), t(1));
        assert_eq!(placed(&b, x), [(LineState::Confirmed, vec![at("HZ", 2)])], "HZ although CD has more");
        // One unit left in HZ: the rest comes from CD (before MAIN, by code).
        b.sync_order(Uuid::now_v7(), paid(y, 1, &[(Some("TEE"), 3)], None, 2), t(2));
        assert_eq!(placed(&b, y), [(LineState::Confirmed, vec![at("HZ", 1), at("CD", 2)])]);
        all_invariants(&b);
    }

    #[test]
    fn without_splitting_a_line_takes_the_first_warehouse_that_has_it_all() {
        let a = Allocation {
            strategy: Strategy::Priority,
            priority: vec!["HZ".into(), "CD".into()],
            allow_split: false,
            ..Allocation::default()
        };
        let mut b = two_warehouses(&[("TEE", 3, 5)], a);
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), paid(x, 1, &[(Some("TEE"), 4)], None, 1), t(1));
        assert_eq!(placed(&b, x), [(LineState::Confirmed, vec![at("CD", 4)])]);
        // 4 free over both warehouses, but no single one has 4: it waits, reserving nothing.
        b.sync_order(Uuid::now_v7(), paid(y, 1, &[(Some("TEE"), 4)], None, 2), t(2));
        assert_eq!(placed(&b, y), [(LineState::Backordered, vec![])]);
        all_invariants(&b);
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: Some("HZ".into()), delta: 1, reason: "r".into() },
            t(3),
        )
        .unwrap();
        assert_eq!(placed(&b, y), [(LineState::Confirmed, vec![at("HZ", 4)])]);
        all_invariants(&b);
    }

    #[test]
    fn region_picks_by_province_leniently_then_the_fallback() {
        let mut b = two_warehouses(&[("TEE", 10, 10)], region(true));
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let provinces = [Some("浙江省"), Some("四川省"), Some(" 浙江 "), Some("广东省"), None];
        for (i, (id, p)) in ids.iter().zip(provinces).enumerate() {
            b.sync_order(Uuid::now_v7(), paid(*id, 1, &[(Some("TEE"), 1)], p, i as i64), t(1));
        }
        let wh: Vec<String> = ids.iter().map(|id| placed(&b, *id)[0].1[0].0.clone()).collect();
        assert_eq!(wh, ["HZ", "CD", "HZ", "CD", "CD"]);
        assert_eq!(province_key("广西壮族自治区"), "广西");
        assert_eq!(province_key("上海市"), "上海");
        assert_eq!(province_key("省"), "省");
        all_invariants(&b);
    }

    #[test]
    fn region_splits_an_order_neither_warehouse_can_serve_only_when_allowed() {
        // 浙江: HZ first. HZ has 2, CD has 3: an order of 4 needs both.
        let mut b = two_warehouses(&[("TEE", 2, 3)], region(true));
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), paid(id, 1, &[(Some("TEE"), 4)], Some("浙江省"), 1), t(1));
        assert_eq!(placed(&b, id), [(LineState::Confirmed, vec![at("HZ", 2), at("CD", 2)])]);

        let mut b = two_warehouses(&[("TEE", 2, 3), ("CAP", 1, 0)], region(false));
        let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), paid(x, 1, &[(Some("TEE"), 4)], Some("浙江省"), 1), t(1));
        assert_eq!(placed(&b, x), [(LineState::Backordered, vec![])]);
        // Two lines that each fit somewhere, but not in one warehouse together: TEE ×3 only in
        // CD, CAP only in HZ. Nothing is reserved in part.
        b.sync_order(Uuid::now_v7(), paid(y, 1, &[(Some("TEE"), 3), (Some("CAP"), 1)], Some("四川省"), 2), t(2));
        assert_eq!(placed(&b, y), [(LineState::Backordered, vec![]), (LineState::Backordered, vec![])]);
        assert_eq!(b.available(b.sku("TEE").unwrap().id), 5);
        all_invariants(&b);
        // Two more TEE in HZ: x (older) can now be served by HZ alone; y still cannot.
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: Some("HZ".into()), delta: 2, reason: "r".into() },
            t(3),
        )
        .unwrap();
        assert_eq!(placed(&b, x), [(LineState::Confirmed, vec![at("HZ", 4)])]);
        assert_eq!(placed(&b, y), [(LineState::Backordered, vec![]), (LineState::Backordered, vec![])]);
        // A CAP in CD: y's whole order fits in CD.
        b.adjust(
            &Adjust { sku_code: "CAP".into(), warehouse_code: Some("CD".into()), delta: 1, reason: "r".into() },
            t(4),
        )
        .unwrap();
        assert_eq!(
            placed(&b, y),
            [(LineState::Confirmed, vec![at("CD", 3)]), (LineState::Confirmed, vec![at("CD", 1)])]
        );
        all_invariants(&b);
    }

    #[test]
    fn without_splitting_a_later_order_never_overtakes_an_earlier_one() {
        let a = Allocation { allow_split: false, ..Allocation::default() };
        let mut b = two_warehouses(&[("TEE", 0, 0), ("CAP", 0, 0)], a);
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), paid(first, 1, &[(Some("TEE"), 1), (Some("CAP"), 1)], None, 1), t(1));
        b.sync_order(Uuid::now_v7(), paid(second, 1, &[(Some("TEE"), 1)], None, 2), t(1));
        // One TEE arrives: the first order still lacks its CAP, and the second waits behind it.
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: Some("HZ".into()), delta: 1, reason: "r".into() },
            t(2),
        )
        .unwrap();
        assert_eq!(placed(&b, second), [(LineState::Backordered, vec![])]);
        b.adjust(
            &Adjust { sku_code: "CAP".into(), warehouse_code: Some("HZ".into()), delta: 1, reason: "r".into() },
            t(3),
        )
        .unwrap();
        assert_eq!(
            placed(&b, first),
            [(LineState::Confirmed, vec![at("HZ", 1)]), (LineState::Confirmed, vec![at("HZ", 1)])]
        );
        assert_eq!(placed(&b, second), [(LineState::Backordered, vec![])]);
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: Some("CD".into()), delta: 1, reason: "r".into() },
            t(4),
        )
        .unwrap();
        assert_eq!(placed(&b, second), [(LineState::Confirmed, vec![at("CD", 1)])]);
        all_invariants(&b);
    }

    #[test]
    fn allowing_splits_serves_what_waited_for_one_warehouse() {
        let mut b = two_warehouses(&[("TEE", 2, 2)], region(false));
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), paid(id, 1, &[(Some("TEE"), 3)], Some("浙江省"), 1), t(1));
        assert_eq!(placed(&b, id)[0].0, LineState::Backordered);
        let ev = b.set_allocation(region(true), t(2)).unwrap();
        assert!(ev.contains(&StockEvent::ReservationChanged(format!("order:{id}"))));
        assert_eq!(placed(&b, id), [(LineState::Confirmed, vec![at("HZ", 2), at("CD", 1)])]);
        assert!(b.set_allocation(region(true), t(3)).unwrap().is_empty(), "the same settings change nothing");
        let bad = Allocation { fallback: vec!["SH".into(), "HZ".into(), "SH".into(), "BJ".into()], ..region(true) };
        assert_eq!(b.set_allocation(bad, t(4)), Err(StockError::UnknownWarehouses(vec!["SH".into(), "BJ".into()])));
        assert_eq!(b.allocation(), &region(true));
        all_invariants(&b);
    }

    // ---- lines whose SKU is unknown ----

    #[test]
    fn an_unknown_sku_is_unmapped_until_a_newer_revision_names_a_known_one() {
        let (mut b, sku) = book(5, 0);
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), paid(id, 1, &[(None, 2), (Some("TEE"), 1)], None, 1), t(1));
        assert_eq!(placed(&b, id).iter().map(|p| p.0).collect::<Vec<_>>(), [LineState::Unmapped, LineState::Confirmed]);
        assert_eq!(b.reservation(&format!("order:{id}")).unwrap().state(), LineState::Unmapped);
        // A code no SKU has: still unmapped, now waiting for that code.
        b.sync_order(Uuid::now_v7(), paid(id, 2, &[(Some("NEW"), 2), (Some("TEE"), 1)], None, 1), t(2));
        assert_eq!(placed(&b, id)[0].0, LineState::Unmapped);
        assert_eq!(b.unmapped_queue("NEW"), [(format!("order:{id}"), 0)]);
        // Mapped to TEE: it queues by paid time and the batch's end serves it.
        b.sync_order(Uuid::now_v7(), paid(id, 3, &[(Some("TEE"), 2), (Some("TEE"), 1)], None, 1), t(3));
        assert!(b.unmapped_queue("NEW").is_empty());
        assert_eq!(placed(&b, id)[0].0, LineState::Backordered);
        b.fill_waiting(t(3));
        assert_eq!(
            placed(&b, id).iter().map(|p| p.0).collect::<Vec<_>>(),
            [LineState::Confirmed, LineState::Confirmed]
        );
        assert_eq!(b.available(sku), 2);
        // Cancelled: both come back.
        b.sync_order(Uuid::now_v7(), order(id, 4, OrderStatus::Cancelled, 1, 1), t(4));
        check_invariants(&b, sku);
    }

    /// `o` with its lines selling item 990001's variant 1 in the shop `channel`.
    fn on_variant(mut o: SyncOrder, channel: Uuid) -> SyncOrder {
        o.channel_id = channel;
        for l in &mut o.lines {
            (l.item_id, l.variant_id) = (Some("990001".into()), Some("1".into()));
        }
        o
    }

    /// 200 paid orders (paid times shuffled) of one unit each, waiting on a code no SKU has
    /// (or, with `channel`, on a variant of that shop).
    fn waiting_orders(b: &mut Book, code: Option<&str>, channel: Option<Uuid>) -> Vec<(i64, Uuid)> {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut orders: Vec<(i64, Uuid)> = (0..200).map(|i| (1000 + i, Uuid::now_v7())).collect();
        for i in (1..orders.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            orders.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for (paid_at, id) in &orders {
            let o = paid(*id, 1, &[(code, 1)], None, *paid_at);
            b.sync_order(Uuid::now_v7(), channel.map_or(o.clone(), |c| on_variant(o, c)), t(5));
        }
        orders
    }

    fn assert_first_150_by_paid_time(b: &Book, orders: &[(i64, Uuid)]) {
        let mut by_paid = orders.to_vec();
        by_paid.sort();
        let states: Vec<LineState> = by_paid.iter().map(|(_, id)| placed(b, *id)[0].0).collect();
        assert!(states[..150].iter().all(|s| *s == LineState::Confirmed), "{states:?}");
        assert!(states[150..].iter().all(|s| *s == LineState::Backordered), "{states:?}");
        all_invariants(b);
    }

    #[test]
    fn a_new_sku_serves_200_waiting_orders_in_paid_time_order_and_never_oversells() {
        let mut b = two_warehouses(&[], Allocation::default());
        let orders = waiting_orders(&mut b, Some("NEW"), None);
        assert!(orders.iter().all(|(_, id)| placed(&b, *id)[0].0 == LineState::Unmapped));
        let (sku, ev) = b.create_sku(Uuid::now_v7(), "NEW", "New", 0, t(6)).unwrap();
        assert_eq!(ev.iter().filter(|e| matches!(e, StockEvent::ReservationChanged(_))).count(), 200);
        assert!(orders.iter().all(|(_, id)| placed(&b, *id)[0].0 == LineState::Backordered));
        let adj = Adjust { sku_code: "NEW".into(), warehouse_code: Some("HZ".into()), delta: 100, reason: "r".into() };
        b.adjust(&adj, t(7)).unwrap();
        b.adjust(&Adjust { delta: 50, warehouse_code: Some("CD".into()), ..adj }, t(8)).unwrap();
        assert_first_150_by_paid_time(&b, &orders);
        assert_eq!(b.available(sku.id), 0);
    }

    #[test]
    fn mapping_200_waiting_orders_serves_them_in_paid_time_order_whatever_the_arrival_order() {
        let mut b = two_warehouses(&[("TEE", 100, 50)], Allocation::default());
        let orders = waiting_orders(&mut b, None, None);
        // The newer revisions arrive in the shuffled order, within one batch.
        for (paid_at, id) in &orders {
            b.sync_order(Uuid::now_v7(), paid(*id, 2, &[(Some("TEE"), 1)], None, *paid_at), t(9));
        }
        b.fill_waiting(t(9));
        assert_first_150_by_paid_time(&b, &orders);
        // Stock arriving later goes to the oldest waiting.
        b.adjust(
            &Adjust { sku_code: "TEE".into(), warehouse_code: Some("HZ".into()), delta: 1, reason: "r".into() },
            t(10),
        )
        .unwrap();
        let mut by_paid = orders.clone();
        by_paid.sort();
        assert_eq!(placed(&b, by_paid[150].1)[0].0, LineState::Confirmed);
        assert_eq!(placed(&b, by_paid[151].1)[0].0, LineState::Backordered);
        all_invariants(&b);
    }

    #[test]
    fn mapping_a_variant_serves_its_waiting_orders_by_paid_time_whatever_batches_the_news_comes_in() {
        let mut b = two_warehouses(&[("TEE", 100, 50)], Allocation::default());
        let channel = Uuid::now_v7();
        let orders = waiting_orders(&mut b, None, Some(channel));
        let unpaid = Uuid::now_v7();
        let mut o = on_variant(order(unpaid, 1, OrderStatus::PendingPayment, 1, 0), channel);
        (o.paid_at, o.lines[0].sku_code) = (None, None);
        b.sync_order(Uuid::now_v7(), o.clone(), t(5));
        // The mapped revisions arrive shuffled, in batches of 20: the first one resolves
        // every line waiting on the variant, so each batch's end serves them by paid time.
        for batch in orders.chunks(20) {
            for (paid_at, id) in batch {
                b.sync_order(
                    Uuid::now_v7(),
                    on_variant(paid(*id, 2, &[(Some("TEE"), 1)], None, *paid_at), channel),
                    t(9),
                );
            }
            b.fill_waiting(t(9));
        }
        assert_first_150_by_paid_time(&b, &orders);
        assert!(b.waiting_on.is_empty() || b.waiting_on.values().all(BTreeSet::is_empty));
        // The unpaid order knows its SKU now and holds nothing until its next revision, which
        // finds nothing left (and so reserves nothing).
        assert_eq!(placed(&b, unpaid)[0].0, LineState::Unreserved);
        (o.revision, o.lines[0].sku_code) = (2, Some("TEE".into()));
        b.sync_order(Uuid::now_v7(), o, t(10));
        assert_eq!(placed(&b, unpaid)[0].0, LineState::Unreserved);
        // Another shop's line for the same item ids is not this shop's variant.
        let (other, late) = (Uuid::now_v7(), Uuid::now_v7());
        b.sync_order(Uuid::now_v7(), on_variant(paid(other, 1, &[(None, 1)], None, 5000), Uuid::now_v7()), t(11));
        b.sync_order(Uuid::now_v7(), on_variant(paid(late, 1, &[(None, 1)], None, 5001), channel), t(11));
        b.sync_order(Uuid::now_v7(), on_variant(paid(late, 2, &[(Some("TEE"), 1)], None, 5001), channel), t(12));
        assert_eq!((placed(&b, other)[0].0, placed(&b, late)[0].0), (LineState::Unmapped, LineState::Backordered));
        all_invariants(&b);
    }

    #[test]
    fn an_unpaid_order_waiting_for_a_sku_is_held_by_its_next_revision() {
        let (mut b, _) = book(1, 0);
        let id = Uuid::now_v7();
        let mut o = order(id, 1, OrderStatus::PendingPayment, 1, 0);
        o.lines[0].sku_code = Some("LATER".into());
        b.sync_order(Uuid::now_v7(), o.clone(), t(1));
        assert_eq!(placed(&b, id)[0].0, LineState::Unmapped);
        let (later, _) = b.create_sku(Uuid::now_v7(), "LATER", "Later", 0, t(2)).unwrap();
        assert_eq!(placed(&b, id)[0].0, LineState::Unreserved, "known now, nothing to reserve before payment");
        b.adjust(&Adjust { sku_code: "LATER".into(), warehouse_code: None, delta: 1, reason: "r".into() }, t(3))
            .unwrap();
        o.revision = 2;
        b.sync_order(Uuid::now_v7(), o, t(4));
        assert_eq!(placed(&b, id)[0].0, LineState::Held);
        check_invariants(&b, later.id);
    }

    #[test]
    fn stored_lines_without_a_sku_load_as_unmapped() {
        let (mut b, _) = book(1, 0);
        let id = Uuid::now_v7();
        b.sync_order(Uuid::now_v7(), paid(id, 1, &[(Some("GONE"), 1)], None, 1), t(1));
        let mut r = b.reservation(&format!("order:{id}")).unwrap().clone();
        r.lines[0].state = LineState::Unreserved;
        let loaded = Book::from_parts(b.warehouses.clone(), Vec::new(), Vec::new(), vec![r], Allocation::default());
        assert_eq!(loaded.reservation(&format!("order:{id}")).unwrap().lines[0].state, LineState::Unmapped);
    }
}
