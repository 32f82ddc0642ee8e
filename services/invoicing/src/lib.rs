//! invoicing: invoices and credit notes issued from order events exactly once, gapless
//! numbering per tenant and series, Chinese-language PDFs and public verification.

pub mod consumer;
pub mod db;
pub mod domain;
pub mod http;
pub mod service;

pub use http::InvoicingApi;
pub use service::{Invoicing, VerifyKey};

/// invoicing as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "invoicing",
    prefixes: &["invoices", "invoicing"],
    consumers: &[(consumer::CONSUMER, consumer::TOPICS)],
    single_active: &[],
    api_everywhere: false,
    tables: &[
        "invoice_settings",
        "invoice_tax_categories",
        "invoice_series",
        "invoice_orders",
        "invoices",
        "invoice_credited_lines",
    ],
};

/// Mounts invoicing: its API (with the PDF renderer and its embedded CJK font) and, served,
/// the `order.changed` consumer that issues documents. `secret` is the deployment's secret,
/// from which the verification key is derived, so every instance agrees on it.
pub fn mount(ctx: &host::Context, secret: &secrecy::SecretString) -> host::Mounted<InvoicingApi> {
    let svc = Invoicing {
        db: ctx.db.clone(),
        key: VerifyKey::derive(secret),
        public_url: ctx.public_url.clone(),
        clock: ctx.clock.clone(),
    };
    let api = InvoicingApi::new(svc.clone(), std::sync::Arc::new(invoicing_pdf::Renderer::new()));
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    host::Mounted { api, consumers: vec![std::sync::Arc::new(consumer::InvoicingHandler::new(svc))], tasks: Vec::new() }
}
