//! shipping: carrier accounts and rules, shipments built from orders' readiness (merged and
//! split), electronic waybills drawn from Courier (COURIER.md), thermal labels printed singly
//! or in sorted batches, scan-to-ship, interception (拦截) of held orders, tracking, returns.
//!
//! Layout: `domain/` (pure rules: planning, carrier rules, tracking), `db` (tables and rows),
//! `courier` (the Courier client), `service` (use cases), `consumer` (bus), `tracking`
//! (Courier's pushes), `labels` (label PDFs and batches), `worker` (cancel queue, batches),
//! `http` (the API).

pub mod consumer;
pub mod courier;
pub mod db;
pub mod domain;
pub mod http;
pub mod labels;
pub mod returns;
pub mod service;
pub mod tracking;
pub mod worker;

pub use http::ShippingApi;
pub use service::Shipping;

/// shipping as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "shipping",
    prefixes: &["shipping", "shipments", "label-batches", "returns", "webhooks/courier"],
    consumers: &[(consumer::CONSUMER, consumer::TOPICS)],
    single_active: &[],
    api_everywhere: false,
    tables: &[
        "shipping_settings",
        "shipping_accounts",
        "shipments",
        "shipment_orders",
        "shipment_waybills",
        "shipment_history",
        "shipping_tracking",
        "label_batches",
        "shipping_returns",
    ],
};

/// Mounts shipping: its API and, served, the readiness consumer and the background worker
/// (waybill cancellations, label batches).
pub fn mount(ctx: &host::Context) -> host::Mounted<ShippingApi> {
    let svc = Shipping {
        db: ctx.db.clone(),
        clock: ctx.clock.clone(),
        courier: courier::Courier::default(),
        public_url: ctx.public_url.clone(),
        wake: Default::default(),
    };
    let renderer = std::sync::Arc::new(shipping_labels::Renderer::new());
    let api = ShippingApi::new(svc.clone(), renderer.clone());
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    let wake = svc.wake.clone();
    let task = tokio::spawn(worker::run(svc, renderer, ctx.stop.clone()));
    host::Mounted {
        api,
        consumers: vec![std::sync::Arc::new(consumer::ShippingHandler::new(ctx.db.clone(), ctx.clock.clone(), wake))],
        tasks: vec![task],
    }
}
