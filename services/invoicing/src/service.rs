//! The use cases: keep invoicing's view of each order, issue invoices and credit notes exactly
//! once with gapless numbers, void. Shared by the bus consumer and the HTTP API.
//!
//! Exactly once: every document has a `source_key` (`order:{id}` for an order's invoice,
//! `reissue:{voided id}` for its replacement after a void, `credit:{invoice}:{lines}` for a
//! credit note) that is unique per tenant, and each order line can be credited once
//! (`invoice_credited_lines`). Gapless: the number is taken from `invoice_series` in the same
//! transaction as the document is written (`UPDATE … SET last_number = last_number + 1`), so
//! the row lock serialises issuers on every instance and a rollback gives the number back.
//!
//! Rule: an invoice covers the order as it was paid; later refunds get credit notes. Issuing
//! from a snapshot that already shows a refund therefore yields the invoice *and* the credit
//! note, exactly as if the two events had arrived in order.

use crate::{
    db::{invoice_credited_lines, invoice_orders, invoice_settings, invoice_tax_categories, invoices},
    domain::{
        self, IssueOn, Kind,
        amounts::{self, InvoiceLine, RateBp, SaleLine, Totals},
    },
};
use base64::Engine as _;
use chrono::{DateTime, Datelike, Utc};
use kernel::signature::{self, HmacSha256, Mac as _};
use kernel::{
    Money, Timestamp,
    events::OrderChanged,
    trade::{InvoiceBuyerKind, InvoiceRequest},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// The seller block, copied into each document when it is issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerInfo {
    pub name: String,
    pub tax_id: String,
    pub address: String,
    pub phone: String,
    pub bank: String,
    pub account: String,
}

/// The buyer block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerInfo {
    pub kind: InvoiceBuyerKind,
    pub title: String,
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

impl BuyerInfo {
    /// From the buyer's request on the trade, or a personal invoice in the buyer's nickname.
    pub fn from_order(req: Option<&InvoiceRequest>, buyer_nick: &str) -> BuyerInfo {
        match req {
            Some(r) => {
                BuyerInfo { kind: r.kind, title: r.title.clone(), tax_id: r.tax_id.clone(), email: r.email.clone() }
            }
            None => BuyerInfo {
                kind: InvoiceBuyerKind::Personal,
                title: if buyer_nick.is_empty() { "个人".into() } else { buyer_nick.to_owned() },
                tax_id: None,
                email: None,
            },
        }
    }
}

/// Everything printed on an issued document. Stored as JSON and never changed afterwards;
/// only the status (void) lives outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub seller: SellerInfo,
    pub buyer: BuyerInfo,
    pub lines: Vec<InvoiceLine>,
    pub prices_include_tax: bool,
    pub currency: String,
    /// The marketplace's order number.
    pub order_ref: String,
    /// For a credit note: the invoice it corrects.
    pub original_number: Option<String>,
    pub verify_url: String,
    pub remarks: Option<String>,
}

/// A tenant's invoicing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub seller: SellerInfo,
    pub prices_include_tax: bool,
    pub default_rate_bp: RateBp,
    pub issue_on: IssueOn,
    pub series_pattern: String,
    pub credit_series_pattern: String,
}

impl Settings {
    fn from_row(r: invoice_settings::Model) -> Settings {
        Settings {
            seller: SellerInfo {
                name: r.seller_name,
                tax_id: r.tax_id,
                address: r.address,
                phone: r.phone,
                bank: r.bank,
                account: r.account,
            },
            prices_include_tax: r.prices_include_tax,
            default_rate_bp: r.default_rate_bp as RateBp,
            issue_on: IssueOn::parse(&r.issue_on).unwrap_or(IssueOn::Request),
            series_pattern: r.series_pattern,
            credit_series_pattern: r.credit_series_pattern,
        }
    }
}

