//! The raw body of signed callbacks (marketplace and carrier webhooks).

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
};

/// How much of an oversized body is read (and dropped) before answering 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// The raw JSON body of a signed callback (a webhook), read up to `LIMIT` bytes: the
/// signature is computed over these exact bytes, so the body must not be parsed before it is
/// verified. Larger bodies answer 413.
pub struct RawJson<const LIMIT: usize>(pub Vec<u8>);

impl<'a, const LIMIT: usize> ApiExtractor<'a> for RawJson<LIMIT> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The callback's JSON message, signed over its exact bytes."),
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
            if seen <= LIMIT {
                buf.extend_from_slice(&chunk);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        if seen > LIMIT {
            // The rest of an oversized body is read and dropped (up to DRAIN_LIMIT) so the sender
            // gets the 413 instead of a connection reset in the middle of its upload.
            return Err(poem::Error::from_string(
                format!("Webhook bodies are limited to {LIMIT} bytes."),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            ));
        }
        Ok(RawJson(buf))
    }
}
