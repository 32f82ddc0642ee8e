//! The Courier part of the admin API (`/admin/courier/...`): the `Sim` methods as JSON, for the
//! demo, curl and tests in other processes. No authentication, errors `{"code","message"}`;
//! an empty body reads as `{}`. The route table is in `crate::admin`'s docs.

use super::model::{CourierAccountUpdate, NewCourierSeller, PushFilter, WaybillFilter};
use crate::admin::{Answer, ok, parse_json, window};
use crate::api::ApiError;
use crate::config::{CourierChaos, CourierSchedule};
use crate::domain::courier::{Carrier, CourierError, TrackingStatus};
use crate::model::MessageState;
use crate::{DrawRequest, Sim};
use poem::web::{Data, Json, Path, Query};
use poem::{Endpoint, EndpointExt, Route, get, handler, post, put};
use serde::Deserialize;
use serde_json::json;

/// The Courier admin routes, to nest under `/admin/courier`.
pub(crate) fn routes(sim: Sim) -> impl Endpoint {
    Route::new()
        .at("/sellers", get(list_sellers).post(create_seller))
        .at("/sellers/:seller_id", get(get_seller))
        .at("/sellers/:seller_id/accounts/:cp_code/:branch_code", put(update_account))
        .at("/sellers/:seller_id/subscriptions", put(subscribe))
        .at("/sellers/:seller_id/waybills", post(draw))
        .at("/waybills", get(list_waybills))
        .at("/waybills/:code", get(get_waybill))
        .at("/waybills/:code/cancel", post(cancel))
        .at("/waybills/:code/collect", post(collect))
        .at("/waybills/:code/advance", post(advance))
        .at("/waybills/:code/status", post(force))
        .at("/pushes", get(pushes))
        .at("/stats", get(stats))
        .at("/chaos", get(get_chaos).put(put_chaos))
        .at("/schedule", get(get_schedule).put(put_schedule))
        .at("/outage", post(outage))
        .at("/api-outage", post(api_outage))
        .data(sim)
}

fn carrier(code: &str, branch_code: &str) -> Result<Carrier, ApiError> {
    Carrier::parse(code).ok_or_else(|| {
        CourierError::AccountNotFound { cp_code: code.to_owned(), branch_code: branch_code.to_owned() }.into()
    })
}

#[handler]
async fn list_sellers(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_sellers().await)
}

#[handler]
async fn create_seller(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.create_courier_seller(parse_json::<NewCourierSeller>(&b)?).await?)
}

#[handler]
async fn get_seller(Path(id): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_seller(&id).await.ok_or(CourierError::SellerNotFound(id))?)
}

/// `PUT /admin/courier/sellers/{seller_id}/accounts/{cp_code}/{branch_code}`
/// `{"quantity": 0, "printed": 12}` (either or both).
#[handler]
async fn update_account(
    Path((seller_id, cp_code, branch_code)): Path<(String, String, String)>,
    b: Vec<u8>,
    Data(sim): Data<&Sim>,
) -> Answer {
    let cp = carrier(&cp_code, &branch_code)?;
    ok(sim.update_courier_account(&seller_id, cp, &branch_code, parse_json::<CourierAccountUpdate>(&b)?).await?)
}

#[derive(Deserialize)]
struct Subscription {
    cp_code: String,
    branch_code: String,
    url: String,
    secret: String,
}

/// `PUT /admin/courier/sellers/{seller_id}/subscriptions` `{cp_code, branch_code, url, secret}`.
#[handler]
async fn subscribe(Path(seller_id): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    let s: Subscription = parse_json(&b)?;
    let cp = carrier(&s.cp_code, &s.branch_code)?;
    ok(sim.subscribe_courier_tracking(&seller_id, cp, &s.branch_code, &s.url, &s.secret).await?)
}

