//! Where the API's commands are decided: by the one instance that owns the tenant's shard.
//!
//! On RabbitMQ the inventory consumer's shard queues are single-active: one instance at a
//! time owns a shard, and its engine decides the shard's event-driven reservations. *Decision:*
//! the API's commands (warehouses, SKUs, adjustments, allocation settings, reservations and
//! their transitions) go to that same owner, as requests *into the same shard queue*
//! (`bus::request`), whichever process the HTTP request reached — an inventory standby, the
//! owner itself, or any other process (inventory's API is answered everywhere on RabbitMQ,
//! see `SERVICE.api_everywhere`). So exactly one engine decides a tenant's stock at a time,
//! and events and commands change owner together on a failover. A separate command queue
//! could have another active consumer than the event queue: two engines deciding at once,
//! fenced only by the levels' versions.
//!
//! The owner's consumer answers a command with its engine's result ([`answer`]) and
//! acknowledges it only after the reply is published, so a command its owner took but did not
//! answer before dying is delivered to the next owner and decided there. Every command routed
//! here is therefore idempotent: a reservation by its Idempotency-Key, an adjustment by its
//! Idempotency-Key or, without one, by the command's own id ([`AdjustKey::command`]); a SKU
//! or warehouse with the same fields answers the first one; allocation settings replace the
//! settings with the same ones; confirm, release and commit of a reservation already there
//! answer it as it is.
//!
//! The embedded mode (`cairn up`) has one process and calls its engine directly
//! ([`Commands::Local`]).

use crate::engine::{AdjustKey, CONSUMER, Command, Engine, EngineError, Reply};
use kernel::{Envelope, TenantId};
use std::time::Duration;

/// The envelope type of a command sent to the shard's owner.
pub const COMMAND: &str = "inventory.command";

/// How long a command waits for its owner's answer unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the API sends its commands.
#[derive(Clone)]
pub enum Commands {
    /// This process's engine (the embedded mode, where every service runs in one process).
    Local(Engine),
    /// The owner of the tenant's shard, over RabbitMQ.
    Remote(RemoteEngine),
}

impl Commands {
    /// Runs a command on the tenant's book and waits until its effect is committed (or, when
    /// remote, until the owner answers or `timeout` passes: then `Unavailable`).
    pub async fn call(&self, tenant: TenantId, cmd: Command) -> Result<Reply, EngineError> {
        match self {
            Commands::Local(engine) => engine.call(tenant, cmd).await,
            Commands::Remote(remote) => remote.call(tenant, cmd).await,
        }
    }
}

/// Sends commands to the owner of the tenant's shard and waits for its answer.
#[derive(Clone)]
pub struct RemoteEngine {
    requester: bus::Requester,
    timeout: Duration,
}

impl RemoteEngine {
    /// Commands over `requester`, each given up after `timeout`.
    pub fn new(requester: bus::Requester, timeout: Duration) -> RemoteEngine {
        RemoteEngine { requester, timeout }
    }

    /// [`Engine::call`] on the owner. No answer within the timeout, no owner, or the broker
    /// unreachable: `Unavailable` (503, retry), and a command that timed out is dropped by an
    /// owner that gets it later.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant.0))]
    pub async fn call(&self, tenant: TenantId, cmd: Command) -> Result<Reply, EngineError> {
        let id = kernel::new_id();
        let cmd = match cmd {
            // Applied once even if delivered twice (see the module docs).
            Command::Adjust { adjust, idempotency: None } => {
                Command::Adjust { adjust, idempotency: Some(AdjustKey::command(id)) }
            }
            other => other,
        };
        let payload =
            serde_json::value::to_raw_value(&cmd).map_err(|e| EngineError::Unavailable(format!("encoding: {e}")))?;
        let env = Envelope {
            id,
            kind: COMMAND.to_owned(),
            tenant_id: tenant,
            occurred_at: chrono::Utc::now(),
            correlation_id: id,
            causation_id: None,
            partition_key: tenant.0.to_string(),
            schema_version: 1,
            payload,
        };
        let answer = self.requester.request(CONSUMER, &env, self.timeout).await.map_err(|e| {
            tracing::warn!(error = format!("{e:#}"), "inventory command unanswered");
            EngineError::Unavailable(format!("{e:#}"))
        })?;
        serde_json::from_slice::<Result<Reply, EngineError>>(&answer)
            .map_err(|e| EngineError::Unavailable(format!("unreadable answer: {e}")))?
    }
}

/// The owner's side: runs a command from another process (or this one) on `engine`, for the
/// tenant the envelope names (never one from the payload), and encodes the result. An error
/// means the request is not a command this version can read (it is parked).
pub async fn answer(engine: &Engine, env: Envelope) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(env.kind == COMMAND, "not an inventory command: {}", env.kind);
    let cmd: Command = serde_json::from_str(env.payload.get())?;
    let result = engine.call(env.tenant_id, cmd).await;
    Ok(serde_json::to_vec(&result)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Reserve, ReserveLine, StockError};

    /// What travels comes back as it left, the errors' fixed words included; the event-driven
    /// commands do not travel.
    #[test]
    fn commands_and_answers_survive_the_wire() {
        let cmd = Command::Reserve(Reserve {
            key: "api:k".into(),
            request_hash: "h".into(),
            reference: "PO-1".into(),
            lines: vec![ReserveLine { sku_code: "MUG".into(), quantity: 2 }],
            ttl_seconds: 60,
        });
        let back: Command = serde_json::from_value(serde_json::to_value(&cmd).unwrap()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{cmd:?}"));
        for e in [
            StockError::InvalidTransition { action: "release", state: "committed" },
            StockError::AlreadyExists("sku", "MUG".into()),
            StockError::KeyReused,
        ] {
            let r: Result<Reply, EngineError> = Err(e.clone().into());
            let back: Result<Reply, EngineError> = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
            assert!(matches!(back, Err(EngineError::Stock(b)) if b == e));
        }
        let odd = r#"{"Err":{"stock":{"InvalidTransition":{"action":"teleport","state":"held"}}}}"#;
        let back: Result<Reply, EngineError> = serde_json::from_str(odd).unwrap();
        assert!(matches!(
            back,
            Err(EngineError::Stock(StockError::InvalidTransition { action: "unknown", state: "held" }))
        ));
        let sync = r#"{"sync_order":{"sync":{},"message":{}}}"#;
        assert!(serde_json::from_str::<Command>(sync).is_err(), "event-driven commands are not read from the wire");
    }
}
