//! The Open API (Cairn → Bazaar): signed calls, per app-and-shop rate limits, chaos, and the
//! six calls of BAZAAR.md.
//!
//! Plain poem handlers rather than poem-openapi: the signature covers the raw query and body,
//! which the handlers need as bytes, and the error bodies must be BAZAAR.md's
//! `{"code","message"}`, not Cairn's problem+json.
//!
//! Order of checks: API outage (503) → injected failure (500) → injected slowness → signature,
//! timestamp and token (401) → rate limit (429) → the call. A ship write-back naming a Courier
//! waybill has the carrier collect it (`CourierSchedule::collect_delay_ms` later). Error codes beyond BAZAAR.md's:
//! `isv.invalid-access-token` (401, unknown bearer token), `isv.invalid-app-key` (401, the
//! token's shop did not authorise this app), `isv.invalid-parameter` (400),
//! `isv.invalid-trade-status` (409), `isv.item-not-exist` (404: an unknown `num_iid`, a
//! `sku_id` the item does not have, or a merchant code only a variant without one would have),
//! `isv.service-unavailable` (503), `isv.internal-error` (500).

use crate::Sim;
use crate::domain::SimError;
use crate::domain::trade::{ShipOutcome, format_time};
use crate::model::{ShipRequest, Shop, WritebackKind, WritebackOutcome};
use crate::sign::verify_api_sign;
use crate::store::now_ms;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post, put};
use rand::RngExt;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Clock skew allowed on `timestamp` (BAZAAR.md: 10 minutes).
pub const MAX_SKEW_SECONDS: i64 = 600;
/// Largest `page_size` of the incremental trade list.
pub const MAX_PAGE_SIZE: usize = 100;
/// `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 40;
/// Widest `modified_start`..`modified_end` window.
const MAX_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// How far back `modified_start` may go ("3 months").
const MAX_LOOKBACK_MS: i64 = 92 * 24 * 3600 * 1000;

/// An Open API (or admin API) error: `{"code": "...", "message": "..."}` with an HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_owned(), message: message.into(), retry_after: None }
    }

    pub(crate) fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "isv.invalid-parameter", message)
    }
}

impl From<SimError> for ApiError {
    fn from(e: SimError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let mut r = Response::builder()
            .status(self.status)
            .content_type("application/json")
            .body(json!({"code": self.code, "message": self.message}).to_string());
        if let Some(secs) = self.retry_after {
            r.headers_mut().insert("Retry-After", secs.into());
        }
        r
    }
}

/// A token bucket: `rate` tokens per second, at most `rate` (one second's worth) saved up.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The Open API's gatekeeper: outage window, rate limits and counters.
pub(crate) struct ApiGuard {
    rate: f64,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
    down: Mutex<Option<(Instant, Instant)>>,
    pub calls: AtomicU64,
    pub rate_limited: AtomicU64,
    pub auth_failures: AtomicU64,
    pub unavailable: AtomicU64,
    pub failures_injected: AtomicU64,
    pub slow_injected: AtomicU64,
}

impl ApiGuard {
    pub fn new(rate: f64) -> Self {
        ApiGuard {
            rate: rate.max(0.001),
            buckets: Mutex::default(),
            down: Mutex::new(None),
            calls: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            failures_injected: AtomicU64::new(0),
            slow_injected: AtomicU64::new(0),
        }
    }

    /// The API answers 503 from `start` for `length`.
    pub fn set_outage(&self, start: Instant, length: Duration) {
        *self.down.lock().expect("api outage lock") = (!length.is_zero()).then(|| (start, start + length));
    }

    /// Time left in the current API outage.
    pub fn outage_left(&self) -> Option<Duration> {
        let now = Instant::now();
        self.down.lock().expect("api outage lock").filter(|(s, e)| *s <= now && now < *e).map(|(_, e)| e - now)
    }

