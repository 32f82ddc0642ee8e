//! The dashboard's assets (`services/dashboard/dist/`, committed so that running Cairn never
//! needs Node) and its browser tests.
//!
//! - `build`: `npm ci` (only when `package-lock.json` changed since the last install) and
//!   `npm run build`, into `dist/` or another directory.
//! - `check`: builds into a temp directory and compares it with the committed `dist/` file by
//!   file, as the OpenAPI drift check does with the spec.
//! - `browser_tests`: starts `cairn up --demo` on a free port with a fresh data dir and runs
//!   `node services/dashboard/tests/run.mjs --base-url …` against it (Debian's Chromium,
//!   driven by playwright-core; screenshots go to `target/dashboard-screens/`).

use crate::{
    npm,
    util::{cargo_command, free_ports, secs, show, target_dir},
};
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The app, relative to the workspace root.
pub const APP: &str = "services/dashboard";
const FIX: &str = "run `cargo xtask dashboard` and commit services/dashboard/dist";

/// Builds the app into `out` (its `dist/` when `None`).
pub fn build(root: &Path, out: Option<&Path>) -> Result<(), String> {
    let t = Instant::now();
    let app = root.join(APP);
    npm::ci(&app, APP)?;
    match out {
        None => npm::run(&app, APP, &["run", "build"])?,
        Some(dir) => {
            let dir = dir.to_str().ok_or("the output directory is not UTF-8")?;
            npm::run(&app, APP, &["run", "build", "--", "--outDir", dir, "--emptyOutDir"])?
        }
    }
    crate::say!("built the dashboard in {}", secs(t.elapsed()));
    Ok(())
}

/// Every file under `dir`, by its path relative to `dir`.
fn files(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                out.insert(path.strip_prefix(dir).expect("under dir").to_path_buf(), bytes);
            }
        }
    }
    Ok(out)
}

/// `Err` naming the first difference when a fresh build differs from the committed `dist/`.
pub fn check(root: &Path) -> Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("cairn-dashboard-{}", std::process::id()));
    let built = build(root, Some(&tmp)).and_then(|()| files(&tmp));
    let _ = fs::remove_dir_all(&tmp);
    let built = built?;
    let committed = files(&root.join(APP).join("dist"))?;
    for (path, bytes) in &built {
        match committed.get(path) {
            None => return Err(format!("{APP}/dist/{} is missing from the committed build; {FIX}", path.display())),
            Some(c) if c != bytes => {
                return Err(format!("{APP}/dist/{} differs from a fresh build; {FIX}", path.display()));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = committed.keys().find(|p| !built.contains_key(*p)) {
        return Err(format!("{APP}/dist/{} is not produced by a fresh build; {FIX}", extra.display()));
    }
    Ok(())
}

/// Kills the demo when the tests end, however they end.
struct Demo(std::process::Child, PathBuf);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = fs::remove_dir_all(&self.1);
    }
}

/// Runs the browser tests against a fresh `cairn up --demo`; the exit code of the runner.
pub fn browser_tests(root: &Path) -> Result<i32, String> {
    let t = Instant::now();
    let app = root.join(APP);
    npm::ci(&app, APP)?;
    if !Path::new("/usr/bin/chromium").exists() {
        return Err("/usr/bin/chromium is missing (Debian's `chromium` package)".into());
    }
    let mut cargo = cargo_command(root);
    cargo.args(["build", "--locked", "--quiet", "-p", "cairn"]);
    crate::say!("$ {}", show(&cargo));
    if !cargo.status().map_err(|e| format!("cannot run cargo: {e}"))?.success() {
        return Err("building cairn failed".into());
    }
    let port = free_ports(1)?[0];
    let data = std::env::temp_dir().join(format!("cairn-dashboard-demo-{}", std::process::id()));
    // Where cargo put the binary: CARGO_TARGET_DIR may point outside the work tree.
    let target = target_dir(root);
    let log = target.join("dashboard-demo.log");
    let log_file = fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut cmd = Command::new(target.join("debug/cairn"));
    cmd.args(["up", "--demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file);
    crate::say!("$ {}", show(&cmd));
    let demo = Demo(cmd.spawn().map_err(|e| format!("cannot start cairn: {e}"))?, data);
    let base = format!("http://127.0.0.1:{port}");
    // Up once it has printed its welcome: the demo seller, shops and stock exist by then.
    let deadline = Instant::now() + Duration::from_secs(90);
    while !fs::read_to_string(&log).is_ok_and(|l| l.contains("Cairn demo is up")) {
        if Instant::now() > deadline {
            return Err(format!("cairn up --demo was not up within 90 s\n{}", crate::util::tail(&log, 30)));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut node = Command::new("node");
    node.current_dir(root).arg(format!("{APP}/tests/run.mjs")).args(["--base-url", &base]);
    crate::say!("$ {}", show(&node));
    let status = node.status().map_err(|e| format!("cannot run node: {e}"))?;
    drop(demo);
    let code = status.code().unwrap_or(1);
    crate::say!(
        "browser tests finished in {} (exit code {code}); screenshots in target/dashboard-screens/",
        secs(t.elapsed())
    );
    if code != 0 {
        crate::say!("{}", crate::util::tail(&log, 40));
    }
    Ok(code)
}
