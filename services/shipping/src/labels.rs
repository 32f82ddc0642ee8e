//! Labels: one shipment's label PDF, and label batches (a job that renders many shipments'
//! labels into one PDF, sorted for picking, and marks them printed).

use crate::{
    db::{self, label_batches, shipping_accounts},
    domain::{Shipment, Status},
    service::{Error, Shipping},
};
use kernel::{TenantId, Timestamp};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use shipping_labels::{Label, LabelItem, LabelSize, Party};
use std::collections::HashMap;
use uuid::Uuid;

/// How a batch orders its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By the carrier's route code (三段码): labels come out in sortation order.
    Route,
    /// By the first SKU and its quantity: a picker walks the shelves once.
    Sku,
    /// As the request listed them.
    AsGiven,
}

impl Sort {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Route => "route",
            Sort::Sku => "sku",
            Sort::AsGiven => "as_given",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Sort> {
        [Sort::Route, Sort::Sku, Sort::AsGiven].into_iter().find(|x| x.as_str() == s)
    }
}

/// Shipments prepared per progress step of a batch, at least (a big batch takes about twenty
/// steps, so its progress moves without a write per handful of labels).
const STEP: usize = 25;

/// China time, as printed on labels.
fn china(t: Timestamp) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00")).format("%Y-%m-%d %H:%M").to_string()
}

/// The labels of `s` (one per parcel), sent from `account`'s sender.
pub fn labels_of(s: &Shipment, account: Option<&shipping_accounts::Model>, now: Timestamp) -> Vec<Label> {
    let Some(w) = &s.waybill else { return Vec::new() };
    let sender: crate::courier::Address =
        account.and_then(|a| serde_json::from_str(&a.sender).ok()).unwrap_or_default();
    let mut items: Vec<LabelItem> = Vec::new();
    for l in &s.lines {
        match items.iter_mut().find(|i| i.name == l.title) {
            Some(i) => i.count += l.quantity.max(0) as u32,
            None => items.push(LabelItem { name: l.title.clone(), count: l.quantity.max(0) as u32 }),
        }
    }
    let codes = w.parcel_codes();
    let count = codes.len() as u32;
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| Label {
            cp_code: w.cp_code.clone(),
            cp_name: if w.print.cp_name.is_empty() { w.cp_code.clone() } else { w.print.cp_name.clone() },
            waybill_code: code.clone(),
            parent_waybill_code: (count > 1).then(|| w.code.clone()),
            parcel_no: i as u32 + 1,
            parcel_count: count,
            sortation_name: w.print.sortation_name.clone(),
            route_code: w.print.route_code.clone(),
            consolidation_code: w.print.consolidation_code.clone(),
            recipient: Party {
                name: s.receiver.name.clone(),
                phone: s.receiver.phone.clone(),
                province: s.receiver.province.clone(),
                city: s.receiver.city.clone(),
                district: s.receiver.district.clone(),
                address: s.receiver.address.clone(),
            },
            sender: Party {
                name: sender.name.clone(),
                phone: sender.phone.clone(),
                province: sender.province.clone(),
                city: sender.city.clone(),
                district: sender.district.clone(),
                address: sender.address.clone(),
            },
            items: items.clone(),
            trade_ids: s.trade_ids(),
            remark: None,
            printed_at: china(now),
        })
        .collect()
}

/// Orders shipments for a batch.
pub fn sort(mut list: Vec<Shipment>, given: &[Uuid], how: Sort) -> Vec<Shipment> {
    match how {
        Sort::AsGiven => {
            let pos: HashMap<Uuid, usize> = given.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            list.sort_by_key(|s| pos.get(&s.id).copied().unwrap_or(usize::MAX));
        }
        Sort::Route => list.sort_by(|a, b| {
            let r = |s: &Shipment| s.waybill.as_ref().map(|w| w.print.route_code.clone()).unwrap_or_default();
            (r(a), a.created_at, a.id).cmp(&(r(b), b.created_at, b.id))
        }),
        Sort::Sku => list.sort_by(|a, b| {
            let k = |s: &Shipment| {
                let mut skus: Vec<&str> = s.lines.iter().map(|l| l.sku_code.as_str()).collect();
                skus.sort_unstable();
                (skus.join(","), s.units())
            };
            (k(a), a.created_at, a.id).cmp(&(k(b), b.created_at, b.id))
        }),
    }
    list
}

/// A label batch as stored (without its PDF).
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: Uuid,
    /// `queued`, `rendering`, `done` or `failed`.
    pub status: String,
    pub sort: Sort,
    pub size: LabelSize,
    pub shipment_ids: Vec<Uuid>,
    pub total: i32,
    pub done: i32,
    pub pages: i32,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