    /// Takes a token for (app, shop or seller), or says how many seconds until one is there.
    pub(crate) fn take(&self, app_key: &str, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("bucket lock");
        let b = buckets
            .entry((app_key.to_owned(), key.to_owned()))
            .or_insert(Bucket { tokens: self.rate.max(1.0), at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.rate.max(1.0));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// The Open API routes, to nest under `/api/v1`.
pub(crate) fn routes(sim: Sim) -> impl Endpoint {
    let gate_sim = sim.clone();
    Route::new()
        .at("/trades", get(list_trades))
        .at("/trades/:tid", get(get_trade))
        .at("/trades/:tid/ship", post(ship))
        .at("/items", get(list_items))
        .at("/items/:outer_sku_id/quantity", put(set_quantity))
        .at("/items/:num_iid/skus/:sku_id/quantity", put(set_variant_quantity))
        .data(sim)
        .around(move |ep, req| {
            let sim = gate_sim.clone();
            async move { Ok(gate(&sim, ep, req).await) }
        })
}

/// The write-back a response is about, so an injected "failure after success" can be marked.
#[derive(Clone, Copy)]
struct WritebackSeq(u64);

/// Outage and chaos around every Open API call.
async fn gate<E: Endpoint>(sim: &Sim, ep: std::sync::Arc<E>, req: Request) -> Response {
    let guard = &sim.inner.api;
    guard.calls.fetch_add(1, Relaxed);
    if let Some(left) = guard.outage_left() {
        guard.unavailable.fetch_add(1, Relaxed);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "isv.service-unavailable",
            "the open platform is down (simulated)",
        );
        e.retry_after = Some(left.as_secs().max(1));
        return poem::error::ResponseError::as_response(&e);
    }
    let chaos = sim.chaos();
    let (fail, slow, fail_after) = {
        let mut rng = rand::rng();
        (
            rng.random_bool(chaos.api_fail_rate.clamp(0.0, 1.0)),
            rng.random_bool(chaos.api_slow_rate.clamp(0.0, 1.0)),
            rng.random_bool(chaos.api_fail_after_rate.clamp(0.0, 1.0)),
        )
    };
    let internal = || {
        poem::error::ResponseError::as_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "isv.internal-error",
            "internal error (simulated)",
        ))
    };
    if fail {
        guard.failures_injected.fetch_add(1, Relaxed);
        return internal();
    }
    if slow {
        guard.slow_injected.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(chaos.api_slow_ms)).await;
    }
    let resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    if fail_after {
        guard.failures_injected.fetch_add(1, Relaxed);
        if let Some(WritebackSeq(seq)) = resp.extensions().get::<WritebackSeq>().copied() {
            sim.inner.state.lock().expect("state lock").mark_response_lost(seq);
        }
        return internal();
    }
    resp
}

/// `application/x-www-form-urlencoded` decoding of a query string, keeping every pair.
fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    fn decode(s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match (decode(k), decode(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(format!("malformed query parameter `{p}`")),
            }
        })
        .collect()
}

/// A verified caller: the shop and the query parameters.
struct Caller {
    shop: Shop,
    params: HashMap<String, String>,
}

/// The error codes a signed API answers with: Bazaar's Open API (`isv.*`) or Courier's
/// (`courier.*`), which share the signing scheme.
pub(crate) struct Dialect {
    pub invalid_signature: &'static str,
    /// Unknown bearer token.
    pub invalid_token: &'static str,
    /// The token's holder did not authorise this app.
    pub invalid_app_key: &'static str,
    pub rate_limited: &'static str,
    pub invalid_parameter: &'static str,
    /// What a token belongs to, in messages: `shop`, `seller`.
    pub holder: &'static str,
}

const BAZAAR: Dialect = Dialect {
    invalid_signature: "isv.invalid-signature",
    invalid_token: "isv.invalid-access-token",
    invalid_app_key: "isv.invalid-app-key",
    rate_limited: "isv.rate-limited",
    invalid_parameter: "isv.invalid-parameter",
    holder: "shop",
};

/// Who a bearer token belongs to: an id (for messages and the rate limit) and the app
/// credentials its calls must be signed with.
pub(crate) struct Principal {
    pub id: String,
    pub app_key: String,
    pub app_secret: String,
}

