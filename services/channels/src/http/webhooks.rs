//! What webhook routes share: the raw body extractor (the signature is over the exact bytes),
//! and the acknowledgement.

use crate::{adapters::bazaar::MAX_BODY_BYTES, domain::webhook::WebhookError, ingest::Ingested, service};
use poem_openapi::{ApiResponse, Object, payload::Json};
use std::time::Instant;

/// A webhook's raw body, at most [`MAX_BODY_BYTES`] (BAZAAR.md: 1 MiB).
pub type RawJson = problem::raw::RawJson<MAX_BODY_BYTES>;

/// What the webhook answers.
#[derive(Debug, Object)]
pub(super) struct WebhookAck {
    /// `accepted` the first time, `duplicate` for a message id already stored.
    status: String,
    message_id: String,
}

#[derive(ApiResponse)]
pub(super) enum WebhookAccepted {
    /// Durably stored (or already stored).
    #[oai(status = 200)]
    Ok(Json<WebhookAck>),
}

impl WebhookAccepted {
    /// The answer for a stored webhook: `duplicate` for a message id stored before, else
    /// `accepted` (whether or not its trade version was new).
    pub(super) fn of(outcome: Ingested, message_id: String) -> Self {
        let status = match outcome {
            Ingested::Duplicate => "duplicate",
            Ingested::Applied | Ingested::Stale => "accepted",
        };
        WebhookAccepted::Ok(Json(WebhookAck { status: status.into(), message_id }))
    }
}

/// Records a webhook's answer for `/metrics` (`cairn_webhook_requests_total` and
/// `cairn_webhook_duration_seconds`): its marketplace and the class of its outcome, never the
/// shop, tenant or message. The time runs from the handler's start, after the body was read
/// (a body over the limit is refused before that and not counted), to the answer.
pub(super) fn observe(
    marketplace: &'static str,
    started: Instant,
    result: Result<Ingested, service::Error>,
) -> Result<Ingested, service::Error> {
    telemetry::metrics::webhook_request(marketplace, outcome(&result), started.elapsed());
    result
}

/// The outcome class of a webhook: a closed set, so that the label stays bounded.
fn outcome(result: &Result<Ingested, service::Error>) -> &'static str {
    use service::Error as E;
    match result {
        Ok(Ingested::Duplicate) => "duplicate",
        Ok(Ingested::Applied | Ingested::Stale) => "accepted",
        Err(E::Webhook(WebhookError::Unsigned(_) | WebhookError::BadSignature)) => "rejected_signature",
        Err(E::Webhook(WebhookError::StaleTimestamp(_))) => "rejected_stale",
        Err(E::Webhook(WebhookError::MissingHeader(_) | WebhookError::Invalid(_) | WebhookError::Malformed(_))) => {
            "rejected_invalid"
        }
        Err(E::Invalid(_)) => "rejected_invalid",
        Err(E::NotFound) => "rejected_unknown_shop",
        // `Unknown` (a 500), and whatever `receive_*` may return one day: counted as errors
        // until it gets a class of its own.
        Err(_) => "error",
    }
}
