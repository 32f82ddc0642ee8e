//! The dashboard's two server parts: the embedded app at `/`, and the tenant's live event
//! stream at `/v1/events/stream`.

use crate::harness::TestApp;
use std::time::Duration;

/// Reads server-sent events from `resp` until `until` says stop (or 30 s pass): each event
/// as (id, type, data).
async fn read_events(
    mut resp: reqwest::Response,
    mut until: impl FnMut(&[(Option<String>, String, String)]) -> bool,
) -> Vec<(Option<String>, String, String)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !until(&events) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.expect("events within 30 s").unwrap();
        let Some(chunk) = chunk else { break };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, "message".to_owned(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !data.is_empty() {
                events.push((id, kind, data));
            }
        }
    }
    events
}

async fn open(app: &TestApp, token: Option<&str>, last_event_id: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}/v1/events/stream", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

async fn the_event_stream_is_the_tenants_own_and_resumes(app: TestApp) {
    let a = app.signup("Streamer").await;
    let b = app.signup("Other").await;
    open(&app, None, None).await.status().as_u16().eq(&401).then_some(()).expect("a token is required");

    let stream = open(&app, Some(&a.token), None).await;
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // The other tenant's stock moves first; then A's. A sees only its own.
    app.create_sku(&b, "B-ONLY", 0).await;
    app.adjust(&b, "B-ONLY", 5).await;
    app.create_sku(&a, "A-1", 0).await;
    app.adjust(&a, "A-1", 7).await;
    let seen =
        read_events(stream, |ev| ev.iter().any(|(_, k, d)| k == "stock.level_changed" && d.contains("A-1"))).await;
    assert!(seen.iter().all(|(_, _, d)| !d.contains("B-ONLY")), "another tenant's event leaked: {seen:?}");
    let (id, _, data) = seen.iter().find(|(_, k, _)| k == "stock.level_changed").unwrap().clone();
    let env: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(env["type"], "stock.level_changed");
    assert_eq!(env["tenant_id"], a.tenant_id.to_string());
    assert_eq!(env["payload"]["sku_code"], "A-1");
    let id = id.expect("events carry ids");

    // Resuming after that event: what came since, and nothing from before it.
    app.adjust(&a, "A-1", 3).await;
    let resumed = open(&app, Some(&a.token), Some(&id)).await;
    let again = read_events(resumed, |ev| {
        ev.iter().any(|(_, k, d)| k == "stock.level_changed" && d.contains("\"on_hand\":10"))
    })
    .await;
    assert!(again.iter().all(|(i, _, _)| i.as_deref().unwrap().parse::<i64>().unwrap() > id.parse::<i64>().unwrap()));
    assert!(again.iter().all(|(_, _, d)| !d.contains("B-ONLY")));

    // From the start: every one of A's events, in order, A's only.
    let all = open(&app, Some(&a.token), Some("0")).await;
    let replayed =
        read_events(all, |ev| ev.iter().any(|(_, k, d)| k == "stock.level_changed" && d.contains("\"on_hand\":10")))
            .await;
    let ids: Vec<i64> = replayed.iter().map(|(i, _, _)| i.as_deref().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert!(replayed.iter().any(|(_, k, d)| k == "stock.level_changed" && d.contains("\"on_hand\":7")));
    assert!(replayed.iter().all(|(_, _, d)| d.contains(&a.tenant_id.to_string()) && !d.contains("B-ONLY")));
}
both!(the_event_stream_is_the_tenants_own_and_resumes);

async fn the_app_is_served_at_the_root_with_a_strict_policy(app: TestApp) {
    let get = |path: &'static str, etag: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.client.get(format!("{}{path}", app.url)).header("accept-encoding", "gzip");
            if let Some(e) = etag {
                req = req.header("if-none-match", e);
            }
            req.send().await.unwrap()
        }
    };
    let root = get("/", None).await;
    assert_eq!(root.status(), 200);
    let h = root.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(h["cache-control"], "no-cache");
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong, quoted ETag: {etag}");
    let body = root.text().await.unwrap();
    assert!(body.contains("<html"), "{body}");
    assert_eq!(get("/", Some(etag.clone())).await.status(), 304);

    // The app's own routes load index.html (a reload or a deep link); missing files do not.
    let deep = get("/orders/0193a7c2-0000-7000-8000-000000000000", None).await;
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(get("/assets/missing-0000.js", None).await.status(), 404);
    // The API keeps its own answers.
    app.call(reqwest::Method::GET, "/v1/nothing-here", None, None, &[]).await.assert_problem(404, "not_found");
    app.call(reqwest::Method::GET, "/healthz", None, None, &[]).await.expect(200);
    assert_eq!(app.client.post(format!("{}/", app.url)).send().await.unwrap().status(), 405);
}
both!(the_app_is_served_at_the_root_with_a_strict_policy);
