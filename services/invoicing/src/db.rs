//! invoicing's tables.

store::entity!(invoice_settings, "invoice_settings", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    seller_name: String,
    tax_id: String,
    address: String,
    phone: String,
    bank: String,
    account: String,
    prices_include_tax: bool,
    default_rate_bp: i32,
    issue_on: String,
    series_pattern: String,
    credit_series_pattern: String,
    updated_at: DateTimeUtc,
});

store::entity!(invoice_tax_categories, "invoice_tax_categories", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] sku_code: String,
    rate_bp: i32,
});

store::entity!(invoice_orders, "invoice_orders", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] order_id: Uuid,
    revision: i64,
    status: String,
    paid: bool,
    /// The latest `order.changed` payload, as JSON.
    event: String,
    updated_at: DateTimeUtc,
});

store::entity!(invoices, "invoices", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    kind: String,
    /// What this document is for (`order:{id}`, `reissue:{void id}`, `credit:{invoice}:{lines}`):
    /// unique per tenant, so each is issued at most once.
    source_key: String,
    series: String,
    seq: i64,
    number: String,
    order_id: Uuid,
    order_ref: String,
    original_id: Option<Uuid>,
    status: String,
    issued_at: DateTimeUtc,
    voided_at: Option<DateTimeUtc>,
    void_reason: Option<String>,
    currency: String,
    total_net: i64,
    total_tax: i64,
    total: i64,
    buyer_title: String,
    buyer_tax_id: Option<String>,
    /// The immutable printed content ([`crate::service::Document`]) as JSON.
    document: String,
});

store::entity!(invoice_credited_lines, "invoice_credited_lines", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] invoice_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] line_ref: String,
    credit_note_id: Uuid,
});
