//! Failures in the middle of a stream: nothing acknowledged is lost, nothing applied twice.

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use testkit::{
    LEDGER_MISMATCHES, TempDir,
    bazaar::{Trade, sign},
};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_cairn(dir: &TempDir, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&dir.0)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start cairn")
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "cairn did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

/// Sends one signed webhook; `Some(status)` if an answer came back.
async fn deliver(client: &reqwest::Client, ch: &Value, shop: &str, tid: &str, msg: &Value) -> Option<u16> {
    let body = serde_json::to_vec(msg).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let r = client
        .post(ch["webhook_url"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("X-Bazaar-Topic", msg["topic"].as_str().unwrap())
        .header("X-Bazaar-Message-Id", format!("{tid}-pay"))
        .header("X-Bazaar-Timestamp", ts.to_string())
        .header("X-Bazaar-Signature", sign(ch["webhook_secret"].as_str().unwrap(), ts, &body))
        .header("X-Bazaar-Shop-Id", shop)
        .body(body)
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_stream_loses_no_acknowledged_webhook() {
    const TRADES: usize = 400;
    let dir = TempDir::new("cairn-crash");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let signup = post(
        &client,
        format!("{base}/v1/signup"),
        "",
        json!({"tenant_name": "Crashy", "email": "crash@example.com", "password": "correct horse battery"}),
    )
    .await;
    let token = signup["access_token"].as_str().unwrap().to_owned();
    post(&client, format!("{base}/v1/skus"), &token, json!({"code": "BOX", "name": "Box"})).await;
    post(
        &client,
        format!("{base}/v1/stock/adjustments"),
        &token,
        json!({"sku_code": "BOX", "delta": 300, "reason": "count"}),
    )
    .await;
    let ch = post(
        &client,
        format!("{base}/v1/channels"),
        &token,
        json!({"marketplace": "bazaar", "shop_id": "shop-k", "name": "K"}),
    )
    .await;
    let start = chrono::Utc::now();
    let trades: Vec<(String, Value)> = (0..TRADES)
        .map(|i| {
            let tid = format!("K{i:05}");
            let m = Trade::new("shop-k", &tid, start, "BOX", 1).paid_msg(i as i64);
            (tid, m)
        })
        .collect();

    let acked = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let (client, ch, trades, acked) = (client.clone(), ch.clone(), trades.clone(), acked.clone());
        tokio::spawn(async move {
            stream::iter(trades)
                .for_each_concurrent(16, |(tid, msg)| {
                    let (client, ch, acked) = (client.clone(), ch.clone(), acked.clone());
                    async move {
                        if deliver(&client, &ch, "shop-k", &tid, &msg).await == Some(200) {
                            acked.lock().unwrap().push(tid);
                        }
                    }
                })
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 150 {
        assert!(Instant::now() < deadline, "stream too slow");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL"); // kill -9, mid-stream
    child.wait().unwrap();
    sender.await.unwrap();
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 150 && acked.len() < TRADES, "the kill landed mid-stream ({} acked)", acked.len());

    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let db = store::Db::connect(&cairn::config::sqlite_url(&dir.0), 2).await.unwrap();
    testkit::settle(&db, &cairn::app::bindings()).await;
    for tid in &acked {
        let page: Value = client
            .get(format!("{base}/v1/orders?external_id={tid}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["total"], 1, "acknowledged trade {tid} has its order after the crash");
    }
    // Bazaar retries whatever it did not get a 2xx for (and some it did): all converge.
    for (tid, msg) in &trades {
        assert_eq!(deliver(&client, &ch, "shop-k", tid, msg).await, Some(200));
    }
    testkit::settle(&db, &cairn::app::bindings()).await;
    let page: Value = client
        .get(format!("{base}/v1/orders?per_page=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], TRADES);
    let s: Value =
        client.get(format!("{base}/v1/stock/BOX")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(300), Some(300)), "no reservation applied twice");
    let reserve_rows = testkit::scalar(&db, "select count(*) from stock_ledger where kind = 'reserve'").await;
    assert_eq!(reserve_rows, 300, "one reserve movement per reserved line");
    assert_eq!(testkit::scalar(&db, LEDGER_MISMATCHES).await, 0);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM drains and exits cleanly: {status:?}");
}

fn rabbitmqctl(cmd: &str) {
    let prefix = std::env::var("CAIRN_TEST_RABBITMQCTL").expect("CAIRN_TEST_RABBITMQCTL is set by `cargo xtask test`");
    let ok =
        Command::new("sh").arg("-c").arg(format!("{prefix} {cmd}")).stdout(Stdio::null()).status().unwrap().success();
    assert!(ok, "rabbitmqctl {cmd} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_restart_mid_stream_loses_nothing() {
    const TRADES: usize = 200;
    let app = crate::harness::spawn_app(testkit::Backend::Distributed).await;
    let t = app.signup("Broker chaos").await;
    app.create_sku(&t, "CUP", 0).await;
    app.adjust(&t, "CUP", 150).await;
    let ch = app.connect_bazaar(&t, "shop-r", None).await;
    let start = chrono::Utc::now();
    for i in 0..TRADES {
        if i == TRADES / 3 {
            rabbitmqctl("stop_app");
        }
        if i == 2 * TRADES / 3 {
            rabbitmqctl("start_app");
        }
        let tid = format!("R{i:05}");
        let msg = Trade::new("shop-r", &tid, start, "CUP", 1).paid_msg(i as i64);
        app.post_webhook(&ch, &format!("{tid}-pay"), &msg).await.expect(200);
    }
    app.settle().await;
    assert_eq!(app.get("/v1/orders?per_page=1", &t.token).await.expect(200)["total"], TRADES);
    assert_eq!(app.get("/v1/orders?status=allocated&per_page=1", &t.token).await.expect(200)["total"], 150);
    assert_eq!(app.get("/v1/orders?status=backordered&per_page=1", &t.token).await.expect(200)["total"], 50);
    let s = app.stock(&t, "CUP").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(150), Some(150)));
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}

/// PostgreSQL stopped (`pg_ctl stop -m fast`: every connection cut) for three seconds and
/// started again while webhooks keep coming, four at a time. During the restart a webhook may get an error, and the sender
/// retries it as a marketplace does; every acknowledged one becomes exactly one order, and the
/// services recover by themselves (pools reconnect, the relay and consumers retry).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restart_mid_stream_loses_nothing() {
    const TRADES: usize = 240;
    let ctl = std::env::var("CAIRN_TEST_PG_CTL").expect("CAIRN_TEST_PG_CTL is set by `cargo xtask test`");
    let app = crate::harness::spawn_app(testkit::Backend::Distributed).await;
    let t = app.signup("Database chaos").await;
    app.create_sku(&t, "CUP", 0).await;
    app.adjust(&t, "CUP", 180).await;
    let ch = app.connect_bazaar(&t, "shop-pg", None).await;
    let start = chrono::Utc::now();
    let refused = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let restart = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            while sent.load(std::sync::atomic::Ordering::SeqCst) < TRADES / 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let began = Instant::now();
            let ok = Command::new("sh")
                .arg("-c")
                // `restart` of a stopped server starts it with the options it last ran with.
                .arg(format!("{ctl} stop -m fast -w -t 60 && sleep 3 && {ctl} restart -w -t 60"))
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "pg_ctl stop/start failed");
            (began, Instant::now())
        })
    };
    stream::iter(0..TRADES)
        .for_each_concurrent(4, |i| {
            let (app, ch, refused, sent) = (&app, &ch, refused.clone(), sent.clone());
            async move {
                let tid = format!("P{i:05}");
                let msg = Trade::new("shop-pg", &tid, start, "CUP", 1).paid_msg(i as i64);
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let r = app.post_webhook(ch, &format!("{tid}-pay"), &msg).await;
                    if r.status == 200 {
                        break;
                    }
                    refused.lock().unwrap().push(Instant::now());
                    assert!(Instant::now() < deadline, "{tid} still refused after 120 s: {} {:?}", r.status, r.body);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .await;
    let (began, restarted) = restart.join().unwrap();
    let refused = refused.lock().unwrap().clone();
    let last_refused = refused.iter().max().map(|at| at.saturating_duration_since(began));
    let deadline = Instant::now() + Duration::from_secs(120);
    while app.scalar("select count(*) from orders where status in ('allocated', 'backordered')").await < TRADES as i64 {
        assert!(Instant::now() < deadline, "orders left undecided after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.settle().await;
    println!(
        "postgresql restart: took {:?}; {} webhook attempts refused meanwhile, the last {last_refused:?} after it \
         began; every order decided",
        restarted - began,
        refused.len()
    );
    assert_eq!(app.get("/v1/orders?per_page=1", &t.token).await.expect(200)["total"], TRADES);
    assert_eq!(app.get("/v1/orders?status=allocated&per_page=1", &t.token).await.expect(200)["total"], 180);
    assert_eq!(app.get("/v1/orders?status=backordered&per_page=1", &t.token).await.expect(200)["total"], 60);
    let s = app.stock(&t, "CUP").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(180), Some(180)));
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    assert_eq!(app.scalar("select count(*) from parked_messages").await, 0, "nothing parked");
    app.shutdown().await;
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_500_shipment_draw_then_drawing_again_draws_each_once() {
    use bazaar_sim::{Carrier, CourierChaos, NewCourierAccount, NewCourierSeller, SimConfig, WaybillFilter};
    const SHIPMENTS: usize = 500;
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let seller = sim
        .create_courier_seller(NewCourierSeller {
            accounts: vec![NewCourierAccount { quantity: Some(1000), ..NewCourierAccount::new(Carrier::Zto) }],
            ..NewCourierSeller::default()
        })
        .await
        .unwrap();
    let dir = TempDir::new("cairn-crash-draw");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let signup = post(
        &client,
        format!("{base}/v1/signup"),
        "",
        json!({"tenant_name": "Drawy", "email": "draw@example.com", "password": "correct horse battery"}),
    )
    .await;
    let token = signup["access_token"].as_str().unwrap().to_owned();
    post(&client, format!("{base}/v1/skus"), &token, json!({"code": "BOX", "name": "Box"})).await;
    let stock = json!({"sku_code": "BOX", "delta": SHIPMENTS, "reason": "count"});
    post(&client, format!("{base}/v1/stock/adjustments"), &token, stock).await;
    let ch = post(
        &client,
        format!("{base}/v1/channels"),
        &token,
        json!({"marketplace": "bazaar", "shop_id": "shop-d", "name": "D"}),
    )
    .await;
    let account = json!({
        "cp_code": "ZTO", "branch_code": seller.accounts[0].branch_code, "api_url": sim.url(), "app_key": sim.app_key(),
        "app_secret": sim.app_secret(), "access_token": seller.access_token,
        "sender": {"name": "仓库", "phone": "0571-88886666", "province": "浙江省", "city": "杭州市", "address": "良睦路1399号"},
    });
    let account = post(&client, format!("{base}/v1/shipping/accounts"), &token, account).await;
    let rules = json!({"default_account_id": account["id"]});
    let r = client.put(format!("{base}/v1/shipping/rules")).bearer_auth(&token).json(&rules).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // 500 paid orders to different receivers: 500 shipments.
    let start = chrono::Utc::now();
    stream::iter(0..SHIPMENTS)
        .for_each_concurrent(16, |i| {
            let (client, ch) = (client.clone(), ch.clone());
            async move {
                let tid = format!("D{i:05}");
                let mut trade = Trade::new("shop-d", &tid, start, "BOX", 1);
                trade.address = format!("天府大道{i}号");
                assert_eq!(deliver(&client, &ch, "shop-d", &tid, &trade.paid_msg(i as i64)).await, Some(200));
            }
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while get(&client, format!("{base}/v1/shipments/counts"), &token).await["pending"] != SHIPMENTS {
        assert!(Instant::now() < deadline, "the shipments were not made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids: Vec<String> = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&client, format!("{base}/v1/shipments?limit=500{cursor}"), &token).await;
        ids.extend(page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), SHIPMENTS);

    // A slow Courier; the process is killed while the draw runs.
    sim.set_courier_chaos(CourierChaos { draw_latency_ms: 150, ..CourierChaos::default() }).unwrap();
    let drawing = {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        tokio::spawn(async move {
            let _ = client
                .post(format!("{base}/v1/shipments/waybills"))
                .bearer_auth(&token)
                .json(&json!({"shipment_ids": ids}))
                .send()
                .await;
        })
    };
    let live = || async {
        sim.courier_waybills(&WaybillFilter::default()).await.into_iter().filter(|w| w.status != "CANCELLED").count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while live().await < 100 {
        assert!(Instant::now() < deadline, "the draw did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL"); // kill -9, mid-draw
    child.wait().unwrap();
    drawing.await.unwrap();
    let drawn_before = live().await;
    assert!(drawn_before < SHIPMENTS, "the kill landed mid-draw ({drawn_before} drawn)");

    // Restarted, the seller draws again: every shipment gets one waybill, none twice.
    sim.set_courier_chaos(CourierChaos::default()).unwrap();
    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let r = post(&client, format!("{base}/v1/shipments/waybills"), &token, json!({"shipment_ids": ids})).await;
    let results = r["results"].as_array().unwrap();
    assert!(results.iter().all(|x| x["outcome"] == "drawn" || x["outcome"] == "already_drawn"), "{r}");
    let views = sim.courier_waybills(&WaybillFilter::default()).await;
    assert_eq!(views.len(), SHIPMENTS, "one waybill per shipment at Courier, none drawn twice");
    for x in results {
        let id = x["id"].as_str().unwrap();
        let v = views.iter().find(|v| v.object_id == id).expect("Courier drew for the shipment");
        assert_eq!(x["waybill_code"].as_str(), Some(v.waybill_code.as_str()));
    }
    let branch = sim.courier_seller(&seller.seller_id).await.unwrap().accounts[0].quantity;
    assert_eq!(branch, Some(1000 - SHIPMENTS as i64), "the balance dropped once per shipment");
    let counts = get(&client, format!("{base}/v1/shipments/counts"), &token).await;
    assert_eq!(counts["waybill_allocated"], SHIPMENTS, "{counts}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
}

/// Event deliveries go through the outbox and a table of deliveries: a `kill -9` while they
/// are being sent loses none (each event reaches the subscriber at least once after restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_event_deliveries_loses_none() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    const CHANGES: usize = 120;
    let rx = crate::subscriptions::receiver().await;
    rx.delay_ms.store(25, std::sync::atomic::Ordering::SeqCst);
    let dir = TempDir::new("cairn-crash-subs");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let signup = post(
        &client,
        format!("{base}/v1/signup"),
        "",
        json!({"tenant_name": "Hooky", "email": "hooks@example.com", "password": "correct horse battery"}),
    )
    .await;
    let token = signup["access_token"].as_str().unwrap().to_owned();
    post(&client, format!("{base}/v1/skus"), &token, json!({"code": "MUG", "name": "Mug"})).await;
    let sub = json!({"url": rx.url, "event_types": ["stock.level_changed"]});
    post(&client, format!("{base}/v1/subscriptions"), &token, sub).await;
    for _ in 0..CHANGES {
        let adj = json!({"sku_code": "MUG", "delta": 1, "reason": "count"});
        post(&client, format!("{base}/v1/stock/adjustments"), &token, adj).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while rx.got.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "deliveries did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL"); // kill -9, mid-deliveries
    let _ = child.wait();
    let before = rx.got.lock().unwrap().len();
    let db = store::Db::connect(&cairn::config::sqlite_url(&dir.0), 2).await.unwrap();
    let events: std::collections::HashSet<String> = bus::entities::outbox::Entity::find()
        .filter(bus::entities::outbox::Column::Kind.eq("stock.level_changed"))
        .all(db.system().conn())
        .await
        .unwrap()
        .into_iter()
        // The adjustments' changes (all made after subscribing), not the new SKU's, which may
        // have been handled before the subscription existed.
        .filter(|e| serde_json::from_str::<Value>(&e.envelope).unwrap()["payload"]["on_hand"].as_i64() > Some(0))
        .map(|e| e.id.to_string())
        .collect();
    drop(db);
    assert!(!events.is_empty());
    assert!(before < events.len(), "the kill landed mid-deliveries ({before} of {} sent)", events.len());
    let mut child = start_cairn(&dir, port);
    wait_healthy(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got: std::collections::HashSet<String> =
            rx.got.lock().unwrap().iter().map(|g| g.json()["event_id"].as_str().unwrap().to_owned()).collect();
        if events.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events never delivered",
            events.difference(&got).count(),
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
