//! Renders an issued invoice or credit note as an A4 PDF. Pure: no I/O, no clock; the same
//! [`InvoiceDoc`] always renders the same bytes.
//!
//! ```
//! let renderer = invoicing_pdf::Renderer::new(); // once; share it (Send + Sync, cheap Clone)
//! let pdf = renderer.render(&invoicing_pdf::samples::invoice());
//! assert!(pdf.starts_with(b"%PDF-"));
//! ```

mod format;
mod html;
mod pdf;
mod qr;
pub mod samples;

pub use html::render_html;
pub use pdf::Renderer;
pub use pdf_font::FontError;

/// Everything printed on one invoice or credit note. Amounts are in fen (1/100 yuan); a
/// credit note carries negative amounts.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceDoc {
    pub kind: DocKind,
    /// e.g. `INV2026-00000001`.
    pub number: String,
    /// The issue date, `YYYY-MM-DD`.
    pub issued_on: String,
    pub seller: Seller,
    pub buyer: Buyer,
    pub lines: Vec<DocLine>,
    /// One row per tax rate, ascending by rate.
    pub tax_summary: Vec<TaxRow>,
    /// Σ line amounts excluding tax.
    pub total_net: i64,
    /// Σ line taxes.
    pub total_tax: i64,
    /// net + tax: what the buyer paid (negative on a credit note).
    pub total: i64,
    /// The total in Chinese capital numerals, e.g. `叁佰玖拾捌元整`.
    pub total_in_words: String,
    /// The marketplace order number, printed in the remarks.
    pub order_ref: String,
    /// For a credit note: the number of the invoice it corrects.
    pub original_number: Option<String>,
    /// Printed as a QR code; opens the public verification page.
    pub verify_url: String,
    /// A voided document shows a large "作废 VOID" mark.
    pub void: bool,
    /// Free text for the remarks box (e.g. the refund reason).
    pub remarks: Option<String>,
}

/// Invoice (蓝字发票) or credit note (红字发票).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Invoice,
    CreditNote,
}

/// The seller block (销售方).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seller {
    pub name: String,
    pub tax_id: String,
    pub address: String,
    pub phone: String,
    pub bank: String,
    pub account: String,
}

/// The buyer block (购买方).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buyer {
    /// A company's name or a person's name.
    pub title: String,
    /// Company buyers only.
    pub tax_id: Option<String>,
    pub email: Option<String>,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct DocLine {
    /// 项目名称, e.g. `纯棉T恤 红色 M`.
    pub name: String,
    /// 规格型号: the SKU code.
    pub sku: String,
    pub quantity: i64,
    /// Unit price excluding tax, in fen (may carry more precision in real life; here fen).
    pub unit_price_net: i64,
    /// Line amount excluding tax, in fen.
    pub amount_net: i64,
    /// Tax rate in basis points: 1300 = 13%.
    pub tax_rate_bp: u32,
    /// Line tax, in fen.
    pub tax: i64,
}

/// Per-rate subtotal.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxRow {
    pub tax_rate_bp: u32,
    pub net: i64,
    pub tax: i64,
}
