//! The composition root: mounts every service (see `host`) into one process — serving the
//! ones the configuration names — and runs the bus and the HTTP server.

use crate::{
    config::{Config, Service},
    health::HealthApi,
};
use anyhow::Context;
use auth::{Authenticator, JwtKeys, Limits, ScopeTable};
use migration::MigratorTrait;
use poem::{
    Endpoint, EndpointExt, IntoResponse, Route, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use poem_openapi::OpenApiService;
use std::{net::SocketAddr, time::Duration};
use tokio::sync::watch;

type Apis = (
    HealthApi,
    identity::IdentityApi,
    channels::ChannelsApi,
    orders::OrdersApi,
    inventory::http::InventoryApi,
    invoicing::InvoicingApi,
    shipping::ShippingApi,
    dashboard::EventsApi,
    subscriptions::SubscriptionsApi,
);

/// Every consumer in the system with its topics, served here or not (see [`bus::start`]).
pub fn bindings() -> Vec<host::Binding> {
    Service::ALL.iter().flat_map(|s| s.descriptor().consumers.iter().copied()).collect()
}

/// Every consumer that has one active instance per shard (see [`host::Descriptor::single_active`]).
pub fn single_active() -> Vec<&'static str> {
    Service::ALL.iter().flat_map(|s| s.descriptor().single_active.iter().copied()).collect()
}

/// Every service mounted on `ctx`, serving those `serves` accepts.
struct Mounted {
    apis: Apis,
    consumers: Vec<bus::SharedHandler>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The settings that services take beyond the [`host::Context`].
struct ServiceSettings<'a> {
    keys: &'a JwtKeys,
    secret: &'a secrecy::SecretString,
    channels: &'a channels::Settings,
    inventory: &'a inventory::Settings,
    subscriptions: subscriptions::Settings,
}

fn mount_all(ctx: &host::Context, settings: ServiceSettings<'_>, serves: impl Fn(Service) -> bool) -> Mounted {
    let on = |s: Service| host::Context { serve: serves(s), ..ctx.clone() };
    let identity = identity::mount(&on(Service::Identity), settings.keys.clone());
    let channels = channels::mount(&on(Service::Channels), settings.channels);
    let orders = orders::mount(&on(Service::Orders));
    let inventory = inventory::mount(&on(Service::Inventory), settings.inventory);
    let invoicing = invoicing::mount(&on(Service::Invoicing), settings.secret);
    let shipping = shipping::mount(&on(Service::Shipping));
    let dashboard = dashboard::mount(&on(Service::Dashboard));
    let subs = subscriptions::mount(&on(Service::Subscriptions), settings.subscriptions);
    let mut consumers = Vec::new();
    let mut tasks = Vec::new();
    let health = HealthApi { db: Some(ctx.db.clone()), bus: None };
    let apis = (
        health,
        collect(identity, &mut consumers, &mut tasks),
        collect(channels, &mut consumers, &mut tasks),
        collect(orders, &mut consumers, &mut tasks),
        collect(inventory, &mut consumers, &mut tasks),
        collect(invoicing, &mut consumers, &mut tasks),
        collect(shipping, &mut consumers, &mut tasks),
        collect(dashboard, &mut consumers, &mut tasks),
        collect(subs, &mut consumers, &mut tasks),
    );
    Mounted { apis, consumers, tasks }
}

fn collect<A>(
    m: host::Mounted<A>,
    consumers: &mut Vec<bus::SharedHandler>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> A {
    consumers.extend(m.consumers);
    tasks.extend(m.tasks);
    m.api
}

fn api_service(apis: Apis, server: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis, "Cairn", env!("CARGO_PKG_VERSION"))
        .description(
            "Cairn, the seller back office: inventory, orders, marketplace channels, invoicing and shipping. \
             Every error is application/problem+json with a stable `code`.",
        )
        .server(server)
}

