//! `/v1/invoices` and `/v1/invoicing`: settings, tax categories, invoices and credit notes,
//! PDFs, the register for the accountant, and public verification.

use crate::{
    db::{invoice_settings, invoice_tax_categories, invoices},
    domain::{self, IssueOn, Kind, amounts, numerals},
    service::{BuyerInfo, Document, Invoicing, IssueError, VoidError, issued_on},
};
use auth::{BearerAuth, Scope};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kernel::{Money, trade::InvoiceBuyerKind};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::{Binary, PlainText},
};
use problem::status::{AUTHENTICATED, BAD_REQUEST, CONFLICT, NOT_FOUND, PUBLIC, READ, READ_BY_ID, WRITE, WRITE_BY_ID};
use problem::{ApiResult, Code, Json, Problem, ProblemResponse};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Invoices and credit notes, their PDFs, the register, and public verification.
    Invoicing,
}

/// The invoicing HTTP API.
pub struct InvoicingApi {
    svc: Invoicing,
    renderer: Arc<invoicing_pdf::Renderer>,
}

impl InvoicingApi {
    /// Builds the API over the use cases and a PDF renderer.
    pub fn new(svc: Invoicing, renderer: Arc<invoicing_pdf::Renderer>) -> Self {
        InvoicingApi { svc, renderer }
    }
}

/// When invoices are issued.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
enum IssueOnDto {
    /// As soon as an order is paid.
    Payment,
    /// When an order ships.
    Shipment,
    /// Only through `POST /v1/invoices`.
    Request,
}

impl From<IssueOnDto> for IssueOn {
    fn from(v: IssueOnDto) -> Self {
        match v {
            IssueOnDto::Payment => IssueOn::Payment,
            IssueOnDto::Shipment => IssueOn::Shipment,
            IssueOnDto::Request => IssueOn::Request,
        }
    }
}

/// A tenant's invoicing settings.
#[derive(Debug, Clone, Object)]
struct SettingsDto {
    /// The seller's registered name (销售方名称), printed on every invoice.
    #[oai(validator(min_length = 1, max_length = 100))]
    seller_name: String,
    /// The seller's unified social credit code (纳税人识别号): 15–20 digits or capitals.
    #[oai(validator(min_length = 15, max_length = 20, pattern = "^[0-9A-Z]{15,20}$"))]
    tax_id: String,
    #[oai(default, validator(max_length = 200))]
    address: String,
    #[oai(default, validator(max_length = 40))]
    phone: String,
    /// The seller's bank (开户行).
    #[oai(default, validator(max_length = 100))]
    bank: String,
    /// The bank account number.
    #[oai(default, validator(max_length = 40))]
    account: String,
    /// Whether order prices include VAT (the default in China). Default true.
    #[oai(default = "yes")]
    prices_include_tax: bool,
    /// The VAT rate for SKUs without a tax category: one of 0%, 1%, 1.5%, 3%, 5%, 6%, 9%, 13%.
    /// Default `13%`.
    #[oai(default = "thirteen")]
    default_vat_rate: String,
    /// When invoices are issued automatically. Default `payment`.
    #[oai(default = "on_payment")]
    issue_on: IssueOnDto,
    /// The invoice number prefix; `{YYYY}` becomes the year, and numbering restarts at 1 in
    /// each resulting series. Default `INV{YYYY}-` (→ `INV2026-00000001`).
    #[oai(default = "inv_pattern")]
    series_pattern: String,
    /// The same for credit notes. Default `CRN{YYYY}-`.
    #[oai(default = "crn_pattern")]
    credit_series_pattern: String,
}

fn yes() -> bool {
    true
}
fn thirteen() -> String {
    "13%".into()
}
fn on_payment() -> IssueOnDto {
    IssueOnDto::Payment
}
fn inv_pattern() -> String {
    "INV{YYYY}-".into()
}
fn crn_pattern() -> String {
    "CRN{YYYY}-".into()
}