/// The invoices (not credit notes) of an order in `status`.
fn order_invoices(tenant: Uuid, order_id: Uuid, status: &str) -> sea_orm::Select<invoices::Entity> {
    invoices::Entity::find()
        .filter(invoices::Column::TenantId.eq(tenant))
        .filter(invoices::Column::OrderId.eq(order_id))
        .filter(invoices::Column::Kind.eq(Kind::Invoice.as_str()))
        .filter(invoices::Column::Status.eq(status))
}

/// Signs and checks the verification tokens printed as QR codes.
#[derive(Clone)]
pub struct VerifyKey(Arc<[u8; 32]>);

const TAG_LEN: usize = 16;

impl VerifyKey {
    /// Derived from the deployment's secret, so every instance agrees without more config.
    pub fn derive(secret: &SecretString) -> VerifyKey {
        let mac = signature::mac(secret.expose_secret().as_bytes(), &[b"cairn/invoice-verification/v1"]);
        VerifyKey(Arc::new(mac.finalize().into_bytes().into()))
    }

    fn mac(&self, tenant: Uuid, id: Uuid) -> HmacSha256 {
        signature::mac(&*self.0, &[tenant.as_bytes(), id.as_bytes()])
    }

    /// base64url(tenant ‖ invoice id ‖ first 16 bytes of their HMAC).
    pub fn token(&self, tenant: Uuid, id: Uuid) -> String {
        let mut raw = Vec::with_capacity(32 + TAG_LEN);
        raw.extend_from_slice(tenant.as_bytes());
        raw.extend_from_slice(id.as_bytes());
        raw.extend_from_slice(&self.mac(tenant, id).finalize().into_bytes()[..TAG_LEN]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// The (tenant, invoice id) a genuine token names; `None` for anything else.
    pub fn check(&self, token: &str) -> Option<(Uuid, Uuid)> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() != 32 + TAG_LEN {
            return None;
        }
        let tenant = Uuid::from_slice(&raw[..16]).ok()?;
        let id = Uuid::from_slice(&raw[16..32]).ok()?;
        self.mac(tenant, id).verify_truncated_left(&raw[32..]).ok()?;
        Some((tenant, id))
    }
}

/// Why a request to issue cannot be met.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("invoicing is not set up for this tenant: PUT /v1/invoicing/settings first")]
    NotConfigured,
    #[error("order not found")]
    UnknownOrder,
    #[error("the order is {0}; only paid orders that are not cancelled can be invoiced")]
    NotInvoiceable(String),
    #[error("the order already has invoice {0} made out differently; void it first to reissue")]
    Conflict(String),
    #[error("the order's amounts cannot be invoiced: {0}")]
    Amounts(#[from] amounts::AmountError),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The use cases over one database.
#[derive(Clone)]
pub struct Invoicing {
    pub db: store::Db,
    pub key: VerifyKey,
    /// Where verification links point, e.g. `https://cairn.example.cn`.
    pub public_url: String,
    /// Issue dates, and so the year a number is drawn from, come from it.
    pub clock: kernel::SharedClock,
}

/// The outcome of asking for an order's invoice.
pub struct Issued {
    pub invoice: invoices::Model,
    /// False when the invoice already existed.
    pub created: bool,
}

/// The calendar year of `at` in China (UTC+8), which numbering series follow.
fn year_in_china(at: Timestamp) -> i32 {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")).year()
}

use store::stmt;

impl Invoicing {
    /// The settings of `tenant`, if it set invoicing up.
    pub async fn settings<C: ConnectionTrait>(&self, conn: &C, tenant: Uuid) -> Result<Option<Settings>, DbErr> {
        Ok(invoice_settings::Entity::find_by_id(tenant).one(conn).await?.map(Settings::from_row))
    }

    /// Takes the next number of `series` inside the caller's transaction. On PostgreSQL the row
    /// stays locked until the transaction ends, which serialises issuers on every instance.
    async fn next_seq<C: ConnectionTrait>(&self, conn: &C, tenant: Uuid, series: &str) -> Result<i64, DbErr> {
        conn.execute_raw(stmt(
            &self.db,
            "insert into invoice_series (tenant_id, series, last_number) values (?, ?, 0) on conflict do nothing",
            vec![tenant.into(), series.into()],
        ))
        .await?;
        let row = conn
            .query_one_raw(stmt(&self.db, "update invoice_series set last_number = last_number + 1 where tenant_id = ? and series = ? returning last_number", vec![tenant.into(), series.into()]))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("invoice series".into()))?;
        row.try_get_by_index::<i64>(0)
    }

    /// Writes a new document unless its `source_key` exists. Returns the document and whether
    /// it is new. The caller commits.
    #[allow(clippy::too_many_arguments)]
    async fn issue<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        kind: Kind,
        source_key: &str,
        pattern: &str,
        order_id: Uuid,
        original_id: Option<Uuid>,
        mut doc: Document,
        now: Timestamp,
    ) -> Result<(invoices::Model, bool), DbErr> {
        let series = domain::series(pattern, year_in_china(now));
        // The number first: on PostgreSQL this waits for a concurrent issuer of the same series,
        // so the existence check below sees what it committed.
        let seq = self.next_seq(conn, tenant, &series).await?;
        if let Some(existing) = invoices::Entity::find()
            .filter(invoices::Column::TenantId.eq(tenant))
            .filter(invoices::Column::SourceKey.eq(source_key))
            .one(conn)
            .await?
        {
            // The caller's transaction must not commit the number we took: signal it by
            // returning `false`; every caller rolls back in that case.
            return Ok((existing, false));
        }
        let id = kernel::new_id();
        doc.verify_url =
            format!("{}/v1/invoices/verify/{}", self.public_url.trim_end_matches('/'), self.key.token(tenant, id));
        let totals = Totals::of(&doc.lines);
        let row = invoices::Model {
            tenant_id: tenant,
            id,
            kind: kind.as_str().to_owned(),
            source_key: source_key.to_owned(),
            series: series.clone(),
            seq,
            number: domain::number(&series, seq),
            order_id,
            order_ref: doc.order_ref.clone(),
            original_id,
            status: "issued".into(),
            issued_at: now,
            voided_at: None,
            void_reason: None,
            currency: doc.currency.clone(),
            total_net: totals.net,
            total_tax: totals.tax,
            total: totals.total(),
            buyer_title: doc.buyer.title.clone(),
            buyer_tax_id: doc.buyer.tax_id.clone(),
            document: serde_json::to_string(&doc).map_err(|e| DbErr::Custom(e.to_string()))?,
        };
        invoices::Entity::insert(invoices::ActiveModel::from(row.clone())).exec_without_returning(conn).await?;
        let issued = kernel::events::InvoiceIssued {
            invoice_id: row.id,
            kind: row.kind.clone(),
            number: row.number.clone(),
            order_id,
            order_ref: row.order_ref.clone(),
            original_id,
            currency: row.currency.clone(),
            total: Money(row.total),
            issued_at: now,
        };
        bus::outbox::enqueue(conn, &[kernel::Envelope::new(kernel::TenantId(tenant), &issued, now, None)]).await?;
        Ok((row, true))
    }

