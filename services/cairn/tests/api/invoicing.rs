//! Invoicing: invoices and credit notes from order events exactly once, amounts that reconcile
//! to the fen, gapless numbering under concurrency, PDFs, verification, void, the register.

use crate::harness::TestApp;
use chrono::{Datelike, Utc};
use serde_json::{Value, json};
use testkit::{Backend, Channel, Tenant, bazaar::Trade};

const SELLER: &str = "杭州云栈服饰有限公司";
const BUYER: &str = "杭州云栈科技有限公司";

async fn set_up(app: &TestApp, t: &Tenant, issue_on: &str) {
    let body = json!({
        "seller_name": SELLER, "tax_id": "91330106MA27XL5X2K", "address": "浙江省杭州市西湖区文三路90号",
        "phone": "0571-88886666", "bank": "招商银行杭州分行", "account": "571908765210001", "issue_on": issue_on
    });
    let s =
        app.call(reqwest::Method::PUT, "/v1/invoicing/settings", Some(&t.token), Some(&body), &[]).await.expect(200);
    assert_eq!(s["default_vat_rate"], "13%");
    assert_eq!(s["series_pattern"], "INV{YYYY}-");
}

async fn shop(app: &TestApp, t: &Tenant, skus: &[&str]) -> Channel {
    for s in skus {
        app.create_sku(t, s, 0).await;
        app.adjust(t, s, 1000).await;
    }
    app.connect_bazaar(t, &format!("shop-{}", &t.tenant_id.simple().to_string()[..8]), None).await
}

async fn invoices(app: &TestApp, t: &Tenant, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/invoices?per_page=500&{query}"), &t.token).await.expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn year() -> i32 {
    (Utc::now() + chrono::Duration::hours(8)).year()
}

fn fen(v: &Value) -> i64 {
    kernel::Money::parse(v.as_str().unwrap()).unwrap().0
}

