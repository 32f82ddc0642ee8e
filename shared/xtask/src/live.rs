//! What the checks against a live Cairn share (`schemathesis`, `clients`): Python virtualenvs
//! under the target directory, and a fresh `cairn up` on a free port.

use crate::util::{cargo_command, effective_uid, free_ports, http, secs, show, target_dir};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The Python that makes virtualenvs: Debian's own when present (pyenv shims and the like may
/// lack `venv`), else whatever `python3` is on PATH.
pub fn python() -> PathBuf {
    let debian = Path::new("/usr/bin/python3");
    if debian.exists() { debian.to_path_buf() } else { PathBuf::from("python3") }
}

fn can_make_venv(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `<venv>/bin/<tool>`, when its `--version` names `version`; else makes the virtualenv afresh
/// with `requirements` ([`make_venv`]) first.
pub fn ensure_venv(venv: &Path, tool: &str, version: &str, requirements: &[&str]) -> Result<PathBuf, String> {
    let bin = venv.join("bin").join(tool);
    let installed = Command::new(&bin)
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(version));
    if !installed {
        make_venv(venv, requirements)?;
    }
    Ok(bin)
}

/// Makes a fresh virtualenv at `venv` (replacing whatever is there) and pip-installs
/// `requirements` into it; with Debian's `python3-venv` first when the machine's Python cannot
/// make one (as root; `test` installs PostgreSQL the same way).
pub fn make_venv(venv: &Path, requirements: &[&str]) -> Result<(), String> {
    let t = Instant::now();
    let python = python();
    if !can_make_venv(&python) {
        if effective_uid() != Some(0) {
            return Err(format!(
                "{} cannot make a virtualenv; install `python3-venv` (xtask only installs packages when run as root)",
                python.display()
            ));
        }
        crate::install::apt_install(&["python3-venv"])?;
        if !can_make_venv(&python) {
            return Err(format!("{} still cannot make a virtualenv after installing python3-venv", python.display()));
        }
    }
    let _ = fs::remove_dir_all(venv);
    let mut mk = Command::new(&python);
    mk.args(["-m", "venv"]).arg(venv).stdin(Stdio::null());
    crate::say!("$ {}", show(&mk));
    if !mk.status().map_err(|e| format!("cannot run {}: {e}", python.display()))?.success() {
        return Err(format!("`{}` failed", show(&mk)));
    }
    pip_install(venv, requirements)?;
    crate::say!("installed {} in {}", requirements.join(" "), secs(t.elapsed()));
    Ok(())
}

/// `pip install --quiet <args>` in the virtualenv at `venv`.
pub fn pip_install(venv: &Path, args: &[&str]) -> Result<(), String> {
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(args).stdin(Stdio::null());
    crate::say!("$ {}", show(&pip));
    if !pip.status().map_err(|e| format!("cannot run pip: {e}"))?.success() {
        return Err(format!("`{}` failed", show(&pip)));
    }
    Ok(())
}

/// A `cairn up` (SQLite + the embedded bus) on a free port with a fresh data dir; stopped, and
/// its data removed, when dropped, however the run ends.
pub struct Cairn {
    child: Child,
    data: PathBuf,
    addr: String,
    log: PathBuf,
}

impl Cairn {
    /// Builds cairn and starts it, ready to answer; `name` names its data dir and its log,
    /// `<target>/<name>-cairn.log`.
    ///
    /// Cairn calls out where the API tells it to (a carrier's `api_url`, a shop's `base_url`, a
    /// subscription's `url`), and generated requests make those up. Every outbound call goes
    /// instead to a closed port on loopback, through the proxy variables reqwest honours: the
    /// run sends nothing off this machine, not even a DNS query.
    pub fn start(root: &Path, name: &str) -> Result<Cairn, String> {
        let mut cargo = cargo_command(root);
        cargo.args(["build", "--locked", "--quiet", "-p", "cairn"]);
        crate::say!("$ {}", show(&cargo));
        if !cargo.status().map_err(|e| format!("cannot run cargo: {e}"))?.success() {
            return Err("building cairn failed".into());
        }
        let target = target_dir(root);
        let ports = free_ports(2)?;
        let addr = format!("127.0.0.1:{}", ports[0]);
        let nowhere = format!("http://127.0.0.1:{}", ports[1]);
        let data = std::env::temp_dir().join(format!("cairn-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&data);
        let log = target.join(format!("{name}-cairn.log"));
        let log_file = fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut cmd = Command::new(target.join("debug/cairn"));
        cmd.args(["up", "--listen", &addr, "--data-dir"]).arg(&data).env_remove("NO_PROXY").env_remove("no_proxy");
        for var in PROXY_VARS {
            cmd.env(var, &nowhere);
        }
        cmd.stdin(Stdio::null()).stdout(log_file.try_clone().map_err(|e| e.to_string())?).stderr(log_file);
        crate::say!("$ {}", show(&cmd));
        let child = cmd.spawn().map_err(|e| format!("cannot start cairn: {e}"))?;
        let cairn = Cairn { child, data, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http(&cairn.addr, "GET", "/readyz", &[], None).is_ok_and(|(status, _)| status == 200) {
            if Instant::now() > deadline {
                return Err(format!("cairn up was not ready within 60 s\n{}", crate::util::tail(&cairn.log, 30)));
            }
            thread::sleep(Duration::from_millis(200));
        }
        Ok(cairn)
    }

    /// `127.0.0.1:<port>`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where its stdout and stderr go.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for Cairn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.data);
    }
}

/// The proxy variables HTTP clients (reqwest, httpx, pip, npm) read.
pub const PROXY_VARS: [&str; 6] = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];