/// The OpenAPI document of every service (YAML), as published in `openapi/cairn.yaml`. Built
/// from services mounted on a disconnected database that serve nothing.
pub fn spec_yaml() -> String {
    spec_service().spec_yaml()
}

fn spec_service() -> OpenApiService<Apis, ()> {
    let url = "http://localhost:8080";
    let (_stop, stop_rx) = watch::channel(false);
    let ctx = host::Context {
        db: store::Db::disconnected(),
        clock: kernel::SystemClock::shared(),
        public_url: url.into(),
        stop: stop_rx,
        requester: None,
        serve: false,
    };
    let secret = secrecy::SecretString::from("spec-only");
    let settings = ServiceSettings {
        keys: &JwtKeys::new(&secret, 1, ctx.clock.clone()),
        secret: &secret,
        channels: &Default::default(),
        inventory: &inventory::Settings { partitions: 1, command_timeout: inventory::remote::DEFAULT_TIMEOUT },
        subscriptions: Default::default(),
    };
    let m = mount_all(&ctx, settings, |_| false);
    let mut apis = m.apis;
    apis.0 = HealthApi { db: None, bus: None };
    api_service(apis, url)
}

/// Forgets rate-limit state of callers that went quiet, every minute.
fn prune_rate_limits(limits: std::sync::Arc<Limits>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => limits.prune(),
                _ = stop.changed() => return,
            }
        }
    })
}

/// The scopes each operation declares, read from the spec the server publishes, so what the
/// spec says is what the checker enforces (see the `auth` crate).
fn scope_table(service: &OpenApiService<Apis, ()>) -> anyhow::Result<ScopeTable> {
    let spec: serde_json::Value = serde_json::from_str(&service.spec()).context("reading our own spec")?;
    ScopeTable::from_spec(&spec).map_err(|e| anyhow::anyhow!("the spec names an unknown scope: {e}"))
}

/// Everything under `/v1/`, the docs, the spec, the probes and the metrics goes to the API; any
/// other path is the dashboard's (its files, or its `index.html` for the app's own routes).
struct Site {
    api: poem::endpoint::BoxEndpoint<'static>,
    /// `None` when the dashboard does not run in this process.
    assets: Option<dashboard::Assets>,
}

fn is_api(path: &str) -> bool {
    path == "/v1"
        || path.starts_with("/v1/")
        || path == "/docs"
        || path.starts_with("/docs/")
        || matches!(path, "/openapi.json" | "/openapi.yaml" | "/healthz" | "/readyz" | "/metrics")
}

/// `GET /metrics`: the process's measurements in Prometheus' text format (the names are in
/// `telemetry::metrics` and the README's "Metrics"). Served by every process, whichever
/// services it runs, for the Helm chart's scrape annotations. Not part of the OpenAPI document:
/// it is for the operator's Prometheus, not for sellers or ISVs, and carries no tenant's data
/// (no label holds a tenant id or any other value from a request; see `telemetry::metrics`).
#[poem::handler]
fn metrics() -> poem::Response {
    poem::Response::builder().content_type(telemetry::metrics::CONTENT_TYPE).body(telemetry::metrics::render())
}

impl Endpoint for Site {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<poem::Response> {
        match &self.assets {
            _ if is_api(req.uri().path()) => self.api.call(req).await,
            Some(assets) => assets.call(req).await,
            None => Ok(problem::response(&problem::Problem::new(
                problem::Code::NotFound,
                "the dashboard does not run in this process",
            ))),
        }
    }
}

/// The methods each path of the spec takes, for the `Allow` header of a 405 (RFC 9110): read
/// from the spec itself, so it cannot disagree with what the API serves.
struct Allowed(Vec<(Vec<String>, String)>);

