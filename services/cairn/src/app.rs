//! Assembles services into a running process: database, bus, inventory engine, HTTP.

use crate::{
    config::{Config, Service},
    health::HealthApi,
};
use anyhow::Context;
use auth::JwtKeys;
use channels::ChannelsApi;
use identity::IdentityApi;
use inventory::{Engine, http::InventoryApi};
use invoicing::InvoicingApi;
use migration::MigratorTrait;
use orders::OrdersApi;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Route, Server,
    listener::{Acceptor, Listener, TcpListener},
    web::Redirect,
};
use poem_openapi::OpenApiService;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::sync::watch;

type Apis = (HealthApi, IdentityApi, ChannelsApi, OrdersApi, InventoryApi, InvoicingApi);

/// Every consumer in the system with its topics (see [`bus::start`]).
pub const BINDINGS: &[(&str, &[&str])] = &[
    (orders::consumer::CONSUMER, orders::consumer::TOPICS),
    (inventory::engine::CONSUMER, inventory::consumer::TOPICS),
    (invoicing::consumer::CONSUMER, invoicing::consumer::TOPICS),
    (channels::writeback::CONSUMER, channels::writeback::TOPICS),
];

/// The API service; with `parts`, wired to live dependencies, without, for the spec only.
pub fn api_service(parts: Option<(Apis, &str)>) -> OpenApiService<Apis, ()> {
    let (apis, server) = match parts {
        Some((apis, url)) => (apis, url.to_owned()),
        None => {
            // A spec-only service: handlers are never called, so lazy placeholders suffice.
            let db = store::Db::disconnected();
            let keys = JwtKeys::new(&secrecy::SecretString::from("spec-only"), 1);
            let engine = Engine::detached();
            (
                (
                    HealthApi { db: None, bus: None },
                    IdentityApi::new(db.clone(), keys),
                    ChannelsApi::new(
                        db.clone(),
                        "http://localhost:8080",
                        channels::reconcile::Reconciler::new(
                            db.clone(),
                            Default::default(),
                            kernel::SystemClock::shared(),
                        ),
                        kernel::SystemClock::shared(),
                    ),
                    OrdersApi::new(db.clone()),
                    InventoryApi::new(db.clone(), engine),
                    InvoicingApi::new(
                        invoicing::Invoicing {
                            db,
                            key: invoicing::VerifyKey::derive(&secrecy::SecretString::from("spec-only")),
                            public_url: "http://localhost:8080".into(),
                        },
                        Arc::new(invoicing_pdf_renderer()),
                    ),
                ),
                "http://localhost:8080".to_owned(),
            )
        }
    };
    OpenApiService::new(apis, "Cairn", env!("CARGO_PKG_VERSION"))
        .description("Cairn, the seller back office: inventory, orders, marketplace channels and invoicing. Every error is application/problem+json with a stable `code`.")
        .server(server)
}

/// The PDF renderer with Cairn's embedded CJK font.
fn invoicing_pdf_renderer() -> invoicing_pdf::Renderer {
    invoicing_pdf::Renderer::new()
}

/// A running Cairn.
pub struct Running {
    pub addr: SocketAddr,
    pub db: store::Db,
    pub engine: Option<Engine>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, drains in-flight ones, stops the consumers and the relay,
    /// and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        drop(self.engine);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Waits until the server stops (after a signal or [`Running::shutdown`]).
    pub async fn wait(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down: draining in-flight work");
        self.shutdown().await;
        tracing::info!("stopped");
    }
}

/// Applies migrations.
pub async fn migrate(db: &store::Db) -> anyhow::Result<()> {
    migration::Migrator::up(db.conn(), None).await.context("applying migrations")
}

/// Starts a Cairn from `config` and returns once it accepts connections.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    let db = store::Db::connect(&config.database_url, config.db_max_connections)
        .await
        .context("connecting to the database")?;
    if config.migrate {
        migrate(&db).await?;
    }
    let (stop, stop_rx) = watch::channel(false);
    let (engine, mut tasks) = Engine::start(db.clone(), config.inventory_partitions, config.runs(Service::Inventory));
    let mut handlers: Vec<bus::SharedHandler> = Vec::new();
    if config.runs(Service::Orders) {
        handlers.push(Arc::new(orders::consumer::OrdersHandler::new(db.clone())));
    }
    if config.runs(Service::Inventory) {
        handlers.push(Arc::new(inventory::consumer::OrderStockHandler::new(engine.clone())));
    }
    let acceptor = TcpListener::bind(config.listen.as_str())
        .into_acceptor()
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).context("no local address")?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let invoicing = invoicing::Invoicing {
        db: db.clone(),
        key: invoicing::VerifyKey::derive(&config.jwt_secret),
        public_url: public_url.clone(),
    };
    if config.runs(Service::Invoicing) {
        handlers.push(Arc::new(invoicing::consumer::InvoicingHandler::new(invoicing.clone())));
    }
    let reconciler =
        channels::reconcile::Reconciler::new(db.clone(), config.reconcile.clone(), kernel::SystemClock::shared());
    if config.runs(Service::Channels) {
        handlers.push(Arc::new(channels::writeback::WritebackHandler::new(db.clone(), kernel::SystemClock::shared())));
        tasks.push(reconciler.clone().start(stop_rx.clone()));
        tasks.push(
            channels::writeback::Worker::new(db.clone(), config.writeback_tick, kernel::SystemClock::shared())
                .start(stop_rx.clone()),
        );
    }
    let (bus_health, bus_tasks) = bus::start(db.clone(), &config.transport, BINDINGS, handlers, stop_rx.clone());
    tasks.extend(bus_tasks);

    let keys = JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds);
    let apis = (
        HealthApi { db: Some(db.clone()), bus: Some(bus_health) },
        IdentityApi::new(db.clone(), keys.clone()),
        ChannelsApi::new(db.clone(), &public_url, reconciler, kernel::SystemClock::shared()),
        OrdersApi::new(db.clone()),
        InventoryApi::new(db.clone(), engine.clone()),
        InvoicingApi::new(invoicing, Arc::new(invoicing_pdf_renderer())),
    );
    let service = api_service(Some((apis, &public_url)));
    let docs = service.swagger_ui();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    let enabled = config.services.clone();
    let app = Route::new()
        .nest("/", service)
        .at("/", poem::endpoint::make_sync(|_| Redirect::see_other("/docs")))
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .around(move |ep, req| {
            let enabled = enabled.clone();
            async move {
                if let Some(s) = Service::owning(req.uri().path())
                    && !enabled.contains(&s)
                {
                    return Ok(problem::response(&problem::Problem::new(
                        problem::Code::NotFound,
                        format!("{s:?} does not run in this process"),
                    )));
                }
                ep.call(req).await.map(IntoResponse::into_response)
            }
        })
        .data(keys)
        .catch_all_error(problem::catch_all);

    let mut stop_server = stop_rx.clone();
    let drain = Duration::from_secs(config.drain_seconds);
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    while !*stop_server.borrow() {
                        if stop_server.changed().await.is_err() {
                            break;
                        }
                    }
                },
                Some(drain),
            )
            .await
    });
    tracing::info!(%addr, services = ?config.services, "cairn is listening");
    Ok(Running { addr, db, engine: Some(engine), stop, server, tasks })
}
