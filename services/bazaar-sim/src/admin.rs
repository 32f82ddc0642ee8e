//! The admin HTTP API (`/admin/...`): the same operations as the `Sim` methods, as JSON, for
//! the demo, for curl and for tests in other processes. No authentication: it is a simulator
//! and binds 127.0.0.1 unless told otherwise. Errors are `{"code","message"}` like the Open API.
//! Bodies are the JSON forms of the `Sim` methods' arguments; an empty body reads as `{}`.
//!
//! | route | body / query | does |
//! |---|---|---|
//! | `GET /admin/shops`, `POST /admin/shops` | `NewShop` | list / create shops |
//! | `GET`, `PUT /admin/shops/{shop_id}` | `ShopUpdate` | read / update-or-create (webhook_url + secret) |
//! | `GET /admin/items?shop_id=`, `POST /admin/items` | `NewItem` | list / upsert variants (one per SKU code) |
//! | `GET /admin/trades?shop_id=&status=`, `POST /admin/trades` | `NewTrade` | list / create trades |
//! | `GET /admin/trades/{tid}` | | one snapshot |
//! | `POST /admin/trades/{tid}/pay`, `/close`, `/confirm` | | buyer pays, market closes unpaid, buyer confirms |
//! | `POST /admin/trades/{tid}/address` | `AddressChange` | buyer changes address / memo |
//! | `POST /admin/trades/{tid}/seller-memo` | `SellerMemo` | seller sets memo / flag |
//! | `POST /admin/trades/{tid}/refund` | `RefundRequest` | refund lines (`outcome`: success, pending, closed) |
//! | `POST /admin/trades/{tid}/refund/settle` | `RefundSettlement` | end pending refunds |
//! | `POST /admin/trades/{tid}/ship` | `ShipRequest` | seller ships from the console (not a write-back) |
//! | `GET /admin/stats` | | `Stats` |
//! | `GET /admin/messages?shop_id=&tid=&state=&limit=` | | webhook delivery log |
//! | `GET /admin/writebacks?shop_id=` | | Cairn's ship / quantity calls |
//! | `POST /admin/outage`, `POST /admin/api-outage` | `{"seconds": N}` | webhook endpoint / Open API down for N s (0 ends) |
//! | `GET`, `PUT /admin/chaos` | `ChaosConfig` | read / replace the chaos knobs |
//! | `GET`, `PUT /admin/traffic` | `TrafficConfig` | read / replace the traffic knobs |
//! | `POST`, `DELETE /admin/trickle` | `TrickleConfig` | start (or replace) / stop the trickle |
//! | `POST /admin/burst` | `BurstConfig` | create (and pay) a burst; answers when all are created |
//! | `POST /admin/save` | | write `--state-file` now |
//!
//! Courier (COURIER.md), under `/admin/courier`:
//!
//! | route | body / query | does |
//! |---|---|---|
//! | `GET`, `POST /admin/courier/sellers` | `NewCourierSeller` | list / create sellers (token, accounts) |
//! | `GET /admin/courier/sellers/{seller_id}` | | one seller with accounts and subscriptions |
//! | `PUT /admin/courier/sellers/{seller_id}/accounts/{cp_code}/{branch_code}` | `CourierAccountUpdate` | set a branch's `quantity` / `printed` |
//! | `PUT /admin/courier/sellers/{seller_id}/subscriptions` | `{cp_code, branch_code, url, secret}` | where tracking goes |
//! | `POST /admin/courier/sellers/{seller_id}/waybills` | `DrawRequest` | draw as the seller (no chaos) |
//! | `GET /admin/courier/waybills?seller_id=&cp_code=&object_id=&status=` | | list waybills (`WaybillView`) |
//! | `GET /admin/courier/waybills/{code}` | | one waybill (any parcel's code) |
//! | `POST /admin/courier/waybills/{code}/cancel`, `/collect` | | cancel / collect now |
//! | `POST /admin/courier/waybills/{parcel_code}/advance` | | the parcel's next step now |
//! | `POST /admin/courier/waybills/{parcel_code}/status` | `{"status": "RETURNED"}` | force a status (through the ones on the way) |
//! | `GET /admin/courier/pushes?seller_id=&waybill_code=&state=&limit=` | | tracking push log |
//! | `GET /admin/courier/stats` | | `CourierStats` |
//! | `GET`, `PUT /admin/courier/chaos` | `CourierChaos` | draw latency / failures / timeouts, push chaos, unreachable pairs |
//! | `GET`, `PUT /admin/courier/schedule` | `CourierSchedule` | collection delay, step delays, exception share, time scale |
//! | `POST /admin/courier/outage`, `/api-outage` | `{"seconds": N}` | tracking endpoints / Courier API down for N s |

