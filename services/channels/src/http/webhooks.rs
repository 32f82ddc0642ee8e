//! What webhook routes share: the raw body extractor (the signature is over the exact bytes),
//! and the acknowledgement.

use crate::{adapters::bazaar::MAX_BODY_BYTES, ingest::Ingested};
use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};

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

/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The raw JSON body of a webhook, read up to [`MAX_BODY_BYTES`]: the signature is
/// computed over these exact bytes, so the body must not be parsed before it is verified.
pub struct RawJson(pub Vec<u8>);

impl<'a> ApiExtractor<'a> for RawJson {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("A Bazaar webhook message (BAZAAR.md), at most 1 MiB."),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("object"))),
            }],
            required: true,
        })
    }

    async fn from_request(
        _req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        use futures_util::StreamExt as _;
        let mut stream = body.take()?.into_bytes_stream();
        let mut buf = Vec::new();
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                poem::Error::from_string(format!("reading the body: {e}"), poem::http::StatusCode::BAD_REQUEST)
            })?;
            seen += chunk.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&chunk);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        if seen > MAX_BODY_BYTES {
            // The rest of an oversized body is read and dropped (up to DRAIN_LIMIT) so the sender
            // gets the 413 instead of a connection reset in the middle of its upload.
            return Err(poem::Error::from_string(
                format!("Webhook bodies are limited to {} bytes.", MAX_BODY_BYTES),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            ));
        }
        Ok(RawJson(buf))
    }
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
