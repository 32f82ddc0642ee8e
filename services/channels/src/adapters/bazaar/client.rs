//! The Bazaar Open API client (BAZAAR.md, "Open API"): signed calls for the incremental trade
//! list, the ship write-back and item quantities.

use super as bazaar;
use crate::connector::{CallError, MarketplaceApi, Pulled, Variant};
use kernel::Timestamp;
use kernel::signature;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use std::time::Duration;

/// Largest page the trade list serves.
const PAGE_SIZE: u64 = 100;

/// One shop's Open API credentials and a shared HTTP client.
pub struct BazaarClient {
    http: reqwest::Client,
    base: String,
    app_key: String,
    app_secret: String,
    access_token: String,
}

/// `sign` of BAZAAR.md (the one Courier uses too: [`signature::open_api_sign`]).
pub fn api_sign(app_secret: &str, params: &[(String, String)], body: &[u8]) -> String {
    signature::open_api_sign(app_secret, params, body)
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TradePage {
    trades: Vec<serde_json::Value>,
    total_results: u64,
}

/// Bazaar's time format for query parameters: RFC 3339 in China time, milliseconds.
fn bazaar_time(t: Timestamp) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

impl BazaarClient {
    /// A client for one shop.
    pub fn new(http: reqwest::Client, base_url: &str, app_key: &str, app_secret: &str, access_token: &str) -> Self {
        BazaarClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            app_secret: app_secret.to_owned(),
            access_token: access_token.to_owned(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value, CallError> {
        let mut params: Vec<(String, String)> = query.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        params.push(("app_key".into(), self.app_key.clone()));
        // The wall clock, not Cairn's: Bazaar checks this against its own clock.
        params.push(("timestamp".into(), chrono::Utc::now().timestamp().to_string()));
        params.push(("sign_method".into(), "hmac-sha256".into()));
        let raw = body.unwrap_or_default();
        let sign = api_sign(&self.app_secret, &params, &raw);
        params.push(("sign".into(), sign));
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), &params)
            .map_err(|e| CallError::Rejected { code: "bad-url".into(), message: e.to_string() })?;
        let mut req = self.http.request(method, url).bearer_auth(&self.access_token);
        if !raw.is_empty() {
            req = req.header("content-type", "application/json").body(raw);
        }
        let resp = req.send().await.map_err(|e| CallError::Retry(format!("Bazaar unreachable: {e}")))?;
        let status = resp.status();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp.bytes().await.map_err(|e| CallError::Retry(format!("Bazaar answer cut off: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Retry(format!("Bazaar answered {status} with a body that is not JSON: {e}")));
        }
        let err: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            code: String::new(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => {
                CallError::RateLimited(Duration::from_secs(retry_after.unwrap_or(1).clamp(1, 300)))
            }
            s if s.is_server_error() || s == StatusCode::UNAUTHORIZED || s == StatusCode::REQUEST_TIMEOUT => {
                CallError::Retry(format!("Bazaar answered {s}: {} {}", err.code, err.message))
            }
            _ => CallError::Rejected {
                code: if err.code.is_empty() { status.as_u16().to_string() } else { err.code },
                message: err.message,
            },
        })
    }

    async fn page(&self, start: &str, end: &str, page_no: u64) -> Result<TradePage, CallError> {
        let v = self
            .call(
                Method::GET,
                "/api/v1/trades",
                &[
                    ("modified_start", start.to_owned()),
                    ("modified_end", end.to_owned()),
                    ("page_no", page_no.to_string()),
                    ("page_size", PAGE_SIZE.to_string()),
                ],
                None,
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| CallError::Retry(format!("Bazaar trade list is not `{{trades, total_results}}`: {e}")))
    }
}

fn parse_trade(v: serde_json::Value) -> Pulled {
    let tid = v.get("tid").and_then(|t| t.as_str()).unwrap_or("?").to_owned();
    serde_json::from_value::<bazaar::Trade>(v)
        .map_err(|e| format!("{tid}: {e}"))
        .and_then(|t| t.into_snapshot().map_err(|e| format!("{tid}: {e}")))
}

#[async_trait::async_trait]
impl MarketplaceApi for BazaarClient {
    /// Reads page 1 for the total, then every page from the last backwards (BAZAAR.md: newest
    /// first, so a trade modified meanwhile leaves the window and shifts older ones towards
    /// page 1, which is read last, instead of past a page already read).
    async fn trades_modified(&self, start: Timestamp, end: Timestamp) -> Result<Vec<Pulled>, CallError> {
        let (s, e) = (bazaar_time(start), bazaar_time(end));
        let first = self.page(&s, &e, 1).await?;
        let pages = first.total_results.div_ceil(PAGE_SIZE).max(1);
        let mut out = Vec::with_capacity(first.total_results as usize);
        for page_no in (2..=pages).rev() {
            out.extend(self.page(&s, &e, page_no).await?.trades.into_iter().map(parse_trade));
        }
        let again = if pages > 1 { self.page(&s, &e, 1).await? } else { first };
        out.extend(again.trades.into_iter().map(parse_trade));
        Ok(out)
    }

    async fn ship(
        &self,
        external_id: &str,
        company_code: &str,
        waybill_no: &str,
        line_ids: Option<&[String]>,
    ) -> Result<(), CallError> {
        let mut body = serde_json::json!({"company_code": company_code, "waybill_no": waybill_no});
        if let Some(ids) = line_ids {
            body["oids"] = serde_json::json!(ids);
        }
        let path = format!("/api/v1/trades/{}/ship", urlencode(external_id));
        self.call(Method::POST, &path, &[], Some(serde_json::to_vec(&body).expect("JSON"))).await.map(drop)
    }

    async fn set_quantity(&self, sku_code: &str, quantity: i64) -> Result<(), CallError> {
        let path = format!("/api/v1/items/{}/quantity", urlencode(sku_code));
        self.call(
            Method::PUT,
            &path,
            &[],
            Some(serde_json::to_vec(&serde_json::json!({"quantity": quantity})).expect("JSON")),
        )
        .await
        .map(drop)
    }

    async fn set_variant_quantity(
        &self,
        item_id: &str,
        variant_id: Option<&str>,
        quantity: i64,
    ) -> Result<(), CallError> {
        // BAZAAR.md has the call for a variant only; an item without variants is its merchant
        // code's (or the item's own id, which Bazaar takes there).
        let path = match variant_id {
            Some(v) => format!("/api/v1/items/{}/skus/{}/quantity", urlencode(item_id), urlencode(v)),
            None => format!("/api/v1/items/{}/quantity", urlencode(item_id)),
        };
        let body = serde_json::to_vec(&serde_json::json!({"quantity": quantity})).expect("JSON");
        self.call(Method::PUT, &path, &[], Some(body)).await.map(drop)
    }

    /// Every page of `GET /api/v1/items`, at most [`MAX_ITEM_PAGES`] of them.
    async fn items(&self) -> Result<Option<Vec<Variant>>, CallError> {
        let mut out = Vec::new();
        for page_no in 1..=MAX_ITEM_PAGES {
            let v = self
                .call(
                    Method::GET,
                    "/api/v1/items",
                    &[("page_no", page_no.to_string()), ("page_size", PAGE_SIZE.to_string())],
                    None,
                )
                .await?;
            let page: ItemPage = serde_json::from_value(v)
                .map_err(|e| CallError::Retry(format!("Bazaar item list is not `{{items, total_results}}`: {e}")))?;
            let got = page.items.len() as u64;
            for item in page.items {
                if item.skus.is_empty() {
                    out.push(Variant {
                        item_id: item.num_iid.clone(),
                        variant_id: None,
                        title: item.title.clone(),
                        properties: None,
                        merchant_code: item.outer_id.clone(),
                    });
                }
                for s in item.skus {
                    out.push(Variant {
                        item_id: item.num_iid.clone(),
                        variant_id: s.sku_id,
                        title: item.title.clone(),
                        properties: s.properties.filter(|p| !p.trim().is_empty()),
                        merchant_code: s.outer_sku_id.filter(|c| !c.trim().is_empty()),
                    });
                }
            }
            if got < PAGE_SIZE || page_no * PAGE_SIZE >= page.total_results {
                break;
            }
        }
        Ok(Some(out))
    }

    fn max_window(&self) -> chrono::Duration {
        chrono::Duration::hours(24)
    }
}

/// The most item pages one listing reads (10,000 variants and more at 100 a page).
const MAX_ITEM_PAGES: u64 = 100;

#[derive(Deserialize)]
struct ItemPage {
    #[serde(default)]
    items: Vec<ItemEntry>,
    #[serde(default)]
    total_results: u64,
}

#[derive(Deserialize)]
struct ItemEntry {
    #[serde(deserialize_with = "id_string")]
    num_iid: String,
    #[serde(default)]
    title: String,
    /// An item without variants may carry its merchant code itself.
    #[serde(default)]
    outer_id: Option<String>,
    #[serde(default)]
    skus: Vec<SkuEntry>,
}

#[derive(Deserialize)]
struct SkuEntry {
    #[serde(default, deserialize_with = "opt_id_string")]
    sku_id: Option<String>,
    #[serde(default)]
    outer_sku_id: Option<String>,
    #[serde(default)]
    properties: Option<String>,
}

/// Bazaar ids arrive as strings or numbers.
fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_id_string(d)?.ok_or_else(|| serde::de::Error::custom("an id is missing"))
}

fn opt_id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_signature_matches_an_independent_implementation() {
        // python3: hmac.new(b"secret", b"app_keyk1page_no2sign_methodhmac-sha256timestamp1700000000" + b'{"quantity":5}', hashlib.sha256).hexdigest().upper()
        let params: Vec<(String, String)> =
            [("timestamp", "1700000000"), ("app_key", "k1"), ("sign_method", "hmac-sha256"), ("page_no", "2")]
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
        assert_eq!(api_sign("secret", &params, br#"{"quantity":5}"#), PYTHON_VECTOR);
    }

    const PYTHON_VECTOR: &str = "B94EF4472C63642F48CF0B6F28E96BA1F79E00B958CBA720F313692BF596223E";

    #[test]
    fn times_are_china_time_with_milliseconds() {
        let t =
            chrono::DateTime::parse_from_rfc3339("2026-11-10T16:00:03.005123Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(bazaar_time(t), "2026-11-11T00:00:03.005+08:00");
        assert_eq!(urlencode("TEE/红"), "TEE%2F%E7%BA%A2");
    }
}
