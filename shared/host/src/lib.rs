//! The contract between a service and the process that hosts it.
//!
//! Each service crate under `services/` exports a [`Descriptor`] (its name, the `/v1` path
//! prefixes it answers, its bus consumers, the tables it owns) and a `mount` function that
//! takes a [`Context`] and its own settings and hands back a [`Mounted`]: its API object, its
//! bus consumers, and the background tasks it started. The binary (`services/cairn`) only
//! composes these; it knows no service's insides.

use kernel::SharedClock;

/// A bus consumer and the event types it binds.
pub type Binding = (&'static str, &'static [&'static str]);

/// What the binary needs to know of a service before it mounts it.
#[derive(Debug)]
pub struct Descriptor {
    /// The name `cairn serve <name>` takes.
    pub name: &'static str,
    /// The path prefixes under `/v1/` whose routes this service answers: whole segments, one
    /// (`orders`) or more (`webhooks/courier`); the longest prefix of any service wins.
    pub prefixes: &'static [&'static str],
    /// Its bus consumers. Every process declares every consumer's queue (see [`bus::start`]),
    /// so these are listed whether or not the service runs here.
    pub consumers: &'static [Binding],
    /// Those of its consumers that must have one active instance per tenant shard across all
    /// processes (RabbitMQ single-active-consumer): the others stand by and take a shard over
    /// when its owner goes. Listed, like `consumers`, whether or not the service runs here,
    /// since every process declares every queue with the same arguments.
    pub single_active: &'static [&'static str],
    /// Whether, on RabbitMQ, every process answers its API, served here or not: its reads go
    /// to the database and its commands to the owner of the tenant's shard over the bus
    /// ([`Context::requester`]), so it does not matter which process a request reaches. When
    /// false, its routes answer 404 in a process that does not serve it.
    pub api_everywhere: bool,
    /// The tables its migrations create and only it reads or writes.
    pub tables: &'static [&'static str],
}

impl Descriptor {
    /// Whether the API path (e.g. `/v1/orders/…`) is under one of this service's prefixes.
    pub fn owns_path(&self, path: &str) -> bool {
        self.match_len(path).is_some()
    }

    /// The length of this service's longest prefix the API path is under, if any.
    pub fn match_len(&self, path: &str) -> Option<usize> {
        let p = path.strip_prefix("/v1/")?;
        self.prefixes
            .iter()
            .filter(|pre| p == **pre || p.strip_prefix(**pre).is_some_and(|rest| rest.starts_with('/')))
            .map(|pre| pre.len())
            .max()
    }
}

/// What the hosting process gives a service.
#[derive(Clone)]
pub struct Context {
    /// The database (each service touches only its own tables).
    pub db: store::Db,
    /// The source of "now" wherever time decides behaviour.
    pub clock: SharedClock,
    /// Where marketplaces and buyers reach this deployment (webhook URLs, invoice links).
    pub public_url: String,
    /// Becomes `true` when the process stops: background tasks finish their step and exit.
    pub stop: bus::Shutdown,
    /// RabbitMQ only: sends requests to the active consumer of a tenant's shard (see
    /// [`bus::request`]); `None` on the embedded bus, where every service runs in this process.
    pub requester: Option<bus::Requester>,
    /// Whether this process serves the service. When false, `mount` builds only the API
    /// object — so that one OpenAPI document and one route table cover every service — and
    /// starts nothing: no consumer, worker or engine. Its routes answer 404 in this process.
    pub serve: bool,
}

/// What a mounted service hands back to the process.
pub struct Mounted<A> {
    /// Its poem-openapi API.
    pub api: A,
    /// Its bus consumers, for [`bus::start`] (empty unless served).
    pub consumers: Vec<bus::SharedHandler>,
    /// The background tasks it started; the process awaits them on shutdown.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl<A> Mounted<A> {
    /// A service that runs nothing in the background (or is not served here).
    pub fn api_only(api: A) -> Self {
        Mounted { api, consumers: Vec::new(), tasks: Vec::new() }
    }
}