    /// The order as invoicing last saw it (locked on PostgreSQL until the transaction ends).
    pub async fn order<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        order_id: Uuid,
    ) -> Result<Option<OrderChanged>, anyhow::Error> {
        let mut q = invoice_orders::Entity::find_by_id((tenant, order_id));
        if self.db.is_postgres() {
            q = q.lock_exclusive();
        }
        match q.one(conn).await? {
            Some(r) => Ok(Some(serde_json::from_str(&r.event)?)),
            None => Ok(None),
        }
    }

    async fn tax_categories<C: ConnectionTrait>(&self, conn: &C, tenant: Uuid) -> Result<Vec<(String, RateBp)>, DbErr> {
        Ok(invoice_tax_categories::Entity::find()
            .filter(invoice_tax_categories::Column::TenantId.eq(tenant))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| (r.sku_code, r.rate_bp as RateBp))
            .collect())
    }

    /// The invoice document for an order under `settings`.
    async fn invoice_document<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        s: &Settings,
        o: &OrderChanged,
        buyer: BuyerInfo,
    ) -> Result<Document, IssueError> {
        let cats = self.tax_categories(conn, tenant).await?;
        let sale: Vec<SaleLine> = o
            .lines
            .iter()
            .map(|l| SaleLine {
                line_ref: l.external_line_id.clone(),
                sku_code: l.sku_code.clone().unwrap_or_default(),
                title: if l.title.is_empty() { l.sku_code.clone().unwrap_or_default() } else { l.title.clone() },
                quantity: l.quantity,
                unit_price: l.unit_price.0,
                rate_bp: domain::rate_for(l.sku_code.as_deref().unwrap_or(""), &cats, s.default_rate_bp),
            })
            .collect();
        let lines =
            amounts::invoice_lines(&sale, o.discount_fee.0, o.post_fee.0, s.default_rate_bp, s.prices_include_tax)?;
        if s.prices_include_tax && o.payment.0 != 0 && Totals::of(&lines).total() != o.payment.0 {
            // The marketplace's arithmetic disagrees with its own fields; invoice what the lines
            // say and leave a trace, rather than invent a correction.
            tracing::warn!(order_id = %o.order_id, paid = o.payment.0, invoiced = Totals::of(&lines).total(), "invoice total differs from the order's payment");
        }
        Ok(Document {
            seller: s.seller.clone(),
            buyer,
            lines,
            prices_include_tax: s.prices_include_tax,
            currency: if o.currency.is_empty() { "CNY".into() } else { o.currency.clone() },
            order_ref: o.external_id.clone(),
            original_number: None,
            verify_url: String::new(),
            remarks: None,
        })
    }

    /// The order's invoice that is in force (issued, not void), if any.
    async fn current_invoice<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        order_id: Uuid,
    ) -> Result<Option<invoices::Model>, DbErr> {
        order_invoices(tenant, order_id, "issued").one(conn).await
    }

    /// The order's most recent voided invoice, if any.
    async fn last_void_invoice<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        order_id: Uuid,
    ) -> Result<Option<invoices::Model>, DbErr> {
        order_invoices(tenant, order_id, "void")
            .order_by_desc(invoices::Column::IssuedAt)
            .order_by_desc(invoices::Column::Id)
            .one(conn)
            .await
    }

    /// Issues the order's invoice (when `force`, or when the settings say it is due) and the
    /// credit notes its refunds call for. Returns the invoice in force, whether it was issued
    /// now, and how many credit notes were issued. Runs inside the caller's transaction; when
    /// it returns `Err`, the caller must roll back.
    pub async fn reconcile<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        s: &Settings,
        o: &OrderChanged,
        requested: Option<BuyerInfo>,
        now: Timestamp,
    ) -> Result<(Option<Issued>, usize), IssueError> {
        let status = o.status.as_str();
        let paid = o.paid_at.is_some();
        let mut issued = None;
        let current = match self.current_invoice(conn, tenant, o.order_id).await? {
            Some(inv) => {
                if let Some(b) = &requested {
                    let doc: Document = serde_json::from_str(&inv.document).map_err(anyhow::Error::from)?;
                    if &doc.buyer != b {
                        return Err(IssueError::Conflict(inv.number));
                    }
                }
                issued = Some(Issued { invoice: inv.clone(), created: false });
                Some(inv)
            }
            None if requested.is_some() || domain::due(s.issue_on, status, paid) => {
                if requested.is_some() && !domain::invoiceable(status, paid) {
                    return Err(IssueError::NotInvoiceable(status.to_owned()));
                }
                let voided = self.last_void_invoice(conn, tenant, o.order_id).await?;
                if voided.is_some() && requested.is_none() {
                    // A person voided it; only a person reissues.
                    return Ok((None, 0));
                }
                let key = match &voided {
                    Some(v) => format!("reissue:{}", v.id),
                    None => format!("order:{}", o.order_id),
                };
                let buyer =
                    requested.unwrap_or_else(|| BuyerInfo::from_order(o.invoice_request.as_ref(), &o.buyer_nick));
                let doc = self.invoice_document(conn, tenant, s, o, buyer).await?;
                let (inv, created) = self
                    .issue(conn, tenant, Kind::Invoice, &key, &s.series_pattern, o.order_id, None, doc, now)
                    .await?;
                if !created {
                    return Err(IssueError::Unknown(anyhow::anyhow!(
                        "invoice {} appeared concurrently; retry",
                        inv.number
                    )));
                }
                issued = Some(Issued { invoice: inv.clone(), created: true });
                Some(inv)
            }
            None => None,
        };
        let Some(inv) = current else { return Ok((issued, 0)) };
        let credits = self.credit_refunds(conn, tenant, s, o, &inv, now).await?;
        Ok((issued, credits))
    }

    /// Issues a credit note for the refunded (or, when the order was cancelled after payment,
    /// all) lines of `inv` that no credit note covers yet.
    async fn credit_refunds<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        s: &Settings,
        o: &OrderChanged,
        inv: &invoices::Model,
        now: Timestamp,
    ) -> Result<usize, IssueError> {
        let refunded: Vec<String> = o.lines.iter().filter(|l| l.refunded).map(|l| l.external_line_id.clone()).collect();
        let cancelled = o.status == kernel::OrderStatus::Cancelled;
        if refunded.is_empty() && !cancelled {
            return Ok(0);
        }
        let already: Vec<String> = invoice_credited_lines::Entity::find()
            .filter(invoice_credited_lines::Column::TenantId.eq(tenant))
            .filter(invoice_credited_lines::Column::InvoiceId.eq(inv.id))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.line_ref)
            .collect();
        let original: Document = serde_json::from_str(&inv.document).map_err(anyhow::Error::from)?;
        let lines = domain::to_credit(&original.lines, &refunded, cancelled, &already);
        if lines.is_empty() {
            return Ok(0);
        }
        let key = domain::credit_key(&inv.id, &lines);
        let remarks = if cancelled { "订单取消退款 Order cancelled and refunded" } else { "退款 Refund" };
        let doc = Document {
            lines: lines.clone(),
            original_number: Some(inv.number.clone()),
            verify_url: String::new(),
            remarks: Some(remarks.into()),
            ..original
        };
        let (cn, created) = self
            .issue(conn, tenant, Kind::CreditNote, &key, &s.credit_series_pattern, o.order_id, Some(inv.id), doc, now)
            .await?;
        if !created {
            return Err(IssueError::Unknown(anyhow::anyhow!("credit note {} appeared concurrently; retry", cn.number)));
        }
        let rows = lines.iter().map(|l| invoice_credited_lines::ActiveModel {
            tenant_id: Set(tenant),
            invoice_id: Set(inv.id),
            line_ref: Set(l.line_ref.clone()),
            credit_note_id: Set(cn.id),
        });
        invoice_credited_lines::Entity::insert_many(rows).exec_without_returning(conn).await?;
        Ok(1)
    }

    /// Applies `order.changed` events inside `tx`, in order: records each that is newer than
    /// what invoicing has and issues what is due. Idempotent (the inbox claims are in `tx`).
    /// Set-based where it can be: one claim, one read and one upsert of the orders' rows, one
    /// read of the settings; only orders of tenants that set invoicing up go on to `reconcile`.
    pub async fn on_order_changed(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        envs: &[kernel::Envelope],
        consumer: &str,
    ) -> anyhow::Result<()> {
        use std::collections::HashMap;
        let now = self.clock.now();
        let claimed = bus::inbox::claim_many(tx, consumer, envs).await?;
        let mut events = Vec::with_capacity(claimed.len());
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            events.push((env.tenant_id.0, env.decode::<OrderChanged>()?));
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut cond = sea_orm::Condition::any();
        for (t, ev) in &events {
            cond = cond.add(
                sea_orm::Condition::all()
                    .add(invoice_orders::Column::TenantId.eq(*t))
                    .add(invoice_orders::Column::OrderId.eq(ev.order_id)),
            );
        }
        let mut q = invoice_orders::Entity::find().filter(cond);
        if self.db.is_postgres() {
            q = q.lock_exclusive();
        }
        let mut revisions: HashMap<(Uuid, Uuid), i64> =
            q.all(tx).await?.into_iter().map(|r| ((r.tenant_id, r.order_id), r.revision)).collect();
        // Events not newer than what invoicing has change nothing.
        let mut newer = Vec::with_capacity(events.len());
        let mut rows: HashMap<(Uuid, Uuid), invoice_orders::Model> = HashMap::new();
        for (t, ev) in events {
            let key = (t, ev.order_id);
            if revisions.get(&key).is_some_and(|r| *r >= ev.revision) {
                continue;
            }
            revisions.insert(key, ev.revision);
            let row = invoice_orders::Model {
                tenant_id: t,
                order_id: ev.order_id,
                revision: ev.revision,
                status: ev.status.as_str().to_owned(),
                paid: ev.paid_at.is_some(),
                event: serde_json::to_string(&ev)?,
                updated_at: now,
            };
            rows.insert(key, row);
            newer.push((t, ev));
        }
        if rows.is_empty() {
            return Ok(());
        }
        // Newer-wins upsert, returning the orders it wrote. A concurrent first insert of the
        // same order (PostgreSQL, two consumers, neither saw a row to lock) waits on the key and
        // then updates only if it is newer; an event that lost that race is dropped here like a
        // stale one, so it issues nothing.
        let sql = format!(
            "insert into invoice_orders (tenant_id, order_id, revision, status, paid, event, updated_at) values {} \
             on conflict (tenant_id, order_id) do update set revision = excluded.revision, status = excluded.status, paid = excluded.paid, \
             event = excluded.event, updated_at = excluded.updated_at where invoice_orders.revision < excluded.revision returning tenant_id, order_id",
            store::value_rows(rows.len(), 7)
        );
        let values: Vec<sea_orm::Value> = rows
            .into_values()
            .flat_map(|r| {
                [
                    r.tenant_id.into(),
                    r.order_id.into(),
                    r.revision.into(),
                    r.status.into(),
                    r.paid.into(),
                    r.event.into(),
                    r.updated_at.into(),
                ]
            })
            .collect();
        let mut written = std::collections::HashSet::new();
        for r in tx.query_all_raw(stmt(&self.db, &sql, values)).await? {
            written.insert((r.try_get::<Uuid>("", "tenant_id")?, r.try_get::<Uuid>("", "order_id")?));
        }
        newer.retain(|(t, ev)| written.contains(&(*t, ev.order_id)));
        let mut tenants: Vec<Uuid> = newer.iter().map(|(t, _)| *t).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let settings: HashMap<Uuid, Settings> = invoice_settings::Entity::find()
            .filter(invoice_settings::Column::TenantId.is_in(tenants))
            .all(tx)
            .await?
            .into_iter()
            .map(|r| (r.tenant_id, Settings::from_row(r)))
            .collect();
        for (t, ev) in newer {
            let Some(s) = settings.get(&t) else { continue };
            match self.reconcile(tx, t, s, &ev, None, now).await {
                Ok(_) => {}
                // An order the domain refuses (bad amounts) is recorded but gets no invoice;
                // retrying would not change that. A person can still see it through the API.
                Err(IssueError::Amounts(e)) => {
                    tracing::warn!(tenant_id = %t, order_id = %ev.order_id, error = %e, "order cannot be invoiced")
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Issues (or returns) the invoice of an order on request.
    pub async fn request(&self, tenant: Uuid, order_id: Uuid, buyer: Option<BuyerInfo>) -> Result<Issued, IssueError> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant).write().await?;
        let s = self.settings(&*tx, tenant).await?.ok_or(IssueError::NotConfigured)?;
        let o = self.order(&*tx, tenant, order_id).await?.ok_or(IssueError::UnknownOrder)?;
        let buyer = match buyer {
            Some(b) => b,
            None => match self.current_invoice(&*tx, tenant, order_id).await? {
                Some(inv) => return Ok(Issued { invoice: inv, created: false }),
                None => BuyerInfo::from_order(o.invoice_request.as_ref(), &o.buyer_nick),
            },
        };
        let (issued, _) = self.reconcile(&*tx, tenant, &s, &o, Some(buyer), now).await?;
        let issued = issued.ok_or_else(|| IssueError::Unknown(anyhow::anyhow!("no invoice after a request")))?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Voids a document: it keeps its number and shows as void. Voiding an invoice with credit
    /// notes in force is refused; voiding a credit note frees its lines to be credited again.
    pub async fn void(&self, tenant: Uuid, id: Uuid, reason: &str) -> Result<Option<invoices::Model>, VoidError> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant).write().await.map_err(|e| VoidError::Db(e.into()))?;
        let mut q = invoices::Entity::find_by_id((tenant, id));
        if self.db.is_postgres() {
            q = q.lock_exclusive();
        }
        let Some(inv) = q.one(&*tx).await.map_err(|e| VoidError::Db(e.into()))? else { return Ok(None) };
        if inv.status == "void" {
            return Ok(Some(inv));
        }
        if inv.kind == Kind::Invoice.as_str() {
            let credits = invoices::Entity::find()
                .filter(invoices::Column::TenantId.eq(tenant))
                .filter(invoices::Column::OriginalId.eq(id))
                .filter(invoices::Column::Status.eq("issued"))
                .all(&*tx)
                .await
                .map_err(|e| VoidError::Db(e.into()))?;
            if let Some(c) = credits.first() {
                return Err(VoidError::HasCredits(c.number.clone()));
            }
        } else {
            invoice_credited_lines::Entity::delete_many()
                .filter(invoice_credited_lines::Column::TenantId.eq(tenant))
                .filter(invoice_credited_lines::Column::CreditNoteId.eq(id))
                .exec(&*tx)
                .await
                .map_err(|e| VoidError::Db(e.into()))?;
        }
        invoices::Entity::update_many()
            .col_expr(invoices::Column::Status, sea_orm::sea_query::Expr::value("void"))
            .col_expr(invoices::Column::VoidedAt, sea_orm::sea_query::Expr::value(now))
            .col_expr(invoices::Column::VoidReason, sea_orm::sea_query::Expr::value(reason.to_owned()))
            .filter(invoices::Column::TenantId.eq(tenant))
            .filter(invoices::Column::Id.eq(id))
            .exec(&*tx)
            .await
            .map_err(|e| VoidError::Db(e.into()))?;
        tx.commit().await.map_err(|e| VoidError::Db(e.into()))?;
        Ok(Some(invoices::Model {
            status: "void".into(),
            voided_at: Some(now),
            void_reason: Some(reason.to_owned()),
            ..inv
        }))
    }
}

/// Why a void was refused.
#[derive(Debug, thiserror::Error)]
pub enum VoidError {
    #[error("credit note {0} corrects this invoice; void the credit note first")]
    HasCredits(String),
    #[error(transparent)]
    Db(anyhow::Error),
}

/// The date printed on a document: the issue day in China.
pub fn issued_on(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")).format("%Y-%m-%d").to_string()
}