fn valid_tax_id(t: &str) -> bool {
    (15..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(Code::InvalidInput, detail)
}

/// A SKU's tax category.
#[derive(Debug, Clone, Object)]
struct TaxCategoryDto {
    sku_code: String,
    /// e.g. `9%`.
    vat_rate: String,
}

/// Sets a SKU's tax category.
#[derive(Debug, Clone, Object)]
struct TaxCategoryIn {
    /// One of 0%, 1%, 1.5%, 3%, 5%, 6%, 9%, 13%.
    vat_rate: String,
}

/// Personal or company invoice.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
enum BuyerKindDto {
    Personal,
    Company,
}

/// Who the invoice is made out to.
#[derive(Debug, Clone, Object)]
struct BuyerDto {
    kind: BuyerKindDto,
    /// A company's registered name, or a person's name.
    #[oai(validator(min_length = 1, max_length = 100))]
    title: String,
    /// Required for a company: 15–20 digits or capitals.
    #[oai(nullable, skip_serializing_if_is_none, validator(pattern = "^[0-9A-Z]{15,20}$"))]
    tax_id: Option<String>,
    #[oai(nullable, skip_serializing_if_is_none, validator(max_length = 254))]
    email: Option<String>,
}

impl BuyerDto {
    fn into_info(self) -> Result<BuyerInfo, Problem> {
        let kind = match self.kind {
            BuyerKindDto::Personal => InvoiceBuyerKind::Personal,
            BuyerKindDto::Company => InvoiceBuyerKind::Company,
        };
        if self.title.trim().is_empty() {
            return Err(bad("buyer.title must not be blank"));
        }
        match (&kind, &self.tax_id) {
            (InvoiceBuyerKind::Company, None) => return Err(bad("buyer.tax_id is required for a company invoice")),
            (_, Some(t)) if !valid_tax_id(t) => {
                return Err(bad("buyer.tax_id must be 15-20 digits or capital letters"));
            }
            _ => {}
        }
        Ok(BuyerInfo { kind, title: self.title.trim().to_owned(), tax_id: self.tax_id, email: self.email })
    }

    fn from_info(b: &BuyerInfo) -> BuyerDto {
        BuyerDto {
            kind: match b.kind {
                InvoiceBuyerKind::Personal => BuyerKindDto::Personal,
                InvoiceBuyerKind::Company => BuyerKindDto::Company,
            },
            title: b.title.clone(),
            tax_id: b.tax_id.clone(),
            email: b.email.clone(),
        }
    }
}

/// Issue an order's invoice.
#[derive(Debug, Clone, Object)]
struct IssueIn {
    order_id: Uuid,
    /// Defaults to the buyer's request on the trade, else a personal invoice in the buyer's
    /// nickname.
    #[oai(nullable)]
    buyer: Option<BuyerDto>,
}

/// Void a document.
#[derive(Debug, Clone, Object)]
struct VoidIn {
    #[oai(validator(min_length = 1, max_length = 200))]
    reason: String,
}

/// The seller block.
#[derive(Debug, Clone, Object)]
struct SellerDto {
    name: String,
    tax_id: String,
    address: String,
    phone: String,
    bank: String,
    account: String,
}

/// One line of an invoice. Amounts are decimal strings in yuan; negative on a credit note.
#[derive(Debug, Clone, Object)]
struct InvoiceLineDto {
    /// The order line (`shipping` for the post fee).
    line_ref: String,
    sku_code: String,
    title: String,
    quantity: i64,
    /// price × quantity before the discount.
    gross: String,
    /// The line's share of the order discount.
    discount: String,
    /// Excluding tax.
    net: String,
    vat_rate: String,
    tax: String,
    /// net + tax.
    total: String,
}

/// Per-rate subtotal.
#[derive(Debug, Clone, Object)]
struct TaxRowDto {
    vat_rate: String,
    net: String,
    tax: String,
}

/// An invoice or credit note.
#[derive(Debug, Clone, Object)]
struct InvoiceDto {
    id: Uuid,
    /// `invoice` or `credit_note`.
    kind: String,
    /// e.g. `INV2026-00000001`; gapless per tenant and series.
    number: String,
    /// `issued` or `void`.
    status: String,
    order_id: Uuid,
    /// The marketplace's order number.
    order_ref: String,
    /// For a credit note: the invoice it corrects.
    #[oai(nullable, skip_serializing_if_is_none)]
    original_id: Option<Uuid>,
    #[oai(nullable, skip_serializing_if_is_none)]
    original_number: Option<String>,
    issued_at: DateTime<Utc>,
    #[oai(nullable, skip_serializing_if_is_none)]
    voided_at: Option<DateTime<Utc>>,
    #[oai(nullable, skip_serializing_if_is_none)]
    void_reason: Option<String>,
    currency: String,
    seller: SellerDto,
    buyer: BuyerDto,
    prices_include_tax: bool,
    lines: Vec<InvoiceLineDto>,
    tax_summary: Vec<TaxRowDto>,
    total_net: String,
    total_tax: String,
    total: String,
    /// The total in Chinese capital numerals, e.g. `叁佰玖拾捌元整`.
    total_in_words: String,
    /// Public; printed as the QR code.
    verify_url: String,
    pdf_url: String,
}

/// A page of invoices.
#[derive(Debug, Object)]
struct InvoicePage {
    items: Vec<InvoiceDto>,
    total: u64,
    page: u64,
    per_page: u64,
}

/// What the verification link proves.
#[derive(Debug, Object)]
struct VerificationDto {
    /// Always true: a tampered or unknown code answers 404.
    genuine: bool,
    kind: String,
    number: String,
    /// `issued` or `void`: a void invoice is genuine but no longer valid.
    status: String,
    issued_on: String,
    seller_name: String,
    seller_tax_id: String,
    buyer_title: String,
    currency: String,
    total: String,
    total_in_words: String,
}

#[derive(ApiResponse)]
enum SettingsFound {
    /// The settings.
    #[oai(status = 200)]
    Ok(Json<SettingsDto>),
}

#[derive(ApiResponse)]
enum CategoriesFound {
    /// Every SKU with a tax category of its own.
    #[oai(status = 200)]
    Ok(Json<Vec<TaxCategoryDto>>),
}

#[derive(ApiResponse)]
enum CategorySet {
    /// Stored.
    #[oai(status = 200)]
    Ok(Json<TaxCategoryDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Gone (or was never there).
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
enum Issued {
    /// The order already had this invoice.
    #[oai(status = 200)]
    Existing(Json<InvoiceDto>),
    /// Issued now.
    #[oai(status = 201)]
    Created(Json<InvoiceDto>),
}

#[derive(ApiResponse)]
enum InvoiceFound {
    /// The document.
    #[oai(status = 200)]
    Ok(Json<InvoiceDto>),
}

#[derive(ApiResponse)]
enum InvoicesFound {
    /// A page, newest first.
    #[oai(status = 200)]
    Ok(Json<InvoicePage>),
}

#[derive(ApiResponse)]
enum PdfFound {
    /// The A4 PDF.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

#[derive(ApiResponse)]
enum CsvFound {
    /// One row per document, oldest first, UTF-8 with a BOM so spreadsheet programs read
    /// the Chinese correctly.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(PlainText<String>, #[oai(header = "Content-Disposition")] String),
}

#[derive(ApiResponse)]
enum Verified {
    /// The document is genuine.
    #[oai(status = 200)]
    Ok(Json<VerificationDto>),
}

fn money(fen: i64) -> String {
    Money(fen).to_string()
}

fn doc_of(inv: &invoices::Model) -> Result<Document, Problem> {
    serde_json::from_str(&inv.document)
        .map_err(|e| Problem::internal(anyhow::anyhow!("invoice {} has an unreadable document: {e}", inv.id)))
}

fn dto(inv: invoices::Model, base: &str) -> Result<InvoiceDto, Problem> {
    let doc = doc_of(&inv)?;
    let totals = amounts::Totals::of(&doc.lines);
    Ok(InvoiceDto {
        id: inv.id,
        kind: inv.kind,
        number: inv.number,
        status: inv.status,
        order_id: inv.order_id,
        order_ref: inv.order_ref,
        original_id: inv.original_id,
        original_number: doc.original_number,
        issued_at: inv.issued_at,
        voided_at: inv.voided_at,
        void_reason: inv.void_reason,
        currency: inv.currency,
        seller: SellerDto {
            name: doc.seller.name,
            tax_id: doc.seller.tax_id,
            address: doc.seller.address,
            phone: doc.seller.phone,
            bank: doc.seller.bank,
            account: doc.seller.account,
        },
        buyer: BuyerDto::from_info(&doc.buyer),
        prices_include_tax: doc.prices_include_tax,
        lines: doc
            .lines
            .iter()
            .map(|l| InvoiceLineDto {
                line_ref: l.line_ref.clone(),
                sku_code: l.sku_code.clone(),
                title: l.title.clone(),
                quantity: l.quantity,
                gross: money(l.gross),
                discount: money(l.discount),
                net: money(l.net),
                vat_rate: amounts::rate_label(l.rate_bp),
                tax: money(l.tax),
                total: money(l.total()),
            })
            .collect(),
        tax_summary: totals
            .by_rate
            .iter()
            .map(|(r, n, t)| TaxRowDto { vat_rate: amounts::rate_label(*r), net: money(*n), tax: money(*t) })
            .collect(),
        total_net: money(totals.net),
        total_tax: money(totals.tax),
        total: money(totals.total()),
        total_in_words: numerals::capital(totals.total()),
        verify_url: doc.verify_url,
        pdf_url: format!("{}/v1/invoices/{}/pdf", base.trim_end_matches('/'), inv.id),
    })
}

/// What the renderer prints for a stored document.
pub fn printable(inv: &invoices::Model, doc: &Document) -> invoicing_pdf::InvoiceDoc {
    let totals = amounts::Totals::of(&doc.lines);
    invoicing_pdf::InvoiceDoc {
        kind: if inv.kind == Kind::CreditNote.as_str() {
            invoicing_pdf::DocKind::CreditNote
        } else {
            invoicing_pdf::DocKind::Invoice
        },
        number: inv.number.clone(),
        issued_on: issued_on(inv.issued_at),
        seller: invoicing_pdf::Seller {
            name: doc.seller.name.clone(),
            tax_id: doc.seller.tax_id.clone(),
            address: doc.seller.address.clone(),
            phone: doc.seller.phone.clone(),
            bank: doc.seller.bank.clone(),
            account: doc.seller.account.clone(),
        },
        buyer: invoicing_pdf::Buyer {
            title: doc.buyer.title.clone(),
            tax_id: doc.buyer.tax_id.clone(),
            email: doc.buyer.email.clone(),
        },
        lines: doc
            .lines
            .iter()
            .map(|l| invoicing_pdf::DocLine {
                name: l.title.clone(),
                sku: l.sku_code.clone(),
                quantity: l.quantity,
                unit_price_net: if l.quantity == 0 { 0 } else { unit_price(l.net, l.quantity) },
                amount_net: l.net,
                tax_rate_bp: l.rate_bp,
                tax: l.tax,
            })
            .collect(),
        tax_summary: totals
            .by_rate
            .iter()
            .map(|(r, n, t)| invoicing_pdf::TaxRow { tax_rate_bp: *r, net: *n, tax: *t })
            .collect(),
        total_net: totals.net,
        total_tax: totals.tax,
        total: totals.total(),
        total_in_words: numerals::capital(totals.total()),
        order_ref: doc.order_ref.clone(),
        original_number: doc.original_number.clone(),
        verify_url: doc.verify_url.clone(),
        void: inv.status == "void",
        remarks: doc.remarks.clone(),
    }
}

/// net ÷ quantity, half-up to the fen (the unit price printed; the amount is exact).
fn unit_price(net: i64, qty: i64) -> i64 {
    let (n, q) = (net as i128, qty as i128);
    let v = (2 * n.abs() + q.abs()) / (2 * q.abs());
    (if (n < 0) != (q < 0) { -v } else { v }) as i64
}

/// Midnight at the start of `d` in China, in UTC.
fn china_midnight(d: NaiveDate) -> DateTime<Utc> {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    cst.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offsets are unambiguous")
        .with_timezone(&Utc)
}

fn issue_problem(e: IssueError) -> ProblemResponse {
    match e {
        IssueError::NotConfigured => Problem::new(Code::NotConfigured, e.to_string()).into(),
        IssueError::UnknownOrder => Problem::not_found("order").into(),
        IssueError::NotInvoiceable(_) | IssueError::Conflict(_) => {
            Problem::new(Code::InvalidStateTransition, e.to_string()).into()
        }
        IssueError::Amounts(_) => Problem::new(Code::InvalidInput, e.to_string()).into(),
        IssueError::Db(e) => Problem::internal(e).into(),
        IssueError::Unknown(e) => Problem::internal(e).into(),
    }
}

fn settings_dto(r: invoice_settings::Model) -> SettingsDto {
    SettingsDto {
        seller_name: r.seller_name,
        tax_id: r.tax_id,
        address: r.address,
        phone: r.phone,
        bank: r.bank,
        account: r.account,
        prices_include_tax: r.prices_include_tax,
        default_vat_rate: amounts::rate_label(r.default_rate_bp as u32),
        issue_on: match IssueOn::parse(&r.issue_on) {
            Some(IssueOn::Payment) => IssueOnDto::Payment,
            Some(IssueOn::Shipment) => IssueOnDto::Shipment,
            _ => IssueOnDto::Request,
        },
        series_pattern: r.series_pattern,
        credit_series_pattern: r.credit_series_pattern,
    }
}

fn check_sku(code: &str) -> Result<(), Problem> {
    if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad("sku_code must be 1-64 printable ASCII characters"));
    }
    Ok(())
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Invoicing")]
impl InvoicingApi {
    /// The tenant's invoicing settings; 404 until they are set.
    #[oai(path = "/invoicing/settings", method = "get")]
    async fn get_settings(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
    ) -> ApiResult<SettingsFound, { AUTHENTICATED | NOT_FOUND }> {
        let r = invoice_settings::Entity::find_by_id(auth.0.tenant_id.0)
            .one(self.svc.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        let r =
            r.ok_or_else(|| Problem::new(Code::NotFound, "invoicing is not set up yet: PUT /v1/invoicing/settings"))?;
        Ok(SettingsFound::Ok(Json(settings_dto(r))))
    }

    /// Sets the seller block, tax treatment, when to issue and the numbering series. Applies
    /// to documents issued from now on; issued ones never change.
    #[oai(path = "/invoicing/settings", method = "put")]
    async fn put_settings(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<SettingsDto>,
    ) -> ApiResult<SettingsFound, WRITE> {
        let b = body.0;
        if b.seller_name.trim().is_empty() {
            return Err(bad("seller_name must not be blank").into());
        }
        if !valid_tax_id(&b.tax_id) {
            return Err(bad("tax_id must be 15-20 digits or capital letters").into());
        }
        let rate = amounts::parse_rate(&b.default_vat_rate)
            .ok_or_else(|| bad("default_vat_rate must be one of 0%, 1%, 1.5%, 3%, 5%, 6%, 9%, 13%"))?;
        for (field, p) in [("series_pattern", &b.series_pattern), ("credit_series_pattern", &b.credit_series_pattern)] {
            if !domain::valid_pattern(p) {
                return Err(bad(format!("{field} must be 1-24 of A-Z a-z 0-9 - _ / with at most one {{YYYY}}")).into());
            }
        }
        if domain::series(&b.series_pattern, 2000) == domain::series(&b.credit_series_pattern, 2000) {
            return Err(bad(
                "series_pattern and credit_series_pattern must differ, so invoices and credit notes are numbered apart",
            )
            .into());
        }
        let row = invoice_settings::Model {
            tenant_id: auth.0.tenant_id.0,
            seller_name: b.seller_name.trim().to_owned(),
            tax_id: b.tax_id,
            address: b.address,
            phone: b.phone,
            bank: b.bank,
            account: b.account,
            prices_include_tax: b.prices_include_tax,
            default_rate_bp: rate as i32,
            issue_on: IssueOn::from(b.issue_on).as_str().to_owned(),
            series_pattern: b.series_pattern,
            credit_series_pattern: b.credit_series_pattern,
            updated_at: self.svc.clock.now(),
        };
        let tx = self.svc.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        invoice_settings::Entity::insert(invoice_settings::ActiveModel::from(row.clone()).reset_all())
            .on_conflict(
                OnConflict::column(invoice_settings::Column::TenantId)
                    .update_columns([
                        invoice_settings::Column::SellerName,
                        invoice_settings::Column::TaxId,
                        invoice_settings::Column::Address,
                        invoice_settings::Column::Phone,
                        invoice_settings::Column::Bank,
                        invoice_settings::Column::Account,
                        invoice_settings::Column::PricesIncludeTax,
                        invoice_settings::Column::DefaultRateBp,
                        invoice_settings::Column::IssueOn,
                        invoice_settings::Column::SeriesPattern,
                        invoice_settings::Column::CreditSeriesPattern,
                        invoice_settings::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(SettingsFound::Ok(Json(settings_dto(row))))
    }

    /// SKUs taxed at another rate than the default (e.g. books 9%, services 6%).
    #[oai(path = "/invoicing/tax-categories", method = "get")]
    async fn list_categories(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
    ) -> ApiResult<CategoriesFound, AUTHENTICATED> {
        let rows = invoice_tax_categories::Entity::find()
            .filter(invoice_tax_categories::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(invoice_tax_categories::Column::SkuCode)
            .all(self.svc.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        Ok(CategoriesFound::Ok(Json(
            rows.into_iter()
                .map(|r| TaxCategoryDto { sku_code: r.sku_code, vat_rate: amounts::rate_label(r.rate_bp as u32) })
                .collect(),
        )))
    }

    /// Sets a SKU's VAT rate.
    #[oai(path = "/invoicing/tax-categories/:sku_code", method = "put")]
    async fn put_category(
        &self,
        #[oai(scope = "Scope::InvoicesWrite")] auth: BearerAuth,
        sku_code: Path<String>,
        body: Json<TaxCategoryIn>,
    ) -> ApiResult<CategorySet, WRITE> {
        check_sku(&sku_code.0)?;
        let rate = amounts::parse_rate(&body.0.vat_rate)
            .ok_or_else(|| bad("vat_rate must be one of 0%, 1%, 1.5%, 3%, 5%, 6%, 9%, 13%"))?;
        let tx = self.svc.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        invoice_tax_categories::Entity::insert(invoice_tax_categories::ActiveModel {
            tenant_id: sea_orm::Set(auth.0.tenant_id.0),
            sku_code: sea_orm::Set(sku_code.0.clone()),
            rate_bp: sea_orm::Set(rate as i32),
        })
        .on_conflict(
            OnConflict::columns([invoice_tax_categories::Column::TenantId, invoice_tax_categories::Column::SkuCode])
                .update_column(invoice_tax_categories::Column::RateBp)
                .to_owned(),
        )
        .exec_without_returning(&*tx)
        .await
        .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(CategorySet::Ok(Json(TaxCategoryDto { sku_code: sku_code.0, vat_rate: amounts::rate_label(rate) })))
    }

    /// Removes a SKU's tax category (it falls back to the default rate).
    #[oai(path = "/invoicing/tax-categories/:sku_code", method = "delete")]
    async fn delete_category(
        &self,
        #[oai(scope = "Scope::InvoicesWrite")] auth: BearerAuth,
        sku_code: Path<String>,
    ) -> ApiResult<Deleted, READ> {
        let tx = self.svc.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        invoice_tax_categories::Entity::delete_many()
            .filter(invoice_tax_categories::Column::TenantId.eq(auth.0.tenant_id.0))
            .filter(invoice_tax_categories::Column::SkuCode.eq(sku_code.0))
            .exec(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(Deleted::NoContent)
    }

    /// List invoices and credit notes, newest first. `from`/`to` are issue dates (China time,
    /// both inclusive).
    #[oai(path = "/invoices", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
        order_id: Query<Option<Uuid>>,
        /// `issued` or `void`.
        status: Query<Option<String>>,
        /// `invoice` or `credit_note`.
        kind: Query<Option<String>>,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
        /// 1-1000000 (page × per_page stays far from any overflow).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] per_page: Query<Option<u64>>,
    ) -> ApiResult<InvoicesFound, READ> {
        let mut q = invoices::Entity::find().filter(invoices::Column::TenantId.eq(auth.0.tenant_id.0));
        if let Some(o) = order_id.0 {
            q = q.filter(invoices::Column::OrderId.eq(o));
        }
        if let Some(s) = status.0 {
            if s != "issued" && s != "void" {
                return Err(bad(format!("unknown status `{s}`: issued or void")).into());
            }
            q = q.filter(invoices::Column::Status.eq(s));
        }
        if let Some(k) = kind.0 {
            let k = Kind::parse(&k).ok_or_else(|| bad(format!("unknown kind `{k}`: invoice or credit_note")))?;
            q = q.filter(invoices::Column::Kind.eq(k.as_str()));
        }
        q = period(q, from.0, to.0)?;
        let (page, per_page) = (page.0.unwrap_or(1), per_page.0.unwrap_or(50));
        let total = q.clone().count(self.svc.db.tenant(auth.0.tenant_id.0).conn()).await.map_err(Problem::internal)?;
        let rows = q
            .order_by_desc(invoices::Column::IssuedAt)
            .order_by_desc(invoices::Column::Id)
            .offset(store::page_offset(page, per_page))
            .limit(per_page)
            .all(self.svc.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        let items = rows.into_iter().map(|r| dto(r, &self.svc.public_url)).collect::<Result<_, _>>()?;
        Ok(InvoicesFound::Ok(Json(InvoicePage { items, total, page, per_page })))
    }

    /// Issue an order's invoice on request (any `issue_on` setting). Idempotent: the order's
    /// invoice in force is returned (200) if it has one; 201 when issued now. To change the
    /// buyer on an issued invoice, void it and ask again.
    #[oai(path = "/invoices", method = "post")]
    async fn issue(
        &self,
        #[oai(scope = "Scope::InvoicesWrite")] auth: BearerAuth,
        body: Json<IssueIn>,
    ) -> ApiResult<Issued, { WRITE | NOT_FOUND | CONFLICT }> {
        let buyer = body.0.buyer.map(BuyerDto::into_info).transpose()?;
        let issued = self.svc.request(auth.0.tenant_id.0, body.0.order_id, buyer).await.map_err(issue_problem)?;
        let d = dto(issued.invoice, &self.svc.public_url)?;
        Ok(if issued.created { Issued::Created(Json(d)) } else { Issued::Existing(Json(d)) })
    }

    /// The invoice register for a period, as CSV for the accountant: every document issued
    /// in it (void ones marked), oldest first. `from`/`to` are issue dates, both inclusive.
    #[oai(path = "/invoices/register.csv", method = "get")]
    async fn register(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
        from: Query<Option<NaiveDate>>,
        to: Query<Option<NaiveDate>>,
    ) -> ApiResult<CsvFound, READ> {
        let q =
            period(invoices::Entity::find().filter(invoices::Column::TenantId.eq(auth.0.tenant_id.0)), from.0, to.0)?;
        let rows = q
            .order_by_asc(invoices::Column::IssuedAt)
            .order_by_asc(invoices::Column::Number)
            .all(self.svc.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        let numbers: std::collections::HashMap<Uuid, String> = rows.iter().map(|r| (r.id, r.number.clone())).collect();
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = [
            "number",
            "kind",
            "status",
            "issued_on",
            "order_ref",
            "buyer_title",
            "buyer_tax_id",
            "currency",
            "net",
            "tax",
            "total",
            "original_number",
            "voided_at",
            "void_reason",
        ];
        w.write_record(header).map_err(Problem::internal)?;
        for r in &rows {
            let original = match r.original_id {
                Some(o) => match numbers.get(&o) {
                    Some(n) => n.clone(),
                    None => doc_of(r)?.original_number.unwrap_or_default(),
                },
                None => String::new(),
            };
            w.write_record([
                r.number.as_str(),
                r.kind.as_str(),
                r.status.as_str(),
                &issued_on(r.issued_at),
                r.order_ref.as_str(),
                r.buyer_title.as_str(),
                r.buyer_tax_id.as_deref().unwrap_or(""),
                r.currency.as_str(),
                &money(r.total_net),
                &money(r.total_tax),
                &money(r.total),
                &original,
                &r.voided_at.map(|v| v.to_rfc3339()).unwrap_or_default(),
                r.void_reason.as_deref().unwrap_or(""),
            ])
            .map_err(Problem::internal)?;
        }
        let body = String::from_utf8(w.into_inner().map_err(|e| Problem::internal(anyhow::anyhow!("{e}")))?)
            .map_err(Problem::internal)?;
        let name = format!(
            "invoice-register{}{}.csv",
            from.0.map(|d| format!("-from-{d}")).unwrap_or_default(),
            to.0.map(|d| format!("-to-{d}")).unwrap_or_default()
        );
        Ok(CsvFound::Ok(PlainText(format!("\u{feff}{body}")), format!("attachment; filename=\"{name}\"")))
    }

    /// Public: checks a verification code (the QR code on a PDF). Answers what the genuine
    /// document says; 404 for a tampered or unknown code. No login needed.
    #[oai(path = "/invoices/verify/:token", method = "get")]
    async fn verify(&self, token: Path<String>) -> ApiResult<Verified, { PUBLIC | BAD_REQUEST | NOT_FOUND }> {
        let not_genuine = || {
            ProblemResponse::from(Problem::new(
                Code::NotFound,
                "This verification code does not belong to a genuine invoice.",
            ))
        };
        let (tenant, id) = self.svc.key.check(&token.0).ok_or_else(not_genuine)?;
        let inv = invoices::Entity::find_by_id((tenant, id))
            .one(self.svc.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(not_genuine)?;
        let doc = doc_of(&inv)?;
        Ok(Verified::Ok(Json(VerificationDto {
            genuine: true,
            kind: inv.kind,
            number: inv.number,
            status: inv.status,
            issued_on: issued_on(inv.issued_at),
            seller_name: doc.seller.name,
            seller_tax_id: doc.seller.tax_id,
            buyer_title: inv.buyer_title,
            currency: inv.currency,
            total: money(inv.total),
            total_in_words: numerals::capital(inv.total),
        })))
    }

    /// One invoice or credit note.
    #[oai(path = "/invoices/:id", method = "get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<InvoiceFound, READ_BY_ID> {
        let inv = self.find(auth.0.tenant_id.0, id.0).await?;
        Ok(InvoiceFound::Ok(Json(dto(inv, &self.svc.public_url)?)))
    }

    /// The document as an A4 PDF (Chinese, with English sub-labels). A void document shows
    /// a 作废 VOID mark.
    #[oai(path = "/invoices/:id/pdf", method = "get")]
    async fn pdf(
        &self,
        #[oai(scope = "Scope::InvoicesRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<PdfFound, READ_BY_ID> {
        let inv = self.find(auth.0.tenant_id.0, id.0).await?;
        let doc = printable(&inv, &doc_of(&inv)?);
        let renderer = self.renderer.clone();
        let bytes = tokio::task::spawn_blocking(move || renderer.render(&doc)).await.map_err(Problem::internal)?;
        Ok(PdfFound::Ok(Binary(bytes), format!("inline; filename=\"{}.pdf\"", inv.number)))
    }

    /// Voids a document. It keeps its number and shows as void; an invoice with credit notes
    /// in force cannot be voided. Voiding again changes nothing.
    #[oai(path = "/invoices/:id/void", method = "post")]
    async fn void(
        &self,
        #[oai(scope = "Scope::InvoicesWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<VoidIn>,
    ) -> ApiResult<InvoiceFound, { WRITE_BY_ID | CONFLICT }> {
        match self.svc.void(auth.0.tenant_id.0, id.0, body.0.reason.trim()).await {
            Ok(Some(inv)) => Ok(InvoiceFound::Ok(Json(dto(inv, &self.svc.public_url)?))),
            Ok(None) => Err(Problem::not_found("invoice").into()),
            Err(e @ VoidError::HasCredits(_)) => Err(Problem::new(Code::InvalidStateTransition, e.to_string()).into()),
            Err(VoidError::Db(e)) => Err(Problem::internal(e).into()),
        }
    }
}

impl InvoicingApi {
    async fn find(&self, tenant: Uuid, id: Uuid) -> Result<invoices::Model, ProblemResponse> {
        invoices::Entity::find_by_id((tenant, id))
            .one(self.svc.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("invoice").into())
    }
}

/// Restricts a query to documents issued from `from` to `to` (China dates, inclusive).
fn period(
    mut q: sea_orm::Select<invoices::Entity>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<sea_orm::Select<invoices::Entity>, Problem> {
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(bad("from must not be after to"));
    }
    if let Some(f) = from {
        q = q.filter(invoices::Column::IssuedAt.gte(china_midnight(f)));
    }
    if let Some(t) = to {
        let next = t.succ_opt().ok_or_else(|| bad("to is out of range"))?;
        q = q.filter(invoices::Column::IssuedAt.lt(china_midnight(next)));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::unit_price;

    #[test]
    fn unit_prices_round_half_up_either_sign() {
        assert_eq!(unit_price(1000, 3), 333);
        assert_eq!(unit_price(1001, 2), 501);
        assert_eq!(unit_price(-1001, -2), 501);
        assert_eq!(unit_price(-1001, 2), -501);
    }
}
