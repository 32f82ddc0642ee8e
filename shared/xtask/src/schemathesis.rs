//! `cargo xtask schemathesis`: the published OpenAPI checked against a live Cairn, the way an
//! ISV would check it.
//!
//! - Installs schemathesis ([`VERSION`]) into a virtualenv under the target directory
//!   (`<target>/schemathesis-<VERSION>/`, see [`crate::install::venv`]).
//! - Builds cairn, starts `cairn up` (SQLite + the embedded bus) in a temp data dir on a free
//!   port, with its outbound HTTP sent to a closed loopback port, signs up a seller and creates a few resources (a Bazaar shop, a SKU with stock, a
//!   reservation), so the operations on them are reached and not only answered 404.
//! - Runs `st run <url>/openapi.json` with [`CONFIG`] (checks, seed, examples per operation,
//!   the seeded ids), which reads the token and ids from `CAIRN_ST_*` variables, and prints
//!   its summary. The exit code is schemathesis's: any failure of a check fails the step.

use crate::util::{cargo_command, free_ports, http, json_str, secs, show, target_dir, wait_timeout};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
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
    let st = venv.join("bin/st");
    let installed = Command::new(&st)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(VERSION));
    if installed {
        return Ok(st);
    }
    crate::install::venv(&venv, &format!("schemathesis=={VERSION}"))?;
    Ok(st)
}

/// Stops `cairn up` and removes its data, however the run ends.
struct Cairn {
    child: Child,
    data: PathBuf,
}

impl Drop for Cairn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.data);
    }
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
    let mut cargo = cargo_command(root);
    cargo.args(["build", "--locked", "--quiet", "-p", "cairn"]);
    crate::say!("$ {}", show(&cargo));
    if !cargo.status().map_err(|e| format!("cannot run cargo: {e}"))?.success() {
        return Err("building cairn failed".into());
    }
    let target = target_dir(root);
    let ports = free_ports(2)?;
    let addr = format!("127.0.0.1:{}", ports[0]);
    // Cairn calls out where the API tells it to (a carrier's `api_url`, a shop's `base_url`, a
    // subscription's `url`), and schemathesis makes those up. Every outbound call goes instead
    // to a closed port on loopback, through the proxy variables reqwest honours: the run sends
    // nothing off this machine, not even a DNS query.
    let nowhere = format!("http://127.0.0.1:{}", ports[1]);
    let data = std::env::temp_dir().join(format!("cairn-schemathesis-{}", std::process::id()));
    let _ = fs::remove_dir_all(&data);
    let log = target.join("schemathesis-cairn.log");
    let log_file = fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new(target.join("debug/cairn"));
    cmd.args(["up", "--listen", &addr, "--data-dir"]).arg(&data).env_remove("NO_PROXY").env_remove("no_proxy");
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        cmd.env(var, &nowhere);
    }
    cmd.stdin(Stdio::null()).stdout(log_file.try_clone().map_err(|e| e.to_string())?).stderr(log_file);
    crate::say!("$ {}", show(&cmd));
    let cairn = Cairn { child: cmd.spawn().map_err(|e| format!("cannot start cairn: {e}"))?, data };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http(&addr, "GET", "/readyz", &[], None).is_ok_and(|(status, _)| status == 200) {
        if Instant::now() > deadline {
            return Err(format!("cairn up was not ready within 60 s\n{}", crate::util::tail(&log, 30)));
        }
        thread::sleep(Duration::from_millis(200));
    }
    let seeded = seed(&addr)?;

    let reports = target.join("schemathesis-report");
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
