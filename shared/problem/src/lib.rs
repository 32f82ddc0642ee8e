//! RFC 7807 `application/problem+json` errors with stable codes.
//!
//! One table ([`Code`]) maps every error code to its HTTP status and title. Operations return
//! [`ApiResult<_, S>`](ApiResult), where `S` is the set of error statuses the operation can
//! answer with (the rule is in [`status`]), so the OpenAPI spec lists those and no others;
//! anything poem itself rejects (bad JSON, missing auth, unknown route, oversized body) is
//! turned into the same shape by [`catch_all`].

pub mod json;
pub mod raw;

pub use json::Json;

use poem::{Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

/// The content type of every error Cairn returns.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A stable error code: the part of an error an integrator may branch on.
/// (Declared with [`ALL`](Code::ALL), the list of every code, so the two cannot drift apart.)
macro_rules! codes {
    ($($v:ident),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($v,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &'static [Code] = &[$(Code::$v),*];
        }
    };
}

codes! {
    MalformedRequest,
    InvalidInput,
    MissingHeader,
    IdempotencyKeyRequired,
    Unauthorized,
    InvalidCredentials,
    InvalidSignature,
    StaleTimestamp,
    Forbidden,
    InsufficientScope,
    InvalidGrant,
    InvalidClient,
    InvalidScope,
    UnsupportedGrantType,
    NotFound,
    UnknownSku,
    UnknownReference,
    MethodNotAllowed,
    AlreadyExists,
    EmailTaken,
    InsufficientStock,
    InvalidStateTransition,
    NotConfigured,
    Busy,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
    Internal,
    Unavailable,
}

impl Code {
    /// (code, status, title) — the one table.
    pub fn describe(self) -> (&'static str, StatusCode, &'static str) {
        use Code::*;
        match self {
            MalformedRequest => ("malformed_request", StatusCode::BAD_REQUEST, "The request could not be read"),
            InvalidInput => ("invalid_input", StatusCode::BAD_REQUEST, "A field has an invalid value"),
            MissingHeader => ("missing_header", StatusCode::BAD_REQUEST, "A required header is missing"),
            IdempotencyKeyRequired => {
                ("idempotency_key_required", StatusCode::BAD_REQUEST, "This call needs an Idempotency-Key header")
            }
            Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED, "A valid bearer token is required"),
            InvalidCredentials => ("invalid_credentials", StatusCode::UNAUTHORIZED, "Email or password is wrong"),
            InvalidSignature => ("invalid_signature", StatusCode::UNAUTHORIZED, "The webhook signature does not match"),
            StaleTimestamp => {
                ("stale_timestamp", StatusCode::UNAUTHORIZED, "The webhook timestamp is too far from now")
            }
            Forbidden => ("forbidden", StatusCode::FORBIDDEN, "Not allowed"),
            InsufficientScope => {
                ("insufficient_scope", StatusCode::FORBIDDEN, "The token lacks a scope this call needs")
            }
            // The OAuth 2.0 token endpoint's errors, named as RFC 6749 §5.2 names them.
            InvalidGrant => (
                "invalid_grant",
                StatusCode::BAD_REQUEST,
                "The authorization code or refresh token is invalid, expired, used or revoked",
            ),
            InvalidClient => ("invalid_client", StatusCode::UNAUTHORIZED, "Client authentication failed"),
            InvalidScope => ("invalid_scope", StatusCode::BAD_REQUEST, "A requested scope is unknown or not allowed"),
            UnsupportedGrantType => {
                ("unsupported_grant_type", StatusCode::BAD_REQUEST, "This grant type is not supported")
            }
            NotFound => ("not_found", StatusCode::NOT_FOUND, "No such resource"),
            UnknownSku => ("unknown_sku", StatusCode::NOT_FOUND, "No such SKU"),
            UnknownReference => (
                "unknown_reference",
                StatusCode::UNPROCESSABLE_ENTITY,
                "The request names something that does not exist",
            ),
            MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            AlreadyExists => {
                ("already_exists", StatusCode::CONFLICT, "A different resource with this key already exists")
            }
            EmailTaken => ("email_taken", StatusCode::CONFLICT, "This email already has an account"),
            InsufficientStock => ("insufficient_stock", StatusCode::CONFLICT, "Not enough stock available"),
            InvalidStateTransition => {
                ("invalid_state_transition", StatusCode::CONFLICT, "The resource is not in a state that allows this")
            }
            Busy => ("busy", StatusCode::CONFLICT, "Another operation on this resource is running; retry shortly"),
            NotConfigured => ("not_configured", StatusCode::CONFLICT, "This feature is not set up for the tenant yet"),
            PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large"),
            UnsupportedMediaType => {
                ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported content type")
            }
            IdempotencyKeyReused => (
                "idempotency_key_reused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was used for a different request",
            ),
            RateLimited => ("rate_limited", StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
            Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable"),
        }
    }

    /// The code for a bare HTTP status (errors raised by poem rather than by Cairn).
    pub fn for_status(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::MalformedRequest,
            401 => Code::Unauthorized,
            403 => Code::Forbidden,
            404 => Code::NotFound,
            405 => Code::MethodNotAllowed,
            409 => Code::AlreadyExists,
            413 => Code::PayloadTooLarge,
            415 => Code::UnsupportedMediaType,
            429 => Code::RateLimited,
            503 => Code::Unavailable,
            _ => Code::Internal,
        }
    }
}

