//! The published OpenAPI holds at its edges, as schemathesis found it did not: what the spec
//! refuses is refused with a problem (and changes nothing), huge pages are a 400 and not a
//! dropped connection, undeclared methods are a 405 saying what the path takes, and a body
//! without a content type is a 415.

use crate::harness::TestApp;
use reqwest::{Method, header};
use serde_json::json;

both!(the_api_refuses_what_its_spec_refuses);

async fn the_api_refuses_what_its_spec_refuses(app: TestApp) {
    let t = app.signup("契约").await;

    // Paging far past any offset a database takes (this one panicked in the SQL layer, and the
    // client got no answer), or below the first page: a 400 before any query.
    for path in [
        "/v1/orders?per_page=467&page=27144795537361116",
        "/v1/orders?page=0",
        "/v1/orders?page=-1",
        "/v1/orders?limit=100000",
        "/v1/invoices?per_page=467&page=27144795537361116",
        "/v1/shipments?limit=0",
        "/v1/shipments?limit=18446744073709551615",
        "/v1/returns?limit=501",
        "/v1/stock?limit=-5",
        "/v1/orders/stats?since=2026-01-01T00:00:00Z&bucket_seconds=-1",
    ] {
        let r = app.get(path, &t.token).await;
        assert_eq!(r.status.as_u16(), 400, "{path}: {:?}", r.body);
        r.assert_problem(400, "malformed_request");
    }
    // The last page the spec allows still answers (empty).
    let last = app.get("/v1/orders?page=1000000&per_page=500", &t.token).await.expect(200);
    assert_eq!(last["items"], json!([]));

    // Numbers where the schema says string used to be read as strings: `{"code": 0, "name": 2}`
    // made a warehouse `0` named `2`. Now it is refused, like a code the schema's pattern
    // refuses and a null for a field that is not nullable, and nothing is created.
    app.post("/v1/warehouses", &t.token, &json!({"code": 0, "name": 2})).await.assert_problem(400, "malformed_request");
    app.post("/v1/warehouses", &t.token, &json!({"code": "SH 01", "name": "Shanghai"}))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/v1/skus", &t.token, &json!({"code": "TEE", "name": ["T-shirt"]}))
        .await
        .assert_problem(400, "malformed_request");
    let before = app.get("/v1/warehouses", &t.token).await.expect(200);
    assert!(before.as_array().unwrap().iter().all(|w| w["code"] != "0" && w["name"] != "2"), "{before}");
    assert_eq!(app.get("/v1/skus", &t.token).await.expect(200), json!([]));
    app.put("/v1/inventory/allocation", &t.token, &json!({"strategy": "priority", "fallback": null}))
        .await
        .assert_problem(400, "malformed_request");

    // An undeclared method on a known path: 405 problem+json, with `Allow` naming what it takes.
    let url = |path: &str| format!("{}{path}", app.url);
    let r = app.client.request(Method::PATCH, url("/v1/warehouses")).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()[header::ALLOW], "GET, POST, HEAD");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!((body["status"].as_u64(), body["code"].as_str()), (Some(405), Some("method_not_allowed")));
    let r = app.client.request(Method::DELETE, url("/v1/orders/counts")).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");

    // A body without a content type (or with another one): 415 problem+json, nothing created.
    for content_type in [None, Some("text/plain")] {
        let mut req = app.client.post(url("/v1/warehouses")).bearer_auth(&t.token);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let r = req.body(r#"{"code":"SH-01","name":"Shanghai"}"#).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 415, "{content_type:?}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/problem+json");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unsupported_media_type");
    }
    assert_eq!(app.get("/v1/warehouses", &t.token).await.expect(200), before);
}