/// `POST /admin/courier/sellers/{seller_id}/waybills` with a draw body: draws without chaos.
#[handler]
async fn draw(Path(seller_id): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    if sim.courier_seller(&seller_id).await.is_none() {
        return Err(CourierError::SellerNotFound(seller_id).into());
    }
    let results = sim.draw_waybills(&seller_id, parse_json::<DrawRequest>(&b)?).await?;
    Ok(Json(json!({ "results": results })))
}

#[derive(Deserialize)]
struct WaybillQuery {
    seller_id: Option<String>,
    cp_code: Option<String>,
    object_id: Option<String>,
    status: Option<String>,
}

/// `GET /admin/courier/waybills?seller_id=&cp_code=&object_id=&status=`.
#[handler]
async fn list_waybills(Query(q): Query<WaybillQuery>, Data(sim): Data<&Sim>) -> Answer {
    let cp_code = match q.cp_code {
        Some(c) => Some(
            Carrier::parse(&c)
                .ok_or_else(|| ApiError::from(CourierError::InvalidRequest(format!("unknown cp_code `{c}`"))))?,
        ),
        None => None,
    };
    let filter = WaybillFilter { seller_id: q.seller_id, cp_code, object_id: q.object_id, status: q.status };
    ok(sim.courier_waybills(&filter).await)
}

#[handler]
async fn get_waybill(Path(code): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_waybill(&code).await.ok_or(CourierError::WaybillNotFound(code))?)
}

#[handler]
async fn cancel(Path(code): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.cancel_waybill(&code).await?)
}

#[handler]
async fn collect(Path(code): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.collect_waybill(&code).await?)
}

#[handler]
async fn advance(Path(code): Path<String>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.advance_tracking(&code).await?)
}

#[derive(Deserialize)]
struct Force {
    status: String,
}

/// `POST /admin/courier/waybills/{parcel_code}/status {"status": "RETURNED"}`.
#[handler]
async fn force(Path(code): Path<String>, b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    let f: Force = parse_json(&b)?;
    let status = TrackingStatus::parse(&f.status)
        .ok_or_else(|| ApiError::from(CourierError::InvalidRequest(format!("unknown status `{}`", f.status))))?;
    ok(sim.force_tracking(&code, status).await?)
}

#[derive(Deserialize)]
struct PushQuery {
    seller_id: Option<String>,
    waybill_code: Option<String>,
    state: Option<MessageState>,
    limit: Option<usize>,
}

/// `GET /admin/courier/pushes?seller_id=&waybill_code=&state=&limit=`.
#[handler]
async fn pushes(Query(q): Query<PushQuery>, Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_pushes(&PushFilter {
        seller_id: q.seller_id,
        waybill_code: q.waybill_code,
        state: q.state,
        limit: q.limit,
    }))
}

#[handler]
async fn stats(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_stats())
}

#[handler]
async fn get_chaos(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_chaos())
}

/// Like `PUT /admin/chaos`: knobs left out go back to their defaults.
#[handler]
async fn put_chaos(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_courier_chaos(parse_json::<CourierChaos>(&b)?)?;
    ok(sim.courier_chaos())
}

#[handler]
async fn get_schedule(Data(sim): Data<&Sim>) -> Answer {
    ok(sim.courier_schedule())
}

/// Knobs left out go back to their defaults.
#[handler]
async fn put_schedule(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_courier_schedule(parse_json::<CourierSchedule>(&b)?)?;
    ok(sim.courier_schedule())
}

/// `POST /admin/courier/outage {"seconds": N}`: tracking endpoints down for N s (0 ends it).
#[handler]
async fn outage(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    sim.set_tracking_outage(window(&b)?);
    Ok(Json(json!({ "outage_left_secs": sim.tracking_outage_left().map(|d| d.as_secs_f64()) })))
}

/// `POST /admin/courier/api-outage {"seconds": N}`: the Courier API answers 503 for N s.
#[handler]
async fn api_outage(b: Vec<u8>, Data(sim): Data<&Sim>) -> Answer {
    let length = window(&b)?;
    sim.set_courier_api_outage(length);
    Ok(Json(json!({ "outage_secs": length.as_secs_f64() })))
}