impl Allowed {
    fn from_spec(spec: &str) -> Allowed {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let paths = spec["paths"].as_object().into_iter().flatten();
        Allowed(
            paths
                .map(|(path, ops)| {
                    let mut methods: Vec<String> =
                        ops.as_object().into_iter().flatten().map(|(m, _)| m.to_ascii_uppercase()).collect();
                    // poem answers HEAD wherever it answers GET.
                    if methods.iter().any(|m| m == "GET") {
                        methods.push("HEAD".into());
                    }
                    (path.split('/').map(str::to_owned).collect(), methods.join(", "))
                })
                .collect(),
        )
    }

    /// The methods `path` takes: of the templates it matches, the one with the most literal
    /// segments (`/v1/orders/counts` before `/v1/orders/{id}`), as the router picks.
    fn allow(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty()))
            })
            .max_by_key(|(template, _)| template.iter().filter(|t| !t.starts_with('{')).count())
            .map(|(_, methods)| methods.as_str())
    }
}

/// A running Cairn.
pub struct Running {
    pub addr: SocketAddr,
    pub db: store::Db,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Closed once the server has drained (the requests it answers may need it until then).
    requester: Option<bus::Requester>,
}

impl Running {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, drains in-flight ones, stops the consumers, workers and
    /// engines, and waits for them.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        if let Some(r) = &self.requester {
            r.close().await;
        }
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

