use crate::harness::TestApp;
use reqwest::Method;
use serde_json::json;

async fn auth_is_required_and_errors_are_problems(app: TestApp) {
    for (method, path) in [
        (Method::GET, "/v1/orders"),
        (Method::GET, "/v1/skus"),
        (Method::POST, "/v1/skus"),
        (Method::POST, "/v1/warehouses"),
        (Method::POST, "/v1/stock/adjustments"),
        (Method::POST, "/v1/reservations"),
        (Method::GET, "/v1/channels"),
        (Method::POST, "/v1/channels"),
    ] {
        app.call(method.clone(), path, None, Some(&json!({})), &[]).await.assert_problem(401, "unauthorized");
        app.call(method, path, Some("not-a-jwt"), Some(&json!({})), &[]).await.assert_problem(401, "unauthorized");
    }
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let signup = json!({"tenant_name": "Shop", "email": email, "password": "correct horse battery"});
    app.call(Method::POST, "/v1/signup", None, Some(&signup), &[]).await.expect(201);
    app.call(Method::POST, "/v1/signup", None, Some(&signup), &[]).await.assert_problem(409, "email_taken");
    let bad = json!({"email": email, "password": "wrong password"});
    app.call(Method::POST, "/v1/auth/token", None, Some(&bad), &[]).await.assert_problem(401, "invalid_credentials");
    let good = json!({"email": email.to_uppercase(), "password": "correct horse battery"});
    let tok = app.call(Method::POST, "/v1/auth/token", None, Some(&good), &[]).await.expect(200);
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["expires_in"].as_i64().unwrap() > 0);
    // The issued token works.
    app.get("/v1/skus", tok["access_token"].as_str().unwrap()).await.expect(200);
    // Malformed JSON, wrong types and a short password: 400 problems, nothing created.
    let resp = app
        .client
        .post(format!("{}/v1/signup", app.url))
        .header("content-type", "application/json")
        .body("{\"tenant_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    app.call(
        Method::POST,
        "/v1/signup",
        None,
        Some(&json!({"tenant_name": "X", "email": "a@b.cn", "password": "short"})),
        &[],
    )
    .await
    .assert_problem(400, "malformed_request");
    app.call(
        Method::POST,
        "/v1/signup",
        None,
        Some(&json!({"tenant_name": "X", "email": "not-an-email", "password": "long enough pw"})),
        &[],
    )
    .await
    .assert_problem(400, "invalid_input");
    assert_eq!(app.scalar("select count(*) from tenants").await, 1);
    app.call(Method::GET, "/v1/nothing-here", None, None, &[]).await.assert_problem(404, "not_found");
    // Probes need no auth.
    app.call(Method::GET, "/healthz", None, None, &[]).await.expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = app.call(Method::GET, "/readyz", None, None, &[]).await;
        if r.status == 200 {
            assert_eq!(r.body["status"], "ready");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {:?}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.shutdown().await;
}
both!(auth_is_required_and_errors_are_problems);
