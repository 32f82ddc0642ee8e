//! `cargo xtask schemathesis`: the published OpenAPI checked against a live Cairn, the way an
//! ISV would check it.
//!
//! - Installs schemathesis ([`VERSION`]) into a virtualenv under the target directory
//!   (`<target>/schemathesis-<VERSION>/`; [`live::make_venv`]).
//! - Starts a fresh `cairn up` ([`live::Cairn`]: outbound HTTP sent to a closed loopback
//!   port), signs up a seller and creates a few resources (a Bazaar shop, a SKU with stock, a
//!   reservation), so the operations on them are reached and not only answered 404.
//! - Runs `st run <url>/openapi.json` with [`CONFIG`] (checks, seed, examples per operation,
//!   the seeded ids), which reads the token and ids from `CAIRN_ST_*` variables, and prints
//!   its summary. The exit code is schemathesis's: any failure of a check fails the step.

use crate::{
    live,
    util::{http, json_str, secs, show, target_dir, wait_or_kill},
};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The schemathesis release the checks are written against (pinned so CI is reproducible).
pub const VERSION: &str = "4.32.5";
/// The run's settings, relative to the workspace root.
pub const CONFIG: &str = "shared/xtask/schemathesis.toml";
/// A run that takes longer than this is stopped and fails (a bounded run takes 2-3 minutes).
const TIMEOUT: Duration = Duration::from_secs(600);

/// `<venv>/bin/st` of schemathesis [`VERSION`], installing it when missing.
pub fn ensure_installed(root: &Path) -> Result<PathBuf, String> {
    let venv = target_dir(root).join(format!("schemathesis-{VERSION}"));
    live::ensure_venv(&venv, "st", VERSION, &[&format!("schemathesis=={VERSION}")])
}