/// Applies migrations as the schema's owner (`owner`), then, on PostgreSQL, grants the role
/// of `app_url` (the one the services connect as) what the services need; nothing when that
/// is the owner itself.
pub async fn migrate(owner: &store::Db, app_url: Option<&str>) -> anyhow::Result<()> {
    migration::Migrator::up(owner.schema_conn(), None).await.context("applying migrations")?;
    if let Some(url) = app_url.filter(|_| owner.is_postgres()) {
        let role = url
            .parse::<sea_orm::sqlx::postgres::PgConnectOptions>()
            .with_context(|| "reading the role of database_url")?
            .get_username()
            .to_owned();
        grant_app_role(owner, &role).await?;
    }
    Ok(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn one_string(db: &store::Db, sql: &str) -> anyhow::Result<String> {
    use sea_orm::ConnectionTrait;
    let row = db
        .schema_conn()
        .query_one_raw(sea_orm::Statement::from_string(db.backend(), sql.to_owned()))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<String>(0)?)
}

/// PostgreSQL: lets `role` read and write every table of the schema (rows as the row-level
/// security policies admit) and use its sequences — but not the migrator's own table, and
/// nothing it could use to change the schema. Run by the owner after every migration, so new
/// tables are covered; granting again changes nothing.
pub async fn grant_app_role(owner: &store::Db, role: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    if one_string(owner, "select current_user::text").await? == role {
        tracing::warn!(
            role,
            "the services connect as the schema's owner: set migration_database_url to the owner and database_url to a role that owns nothing"
        );
        return Ok(());
    }
    let schema = quote_ident(&one_string(owner, "select current_schema()::text").await?);
    let r = quote_ident(role);
    let conn = owner.schema_conn();
    if let Err(e) = conn.execute_unprepared(&format!("grant usage on schema {schema} to {r}")).await {
        tracing::warn!(error = %e, "could not grant usage on the schema (grant it as its owner)");
    }
    for sql in [
        format!("grant select, insert, update, delete on all tables in schema {schema} to {r}"),
        format!("revoke all on table seaql_migrations from {r}"),
        format!("grant usage, select on all sequences in schema {schema} to {r}"),
    ] {
        // Processes that start together each grant again, and PostgreSQL fails one of two
        // concurrent grants on the same objects ("tuple concurrently updated"): a grant is
        // idempotent, so it is tried again after a pause rather than failing the start.
        let mut attempt = 1;
        loop {
            match conn.execute_unprepared(&sql).await {
                Ok(_) => break,
                Err(e) if attempt < 5 && e.to_string().contains("concurrently updated") => {
                    tracing::debug!(attempt, error = %e, "grant raced another process's; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e).with_context(|| format!("granting the services' role: {sql}")),
            }
        }
    }
    Ok(())
}

/// PostgreSQL: says loudly when the services' role escapes row-level security (a superuser
/// or `BYPASSRLS`), or owns tables (still held by `FORCE ROW LEVEL SECURITY`, but the owner
/// can turn it off).
async fn check_role(db: &store::Db) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait;
    if !db.is_postgres() {
        return Ok(());
    }
    let sql = "select r.rolsuper, r.rolbypassrls, exists (select 1 from pg_tables t where t.tableowner = current_user and t.schemaname = current_schema()) from pg_roles r where r.rolname = current_user";
    let row = db
        .schema_conn()
        .query_one_raw(sea_orm::Statement::from_string(db.backend(), sql.to_owned()))
        .await?
        .context("no role row")?;
    let (superuser, bypass, owns): (bool, bool, bool) =
        (row.try_get_by_index(0)?, row.try_get_by_index(1)?, row.try_get_by_index(2)?);
    if superuser || bypass {
        tracing::error!(
            superuser,
            bypassrls = bypass,
            "the database role in database_url bypasses row-level security: tenant isolation rests on the queries' filters alone"
        );
    } else if owns {
        tracing::warn!(
            "the database role in database_url owns tables; use a role that owns nothing (see migration_database_url)"
        );
    }
    Ok(())
}

/// Starts a Cairn from `config` and returns once it accepts connections.
pub async fn spawn(config: Config) -> anyhow::Result<Running> {
    // Before anything records: the first Cairn of the process installs the recorder, the
    // others (tests start many) share it.
    telemetry::metrics::install();
    let db = store::Db::connect_traced(&config.database_url, config.db_max_connections, config.sql_trace.as_deref())
        .await
        .context("connecting to the database")?;
    if config.migrate {
        match &config.migration_database_url {
            Some(url) => {
                let owner = store::Db::connect(url, 2).await.context("connecting as the schema's owner")?;
                migrate(&owner, Some(&config.database_url)).await?;
            }
            None => migrate(&db, None).await?,
        }
    }
    check_role(&db).await?;
    let (stop, stop_rx) = watch::channel(false);
    let acceptor = TcpListener::bind(config.listen.as_str())
        .into_acceptor()
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).context("no local address")?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let requester = bus::Requester::new(&config.transport);
    let ctx = host::Context {
        db: db.clone(),
        clock: config.clock.clone(),
        public_url: public_url.clone(),
        stop: stop_rx.clone(),
        requester: requester.clone(),
        serve: false,
    };
    let keys = JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds, config.clock.clone());
    let limits = std::sync::Arc::new(Limits::new(config.rate_limits.0, config.rate_limits.1));
    let settings = ServiceSettings {
        keys: &keys,
        secret: &config.jwt_secret,
        channels: &config.channels,
        inventory: &config.inventory,
        subscriptions: config.subscriptions,
    };
    let Mounted { mut apis, consumers, mut tasks } = mount_all(&ctx, settings, |s| config.runs(s));
    tasks.push(prune_rate_limits(limits.clone(), stop_rx.clone()));
    let (bus_health, bus_tasks) =
        bus::start(db.clone(), &config.transport, &bindings(), &single_active(), consumers, stop_rx.clone());
    tasks.extend(bus_tasks);
    apis.0.bus = Some(bus_health);

    let service = api_service(apis, &public_url);
    let scopes = scope_table(&service)?;
    let allowed = std::sync::Arc::new(Allowed::from_spec(&service.spec()));
    let docs = service.swagger_ui();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    // The services whose routes this process answers: those it runs and, on RabbitMQ, those
    // whose API works from anywhere (see `host::Descriptor::api_everywhere`).
    let rabbit = matches!(config.transport, bus::Transport::Rabbit { .. });
    let enabled: Vec<Service> =
        Service::ALL.into_iter().filter(|s| config.runs(*s) || (rabbit && s.descriptor().api_everywhere)).collect();
    let api = Route::new()
        .nest("/", service)
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .at("/metrics", poem::get(metrics));
    let audit: std::sync::Arc<dyn auth::AuditSink> =
        std::sync::Arc::new(identity::AuditLog::new(db.clone(), config.clock.clone()));
    let api = auth::Guard { table: std::sync::Arc::new(scopes), audit: Some(audit), inner: api };
    let site = Site { api: api.boxed(), assets: config.runs(Service::Dashboard).then(dashboard::Assets::default) };
    let app = site
        .around(move |ep, req| {
            let enabled = enabled.clone();
            let allowed = allowed.clone();
            async move {
                if let Some(s) = Service::owning(req.uri().path())
                    && !enabled.contains(&s)
                {
                    return Ok(problem::response(&problem::Problem::new(
                        problem::Code::NotFound,
                        format!("{s:?} does not run in this process"),
                    )));
                }
                let path = req.uri().path().to_owned();
                let mut resp = match ep.call(req).await {
                    Ok(resp) => resp.into_response(),
                    Err(e) if e.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED => problem::catch_all(e).await,
                    Err(e) => return Err(e),
                };
                // An undeclared method on a known path: the 405 says what the path takes.
                if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
                    && let Some(methods) = allowed.allow(&path)
                    && let Ok(value) = poem::http::HeaderValue::from_str(methods)
                {
                    resp.headers_mut().insert(poem::http::header::ALLOW, value);
                }
                Ok(resp)
            }
        })
        .data(Authenticator {
            keys,
            grants: std::sync::Arc::new(identity::Grants::new(db.clone())),
            limits: limits.clone(),
        })
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
    Ok(Running { addr, db, stop, server, tasks, requester })
}

