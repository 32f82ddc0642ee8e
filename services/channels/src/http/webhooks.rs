//! What webhook routes share: the raw body extractor (the signature is over the exact bytes),
//! and the acknowledgement.

use crate::{adapters::bazaar::MAX_BODY_BYTES, ingest::Ingested};
use poem_openapi::{ApiResponse, Object, payload::Json};

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