/// Checks `sign`, `timestamp`, the bearer token (`find` looks it up) and the rate limit of a
/// signed call. Returns what `find` found and the query parameters.
pub(crate) fn verify_signed<T>(
    guard: &ApiGuard,
    d: &Dialect,
    req: &Request,
    body: &[u8],
    find: impl FnOnce(&str) -> Option<(T, Principal)>,
) -> Result<(T, HashMap<String, String>), ApiError> {
    let auth_failed = |code: &str, message: String| {
        guard.auth_failures.fetch_add(1, Relaxed);
        ApiError::unauthorized(code, message)
    };
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, d.invalid_parameter, message);
    let pairs = parse_query(req.uri().query().unwrap_or_default()).map_err(bad)?;
    let mut params = HashMap::new();
    for (k, v) in &pairs {
        if params.insert(k.clone(), v.clone()).is_some() {
            return Err(bad(format!("query parameter `{k}` is given twice")));
        }
    }
    let get = |k: &str| params.get(k).map(String::as_str);
    let (Some(app_key), Some(timestamp), Some(sign)) = (get("app_key"), get("timestamp"), get("sign")) else {
        return Err(auth_failed(d.invalid_signature, "app_key, timestamp and sign are required".into()));
    };
    if get("sign_method") != Some("hmac-sha256") {
        return Err(auth_failed(d.invalid_signature, "sign_method must be hmac-sha256".into()));
    }
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Err(auth_failed(d.invalid_signature, format!("timestamp `{timestamp}` is not Unix seconds")));
    };
    let skew = now_ms() / 1000 - ts;
    if skew.abs() > MAX_SKEW_SECONDS {
        return Err(auth_failed(
            d.invalid_signature,
            format!("timestamp is {skew} s away from the platform clock (at most {MAX_SKEW_SECONDS} s allowed)"),
        ));
    }
    let token = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    let Some((found, who)) = Some(token).filter(|t| !t.is_empty()).and_then(find) else {
        return Err(auth_failed(d.invalid_token, "the bearer access_token is unknown".into()));
    };
    if who.app_key != app_key {
        return Err(auth_failed(
            d.invalid_app_key,
            format!("{} `{}` did not authorise app `{app_key}`", d.holder, who.id),
        ));
    }
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if !verify_api_sign(&who.app_secret, &refs, body, sign) {
        return Err(auth_failed(d.invalid_signature, "sign does not match".into()));
    }
    if let Err(secs) = guard.take(app_key, &who.id) {
        guard.rate_limited.fetch_add(1, Relaxed);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            d.rate_limited,
            format!("at most {} calls per second per app and {}", guard.rate, d.holder),
        );
        e.retry_after = Some(secs);
        return Err(e);
    }
    Ok((found, params))
}

/// Checks `sign`, `timestamp`, the shop's token and the rate limit of an Open API call.
fn authenticate(sim: &Sim, req: &Request, body: &[u8]) -> Result<Caller, ApiError> {
    let (shop, params) = verify_signed(&sim.inner.api, &BAZAAR, req, body, |token| {
        let shop = sim.inner.state.lock().expect("state lock").shop_by_token(token).cloned()?;
        let who =
            Principal { id: shop.shop_id.clone(), app_key: shop.app_key.clone(), app_secret: shop.app_secret.clone() };
        Some((shop, who))
    })?;
    Ok(Caller { shop, params })
}

/// `GET /api/v1/trades/{tid}` → `{"trade": {...}}`.
#[handler]
async fn get_trade(
    req: &Request,
    Path(tid): Path<String>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Json<Value>, ApiError> {
    let caller = authenticate(sim, req, &body)?;
    let trade = sim.inner.state.lock().expect("state lock").snapshot(&tid, Some(&caller.shop.shop_id))?;
    Ok(Json(json!({ "trade": trade })))
}

/// Parses `modified_start` / `modified_end`: RFC 3339 (`2026-11-11T00:00:00+08:00`, any offset,
/// optional fraction) or `2026-11-11 00:00:00` (optional `.fff`) read as China time (+08:00).
/// Returns Unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    FixedOffset::east_opt(8 * 3600)?.from_local_datetime(&naive).single().map(|t| t.timestamp_millis())
}

/// `GET /api/v1/trades?modified_start=&modified_end=&page_no=&page_size=`: the shop's trades
/// with `modified` in [start, end] (both inclusive, millisecond precision), newest first.
#[handler]
async fn list_trades(req: &Request, body: Vec<u8>, Data(sim): Data<&Sim>) -> Result<Json<Value>, ApiError> {
    let caller = authenticate(sim, req, &body)?;
    let p = &caller.params;
    let time = |k: &str| -> Result<i64, ApiError> {
        let v = p.get(k).ok_or_else(|| ApiError::bad_request(format!("{k} is required")))?;
        parse_time(v).ok_or_else(|| {
            ApiError::bad_request(format!("{k} `{v}` must be RFC 3339 or `YYYY-MM-DD HH:MM:SS` (+08:00)"))
        })
    };
    let (start, end) = (time("modified_start")?, time("modified_end")?);
    let (page_no, page_size) = paging(p)?;
    if end < start {
        return Err(ApiError::bad_request("modified_end is before modified_start"));
    }
    if end - start > MAX_WINDOW_MS {
        return Err(ApiError::bad_request("the modified window spans at most 24 hours"));
    }
    if start < now_ms() - MAX_LOOKBACK_MS {
        return Err(ApiError::bad_request(format!(
            "modified_start may go back at most 3 months (to {})",
            format_time(now_ms() - MAX_LOOKBACK_MS)
        )));
    }
    let (trades, total) = sim.inner.state.lock().expect("state lock").modified_between(
        &caller.shop.shop_id,
        start,
        end,
        page_no,
        page_size,
    );
    Ok(Json(json!({
        "trades": trades,
        "total_results": total,
        "page_no": page_no,
        "page_size": page_size,
        "has_next": page_no * page_size < total,
    })))
}

