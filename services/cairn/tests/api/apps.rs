//! ISV apps, OAuth 2.0 with PKCE, scopes on every route, grants and their revocation, and
//! staff roles.

use crate::harness::TestApp;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::{Resp, Tenant};

const REDIRECT: &str = "https://isv.example/callback";

fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /v1/oauth/token` with a form body, the client authenticated by HTTP Basic.
async fn token_call(app: &TestApp, client: (&str, &str), pairs: &[(&str, &str)]) -> Resp {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.0, client.1));
    let resp = app
        .client
        .post(format!("{}/v1/oauth/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(body.join("&"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    if status == 200 {
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Resp { status, content_type, body }
}

/// An app registered by `isv` that may ask for `scopes`: (client_id, client_secret).
async fn register(app: &TestApp, isv: &Tenant, scopes: &[&str]) -> (String, String) {
    let b = app
        .post("/v1/apps", &isv.token, &json!({"name": "Ledger Sync", "redirect_uris": [REDIRECT], "scopes": scopes}))
        .await
        .expect(201);
    (b["app"]["id"].as_str().unwrap().to_owned(), b["client_secret"].as_str().unwrap().to_owned())
}

/// The seller's consent for `scope`, and the code exchanged: the token answer.
async fn authorize(app: &TestApp, seller: &Tenant, client: (&str, &str), scope: &str) -> Value {
    authorize_named(app, seller, client, scope, "Ledger Sync").await
}

async fn authorize_named(app: &TestApp, seller: &Tenant, client: (&str, &str), scope: &str, name: &str) -> Value {
    let verifier = format!("v-{}-{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let consent = app
        .get(
            &format!("/v1/oauth/consent?client_id={}&redirect_uri={}&scope={}", client.0, enc(REDIRECT), enc(scope)),
            &seller.token,
        )
        .await
        .expect(200);
    assert_eq!(consent["app_name"], name);
    let body = json!({"client_id": client.0, "redirect_uri": REDIRECT, "scope": scope, "state": "s t8",
        "code_challenge": challenge, "code_challenge_method": "S256", "decision": "approve"});
    let to = app.post("/v1/oauth/authorize", &seller.token, &body).await.expect(200)["redirect_to"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(to.starts_with(&format!("{REDIRECT}?code=")) && to.ends_with("&state=s%20t8"), "{to}");
    let code = to.split("code=").nth(1).unwrap().split('&').next().unwrap().replace("%2E", ".");
    let pairs = |v: &str| {
        [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", v)]
            .map(|(k, v)| (k, v.to_owned()))
    };
    // The wrong verifier is refused and does not use the code up.
    let wrong = pairs("x".repeat(50).as_str());
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    token_call(app, client, &wrong).await.assert_problem(400, "invalid_grant");
    let right = pairs(&verifier);
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tok = token_call(app, client, &right).await.expect(200);
    // A code works once.
    token_call(app, client, &right).await.assert_problem(400, "invalid_grant");
    tok
}

/// Every secured operation of the published spec, with its path parameters filled in.
async fn operations(app: &TestApp) -> Vec<(Method, String, Vec<String>)> {
    let spec = app.call(Method::GET, "/openapi.json", None, None, &[]).await.expect(200);
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(scopes) = op["security"][0]["BearerAuth"].as_array() else { continue };
            let filled: Vec<String> = path
                .split('/')
                .map(|s| if s.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { s.to_owned() })
                .collect();
            let scopes = scopes.iter().map(|s| s.as_str().unwrap().to_owned()).collect();
            out.push((method.to_uppercase().parse().unwrap(), filled.join("/"), scopes));
        }
    }
    assert!(out.len() > 60, "the spec lists the operations");
    out
}

async fn an_orders_read_app_reads_orders_and_nothing_else(app: TestApp) {
    let isv = app.signup("ISV").await;
    let seller = app.signup("Seller").await;
    let client = register(&app, &isv, &["orders:read", "stock:read"]).await;
    let client = (client.0.as_str(), client.1.as_str());
    let tok = authorize(&app, &seller, client, "orders:read").await;
    assert_eq!(tok["scope"], "orders:read");
    assert_eq!(tok["tenant_id"], seller.tenant_id.to_string());
    let access = tok["access_token"].as_str().unwrap();
    app.get("/v1/orders", access).await.expect(200);
    app.get(&format!("/v1/orders/{}", uuid::Uuid::now_v7()), access).await.assert_problem(404, "not_found");
    // Every operation that needs more than orders:read is refused with 403 naming the scope,
    // before its body is read.
    let mut refused = 0;
    for (method, path, scopes) in operations(&app).await {
        let r = app.call(method.clone(), &path, Some(access), Some(&json!({})), &[]).await;
        if scopes == ["orders:read"] {
            assert_ne!(r.status, 403, "{method} {path}");
            continue;
        }
        r.assert_problem(403, "insufficient_scope");
        assert!(r.body["detail"].as_str().unwrap().contains(&scopes[0]), "{method} {path}: {:?}", r.body);
        refused += 1;
    }
    assert!(refused > 50, "{refused}");
    // A user's token is not affected; the seller's data is the app's to read, not the ISV's.
    app.get("/v1/skus", &seller.token).await.expect(200);
    app.get("/v1/apps", &isv.token).await.expect(200);
    let none: Value = app.get("/v1/grants", &isv.token).await.expect(200);
    assert_eq!(none["grants"], json!([]));
    // Asking for more than the app registered, or for an unknown scope, is refused.
    let over = format!("/v1/oauth/consent?client_id={}&redirect_uri={}&scope=stock:write", client.0, enc(REDIRECT));
    app.get(&over, &seller.token).await.assert_problem(400, "invalid_scope");
    let unknown = format!("/v1/oauth/consent?client_id={}&redirect_uri={}&scope=root", client.0, enc(REDIRECT));
    app.get(&unknown, &seller.token).await.assert_problem(400, "invalid_scope");
    let elsewhere = format!("/v1/oauth/consent?client_id={}&redirect_uri={}", client.0, enc("https://evil.example/cb"));
    app.get(&elsewhere, &seller.token).await.assert_problem(400, "invalid_input");
    // An app can never hold the right to grant apps or manage users.
    app.post("/v1/apps", &isv.token, &json!({"name": "X", "redirect_uris": [REDIRECT], "scopes": ["grants:write"]}))
        .await
        .assert_problem(400, "invalid_scope");
    app.post(
        "/v1/apps",
        &isv.token,
        &json!({"name": "X", "redirect_uris": ["http://isv.example/cb"], "scopes": ["orders:read"]}),
    )
    .await
    .assert_problem(400, "invalid_input");
    // Wrong client secret.
    token_call(&app, (client.0, "cs_wrong"), &[("grant_type", "client_credentials")])
        .await
        .assert_problem(401, "invalid_client");
    token_call(&app, client, &[("grant_type", "password")]).await.assert_problem(400, "unsupported_grant_type");
    app.shutdown().await;
}
both!(an_orders_read_app_reads_orders_and_nothing_else);

async fn a_revoked_grant_stops_its_tokens_at_once(app: TestApp) {
    let isv = app.signup("ISV").await;
    let seller = app.signup("Seller").await;
    let other = app.signup("Other").await;
    let (id, secret) = register(&app, &isv, &["orders:read", "stock:read"]).await;
    let client = (id.as_str(), secret.as_str());
    let tok = authorize(&app, &seller, client, "orders:read stock:read").await;
    let access = tok["access_token"].as_str().unwrap().to_owned();
    app.get("/v1/skus", &access).await.expect(200);
    // Refresh rotates: the new one works (the old one spent: `a_reused_refresh_token_revokes_its_family`).
    let rt = tok["refresh_token"].as_str().unwrap().to_owned();
    let fresh = token_call(&app, client, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await.expect(200);
    let narrowed = token_call(
        &app,
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
            ("scope", "orders:read"),
        ],
    )
    .await
    .expect(200);
    assert_eq!(narrowed["scope"], "orders:read");
    // Client credentials for the tenant that granted; not for one that did not.
    let tenant = seller.tenant_id.to_string();
    let cc =
        token_call(&app, client, &[("grant_type", "client_credentials"), ("tenant_id", &tenant)]).await.expect(200);
    assert!(cc["refresh_token"].is_null());
    let cc_token = cc["access_token"].as_str().unwrap().to_owned();
    app.get("/v1/orders", &cc_token).await.expect(200);
    let stranger = other.tenant_id.to_string();
    token_call(&app, client, &[("grant_type", "client_credentials"), ("tenant_id", &stranger)])
        .await
        .assert_problem(400, "invalid_grant");
    // The seller sees the grant; another tenant cannot revoke it.
    let grants = app.get("/v1/grants", &seller.token).await.expect(200);
    assert_eq!(grants["grants"].as_array().unwrap().len(), 1);
    let grant = grants["grants"][0].clone();
    assert_eq!(grant["app_name"], "Ledger Sync");
    assert_eq!(grant["scopes"], json!(["orders:read", "stock:read"]));
    let gpath = format!("/v1/grants/{}", grant["id"].as_str().unwrap());
    app.call(Method::DELETE, &gpath, Some(&other.token), None, &[]).await.assert_problem(404, "not_found");
    app.get("/v1/orders", &cc_token).await.expect(200);
    // Revoked: every token of the grant stops now, and nothing new can be had under it.
    let r = app.call(Method::DELETE, &gpath, Some(&seller.token), None, &[]).await;
    assert_eq!(r.status, 204);
    for t in [&access, &cc_token, fresh["access_token"].as_str().unwrap(), narrowed["access_token"].as_str().unwrap()] {
        app.get("/v1/orders", t).await.assert_problem(401, "unauthorized");
    }
    token_call(
        &app,
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", narrowed["refresh_token"].as_str().unwrap())],
    )
    .await
    .assert_problem(400, "invalid_grant");
    token_call(&app, client, &[("grant_type", "client_credentials"), ("tenant_id", &tenant)])
        .await
        .assert_problem(400, "invalid_grant");
    assert_eq!(app.call(Method::DELETE, &gpath, Some(&seller.token), None, &[]).await.status, 204, "idempotent");
    let listed = app.get("/v1/grants", &seller.token).await.expect(200);
    assert!(listed["grants"][0]["revoked_at"].is_string());
    // Granting again makes a new grant; the old tokens stay dead.
    let again = authorize(&app, &seller, client, "orders:read").await;
    app.get("/v1/orders", again["access_token"].as_str().unwrap()).await.expect(200);
    app.get("/v1/orders", &access).await.assert_problem(401, "unauthorized");
    // A rotated secret: the old one no longer authenticates the client.
    let rotated = app.post(&format!("/v1/apps/{id}/secret"), &isv.token, &json!({})).await.expect(200);
    token_call(&app, client, &[("grant_type", "client_credentials"), ("tenant_id", &tenant)])
        .await
        .assert_problem(401, "invalid_client");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    token_call(&app, (&id, new_secret), &[("grant_type", "client_credentials"), ("tenant_id", &tenant)])
        .await
        .expect(200);
    app.post(&format!("/v1/apps/{id}/secret"), &seller.token, &json!({})).await.assert_problem(404, "not_found");
    app.shutdown().await;
}
both!(a_revoked_grant_stops_its_tokens_at_once);

/// A spent refresh token presented again (a leak, or a replay) revokes every refresh token of
/// its grant, the newest one too (OAuth 2.0 Security BCP); the grant itself stays.
async fn a_reused_refresh_token_revokes_its_family(app: TestApp) {
    let isv = app.signup("Ledger ISV").await;
    let seller = app.signup("Seller").await;
    let (id, secret) = register(&app, &isv, &["orders:read"]).await;
    let client = (id.as_str(), secret.as_str());
    let tok = authorize(&app, &seller, client, "orders:read").await;
    let first = tok["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let app = &app;
        async move { token_call(app, client, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await }
    };
    let second = refresh(first.clone()).await.expect(200);
    let third = refresh(second["refresh_token"].as_str().unwrap().to_owned()).await.expect(200);
    // The first one again: refused, and the newest one dies with it.
    let reused = refresh(first).await;
    reused.assert_problem(400, "invalid_grant");
    assert!(reused.body["detail"].as_str().unwrap().contains("revoked"), "{:?}", reused.body);
    refresh(third["refresh_token"].as_str().unwrap().to_owned()).await.assert_problem(400, "invalid_grant");
    // The grant stands: access tokens work until they expire, and the seller can authorize again.
    app.get("/v1/orders", third["access_token"].as_str().unwrap()).await.expect(200);
    let again = authorize(&app, &seller, client, "orders:read").await;
    refresh(again["refresh_token"].as_str().unwrap().to_owned()).await.expect(200);
    app.shutdown().await;
}
both!(a_reused_refresh_token_revokes_its_family);

async fn staff_do_the_daily_work_but_not_settings_or_grants(app: TestApp) {
    let owner = app.signup("Owner").await;
    let email = format!("{}@staff.example.com", uuid::Uuid::new_v4().simple());
    let invited = app.post("/v1/users", &owner.token, &json!({"email": email, "role": "staff"})).await.expect(201);
    let token = invited["token"].as_str().unwrap();
    assert!(invited["accept_url"].as_str().unwrap().ends_with(&format!("/invite#token={token}")));
    let listed = app.get("/v1/users", &owner.token).await.expect(200);
    assert_eq!(listed["users"].as_array().unwrap().len(), 1);
    assert_eq!(listed["invites"][0]["email"], email.as_str());
    let accept = json!({"token": token, "password": "staff password 1"});
    let joined = app.call(Method::POST, "/v1/invites/accept", None, Some(&accept), &[]).await.expect(201);
    assert_eq!(joined["role"], "staff");
    assert_eq!(joined["tenant_id"], owner.tenant_id.to_string());
    app.call(Method::POST, "/v1/invites/accept", None, Some(&accept), &[]).await.assert_problem(404, "not_found");
    let login = json!({"email": email, "password": "staff password 1"});
    let tok = app.call(Method::POST, "/v1/auth/token", None, Some(&login), &[]).await.expect(200);
    assert_eq!(tok["role"], "staff");
    let staff = tok["access_token"].as_str().unwrap();
    // The daily work.
    app.post("/v1/skus", staff, &json!({"code": "TEE", "name": "Tee"})).await.expect(201);
    app.get("/v1/orders", staff).await.expect(200);
    app.get("/v1/users", staff).await.expect(200);
    // Not settings, users, grants or apps.
    for (method, path, scope) in [
        (Method::PUT, "/v1/orders/audit-rules", "settings:write"),
        (Method::POST, "/v1/channels", "settings:write"),
        (Method::PUT, "/v1/invoicing/settings", "settings:write"),
        (Method::POST, "/v1/users", "users:write"),
        (Method::GET, "/v1/grants", "grants:read"),
        (Method::POST, "/v1/oauth/authorize", "grants:write"),
        (Method::POST, "/v1/apps", "apps:write"),
    ] {
        let r = app.call(method.clone(), path, Some(staff), Some(&json!({})), &[]).await;
        r.assert_problem(403, "insufficient_scope");
        assert!(r.body["detail"].as_str().unwrap().contains(scope), "{method} {path}: {:?}", r.body);
    }
    // The staff user sees the tenant's data, not another's.
    assert_eq!(app.get("/v1/skus", staff).await.expect(200).as_array().map(Vec::len), Some(1));
    let users = app.get("/v1/users", &owner.token).await.expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    assert_eq!(users["invites"], json!([]));
    // An email that has an account cannot be invited; bad input changes nothing.
    app.post("/v1/users", &owner.token, &json!({"email": email, "role": "staff"}))
        .await
        .assert_problem(409, "email_taken");
    app.post("/v1/users", &owner.token, &json!({"email": "nope", "role": "staff"}))
        .await
        .assert_problem(400, "invalid_input");
    app.post("/v1/users", &owner.token, &json!({"email": "a@b.cn", "role": "admin"}))
        .await
        .assert_problem(400, "malformed_request");
    assert_eq!(app.scalar("select count(*) from user_invites").await, 1);
    app.shutdown().await;
}
both!(staff_do_the_daily_work_but_not_settings_or_grants);

/// A GET with `token`: (status, headers, body).
async fn get_raw(app: &TestApp, path: &str, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = app.client.get(format!("{}{path}", app.url)).bearer_auth(token).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> u64 {
    h.get(name).unwrap_or_else(|| panic!("no {name} in {h:?}")).to_str().unwrap().parse().unwrap()
}

async fn rate_limits_answer_429_and_every_mutating_call_is_audited(app: TestApp) {
    let isv = app.signup("ISV").await;
    let seller = app.signup("Seller").await;
    let b = app
        .post(
            "/v1/apps",
            &isv.token,
            &json!({"name": "Tiny Quota", "redirect_uris": [REDIRECT], "scopes": ["orders:read"], "rate_limit_per_minute": 5}),
        )
        .await
        .expect(201);
    assert_eq!(b["app"]["rate_limit_per_minute"], 5);
    let (id, secret) = (b["app"]["id"].as_str().unwrap().to_owned(), b["client_secret"].as_str().unwrap().to_owned());
    let tok = authorize_named(&app, &seller, (&id, &secret), "orders:read", "Tiny Quota").await;
    let access = tok["access_token"].as_str().unwrap().to_owned();
    // Five at once, then refused with when to come back; the headers are on every answer.
    for left in (0..5).rev() {
        let (status, h, _) = get_raw(&app, "/v1/orders", &access).await;
        assert_eq!(status, 200);
        assert_eq!((header(&h, "ratelimit-limit"), header(&h, "ratelimit-remaining")), (5, left));
        assert!(header(&h, "ratelimit-reset") <= 60);
    }
    let (status, h, body) = get_raw(&app, "/v1/orders", &access).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert_eq!(header(&h, "ratelimit-remaining"), 0);
    assert!((1..=12).contains(&header(&h, "retry-after")), "{h:?}");
    // A refused write is audited too (the app's 403 for a scope it lacks).
    let r = app.post("/v1/orders/bulk", &access, &json!({})).await;
    assert_eq!(r.status, 429, "still over the limit: {:?}", r.body);
    // The seller's own allowance is separate and large.
    let (status, h, _) = get_raw(&app, "/v1/orders", &seller.token).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "ratelimit-limit"), 6000);
    // What the seller changes is in the audit log, with the key and the outcome; reads are not.
    let key = uuid::Uuid::new_v4().to_string();
    app.call(
        Method::POST,
        "/v1/skus",
        Some(&seller.token),
        Some(&json!({"code": "TEE", "name": "Tee"})),
        &[("Idempotency-Key", &key)],
    )
    .await
    .expect(201);
    app.put("/v1/orders/audit-rules", &seller.token, &json!({"amount_over": "x"}))
        .await
        .assert_problem(400, "invalid_input");
    let log = app.get("/v1/audit-log", &seller.token).await.expect(200);
    let entries = log["entries"].as_array().unwrap();
    let routes: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["actor_kind"].as_str().unwrap(),
                e["method"].as_str().unwrap(),
                e["route"].as_str().unwrap(),
                e["status"]
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            "user PUT /v1/orders/audit-rules 400",
            "user POST /v1/skus 201",
            "app POST /v1/orders/bulk 429",
            "user POST /v1/oauth/authorize 200",
        ],
        "{log}"
    );
    assert_eq!(entries[1]["idempotency_key"], key.as_str());
    assert!(entries[1]["actor_name"].as_str().unwrap().contains('@'));
    assert_eq!(entries[2]["actor_name"], "Tiny Quota");
    assert_eq!(entries[2]["actor_id"], id.as_str());
    // Filters and pages.
    let failed = app.get("/v1/audit-log?outcome=failed", &seller.token).await.expect(200);
    assert_eq!(failed["entries"].as_array().unwrap().len(), 2);
    let page = app.get("/v1/audit-log?limit=3", &seller.token).await.expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/v1/audit-log?limit=3&before={cursor}"), &seller.token).await.expect(200);
    assert_eq!(rest["entries"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let mine = app.get(&format!("/v1/audit-log?actor=app:{id}"), &seller.token).await.expect(200);
    assert_eq!(mine["entries"].as_array().unwrap().len(), 1);
    app.get("/v1/audit-log?actor=root", &seller.token).await.assert_problem(400, "invalid_input");
    app.get("/v1/audit-log?limit=0", &seller.token).await.assert_problem(400, "malformed_request");
    // Another tenant sees only its own: the ISV registered an app.
    let theirs = app.get("/v1/audit-log", &isv.token).await.expect(200);
    let theirs: Vec<&str> =
        theirs["entries"].as_array().unwrap().iter().map(|e| e["route"].as_str().unwrap()).collect();
    assert_eq!(theirs, ["/v1/apps"]);
    app.shutdown().await;
}
both!(rate_limits_answer_429_and_every_mutating_call_is_audited);
