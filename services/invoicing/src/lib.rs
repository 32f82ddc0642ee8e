//! invoicing: invoices and credit notes issued from order events exactly once, gapless
//! numbering per tenant and series, Chinese-language PDFs and public verification.

pub mod consumer;
pub mod db;
pub mod domain;
pub mod http;
pub mod service;

pub use http::InvoicingApi;
pub use service::{Invoicing, VerifyKey};