/// `page_no` (from 1, default 1) and `page_size` (1 to [`MAX_PAGE_SIZE`], default
/// [`DEFAULT_PAGE_SIZE`]) of a list call.
fn paging(p: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    let number = |k: &str, default: usize| -> Result<usize, ApiError> {
        p.get(k)
            .map_or(Ok(default), |v| v.parse().map_err(|_| ApiError::bad_request(format!("{k} `{v}` is not a number"))))
    };
    let (page_no, page_size) = (number("page_no", 1)?, number("page_size", DEFAULT_PAGE_SIZE)?);
    if page_no < 1 || !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::bad_request(format!("page_no must be ≥ 1 and page_size between 1 and {MAX_PAGE_SIZE}")));
    }
    Ok((page_no, page_size))
}

/// `GET /api/v1/items?page_no=&page_size=`: the shop's items (ordered by `num_iid`) with their
/// variants, `{"items": [{num_iid, title, skus: [{sku_id, outer_sku_id, properties, quantity,
/// price}]}], "total_results", "page_no", "page_size", "has_next"}`; `total_results` counts items.
#[handler]
async fn list_items(req: &Request, body: Vec<u8>, Data(sim): Data<&Sim>) -> Result<Json<Value>, ApiError> {
    let caller = authenticate(sim, req, &body)?;
    let (page_no, page_size) = paging(&caller.params)?;
    let (items, total) = sim.inner.state.lock().expect("state lock").listings(&caller.shop.shop_id, page_no, page_size);
    Ok(Json(json!({
        "items": items,
        "total_results": total,
        "page_no": page_no,
        "page_size": page_size,
        "has_next": page_no * page_size < total,
    })))
}