/// What the run works on, exported to schemathesis as `CAIRN_ST_*`.
struct Seeded {
    vars: Vec<(&'static str, String)>,
}

/// One call to the live Cairn that must answer `want`: its body, or an error naming `what`
/// (the step) and the call.
fn expect(
    addr: &str,
    what: &str,
    (method, path): (&str, &str),
    headers: &[(&str, &str)],
    body: &str,
    want: u16,
) -> Result<String, String> {
    let (status, answer) = http(addr, method, path, headers, Some(body))?;
    if status == want {
        Ok(answer)
    } else {
        Err(format!("{what}: {method} {path} answered {status}, not {want}: {answer}"))
    }
}

/// A seller and a few of its resources; fails naming the call that did not answer as expected.
fn seed(addr: &str) -> Result<Seeded, String> {
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &str, want: u16| {
        expect(addr, "seeding", (method, path), headers, body, want)
    };
    let signup = call(
        "POST",
        "/v1/signup",
        &[],
        r#"{"tenant_name":"Schemathesis","email":"isv@example.com","password":"correct horse battery"}"#,
        201,
    )?;
    let token = json_str(&signup, "access_token").ok_or("seeding: the signup answer has no access_token")?;
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let channel =
        call("POST", "/v1/channels", &auth, r#"{"marketplace":"bazaar","shop_id":"st-shop","name":"ST"}"#, 201)?;
    let channel = json_str(&channel, "id").ok_or("seeding: the channel has no id")?;
    call("POST", "/v1/skus", &auth, r#"{"code":"ST-1","name":"Schemathesis SKU"}"#, 201)?;
    let adjust = [auth[0], ("Idempotency-Key", "st-initial")];
    call("POST", "/v1/stock/adjustments", &adjust, r#"{"sku_code":"ST-1","delta":1000,"reason":"seed"}"#, 201)?;
    let reserve = [auth[0], ("Idempotency-Key", "st-reservation")];
    let body = r#"{"reference":"ST-1","lines":[{"sku_code":"ST-1","quantity":1}]}"#;
    let reservation = call("POST", "/v1/reservations", &reserve, body, 201)?;
    let reservation = json_str(&reservation, "id").ok_or("seeding: the reservation has no id")?;
    Ok(Seeded {
        vars: vec![
            ("CAIRN_ST_TOKEN", token),
            ("CAIRN_ST_CHANNEL", channel),
            ("CAIRN_ST_SKU", "ST-1".into()),
            ("CAIRN_ST_RESERVATION", reservation),
        ],
    })
}

/// The scopes an app may hold: all but `grants:*`, `apps:*` and `users:write`
/// (`auth::Scope`); the app run asks for every one of them.
const APP_SCOPES: &str = "orders:read orders:write stock:read stock:write channels:read channels:write \
    invoices:read invoices:write shipping:read shipping:write events:read events:write audit:read settings:write \
    users:read";

/// An ISV's app, registered by the seeded seller and granted by it every scope an app may
/// hold through the authorization-code flow with PKCE: the app's access token.
fn app_token(addr: &str, seller: &str, python: &Path) -> Result<String, String> {
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &str, want: u16| {
        expect(addr, "app token", (method, path), headers, body, want)
    };
    let bearer = format!("Bearer {seller}");
    let auth = [("Authorization", bearer.as_str())];
    let redirect = "http://localhost:9/callback";
    let scopes: Vec<String> = APP_SCOPES.split_whitespace().map(|s| format!("\"{s}\"")).collect();
    let body =
        format!(r#"{{"name":"Schemathesis app","redirect_uris":["{redirect}"],"scopes":[{}]}}"#, scopes.join(","));
    let app = call("POST", "/v1/apps", &auth, &body, 201)?;
    let client_id = json_str(&app, "id").ok_or("app token: the app has no id")?;
    let secret = json_str(&app, "client_secret").ok_or("app token: the app has no client_secret")?;
    // PKCE S256: base64url(SHA-256(verifier)), by the virtualenv's Python (xtask uses std alone).
    let verifier = format!("schemathesis-{}", "v".repeat(43));
    let out = Command::new(python)
        .args([
            "-c",
            "import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b'=').decode())",
            &verifier,
        ])
        .output()
        .map_err(|e| format!("app token: cannot run {}: {e}", python.display()))?;
    let challenge = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let body = format!(
        r#"{{"client_id":"{client_id}","redirect_uri":"{redirect}","scope":"{APP_SCOPES}","state":"st","code_challenge":"{challenge}","code_challenge_method":"S256","decision":"approve"}}"#
    );
    let consent = call("POST", "/v1/oauth/authorize", &auth, &body, 200)?;
    let to = json_str(&consent, "redirect_to").ok_or("app token: the consent has no redirect_to")?;
    let code = to
        .split_once("code=")
        .and_then(|(_, rest)| rest.split('&').next())
        .ok_or_else(|| format!("app token: no code in {to}"))?;
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id={client_id}&client_secret={secret}",
        redirect.replace(':', "%3A").replace('/', "%2F")
    );
    let form_type = [("Content-Type", "application/x-www-form-urlencoded")];
    let token = call("POST", "/v1/oauth/token", &form_type, &form, 200)?;
    json_str(&token, "access_token").ok_or_else(|| "app token: the token answer has no access_token".into())
}

/// One `st run` with `token` as the bearer; its exit code.
fn st_run(st: &Path, root: &Path, addr: &str, vars: &[(&'static str, String)], reports: &Path) -> Result<i32, String> {
    let mut run = Command::new(st);
    run.arg("--config-file")
        .arg(root.join(CONFIG))
        .args(["run", &format!("http://{addr}/openapi.json"), "--no-color", "--report", "junit", "--report-dir"])
        .arg(reports)
        .current_dir(root)
        .stdin(Stdio::null())
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    crate::say!("$ {}", show(&run));
    let mut child = run.spawn().map_err(|e| format!("cannot run {}: {e}", st.display()))?;
    match wait_or_kill(&mut child, TIMEOUT).map_err(|e| format!("waiting for schemathesis: {e}"))? {
        Some(status) => Ok(status.code().unwrap_or(1)),
        None => {
            crate::say!("schemathesis did not finish within {}; stopped it", secs(TIMEOUT));
            Ok(1)
        }
    }
}

/// Runs schemathesis against a fresh `cairn up`, first with the seller's token, then with an
/// app's (granted every scope an app may hold, so the operations it may not use answer 403);
/// 0 when both runs pass.
pub fn run(root: &Path) -> Result<i32, String> {
    let t = Instant::now();
    let st = ensure_installed(root)?;
    let cairn = live::Cairn::start(root, "schemathesis")?;
    let addr = cairn.addr();
    let log = cairn.log().to_path_buf();
    let mut seeded = seed(addr)?;
    let reports = target_dir(root).join("schemathesis-report");
    crate::say!("schemathesis with the seller's token");
    let seller = st_run(&st, root, addr, &seeded.vars, &reports.join("seller"))?;
    let seller_token = seeded.vars[0].1.clone();
    let python = st.with_file_name("python");
    seeded.vars[0].1 = app_token(addr, &seller_token, &python)?;
    crate::say!("schemathesis with an app's token (every scope an app may hold)");
    let app = st_run(&st, root, addr, &seeded.vars, &reports.join("app"))?;
    drop(cairn);
    crate::say!(
        "schemathesis finished in {} (exit codes: seller {seller}, app {app}); JUnit reports in {}, Cairn's log in {}",
        secs(t.elapsed()),
        reports.display(),
        log.display()
    );
    Ok(if seller == 0 && app == 0 { 0 } else { 1 })
}