/// Text of a PDF through poppler's `pdftotext` (`cargo xtask test` installs poppler-utils).
fn pdf_text(bytes: &[u8]) -> String {
    let dir = testkit::TempDir::new("pdf");
    let path = dir.0.join("i.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-raw")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (apt-get install poppler-utils, or use `cargo xtask test`)");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn invoice_once_and_credit_exactly_the_refunded_lines(app: TestApp) {
    let t = app.signup("Yunzhan").await;
    set_up(&app, &t, "payment").await;
    app.call(
        reqwest::Method::PUT,
        "/v1/invoicing/tax-categories/BOOK-1",
        Some(&t.token),
        Some(&json!({"vat_rate": "9%"})),
        &[],
    )
    .await
    .expect(200);
    let ch = shop(&app, &t, &["TEE-1", "BOOK-1", "CUP-1"]).await;
    let created = Utc::now() - chrono::Duration::minutes(5);
    // Three lines with awkward prices, an odd discount, a post fee, two tax rates.
    let mut trade = Trade::new(&ch.shop_id, "T-INV-1", created, "TEE-1", 3);
    trade.lines[0].price = 3333;
    let mut trade = trade.line("BOOK-1", 1, 1999).line("CUP-1", 7, 17);
    trade.discount_fee = 1001;
    trade.post_fee = 800;
    trade.invoice_request =
        json!({"kind": "company", "title": BUYER, "tax_id": "91330110MA2H3K4L5P", "email": "finance@example.cn"});
    let refunded_oid = trade.lines[1].oid.clone();
    // Delivered newest first, with duplicates: the refund, then the payment, then creation.
    let msgs = [
        ("m3", trade.refunded_msg(1000, 60_000, &[&refunded_oid])),
        ("m2", trade.paid_msg(1000)),
        ("m1", trade.created_msg()),
        ("m2", trade.paid_msg(1000)),
        ("m3b", trade.refunded_msg(1000, 60_000, &[&refunded_oid])),
    ];
    for (id, m) in &msgs {
        app.post_webhook(&ch, id, m).await.expect(200);
    }
    app.settle().await;
    let order = app.order_by_tid(&t, "T-INV-1").await.unwrap();
    let order_id = order["id"].as_str().unwrap();
    let docs = invoices(&app, &t, &format!("order_id={order_id}")).await;
    assert_eq!(docs.len(), 2, "one invoice and one credit note: {docs:#?}");
    let inv = docs.iter().find(|d| d["kind"] == "invoice").unwrap();
    let cn = docs.iter().find(|d| d["kind"] == "credit_note").unwrap();
    let y = year();
    assert_eq!(inv["number"], format!("INV{y}-00000001"));
    assert_eq!(cn["number"], format!("CRN{y}-00000001"));
    // The invoice is the order as paid: it reconciles to the fen with the buyer's payment.
    assert_eq!(fen(&inv["total"]), trade.payment());
    assert_eq!(fen(&inv["total"]), fen(&order["payment"]));
    assert_eq!(fen(&inv["total_net"]) + fen(&inv["total_tax"]), fen(&inv["total"]));
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 4, "three goods lines and shipping");
    assert_eq!(lines.iter().map(|l| fen(&l["discount"])).sum::<i64>(), 1001);
    assert_eq!(lines[1]["vat_rate"], "9%");
    assert_eq!(lines[0]["vat_rate"], "13%");
    let rates: Vec<&str> =
        inv["tax_summary"].as_array().unwrap().iter().map(|r| r["vat_rate"].as_str().unwrap()).collect();
    assert_eq!(rates, ["9%", "13%"]);
    assert_eq!(inv["buyer"]["title"], BUYER);
    assert_eq!(inv["buyer"]["tax_id"], "91330110MA2H3K4L5P");
    assert_eq!(inv["seller"]["name"], SELLER);
    // The credit note covers exactly the refunded line, negated, and references the invoice.
    let cl = cn["lines"].as_array().unwrap();
    assert_eq!(cl.len(), 1);
    assert_eq!(cl[0]["line_ref"], refunded_oid.as_str());
    assert_eq!(fen(&cl[0]["total"]), -fen(&lines[1]["total"]));
    assert_eq!(cn["original_id"], inv["id"]);
    assert_eq!(cn["original_number"], inv["number"]);
    assert!(cn["total_in_words"].as_str().unwrap().starts_with('负'));

    // Later events (shipment) change nothing; redelivering everything changes nothing.
    app.post_webhook(&ch, "m4", &trade.refunded_msg(1000, 120_000, &[&refunded_oid])).await.expect(200);
    for (id, m) in &msgs {
        app.post_webhook(&ch, &format!("again-{id}"), m).await.expect(200);
    }
    app.settle().await;
    assert_eq!(invoices(&app, &t, "").await.len(), 2);

    // A paid order cancelled later: the invoice and a full credit note, including shipping.
    let mut t2 = Trade::new(&ch.shop_id, "T-INV-2", created, "TEE-1", 1).line("CUP-1", 2, 1000);
    t2.post_fee = 500;
    app.post_webhook(&ch, "c2", &t2.closed_msg(1000, 30_000)).await.expect(200);
    app.post_webhook(&ch, "p2", &t2.paid_msg(1000)).await.expect(200);
    app.settle().await;
    let o2 = app.order_by_tid(&t, "T-INV-2").await.unwrap();
    let d2 = invoices(&app, &t, &format!("order_id={}", o2["id"].as_str().unwrap())).await;
    assert_eq!(d2.len(), 2, "{d2:#?}");
    let total: i64 = d2.iter().map(|d| fen(&d["total"])).sum();
    assert_eq!(total, 0, "fully credited");
    let inv2 = d2.iter().find(|d| d["kind"] == "invoice").unwrap();
    assert_eq!(inv2["number"], format!("INV{y}-00000002"));
    assert_eq!(inv2["buyer"]["kind"], "personal");
    assert_eq!(inv2["buyer"]["title"], "买家小王");

    // The PDF: A4, small, the text a person reads.
    let pdf = app
        .client
        .get(format!("{}/v1/invoices/{}/pdf", app.url, inv["id"].as_str().unwrap()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF"));
    assert!(bytes.len() < 100 * 1024, "{} bytes", bytes.len());
    let text = pdf_text(&bytes);
    let squeezed: String = text.split_whitespace().collect();
    for needle in [SELLER, BUYER, inv["total_in_words"].as_str().unwrap(), inv["number"].as_str().unwrap()] {
        assert!(squeezed.contains(needle), "`{needle}` missing from the PDF text:\n{text}");
    }

    // Verification: the QR link proves the invoice; a tampered code fails.
    let verify = inv["verify_url"].as_str().unwrap();
    let path = &verify[verify.find("/v1/").unwrap()..];
    let v = app.call(reqwest::Method::GET, path, None, None, &[]).await.expect(200);
    assert_eq!(v["genuine"], true);
    assert_eq!(v["number"], inv["number"]);
    assert_eq!(v["total"], inv["total"]);
    let token = path.rsplit('/').next().unwrap();
    let mut chars: Vec<char> = token.chars().collect();
    chars[40] = if chars[40] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    app.call(reqwest::Method::GET, &format!("/v1/invoices/verify/{tampered}"), None, None, &[])
        .await
        .assert_problem(404, "not_found");
    app.call(reqwest::Method::GET, "/v1/invoices/verify/not-a-token", None, None, &[])
        .await
        .assert_problem(404, "not_found");

    // Void: an invoice with a credit note in force cannot be; the credit note can, then it.
    let inv_id = inv["id"].as_str().unwrap();
    let cn_id = cn["id"].as_str().unwrap();
    app.post(&format!("/v1/invoices/{inv_id}/void"), &t.token, &json!({"reason": "买家要求更换抬头"}))
        .await
        .assert_problem(409, "invalid_state_transition");
    let vcn = app.post(&format!("/v1/invoices/{cn_id}/void"), &t.token, &json!({"reason": "开错"})).await.expect(200);
    assert_eq!(vcn["status"], "void");
    assert_eq!(vcn["number"], cn["number"]);
    let vinv = app
        .post(&format!("/v1/invoices/{inv_id}/void"), &t.token, &json!({"reason": "买家要求更换抬头"}))
        .await
        .expect(200);
    assert_eq!((vinv["status"].as_str(), vinv["number"].as_str()), (Some("void"), inv["number"].as_str()));
    // Voiding again is a no-op; the void one still verifies, as void.
    app.post(&format!("/v1/invoices/{inv_id}/void"), &t.token, &json!({"reason": "again"})).await.expect(200);
    assert_eq!(app.call(reqwest::Method::GET, path, None, None, &[]).await.expect(200)["status"], "void");
    let void_pdf = app
        .client
        .get(format!("{}/v1/invoices/{inv_id}/pdf", app.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let text = pdf_text(&void_pdf);
    assert!(text.contains("作废") && text.contains("VOID"), "no void mark:\n{text}");

    // Reissue with another buyer after the void: a new number, the old one kept.
    let re = app
        .post("/v1/invoices", &t.token, &json!({"order_id": order_id, "buyer": {"kind": "company", "title": "上海新抬头贸易有限公司", "tax_id": "91310000MA1FL8XQ30"}}))
        .await
        .expect(201);
    assert_eq!(re["number"], format!("INV{y}-00000003"));
    // The refund still stands, so the new invoice gets its own credit note.
    app.post("/v1/invoices", &t.token, &json!({"order_id": order_id, "buyer": {"kind": "company", "title": "上海新抬头贸易有限公司", "tax_id": "91310000MA1FL8XQ30"}})).await.expect(200);
    app.post(
        "/v1/invoices",
        &t.token,
        &json!({"order_id": order_id, "buyer": {"kind": "personal", "title": "王小明"}}),
    )
    .await
    .assert_problem(409, "invalid_state_transition");
    assert_eq!(invoices(&app, &t, "status=void").await.len(), 2);
    let all = invoices(&app, &t, "").await;
    assert_eq!(all.len(), 6, "{all:#?}");
    let mut credit_numbers: Vec<String> =
        all.iter().filter(|d| d["kind"] == "credit_note").map(|d| d["number"].as_str().unwrap().to_owned()).collect();
    credit_numbers.sort();
    assert_eq!(credit_numbers, [format!("CRN{y}-00000001"), format!("CRN{y}-00000002"), format!("CRN{y}-00000003")]);

    // The register: every document of the period, void ones marked.
    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let csv = app
        .client
        .get(format!("{}/v1/invoices/register.csv?from={today}&to={today}", app.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let rows: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(rows.len(), 7, "{text}");
    assert!(rows[0].starts_with("number,kind,status"));
    assert!(rows.iter().any(|r| r.starts_with(&format!("INV{y}-00000001,invoice,void"))), "{text}");
    let yesterday = today.pred_opt().unwrap();
    let empty = app
        .client
        .get(format!("{}/v1/invoices/register.csv?to={yesterday}", app.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(empty.trim_start_matches('\u{feff}').lines().count(), 1);
}
both!(invoice_once_and_credit_exactly_the_refunded_lines);

async fn issue_on_shipment_waits_for_the_shipment(app: TestApp) {
    let t = app.signup("Shipper").await;
    set_up(&app, &t, "shipment").await;
    let ch = shop(&app, &t, &["TEE-1"]).await;
    let trade = Trade::new(&ch.shop_id, "T-SHIP-1", Utc::now() - chrono::Duration::minutes(5), "TEE-1", 2);
    app.post_webhook(&ch, "p", &trade.paid_msg(1000)).await.expect(200);
    app.settle().await;
    assert!(invoices(&app, &t, "").await.is_empty());
    app.post_webhook(&ch, "s", &trade.shipped_msg(1000, 50_000)).await.expect(200);
    app.settle().await;
    let docs = invoices(&app, &t, "").await;
    assert_eq!(docs.len(), 1);
    assert_eq!(fen(&docs[0]["total"]), 19800);
    assert_eq!(docs[0]["total_in_words"], "壹佰玖拾捌元整");
}
both!(issue_on_shipment_waits_for_the_shipment);

/// 200 orders invoiced on request, each asked for twice at once, half through each of two
/// instances sharing the database (and broker): numbers 1..200, no gap, no repeat.
async fn gapless_numbers_under_concurrent_issuing(app: TestApp) {
    let t = app.signup("Numbers").await;
    set_up(&app, &t, "request").await;
    let ch = shop(&app, &t, &["TEE-1"]).await;
    let created = Utc::now() - chrono::Duration::minutes(5);
    for i in 0..200 {
        let trade = Trade::new(&ch.shop_id, &format!("T-N-{i:03}"), created, "TEE-1", 1);
        app.post_webhook(&ch, &format!("n{i}"), &trade.paid_msg(1000)).await.expect(200);
    }
    app.settle().await;
    let orders: Vec<String> = {
        let page = app.get("/v1/orders?per_page=500", &t.token).await.expect(200);
        page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(orders.len(), 200);
    // The second instance: the same database and broker. The embedded mode is one process by
    // design (SQLite has one writer), so there the two "instances" are one, asked twice.
    let second = match app.backend {
        Backend::Distributed => {
            let mut c = app.config.clone();
            c.listen = "127.0.0.1:0".into();
            Some(crate::harness::start(Backend::Distributed, c, testkit::TempDir::new("second")).await)
        }
        Backend::Embedded => None,
    };
    let urls = [app.url.clone(), second.as_ref().map_or(app.url.clone(), |s| s.url.clone())];
    let mut tasks = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        for k in 0..2 {
            let url = urls[(i + k) % 2].clone();
            let (client, token, o) = (app.client.clone(), t.token.clone(), o.clone());
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(format!("{url}/v1/invoices"))
                    .bearer_auth(token)
                    .json(&json!({"order_id": o}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                assert!(status == 200 || status == 201, "{status} {body}");
                (status, body["number"].as_str().unwrap().to_owned(), o)
            }));
        }
    }
    let mut by_order = std::collections::HashMap::new();
    let mut created_count = 0;
    for task in tasks {
        let (status, number, o) = task.await.unwrap();
        created_count += usize::from(status == 201);
        let prev = by_order.insert(o.clone(), number.clone());
        assert!(prev.is_none_or(|p| p == number), "order {o} got two numbers");
    }
    assert_eq!(created_count, 200, "each order issued once");
    let y = year();
    let mut seqs: Vec<i64> =
        by_order.values().map(|n| n.strip_prefix(&format!("INV{y}-")).unwrap().parse().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(app.scalar("select count(*) from invoices").await, 200);
    if let Some(s) = second {
        s.shutdown().await;
    }
}
both!(gapless_numbers_under_concurrent_issuing);

async fn bad_input_and_other_tenants(app: TestApp) {
    let a = app.signup("Alpha").await;
    let b = app.signup("Beta").await;
    let ch = shop(&app, &a, &["TEE-1"]).await;
    let trade = Trade::new(&ch.shop_id, "T-ISO-1", Utc::now() - chrono::Duration::minutes(5), "TEE-1", 1);
    app.post_webhook(&ch, "u", &trade.created_msg()).await.expect(200);
    app.settle().await;
    let order_id = app.order_by_tid(&a, "T-ISO-1").await.unwrap()["id"].as_str().unwrap().to_owned();

    // Not set up yet.
    app.get("/v1/invoicing/settings", &a.token).await.assert_problem(404, "not_found");
    app.post("/v1/invoices", &a.token, &json!({"order_id": order_id})).await.assert_problem(409, "not_configured");
    // A page far past any offset a database takes is refused, not a dropped connection.
    app.get("/v1/invoices?per_page=467&page=27144795537361116", &a.token)
        .await
        .assert_problem(400, "malformed_request");
    // Bad settings change nothing.
    let put = |body: Value| {
        let app = &app;
        let token = a.token.clone();
        async move { app.call(reqwest::Method::PUT, "/v1/invoicing/settings", Some(&token), Some(&body), &[]).await }
    };
    put(json!({"seller_name": SELLER, "tax_id": "short"})).await.assert_problem(400, "malformed_request");
    put(json!({"seller_name": SELLER, "tax_id": "91330106ma27xl5x2k"})).await.assert_problem(400, "malformed_request");
    put(json!({"seller_name": SELLER, "tax_id": "91330106MA27XL5X2K", "default_vat_rate": "12%"}))
        .await
        .assert_problem(400, "invalid_input");
    put(json!({"seller_name": SELLER, "tax_id": "91330106MA27XL5X2K", "series_pattern": "INV{MM}"}))
        .await
        .assert_problem(400, "invalid_input");
    put(json!({"seller_name": SELLER, "tax_id": "91330106MA27XL5X2K", "credit_series_pattern": "INV{YYYY}-"}))
        .await
        .assert_problem(400, "invalid_input");
    put(json!({"seller_name": "  ", "tax_id": "91330106MA27XL5X2K"})).await.assert_problem(400, "invalid_input");
    app.get("/v1/invoicing/settings", &a.token).await.assert_problem(404, "not_found");
    app.call(
        reqwest::Method::PUT,
        "/v1/invoicing/tax-categories/TEE-1",
        Some(&a.token),
        Some(&json!({"vat_rate": "7%"})),
        &[],
    )
    .await
    .assert_problem(400, "invalid_input");

    set_up(&app, &a, "payment").await;
    // Unpaid: nothing issued, and none on request either.
    assert!(invoices(&app, &a, "").await.is_empty());
    app.post("/v1/invoices", &a.token, &json!({"order_id": order_id}))
        .await
        .assert_problem(409, "invalid_state_transition");
    app.post("/v1/invoices", &a.token, &json!({"order_id": uuid::Uuid::now_v7()}))
        .await
        .assert_problem(404, "not_found");
    app.post("/v1/invoices", &a.token, &json!({"order_id": "not-a-uuid"}))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/v1/invoices", &a.token, &json!({"order_id": order_id, "buyer": {"kind": "company", "title": BUYER}}))
        .await
        .assert_problem(400, "invalid_input");
    app.get("/v1/invoices?status=bogus", &a.token).await.assert_problem(400, "invalid_input");
    app.get("/v1/invoices?from=2026-12-01&to=2026-11-01", &a.token).await.assert_problem(400, "invalid_input");
    app.call(reqwest::Method::GET, "/v1/invoices", None, None, &[]).await.assert_problem(401, "unauthorized");

    app.post_webhook(&ch, "p", &trade.paid_msg(1000)).await.expect(200);
    app.settle().await;
    let inv = invoices(&app, &a, "").await.pop().unwrap();
    let id = inv["id"].as_str().unwrap();

    // Beta sees none of it, and can change none of it.
    app.get(&format!("/v1/invoices/{id}"), &b.token).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/invoices/{id}/pdf"), &b.token).await.assert_problem(404, "not_found");
    app.post(&format!("/v1/invoices/{id}/void"), &b.token, &json!({"reason": "x"}))
        .await
        .assert_problem(404, "not_found");
    set_up(&app, &b, "payment").await;
    app.post("/v1/invoices", &b.token, &json!({"order_id": order_id})).await.assert_problem(404, "not_found");
    assert!(invoices(&app, &b, "").await.is_empty());
    let register = app
        .client
        .get(format!("{}/v1/invoices/register.csv", app.url))
        .bearer_auth(&b.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(register.trim_start_matches('\u{feff}').lines().count(), 1);
    assert_eq!(app.get(&format!("/v1/invoices/{id}"), &a.token).await.expect(200)["status"], "issued");
}
both!(bad_input_and_other_tenants);

/// A subscription to `invoice.issued` hears of each invoice once it is issued.
async fn an_issued_invoice_is_announced_to_subscribers(app: TestApp) {
    let t = app.signup("Announcer").await;
    set_up(&app, &t, "payment").await;
    let rx = crate::subscriptions::receiver().await;
    let body = json!({"url": rx.url, "event_types": ["invoice.issued"]});
    app.post("/v1/subscriptions", &t.token, &body).await.expect(201);
    let ch = shop(&app, &t, &["TEE-1"]).await;
    let trade = Trade::new(&ch.shop_id, "T-ANN-1", Utc::now() - chrono::Duration::minutes(5), "TEE-1", 2);
    app.post_webhook(&ch, "p", &trade.paid_msg(1000)).await.expect(200);
    app.settle().await;
    let docs = invoices(&app, &t, "").await;
    assert_eq!(docs.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let got = loop {
        let got: Vec<Value> = rx.got.lock().unwrap().iter().map(|g| g.json()).collect();
        if !got.is_empty() {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "invoice.issued was not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let e = &got[0];
    assert_eq!(e["type"], "invoice.issued", "{e}");
    assert_eq!(e["tenant_id"], t.tenant_id.to_string());
    assert_eq!(e["data"]["invoice_id"], docs[0]["id"]);
    assert_eq!(e["data"]["number"], docs[0]["number"]);
    assert_eq!(e["data"]["kind"], "invoice");
    assert_eq!(e["data"]["total"], 19800);
    assert_eq!(e["data"]["currency"], "CNY");
    app.shutdown().await;
}
both!(an_issued_invoice_is_announced_to_subscribers);