/// `POST /api/v1/trades/{tid}/ship` → `{"trade": {...}}`; idempotent for the same waybill,
/// 409 `isv.already-shipped` for another.
#[handler]
async fn ship(
    req: &Request,
    Path(tid): Path<String>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Response, ApiError> {
    let caller = authenticate(sim, req, &body)?;
    let shop_id = caller.shop.shop_id;
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parsed: Result<ShipRequest, ApiError> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body must be {{company_code, waybill_no, oids?}}: {e}")));
    let waybill_no = parsed.as_ref().ok().map(|r| r.waybill_no.clone());
    let now = now_ms();
    let (result, seq) = {
        let mut st = sim.inner.state.lock().expect("state lock");
        let result: Result<(Option<_>, _), ApiError> = parsed.and_then(|r| {
            let outcome = st.ship(&tid, Some(&shop_id), &r.company_code, &r.waybill_no, r.oids.as_deref(), now)?;
            let snapshot = st.snapshot(&tid, Some(&shop_id))?;
            Ok(match outcome {
                ShipOutcome::Shipped(change) => (Some(*change), snapshot),
                ShipOutcome::Repeat => (None, snapshot),
            })
        });
        let (outcome, status, code) = match &result {
            Ok((Some(_), _)) => (WritebackOutcome::Applied, 200, None),
            Ok((None, _)) => (WritebackOutcome::Repeat, 200, None),
            Err(e) => (WritebackOutcome::Rejected, e.status.as_u16(), Some(e.code.as_str())),
        };
        let seq = st.record_writeback(&shop_id, WritebackKind::Ship, &tid, payload, outcome, status, code, now);
        (result, seq)
    };
    let (change, snapshot) = result?;
    if let Some(change) = change {
        sim.inner.webhooks.publish(&shop_id, &change);
    }
    if let Some(waybill_no) = waybill_no {
        // The seller told the marketplace the parcel left with this waybill: Courier's carrier
        // comes to collect it.
        sim.courier_shipped(&waybill_no);
    }
    let mut resp = Json(json!({ "trade": snapshot })).into_response();
    resp.extensions_mut().insert(WritebackSeq(seq));
    Ok(resp)
}

#[derive(Deserialize)]
struct QuantityBody {
    quantity: i64,
}

/// `PUT /api/v1/items/{outer_sku_id}/quantity` `{"quantity": 120}` → `{"item": {...}}`.
#[handler]
async fn set_quantity(
    req: &Request,
    Path(sku): Path<String>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Response, ApiError> {
    quantity_writeback(sim, req, &body, &sku, |st, shop_id, quantity| st.set_quantity(shop_id, &sku, quantity))
}

/// `PUT /api/v1/items/{num_iid}/skus/{sku_id}/quantity` `{"quantity": 120}` → `{"item": {num_iid,
/// title, skus: [the variant]}}`; 404 `isv.item-not-exist` for an id the shop does not have
/// (unlike the merchant-code call, it never creates a variant).
#[handler]
async fn set_variant_quantity(
    req: &Request,
    Path((num_iid, sku_id)): Path<(String, String)>,
    body: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Result<Response, ApiError> {
    quantity_writeback(sim, req, &body, &format!("{num_iid}/{sku_id}"), |st, shop_id, quantity| {
        st.set_quantity_by_ids(shop_id, &num_iid, &sku_id, quantity)
    })
}

/// A quantity write-back: authenticates the call, applies `set` (shop id, quantity) under the
/// state lock, records the outcome in the write-back log against `target`, and answers
/// `{"item": ...}`.
fn quantity_writeback<T: serde::Serialize>(
    sim: &Sim,
    req: &Request,
    body: &[u8],
    target: &str,
    set: impl FnOnce(&mut crate::store::State, &str, i64) -> Result<(T, bool), SimError>,
) -> Result<Response, ApiError> {
    let caller = authenticate(sim, req, body)?;
    let shop_id = caller.shop.shop_id;
    let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let now = now_ms();
    let (result, seq) = {
        let mut st = sim.inner.state.lock().expect("state lock");
        let result = serde_json::from_slice::<QuantityBody>(body)
            .map_err(|e| ApiError::bad_request(format!("body must be {{\"quantity\": n}}: {e}")))
            .and_then(|b| Ok(set(&mut st, &shop_id, b.quantity)?));
        let (outcome, status, code) = match &result {
            Ok((_, false)) => (WritebackOutcome::Applied, 200, None),
            Ok((_, true)) => (WritebackOutcome::Repeat, 200, None),
            Err(e) => (WritebackOutcome::Rejected, e.status.as_u16(), Some(e.code.as_str())),
        };
        let seq = st.record_writeback(&shop_id, WritebackKind::Quantity, target, payload, outcome, status, code, now);
        (result, seq)
    };
    let (item, _) = result?;
    let mut resp = Json(json!({ "item": item })).into_response();
    resp.extensions_mut().insert(WritebackSeq(seq));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_like_forms() {
        let q = parse_query("a=1&modified_start=2026-11-11+00%3A00%3A00&empty=&flag").unwrap();
        assert_eq!(q[1], ("modified_start".to_string(), "2026-11-11 00:00:00".to_string()));
        assert_eq!(q[2].1, "");
        assert_eq!(q[3], ("flag".to_string(), String::new()));
        assert!(parse_query("a=%ZZ").is_err());
        assert!(parse_query("a=%E4%B9").is_err(), "invalid UTF-8");
    }

    #[test]
    fn both_time_formats_mean_china_time() {
        let a = parse_time("2026-11-11 00:00:00").unwrap();
        let b = parse_time("2026-11-11T00:00:00+08:00").unwrap();
        let c = parse_time("2026-11-10T16:00:00Z").unwrap();
        assert_eq!((a, a), (b, c));
        assert_eq!(parse_time("2026-11-11 00:00:00.120").unwrap(), a + 120);
        assert_eq!(parse_time("2026-11-11T00:00:03.005+08:00").unwrap(), 1_794_326_403_005);
        assert!(parse_time("11/11/2026").is_none());
    }

    #[test]
    fn buckets_refill_at_the_rate() {
        let g = ApiGuard::new(2.0);
        assert!(g.take("a", "s").is_ok());
        assert!(g.take("a", "s").is_ok());
        assert_eq!(g.take("a", "s"), Err(1));
        assert!(g.take("a", "other-shop").is_ok(), "buckets are per app and shop");
    }
}