use crate::api::ApiError;
use crate::domain::trade::TradeStatus;
use crate::model::{
    AddressChange, MessageFilter, MessageState, NewItem, NewShop, NewTrade, RefundRequest, RefundSettlement,
    SellerMemo, ShipRequest, ShopUpdate,
};
use crate::traffic::{BurstConfig, TrickleConfig};
use crate::{ChaosConfig, Sim, TrafficConfig};
use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{Endpoint, EndpointExt, Route, get, handler, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) type Answer = Result<Json<Value>, ApiError>;

/// The admin routes, to nest under `/admin`.
pub(crate) fn routes(sim: Sim) -> impl Endpoint {
    Route::new()
        .at("/shops", get(list_shops).post(create_shop))
        .at("/shops/:shop_id", get(get_shop).put(put_shop))
        .at("/items", get(list_items).post(create_item))
        .at("/trades", get(list_trades).post(create_trade))
        .at("/trades/:tid", get(get_trade))
        .at("/trades/:tid/pay", post(pay))
        .at("/trades/:tid/close", post(close))
        .at("/trades/:tid/address", post(change_address))
        .at("/trades/:tid/seller-memo", post(seller_memo))
        .at("/trades/:tid/refund", post(refund))
        .at("/trades/:tid/refund/settle", post(settle_refund))
        .at("/trades/:tid/ship", post(ship))
        .at("/trades/:tid/confirm", post(confirm))
        .at("/stats", get(stats))
        .at("/messages", get(messages))
        .at("/writebacks", get(writebacks))
        .at("/outage", post(outage))
        .at("/api-outage", post(api_outage))
        .at("/chaos", get(get_chaos).put(put_chaos))
        .at("/traffic", get(get_traffic).put(put_traffic))
        .at("/trickle", post(start_trickle).delete(stop_trickle))
        .at("/burst", post(burst))
        .at("/save", post(save))
        .nest("/courier", crate::courier::admin::routes(sim.clone()))
        .data(sim)
}

/// A JSON body; an empty body reads as `{}`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

pub(crate) fn ok<T: serde::Serialize>(v: T) -> Answer {
    Ok(Json(
        serde_json::to_value(v)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "isv.internal-error", e.to_string()))?,
    ))
}

#[derive(Deserialize)]
struct ShopQuery {
    shop_id: Option<String>,
    status: Option<TradeStatus>,
}

#[handler]
async fn list_shops(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.shops().await)
}

#[handler]
async fn create_shop(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.create_shop(parse_json::<NewShop>(&b)?).await?)
}

#[handler]
async fn get_shop(Path(id): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.shop(&id).await.ok_or(crate::SimError::ShopNotFound(id))?)
}

#[handler]
async fn put_shop(Path(id): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.upsert_shop(&id, parse_json::<ShopUpdate>(&b)?).await?)
}

#[handler]
async fn list_items(Query(q): Query<ShopQuery>, Data(sim): Data<&Sim>) -> Answer {
    let shop_id = q.shop_id.ok_or_else(|| ApiError::bad_request("shop_id is required"))?;
    ok(sim.items(&shop_id).await)
}

#[handler]
async fn create_item(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.upsert_item(parse_json::<NewItem>(&b)?).await?)
}

#[handler]
async fn list_trades(Query(q): Query<ShopQuery>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.state().snapshots(q.shop_id.as_deref(), q.status))
}

