//! [`Book`]: the aggregate that owns one tenant's levels, reservations and backorder queue.

use super::*;
use chrono::Duration;
use std::collections::{BTreeSet, HashMap};

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
}

impl Book {
    /// A book from stored state.
    pub fn from_parts(
        warehouses: Vec<Warehouse>,
        skus: Vec<Sku>,
        levels: Vec<((Uuid, Uuid), Level)>,
        reservations: Vec<Reservation>,
    ) -> Book {
        let mut b = Book { warehouses, levels: levels.into_iter().collect(), ..Book::default() };
        for s in skus {
            b.sku_codes.insert(s.id, s.code.clone());
            b.skus.insert(s.code.clone(), s);
        }
        for r in reservations {
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

    /// Reserves `qty` of a SKU across warehouses (most free stock first), or nothing.
    fn take(
        &mut self,
        sku_id: Uuid,
        qty: i64,
        reservation_id: Uuid,
        cause: &str,
        ev: &mut Vec<StockEvent>,
    ) -> Option<Vec<Alloc>> {
        if qty <= 0 || self.available(sku_id) < qty {
            return None;
        }
        let mut free: Vec<(i64, Uuid)> = self
            .warehouses
            .iter()
            .map(|w| {
                let l = self.level(sku_id, w.id);
                (l.on_hand - l.reserved, w.id)
            })
            .filter(|(f, _)| *f > 0)
            .collect();
        free.sort_by_key(|f| std::cmp::Reverse(f.0));
        let mut left = qty;
        let mut allocs = Vec::new();
        for (f, wh) in free {
            let q = f.min(left);
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
        loop {
            let Some((_, key, idx)) = self.backorders.get(&sku_id).and_then(|q| q.first().cloned()) else { return };
            let qty = self.reservations[&key].lines[idx].quantity;
            if self.available(sku_id) < qty {
                return;
            }
            let mut r = self.take_reservation(&key).expect("queued reservations exist");
            let cause = format!("backorder filled: {}", r.reference);
            let allocs = self.take(sku_id, qty, r.id, &cause, ev).expect("checked availability");
            let line = &mut r.lines[idx];
            line.allocations = allocs;
            line.state = LineState::Confirmed;
            line.backordered_at = None;
            r.version += 1;
            r.updated_at = now;
            ev.push(StockEvent::ReservationChanged(key));
            self.put(r);
        }
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

    /// Creates a SKU; the same code with the same fields again is the first result.
    pub fn create_sku(
        &mut self,
        id: Uuid,
        code: &str,
        name: &str,
        safety_stock: i64,
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
        Ok((s, vec![StockEvent::SkuCreated(id)]))
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
                    .take(sku, l.quantity, id, &cause, &mut ev)
                    .expect("availability checked for the whole request");
                ResLine {
                    line_ref: (i + 1).to_string(),
                    sku_id: sku,
                    sku_code: l.sku_code.clone(),
                    quantity: l.quantity,
                    state: LineState::Held,
                    allocations,
                    backordered_at: None,
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
    pub fn sync_order(&mut self, new_id: Uuid, cmd: SyncOrder, now: Timestamp) -> Vec<StockEvent> {
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
        for ol in &cmd.lines {
            let idx = match r.lines.iter().position(|l| l.line_ref == ol.external_line_id) {
                Some(i) => i,
                None => {
                    let code = ol.sku_code.clone().unwrap_or_default();
                    let sku_id = self.sku(&code).map_or(Uuid::nil(), |s| s.id);
                    r.lines.push(ResLine {
                        line_ref: ol.external_line_id.clone(),
                        sku_id,
                        sku_code: code,
                        quantity: ol.quantity,
                        state: LineState::Unreserved,
                        allocations: Vec::new(),
                        backordered_at: None,
                    });
                    r.lines.len() - 1
                }
            };
            let mut line = r.lines[idx].clone();
            let known = !line.sku_id.is_nil();
            use LineState as S;
            use OrderStatus as O;
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
                (S::Backordered | S::Unreserved | S::Expired, _) if release => line.state = S::Released,
                (S::Held | S::Confirmed, O::Shipped | O::Completed) => {
                    self.give_back(&mut line, MovementKind::Commit, r.id, &cause, &mut ev);
                    line.state = S::Committed;
                }
                (S::Held, O::PendingPayment) => {}
                (S::Unreserved, O::PendingPayment) if known && hold_until > now => {
                    if let Some(a) = self.take(line.sku_id, line.quantity, r.id, &cause, &mut ev) {
                        line.allocations = a;
                        line.state = S::Held;
                    }
                }
                (S::Held, O::Paid | O::Allocated | O::Backordered | O::OnHold | O::PartiallyShipped) => {
                    line.state = S::Confirmed
                }
                (
                    S::Unreserved | S::Expired,
                    O::Paid | O::Allocated | O::Backordered | O::OnHold | O::PartiallyShipped,
                ) if known => match self.take(line.sku_id, line.quantity, r.id, &cause, &mut ev) {
                    Some(a) => {
                        line.allocations = a;
                        line.state = S::Confirmed;
                    }
                    None => {
                        line.state = S::Backordered;
                        line.backordered_at = Some(cmd.paid_at.unwrap_or(now));
                    }
                },
                // Shipped by the marketplace without stock reserved here, unknown SKUs,
                // confirmed lines staying confirmed, backorders still waiting: nothing moves.
                _ => {}
            }
            if line.state != S::Backordered {
                line.backordered_at = None;
            }
            r.lines[idx] = line;
        }
        r.expires_at = r.lines.iter().any(|l| l.state == LineState::Held).then_some(hold_until);
        r.paid_at = cmd.paid_at;
        r.revision = cmd.revision;
        r.version += 1;
        r.updated_at = now;
        ev.push(StockEvent::ReservationChanged(key));
        self.put(r);
        for sku in freed {
            self.fill_backorders(sku, now, &mut ev);
        }
        ev
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
        let (sku, _) = b.create_sku(Uuid::now_v7(), "TEE", "Tee", safety).unwrap();
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
        }
    }

    fn check_invariants(b: &Book, sku: Uuid) {
        let (on_hand, reserved): (i64, i64) =
            b.warehouses().iter().map(|w| b.level(sku, w.id)).fold((0, 0), |a, l| (a.0 + l.on_hand, a.1 + l.reserved));
        let live: i64 = b
            .reservations
            .values()
            .flat_map(|r| &r.lines)
            .filter(|l| matches!(l.state, LineState::Held | LineState::Confirmed))
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
}