/// One line that could not be reserved, listed in an `insufficient_stock` problem.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Deserialize)]
pub struct ShortLine {
    pub sku_code: String,
    pub requested: i64,
    pub available: i64,
}

/// The problem+json document.
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct ProblemBody {
    /// A URL naming the problem type.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable.
    pub code: String,
    #[oai(nullable, skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// For `insufficient_stock`: every line that is short.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub lines: Option<Vec<ShortLine>>,
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct Problem {
    pub code: Code,
    pub detail: String,
    pub lines: Option<Vec<ShortLine>>,
}

impl Problem {
    /// A problem with a human-readable detail.
    pub fn new(code: Code, detail: impl Into<String>) -> Problem {
        Problem { code, detail: detail.into(), lines: None }
    }

    /// 404 for a resource that is missing or belongs to another tenant (indistinguishable).
    pub fn not_found(what: &str) -> Problem {
        Problem::new(Code::NotFound, format!("{what} not found"))
    }

    /// A 500: logs the cause chain, tells the caller nothing internal.
    pub fn internal(err: impl Into<anyhow::Error>) -> Problem {
        let err = err.into();
        tracing::error!(error = ?err, "internal error");
        Problem::new(Code::Internal, "An internal error occurred; it has been logged.")
    }

    /// The document.
    pub fn body(&self) -> ProblemBody {
        let (code, status, title) = self.code.describe();
        ProblemBody {
            type_: format!("https://cairn.dev/problems/{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: code.to_owned(),
            instance: None,
            lines: self.lines.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.describe().0, self.detail)
    }
}

/// Which error statuses an operation declares: a set of bits, one per status, composed with
/// `|` in the operation's return type, e.g. `ApiResult<ChannelFound, { WRITE_BY_ID | CONFLICT }>`.
///
/// The rule: an operation lists exactly the statuses it can answer with.
/// - Every authenticated operation can answer 401 (no or bad token), 403 (the token lacks the
///   scope), 429 (rate limited) and 500: [`AUTHENTICATED`](status::AUTHENTICATED).
/// - 400 only when there is something to be malformed: a path, query or header parameter, or
///   a body ([`READ`](status::READ)); 415 only with a JSON body, which must be sent as JSON
///   ([`WRITE`](status::WRITE)); 404 only when a path id or a named resource can be missing
///   ([`READ_BY_ID`](status::READ_BY_ID), [`WRITE_BY_ID`](status::WRITE_BY_ID), or `| NOT_FOUND`).
/// - Signed callbacks (webhooks) take no token: [`CALLBACK`](status::CALLBACK).
/// - 409, 413, 422 and 503 are added by the operations that can raise them.
///
/// Answers the router gives for any path (404 for an unknown path, 405 with `Allow` for an
/// undeclared method) are not repeated on every operation.
pub mod status {
    /// 400: a parameter or the body is malformed or invalid.
    pub const BAD_REQUEST: u16 = 1 << 0;
    /// 401: no valid bearer token (or, for callbacks, signature).
    pub const UNAUTHORIZED: u16 = 1 << 1;
    /// 403: the token does not allow this.
    pub const FORBIDDEN: u16 = 1 << 2;
    /// 404: the resource is missing or another tenant's.
    pub const NOT_FOUND: u16 = 1 << 3;
    /// 409: conflicts with the resource's state.
    pub const CONFLICT: u16 = 1 << 4;
    /// 413: the body is too large.
    pub const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
    /// 415: the body is not sent as JSON.
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 6;
    /// 422: names something that does not exist, or reuses an Idempotency-Key.
    pub const UNPROCESSABLE: u16 = 1 << 7;
    /// 429: rate limited.
    pub const TOO_MANY_REQUESTS: u16 = 1 << 8;
    /// 500: an internal error (e.g. the database failed).
    pub const INTERNAL: u16 = 1 << 9;
    /// 503: a dependency is unavailable; retry.
    pub const UNAVAILABLE: u16 = 1 << 10;

    /// Any operation without a token (sign-up, login, callbacks): only a 500 is certain.
    pub const PUBLIC: u16 = INTERNAL;
    /// Any operation with a bearer token.
    pub const AUTHENTICATED: u16 = UNAUTHORIZED | FORBIDDEN | TOO_MANY_REQUESTS | INTERNAL;
    /// An authenticated read with parameters.
    pub const READ: u16 = AUTHENTICATED | BAD_REQUEST;
    /// An authenticated read of one resource by its id.
    pub const READ_BY_ID: u16 = READ | NOT_FOUND;
    /// An authenticated call with a JSON body.
    pub const WRITE: u16 = READ | UNSUPPORTED_MEDIA_TYPE;
    /// An authenticated call with a JSON body on one resource by its id.
    pub const WRITE_BY_ID: u16 = WRITE | NOT_FOUND;
    /// A signed callback (a marketplace's or carrier's webhook): its headers or body can be
    /// malformed or too large, its signature wrong, its shop or account unknown.
    pub const CALLBACK: u16 = PUBLIC | BAD_REQUEST | UNAUTHORIZED | NOT_FOUND | PAYLOAD_TOO_LARGE;

    /// (bit, status, description) of every status a set can hold.
    pub(crate) const TABLE: [(u16, u16, &str); 11] = [
        (BAD_REQUEST, 400, "The request is malformed or a field is invalid."),
        (UNAUTHORIZED, 401, "Missing or invalid credentials or signature."),
        (FORBIDDEN, 403, "Not allowed for this token."),
        (NOT_FOUND, 404, "Not found — also for another tenant's resources."),
        (CONFLICT, 409, "Conflicts with the current state."),
        (PAYLOAD_TOO_LARGE, 413, "The body is larger than allowed."),
        (UNSUPPORTED_MEDIA_TYPE, 415, "The body was not sent as `application/json`."),
        (
            UNPROCESSABLE,
            422,
            "Names something that does not exist, or reuses an Idempotency-Key for a different request.",
        ),
        (TOO_MANY_REQUESTS, 429, "Rate limited."),
        (INTERNAL, 500, "Internal error."),
        (UNAVAILABLE, 503, "A dependency is unavailable; retry."),
    ];

    /// The bit of an HTTP status, if a set can hold it.
    pub fn bit(status: u16) -> Option<u16> {
        TABLE.iter().find(|(_, s, _)| *s == status).map(|(bit, _, _)| *bit)
    }
}

/// The error side of an operation: a problem+json answer whose status is one of the set `S`
/// (see [`status`]), which is what the spec lists for the operation.
#[derive(Debug)]
pub struct Errors<const S: u16>(pub ProblemBody);

impl<const S: u16> Errors<S> {
    /// The statuses `S` holds, in order.
    pub fn statuses() -> Vec<u16> {
        status::TABLE.iter().filter(|(bit, _, _)| S & bit != 0).map(|(_, s, _)| *s).collect()
    }
}

impl<const S: u16> From<Problem> for Errors<S> {
    fn from(p: Problem) -> Self {
        ProblemResponse::from(p).into()
    }
}

impl<const S: u16> From<ProblemResponse> for Errors<S> {
    fn from(p: ProblemResponse) -> Self {
        let status = p.0.status;
        if status::bit(status).is_none_or(|bit| S & bit == 0) {
            // The spec does not list this status for the operation: a bug to fix in its
            // declaration (schemathesis's status_code_conformance reports it too).
            tracing::error!(status, code = %p.0.code, declared = ?Self::statuses(), "undeclared error status");
        }
        Errors(p.0)
    }
}

impl<const S: u16> std::fmt::Display for Errors<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.detail)
    }
}