#[handler]
async fn create_trade(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.create_trade(parse_json::<NewTrade>(&b)?).await?)
}

#[handler]
async fn get_trade(Path(tid): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.trade(&tid).await.ok_or(crate::SimError::TradeNotFound(tid))?)
}

#[handler]
async fn pay(Path(tid): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.pay(&tid).await?)
}

#[handler]
async fn close(Path(tid): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.close_unpaid(&tid).await?)
}

#[handler]
async fn change_address(Path(tid): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.change_address(&tid, parse_json::<AddressChange>(&b)?).await?)
}

#[handler]
async fn seller_memo(Path(tid): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.set_seller_memo(&tid, parse_json::<SellerMemo>(&b)?).await?)
}

#[handler]
async fn refund(Path(tid): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.refund(&tid, parse_json::<RefundRequest>(&b)?).await?)
}

#[handler]
async fn settle_refund(Path(tid): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.settle_refund(&tid, parse_json::<RefundSettlement>(&b)?).await?)
}

#[handler]
async fn ship(Path(tid): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.ship(&tid, parse_json::<ShipRequest>(&b)?).await?)
}

#[handler]
async fn confirm(Path(tid): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.confirm(&tid).await?)
}

#[handler]
async fn stats(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.stats())
}

#[derive(Deserialize)]
struct MessageQuery {
    shop_id: Option<String>,
    tid: Option<String>,
    state: Option<MessageState>,
    limit: Option<usize>,
}

#[handler]
async fn messages(Query(q): Query<MessageQuery>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.messages(&MessageFilter { shop_id: q.shop_id, tid: q.tid, state: q.state, limit: q.limit }))
}

#[handler]
async fn writebacks(Query(q): Query<ShopQuery>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.writebacks(q.shop_id.as_deref()))
}

#[derive(Deserialize)]
struct Window {
    seconds: f64,
}

pub(crate) fn window(b: &[u8]) -> Result<Duration, ApiError> {
    let w: Window = parse_json(b)?;
    Duration::try_from_secs_f64(w.seconds).map_err(|_| ApiError::bad_request("seconds must be a non-negative number"))
}

/// `POST /admin/outage {"seconds": N}`: the webhook endpoint is down for N seconds (0 ends it).
#[handler]
async fn outage(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_webhook_outage(window(&b)?);
    Ok(Json(json!({ "outage_left_secs": sim.webhook_outage_left().map(|d| d.as_secs_f64()) })))
}

/// `POST /admin/api-outage {"seconds": N}`: the Open API answers 503 for N seconds (0 ends it).
#[handler]
async fn api_outage(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_api_outage(window(&b)?);
    Ok(Json(json!({ "outage_left_secs": sim.api_outage_left().map(|d| d.as_secs_f64()) })))
}

#[handler]
async fn get_chaos(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.chaos())
}

/// `PUT /admin/chaos` with the knobs to change (the others keep their defaults, not their
/// current values: send the whole object from `GET /admin/chaos` to change one).
#[handler]
async fn put_chaos(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_chaos(parse_json::<ChaosConfig>(&b)?)?;
    ok(sim.chaos())
}

#[handler]
async fn get_traffic(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.traffic())
}

/// `PUT /admin/traffic`: like `PUT /admin/chaos`, knobs left out go back to their defaults.
#[handler]
async fn put_traffic(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_traffic(parse_json::<TrafficConfig>(&b)?)?;
    ok(sim.traffic())
}

#[handler]
async fn start_trickle(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    let cfg: TrickleConfig = parse_json(&b)?;
    sim.start_trickle(cfg.clone()).await?;
    ok(cfg)
}

#[handler]
async fn stop_trickle(Data(sim): Data<&Sim>) -> Answer {
    sim.stop_trickle();
    Ok(Json(json!({ "running": false })))
}

#[handler]
async fn burst(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.burst(parse_json::<BurstConfig>(&b)?).await?)
}

#[handler]
async fn save(Data(sim): Data<&Sim>) -> Answer {
    sim.save()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "isv.internal-error", e.to_string()))?;
    Ok(Json(json!({ "saved": sim.config().state_file })))
}