#[cfg(test)]
mod tests {
    /// Every operation that takes a token names the scopes it needs; one that named none
    /// would be refused to everyone.
    #[test]
    fn every_secured_operation_declares_scopes() {
        let table = super::scope_table(&super::spec_service()).unwrap();
        assert_eq!(table.unscoped(), Vec::<String>::new());
        let orders = table.lookup(&poem::http::Method::GET, "/v1/orders").unwrap();
        assert_eq!(orders.to_string(), "orders:read");
        assert!(table.lookup(&poem::http::Method::POST, "/v1/signup").is_none());
    }

    /// Huge or negative paging values (`page`, `per_page`, `limit`, …) must be refused by the
    /// spec's own bounds (a 400 before any query), never reach the SQL layer: every integer
    /// query parameter of every operation has a minimum and a maximum, and no `page` goes past
    /// what `store::page_offset` was sized for.
    #[test]
    fn every_integer_query_parameter_is_bounded() {
        let spec: serde_json::Value = serde_json::from_str(&super::spec_service().spec()).unwrap();
        let mut unbounded = Vec::new();
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let schema = &p["schema"];
                    if p["in"] != "query" || schema["type"] != "integer" {
                        continue;
                    }
                    let (min, max) = (schema["minimum"].as_f64(), schema["maximum"].as_f64());
                    let page_ok = p["name"] != "page" || max.is_some_and(|m| m <= store::MAX_PAGE as f64);
                    if min.is_none() || max.is_none() || !page_ok {
                        unbounded.push(format!("{} {path} ?{}", method.to_uppercase(), p["name"].as_str().unwrap()));
                    }
                }
            }
        }
        assert!(unbounded.is_empty(), "integer query parameters without bounds: {unbounded:?}");
    }

    /// Each operation lists the error statuses it can really return, by the rule in
    /// `problem::status`: 500 everywhere; 401, 403 and 429 exactly where a bearer token is
    /// needed; 400 where there is a parameter or a body; 415 exactly where a body must come
    /// with its content type.
    #[test]
    fn operations_declare_their_errors_by_the_rule() {
        let spec: serde_json::Value = serde_json::from_str(&super::spec_service().spec()).unwrap();
        let mut wrong = Vec::new();
        for (path, ops) in spec["paths"].as_object().unwrap() {
            if matches!(path.as_str(), "/healthz" | "/readyz") {
                continue; // probes: answered by the process itself
            }
            for (method, op) in ops.as_object().unwrap() {
                let declared = |status: &str| op["responses"].get(status).is_some();
                let authenticated = op.get("security").is_some();
                let has_input =
                    op["requestBody"].is_object() || op["parameters"].as_array().is_some_and(|p| !p.is_empty());
                let checks = [
                    ("500", true),
                    ("401", authenticated || declared("401")),
                    ("403", authenticated),
                    ("429", authenticated),
                    // A body is read only as its content type (JSON, or the OAuth token form); the
                    // signed callbacks read theirs raw, whatever it is labelled.
                    ("415", op["requestBody"].is_object() && !path.starts_with("/v1/webhooks/")),
                ];
                for (status, expected) in checks {
                    if declared(status) != expected {
                        wrong.push(format!("{} {path}: {status} declared {}", method.to_uppercase(), declared(status)));
                    }
                }
                if declared("400") && !has_input {
                    wrong.push(format!("{} {path}: 400 without any parameter or body", method.to_uppercase()));
                }
                for (status, response) in op["responses"].as_object().unwrap() {
                    let problem = response["content"].get("application/problem+json").is_some();
                    if (status.starts_with('4') || status.starts_with('5')) && !problem {
                        wrong.push(format!("{} {path}: {status} is not problem+json", method.to_uppercase()));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn allow_lists_the_methods_of_the_matching_path() {
        let allowed = super::Allowed::from_spec(&super::spec_service().spec());
        assert_eq!(allowed.allow("/v1/warehouses"), Some("GET, POST, HEAD"));
        assert_eq!(allowed.allow("/v1/channels/0190-x/api"), Some("DELETE, PUT"));
        assert_eq!(allowed.allow("/v1/orders/counts"), Some("GET, HEAD"));
        assert_eq!(allowed.allow("/v1/nothing-here"), None);
    }

    /// Every property a response may carry as `null` must say so, or generated clients reject
    /// the answer: a property that is neither required nor defaulted is an `Option`, which
    /// the server sends as `null` unless told to skip it. Checked for every object schema in
    /// the document, named or inline, at any depth (a union's variants, array items, map
    /// values, bodies declared inline in an operation).
    #[test]
    fn optional_properties_are_nullable_in_the_spec() {
        /// Checks `schema` and every schema inside it.
        fn walk(at: &str, schema: &serde_json::Value, wrong: &mut Vec<String>) {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            for (prop, p) in schema["properties"].as_object().into_iter().flatten() {
                if !required.contains(&prop.as_str()) && p.get("default").is_none() && p["nullable"] != true {
                    wrong.push(format!("{at}.{prop}"));
                }
                walk(&format!("{at}.{prop}"), p, wrong);
            }
            for key in ["items", "additionalProperties"] {
                if schema[key].is_object() {
                    walk(&format!("{at}[{key}]"), &schema[key], wrong);
                }
            }
            for key in ["allOf", "oneOf", "anyOf"] {
                for (i, part) in schema[key].as_array().into_iter().flatten().enumerate() {
                    walk(&format!("{at}[{key} {i}]"), part, wrong);
                }
            }
        }
        let spec: serde_json::Value = serde_json::from_str(&super::spec_service().spec()).unwrap();
        let mut wrong = Vec::new();
        for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
            walk(name, schema, &mut wrong);
        }
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let at = format!("{} {path}", method.to_uppercase());
                let bodies = op["requestBody"]["content"].as_object().into_iter().flatten().chain(
                    op["responses"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .flat_map(|(_, r)| r["content"].as_object())
                        .flatten(),
                );
                for (media, content) in bodies {
                    walk(&format!("{at} {media}"), &content["schema"], &mut wrong);
                }
            }
        }
        assert!(wrong.is_empty(), "optional but not nullable: {wrong:?}");
    }
}
