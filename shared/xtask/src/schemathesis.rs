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
    util::{http, json_str, secs, show, target_dir, wait_timeout},
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

/// A seller and a few of its resources; fails naming the call that did not answer as expected.
fn seed(addr: &str) -> Result<Seeded, String> {
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &str, want: u16| {
        let (status, answer) = http(addr, method, path, headers, Some(body))?;
        if status == want {
            Ok(answer)
        } else {
            Err(format!("seeding: {method} {path} answered {status}, not {want}: {answer}"))
        }
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

/// Runs schemathesis against a fresh `cairn up`; the exit code of `st run`.
pub fn run(root: &Path) -> Result<i32, String> {
    let t = Instant::now();
    let st = ensure_installed(root)?;
    let cairn = live::Cairn::start(root, "schemathesis")?;
    let addr = cairn.addr();
    let log = cairn.log().to_path_buf();
    let seeded = seed(addr)?;

    let reports = target_dir(root).join("schemathesis-report");
    let mut run = Command::new(&st);
    run.arg("--config-file")
        .arg(root.join(CONFIG))
        .args(["run", &format!("http://{addr}/openapi.json"), "--no-color", "--report", "junit", "--report-dir"])
        .arg(&reports)
        .current_dir(root)
        .stdin(Stdio::null())
        .envs(seeded.vars.iter().map(|(k, v)| (*k, v.as_str())));
    crate::say!("$ {}", show(&run));
    let mut child = run.spawn().map_err(|e| format!("cannot run {}: {e}", st.display()))?;
    let status = match wait_timeout(&mut child, TIMEOUT).map_err(|e| format!("waiting for schemathesis: {e}"))? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            crate::say!("schemathesis did not finish within {}; stopped it", secs(TIMEOUT));
            return Ok(1);
        }
    };
    drop(cairn);
    let code = status.code().unwrap_or(1);
    crate::say!(
        "schemathesis finished in {} (exit code {code}); JUnit report in {}, Cairn's log in {}",
        secs(t.elapsed()),
        reports.display(),
        log.display()
    );
    Ok(code)
}
