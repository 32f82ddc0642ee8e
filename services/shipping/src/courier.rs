//! The Courier client (COURIER.md): signed calls to list accounts, draw and cancel waybills and
//! register the tracking URL. Authentication is Bazaar's Open API scheme.

use kernel::signature;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most packages one draw call may carry (COURIER.md).
pub const MAX_PACKAGES: usize = 10;

/// An account's credentials and where its Courier is.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_url: String,
    pub app_key: String,
    pub app_secret: String,
    pub access_token: String,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Unreachable, timed out, 5xx, or rate limited: the outcome is unknown; the same call
    /// may be made again (draws are idempotent by `object_id`).
    #[error("Courier did not answer: {0}")]
    Unavailable(String),
    /// Courier refused the call (its code and message).
    #[error("Courier refused: {code}: {message}")]
    Refused { status: u16, code: String, message: String },
}

/// One of the seller's accounts as Courier lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Account {
    pub cp_code: String,
    pub branch_code: String,
    #[serde(default)]
    pub branch_name: String,
    /// Numbers left (franchise carriers); `None` for direct ones.
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub allocated: i64,
    #[serde(default)]
    pub cancelled: i64,
    #[serde(default)]
    pub printed: i64,
}

/// An address as Courier takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    #[serde(default)]
    pub district: String,
    pub address: String,
}

/// An item line on a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub name: String,
    pub count: i64,
}

/// One package of a draw call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    /// Cairn's shipment id: Courier is idempotent by it.
    pub object_id: String,
    pub recipient: Address,
    pub items: Vec<Item>,
    pub weight_grams: i64,
    pub parcels: u32,
    pub trade_ids: Vec<String>,
}

/// Courier's print data for a drawn waybill.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct PrintData {
    #[serde(default)]
    pub sortation_name: String,
    #[serde(default)]
    pub route_code: String,
    #[serde(default)]
    pub consolidation_code: String,
    #[serde(default)]
    pub cp_name: String,
}

/// One package's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drawn {
    Ok { object_id: String, waybill_code: String, child_codes: Vec<String>, print: PrintData },
    Failed { object_id: String, code: String, message: String },
}

#[derive(Deserialize)]
struct RawResult {
    object_id: String,
    #[serde(default)]
    waybill_code: Option<String>,
    #[serde(default)]
    child_waybill_codes: Vec<String>,
    #[serde(default)]
    print_data: Option<PrintData>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A Courier client (cheap to clone).
#[derive(Clone)]
pub struct Courier {
    http: reqwest::Client,
}

impl Default for Courier {
    fn default() -> Self {
        Courier::new(Duration::from_secs(15))
    }
}

impl Courier {
    /// A client whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Courier {
        Courier { http: reqwest::Client::builder().timeout(timeout).build().expect("a plain HTTP client builds") }
    }

    async fn call(
        &self,
        creds: &Credentials,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value, CallError> {
        let mut params: Vec<(String, String)> = vec![
            ("app_key".into(), creds.app_key.clone()),
            // The wall clock: Courier checks it against its own.
            ("timestamp".into(), chrono::Utc::now().timestamp().to_string()),
            ("sign_method".into(), "hmac-sha256".into()),
        ];
        let raw = body.unwrap_or_default();
        let sign = signature::open_api_sign(&creds.app_secret, &params, &raw);
        params.push(("sign".into(), sign));
        let base = creds.api_url.trim_end_matches('/');
        let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), &params)
            .map_err(|e| CallError::Refused { status: 0, code: "bad-url".into(), message: e.to_string() })?;
        let mut req = self.http.request(method, url).bearer_auth(&creds.access_token);
        if !raw.is_empty() {
            req = req.header("content-type", "application/json").body(raw);
        }
        let resp = req.send().await.map_err(|e| CallError::Unavailable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CallError::Unavailable(format!("answer cut off: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Unavailable(format!("answered {status} with a body that is not JSON: {e}")));
        }
        let err: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            code: String::new(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
        {
            return Err(CallError::Unavailable(format!("{status}: {} {}", err.code, err.message)));
        }
        Err(CallError::Refused {
            status: status.as_u16(),
            code: if err.code.is_empty() { status.as_u16().to_string() } else { err.code },
            message: err.message,
        })
    }

    /// The seller's accounts.
    pub async fn accounts(&self, creds: &Credentials) -> Result<Vec<Account>, CallError> {
        #[derive(Deserialize)]
        struct Accounts {
            accounts: Vec<Account>,
        }
        let v = self.call(creds, Method::GET, "/courier/v1/accounts", None).await?;
        serde_json::from_value::<Accounts>(v)
            .map(|a| a.accounts)
            .map_err(|e| CallError::Unavailable(format!("accounts are not `{{accounts: [...]}}`: {e}")))
    }

    /// Draws waybills for up to [`MAX_PACKAGES`] packages; one answer per package, in order.
    pub async fn draw(
        &self,
        creds: &Credentials,
        cp_code: &str,
        branch_code: &str,
        sender: &Address,
        packages: &[Package],
    ) -> Result<Vec<Drawn>, CallError> {
        assert!(packages.len() <= MAX_PACKAGES, "callers chunk draws by {MAX_PACKAGES}");
        let body = serde_json::json!({
            "cp_code": cp_code, "branch_code": branch_code, "sender": sender, "packages": packages,
        });
        let v = self
            .call(creds, Method::POST, "/courier/v1/waybills", Some(serde_json::to_vec(&body).expect("JSON")))
            .await?;
        #[derive(Deserialize)]
        struct Results {
            results: Vec<RawResult>,
        }
        let r: Results = serde_json::from_value(v)
            .map_err(|e| CallError::Unavailable(format!("draw answer is not `{{results: [...]}}`: {e}")))?;
        Ok(r.results
            .into_iter()
            .map(|r| match (r.waybill_code, r.error) {
                (Some(code), None) => Drawn::Ok {
                    object_id: r.object_id,
                    waybill_code: code,
                    child_codes: r.child_waybill_codes,
                    print: r.print_data.unwrap_or_default(),
                },
                (_, e) => {
                    let e = e.unwrap_or_default();
                    Drawn::Failed { object_id: r.object_id, code: e.code, message: e.message }
                }
            })
            .collect())
    }

    /// Gives an unused waybill back.
    pub async fn cancel(&self, creds: &Credentials, waybill_code: &str) -> Result<(), CallError> {
        let path = format!("/courier/v1/waybills/{}/cancel", urlencode(waybill_code));
        self.call(creds, Method::POST, &path, None).await.map(drop)
    }

    /// Registers where the account's tracking events go and the secret they are signed with.
    pub async fn subscribe(
        &self,
        creds: &Credentials,
        cp_code: &str,
        branch_code: &str,
        url: &str,
        secret: &str,
    ) -> Result<(), CallError> {
        let body = serde_json::json!({"cp_code": cp_code, "branch_code": branch_code, "url": url, "secret": secret});
        self.call(
            creds,
            Method::PUT,
            "/courier/v1/tracking-subscription",
            Some(serde_json::to_vec(&body).expect("JSON")),
        )
        .await
        .map(drop)
    }
}

/// Percent-encodes a path segment.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