impl<const S: u16> std::error::Error for Errors<S> {}

impl<const S: u16> poem::error::ResponseError for Errors<S> {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        body_response(&self.0)
    }
}

impl<const S: u16> poem::IntoResponse for Errors<S> {
    fn into_response(self) -> Response {
        body_response(&self.0)
    }
}

impl<const S: u16> ApiResponse for Errors<S> {
    fn meta() -> MetaResponses {
        let responses = status::TABLE
            .iter()
            .filter(|(bit, _, _)| S & bit != 0)
            .map(|(_, status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: vec![MetaMediaType { content_type: CONTENT_TYPE, schema: ProblemBody::schema_ref() }],
                headers: vec![],
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ProblemBody::register(registry);
    }
}

/// Any problem, before an operation narrows it to the statuses it declares ([`Errors`]):
/// what helpers shared by several operations return.
#[derive(Debug)]
pub struct ProblemResponse(pub ProblemBody);

impl From<Problem> for ProblemResponse {
    fn from(p: Problem) -> Self {
        ProblemResponse(p.body())
    }
}

/// Result of an operation that declares the error statuses `S` (see [`status`]).
pub type ApiResult<T, const S: u16> = Result<T, Errors<S>>;

/// Renders a problem as a plain poem response (for code outside poem-openapi).
pub fn response(p: &Problem) -> Response {
    body_response(&p.body())
}

fn body_response(body: &ProblemBody) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(CONTENT_TYPE);
    if body.status == 503 {
        // Unavailable is temporary by definition: say when to try again (RFC 9110 §10.2.3).
        resp = resp.header(poem::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS);
    }
    resp.body(serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(body)).unwrap_or_default())
}

/// The `Retry-After` of every 503, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Turns any error poem raises into problem+json; responses that already are problems pass.
pub async fn catch_all(err: poem::Error) -> Response {
    let detail = err.to_string();
    let resp = err.into_response();
    let is_problem = resp
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if is_problem {
        return resp;
    }
    let status = resp.status();
    let code = Code::for_status(status);
    let detail = if status.is_server_error() {
        tracing::error!(%detail, "unhandled server error");
        "An internal error occurred; it has been logged.".to_owned()
    } else if detail.is_empty() {
        code.describe().2.to_owned()
    } else {
        detail
    };
    let mut out = response(&Problem::new(code, detail));
    // Keep the status poem chose (e.g. 405 or 415) even where our table maps it elsewhere.
    out.set_status(status);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_name() {
        let all = Code::ALL;
        let mut names: Vec<_> = all.iter().map(|c| c.describe().0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[tokio::test]
    async fn poem_errors_become_problems() {
        let resp = catch_all(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(resp.content_type(), Some(CONTENT_TYPE));
        let body: serde_json::Value = serde_json::from_slice(&resp.into_body().into_vec().await.unwrap()).unwrap();
        assert_eq!(body["code"], "payload_too_large");
    }
}
