//! `/healthz` and `/readyz`.

use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

#[derive(Tags)]
enum Tag {
    /// Liveness and readiness probes.
    Health,
}

/// Probe state shared with the handlers.
pub struct HealthApi {
    pub(crate) db: Option<store::Db>,
    pub(crate) bus: Option<bus::BusHealth>,
}

#[derive(Debug, Object)]
struct Status {
    status: String,
    #[oai(nullable, skip_serializing_if_is_none)]
    database: Option<bool>,
    #[oai(nullable, skip_serializing_if_is_none)]
    bus: Option<bool>,
}

#[derive(ApiResponse)]
enum Alive {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<Status>),
}

#[derive(ApiResponse)]
enum Ready {
    /// The database and the bus are reachable.
    #[oai(status = 200)]
    Ok(Json<Status>),
    /// Something this process needs is down.
    #[oai(status = 503)]
    Unavailable(Json<Status>),
}

#[OpenApi(tag = "Tag::Health")]
impl HealthApi {
    /// Liveness: the process answers.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Alive {
        Alive::Ok(Json(Status { status: "ok".into(), database: None, bus: None }))
    }

    /// Readiness: the database and the message bus are reachable.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> Ready {
        let database = match &self.db {
            Some(db) => db.ping().await,
            None => false,
        };
        let bus = self.bus.as_ref().is_some_and(|b| b.is_up());
        let s = Status {
            status: if database && bus { "ready" } else { "unavailable" }.into(),
            database: Some(database),
            bus: Some(bus),
        };
        if database && bus { Ready::Ok(Json(s)) } else { Ready::Unavailable(Json(s)) }
    }
}