fn batch_of(m: label_batches::Model) -> Batch {
    Batch {
        id: m.id,
        status: m.status,
        sort: Sort::parse(&m.sort).unwrap_or(Sort::AsGiven),
        size: m.size.parse().unwrap_or(LabelSize::Mm100x180),
        shipment_ids: serde_json::from_str(&m.shipment_ids).unwrap_or_default(),
        total: m.total,
        done: m.done,
        pages: m.pages,
        error: m.error,
        created_at: m.created_at,
        finished_at: m.finished_at,
    }
}

impl Shipping {
    /// Shipment `id`'s label PDF (one page per parcel). Reading it prints nothing: printing is
    /// a batch (which counts).
    pub async fn label(
        &self,
        tenant: TenantId,
        id: Uuid,
        size: LabelSize,
        renderer: &shipping_labels::Renderer,
    ) -> Result<Vec<u8>, Error> {
        let s = db::load(self.db.tenant(tenant.0).conn(), tenant, &[id], false).await?.pop().ok_or(Error::NotFound)?;
        if s.waybill.is_none() {
            return Err(Error::Conflict(format!(
                "the shipment has no waybill (it is {}): draw one first",
                s.status.as_str()
            )));
        }
        let account = match s.waybill.as_ref().map(|w| w.account_id) {
            Some(a) => db::account(self.db.tenant(tenant.0).conn(), tenant, a).await?,
            None => None,
        };
        Ok(renderer.render(&labels_of(&s, account.as_ref(), self.clock.now()), size))
    }

    /// Queues a label batch for the tenant's shipments `ids`: every one must be the tenant's
    /// and have a live waybill. The worker renders it; the batch's progress says how far.
    pub async fn create_batch(
        &self,
        tenant: TenantId,
        ids: &[Uuid],
        how: Sort,
        size: LabelSize,
    ) -> Result<Batch, Error> {
        if ids.is_empty() || ids.len() > 20_000 {
            return Err(Error::Invalid("a batch prints 1-20000 shipments".into()));
        }
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let found = db::load(self.db.tenant(tenant.0).conn(), tenant, &ids, false).await?;
        if found.len() != ids.len() {
            let have: std::collections::HashSet<Uuid> = found.iter().map(|s| s.id).collect();
            let missing: Vec<String> =
                ids.iter().filter(|id| !have.contains(id)).take(5).map(Uuid::to_string).collect();
            return Err(Error::UnknownReference(format!("no such shipment: {}", missing.join(", "))));
        }
        let undrawn: Vec<String> = found
            .iter()
            .filter(|s| s.waybill.is_none())
            .take(5)
            .map(|s| format!("{} ({})", s.id, s.status.as_str()))
            .collect();
        if !undrawn.is_empty() {
            return Err(Error::Conflict(format!("these shipments have no waybill to print: {}", undrawn.join(", "))));
        }
        let now = self.clock.now();
        let id = kernel::new_id();
        let tx = self.db.tenant(tenant.0).write_named("shipping").await?;
        label_batches::Entity::insert(label_batches::ActiveModel {
            tenant_id: Set(tenant.0),
            id: Set(id),
            status: Set("queued".into()),
            sort: Set(how.as_str().into()),
            size: Set(size.as_str().into()),
            shipment_ids: Set(serde_json::to_string(&ids).expect("JSON")),
            total: Set(ids.len() as i32),
            done: Set(0),
            pages: Set(0),
            error: Set(None),
            pdf: Set(None),
            created_at: Set(now),
            finished_at: Set(None),
        })
        .exec_without_returning(&*tx)
        .await?;
        tx.commit().await?;
        // Read back before the worker is woken: the answer is the batch as queued.
        let queued = self.batch(tenant, id).await?.ok_or(Error::NotFound)?;
        self.wake.notify_one();
        Ok(queued)
    }

    /// The tenant's batch `id`.
    pub async fn batch(&self, tenant: TenantId, id: Uuid) -> Result<Option<Batch>, Error> {
        Ok(label_batches::Entity::find_by_id((tenant.0, id)).one(self.db.tenant(tenant.0).conn()).await?.map(batch_of))
    }

    /// The PDF of the tenant's finished batch `id` (`Ok(None)`: no such batch).
    pub async fn batch_pdf(&self, tenant: TenantId, id: Uuid) -> Result<Option<(Batch, Option<Vec<u8>>)>, Error> {
        Ok(label_batches::Entity::find_by_id((tenant.0, id)).one(self.db.tenant(tenant.0).conn()).await?.map(
            |mut m| {
                let pdf = m.pdf.take();
                (batch_of(m), pdf)
            },
        ))
    }

