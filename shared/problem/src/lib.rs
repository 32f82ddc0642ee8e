//! RFC 7807 `application/problem+json` errors with stable codes.
//!
//! One table ([`Code`]) maps every error code to its HTTP status and title. Operations return
//! `Result<_, ProblemResponse>`, so the OpenAPI spec lists the errors; anything poem itself
//! rejects (bad JSON, missing auth, unknown route, oversized body) is turned into the same
//! shape by [`catch_all`].

pub mod raw;

use poem::{Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

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

/// The error side of every operation; each status is listed so the spec shows it.
#[derive(ApiResponse, Debug)]
pub enum ProblemResponse {
    /// The request is malformed or a field is invalid.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<ProblemBody>),
    /// Missing or invalid credentials or signature.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<ProblemBody>),
    /// Not allowed for this token.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<ProblemBody>),
    /// Not found — also for another tenant's resources.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<ProblemBody>),
    /// Conflicts with the current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<ProblemBody>),
    /// The body is larger than allowed.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<ProblemBody>),
    /// Same Idempotency-Key, different request.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<ProblemBody>),
    /// Rate limited.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<ProblemBody>),
    /// Internal error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<ProblemBody>),
    /// A dependency is unavailable.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<ProblemBody>),
}

impl From<Problem> for ProblemResponse {
    fn from(p: Problem) -> Self {
        let body = Json(p.body());
        match body.0.status {
            400 => ProblemResponse::BadRequest(body),
            401 => ProblemResponse::Unauthorized(body),
            403 => ProblemResponse::Forbidden(body),
            404 => ProblemResponse::NotFound(body),
            409 => ProblemResponse::Conflict(body),
            413 => ProblemResponse::PayloadTooLarge(body),
            422 => ProblemResponse::Unprocessable(body),
            429 => ProblemResponse::TooManyRequests(body),
            503 => ProblemResponse::Unavailable(body),
            _ => ProblemResponse::Internal(body),
        }
    }
}

/// Result of an operation.
pub type ApiResult<T> = Result<T, ProblemResponse>;

/// Renders a problem as a plain poem response (for code outside poem-openapi).
pub fn response(p: &Problem) -> Response {
    let body = p.body();
    Response::builder()
        .status(StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(CONTENT_TYPE)
        .body(serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&body)).unwrap_or_default())
}

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