    /// Renders the oldest queued batch, if any (any tenant's: found in the system scope, then
    /// rendered in its tenant's); `true` when it did one.
    pub async fn render_next_batch(&self, renderer: &shipping_labels::Renderer) -> Result<bool, Error> {
        let Some(m) = label_batches::Entity::find()
            .filter(label_batches::Column::Status.is_in(["queued", "rendering"]))
            .order_by_asc(label_batches::Column::CreatedAt)
            .one(self.db.system().conn())
            .await?
        else {
            return Ok(false);
        };
        let tenant = TenantId(m.tenant_id);
        let b = batch_of(m);
        let set = |cols: Vec<(label_batches::Column, sea_orm::Value)>| {
            let db = self.db.tenant(tenant.0);
            async move {
                let tx = db.write_named("shipping labels").await?;
                let mut q = label_batches::Entity::update_many();
                for (c, v) in cols {
                    q = q.col_expr(c, Expr::value(v));
                }
                q.filter(label_batches::Column::TenantId.eq(tenant.0))
                    .filter(label_batches::Column::Id.eq(b.id))
                    .exec(&*tx)
                    .await?;
                tx.commit().await
            }
        };
        use label_batches::Column as C;
        set(vec![(C::Status, "rendering".into()), (C::Done, 0.into())]).await?;
        let accounts: HashMap<Uuid, shipping_accounts::Model> =
            db::accounts(self.db.tenant(tenant.0).conn(), tenant).await?.into_iter().map(|a| (a.id, a)).collect();
        let now = self.clock.now();
        let mut loaded = Vec::with_capacity(b.shipment_ids.len());
        let step = (b.shipment_ids.len() / 20).max(STEP);
        for (i, chunk) in b.shipment_ids.chunks(step).enumerate() {
            loaded.extend(db::load(self.db.tenant(tenant.0).conn(), tenant, chunk, false).await?);
            // Loading and laying out is most of the work; the PDF is written at the end.
            let done = ((i + 1) * step).min(b.shipment_ids.len()) as i32;
            if done < b.total {
                set(vec![(C::Done, done.into())]).await?;
            }
        }
        let (printable, left_out): (Vec<Shipment>, Vec<Shipment>) =
            loaded.into_iter().partition(|s| s.waybill.is_some());
        let sorted = sort(printable, &b.shipment_ids, b.sort);
        let labels: Vec<Label> = sorted
            .iter()
            .flat_map(|s| labels_of(s, s.waybill.as_ref().and_then(|w| accounts.get(&w.account_id)), now))
            .collect();
        let pages = labels.len();
        // Rendering is CPU work (about 50 µs a label): off the async workers.
        let pdf = {
            let (r, size) = (renderer.clone(), b.size);
            tokio::task::spawn_blocking(move || r.render(&labels, size))
                .await
                .map_err(|e| Error::Db(sea_orm::DbErr::Custom(format!("label rendering panicked: {e}"))))?
        };
        let error = (!left_out.is_empty()).then(|| {
            format!(
                "{} shipment(s) lost their waybill before printing and were left out: {}",
                left_out.len(),
                left_out.iter().take(5).map(|s| s.id.to_string()).collect::<Vec<_>>().join(", ")
            )
        });
        let tx = self.db.tenant(tenant.0).write_named("shipping labels").await?;
        // Printing marks what it printed (a reprint counts again).
        let mut printed = Vec::new();
        for mut s in db::load(&*tx, tenant, &sorted.iter().map(|s| s.id).collect::<Vec<_>>(), true).await? {
            s.print_count += 1;
            if s.status == Status::WaybillAllocated {
                s.status = Status::Printed;
            }
            s.updated_at = now;
            printed.push(s);
        }
        db::save_shipments(&*tx, tenant, &printed.iter().collect::<Vec<_>>()).await?;
        let notes: Vec<(Uuid, String)> = printed
            .iter()
            .map(|s| (s.id, format!("Label printed in batch {} (print {})", b.id, s.print_count)))
            .collect();
        db::history(&*tx, tenant, &notes, now).await?;
        label_batches::Entity::update(label_batches::ActiveModel {
            tenant_id: Set(tenant.0),
            id: Set(b.id),
            status: Set("done".into()),
            done: Set(b.total),
            pages: Set(pages as i32),
            error: Set(error),
            pdf: Set(Some(pdf)),
            // When it finished, not when rendering started (`now`, the labels' print time).
            finished_at: Set(Some(self.clock.now())),
            ..Default::default()
        })
        .exec(&*tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
