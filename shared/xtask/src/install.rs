//! Finding (and, on Debian, installing) the PostgreSQL and RabbitMQ server binaries, and
//! poppler's `pdftotext`, which the invoice tests read PDFs back with, and Debian's Chromium,
//! which the dashboard's browser tests drive; and the Python virtualenvs of the steps that run
//! Python tools (schemathesis, kubernetes-validate).

use crate::util::{effective_uid, lookup_user, secs};
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// Server binaries to use.
#[derive(Debug, Clone)]
pub struct Tools {
    /// e.g. `15`
    pub pg_version: String,
    /// `/usr/lib/postgresql/<ver>/bin` (holds initdb, pg_ctl, postgres)
    pub pg_bin: PathBuf,
    pub rabbitmq_server: PathBuf,
    pub rabbitmqctl: PathBuf,
    /// True when we are root: servers then run as the `postgres` / `rabbitmq` users via
    /// runuser. Otherwise they run as the current user.
    pub as_service_users: bool,
}

const PACKAGES: [&str; 5] = ["postgresql", "rabbitmq-server", "poppler-utils", "chromium", "fonts-noto-cjk"];

/// Finds the binaries, running apt-get first if any are missing.
pub fn ensure_installed() -> Result<Tools, String> {
    let root = effective_uid() == Some(0);
    let missing = missing();
    if !missing.is_empty() {
        if !root {
            return Err(format!(
                "missing {}; install them with `sudo apt-get install {}` (xtask only installs packages when run as root)",
                missing.join(", "),
                PACKAGES.join(" ")
            ));
        }
        install(&missing)?;
    }
    let (pg_version, pg_bin) = find_postgres().ok_or("PostgreSQL binaries still missing after apt-get install")?;
    let (rabbitmq_server, rabbitmqctl) =
        find_rabbitmq().ok_or("RabbitMQ binaries still missing after apt-get install")?;
    if root {
        for user in ["postgres", "rabbitmq"] {
            if lookup_user(user).is_none() {
                return Err(format!(
                    "the `{user}` user does not exist (it is created by the Debian package); reinstall it"
                ));
            }
        }
    }
    Ok(Tools { pg_version, pg_bin, rabbitmq_server, rabbitmqctl, as_service_users: root })
}

fn missing() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if find_postgres().is_none() {
        missing.push("PostgreSQL server (/usr/lib/postgresql/<ver>/bin/{initdb,pg_ctl,postgres})");
    }
    if find_rabbitmq().is_none() {
        missing.push("RabbitMQ server (/usr/sbin/rabbitmq-server, /usr/sbin/rabbitmqctl)");
    }
    if !Path::new("/usr/bin/pdftotext").exists() {
        missing.push("poppler-utils (/usr/bin/pdftotext)");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("chromium (/usr/bin/chromium)");
    }
    if !Path::new("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists() {
        missing.push("fonts-noto-cjk (zh-CN text in the browser tests' screenshots)");
    }
    missing
}

fn install(missing: &[&str]) -> Result<(), String> {
    crate::say!("not installed: {}", missing.join("; "));
    crate::say!("installing Debian packages {} (apt-get update + apt-get install)", PACKAGES.join(" "));
    apt_install(&PACKAGES)
}

/// `apt-get update` and `apt-get install` of `packages` (Debian, as root).
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let t = Instant::now();
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"];
    args.extend(packages);
    apt(&args)?;
    crate::say!("installed {} in {}", packages.join(" "), secs(t.elapsed()));
    Ok(())
}

fn apt(args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("apt-get");
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    crate::say!("$ DEBIAN_FRONTEND=noninteractive {}", crate::util::show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`apt-get {}` failed ({status})", args.join(" "))) }
}

/// The highest `/usr/lib/postgresql/<ver>/bin` that has initdb, pg_ctl and postgres.
/// (Not whatever `initdb` is on PATH: that may be a symlink to some other version or a wrapper.)
fn find_postgres() -> Option<(String, PathBuf)> {
    let base = Path::new("/usr/lib/postgresql");
    fs::read_dir(base)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let key: Vec<u32> = name.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
            let bin = base.join(&name).join("bin");
            ["initdb", "pg_ctl", "postgres"].iter().all(|b| bin.join(b).is_file()).then_some((key, name, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, name, bin)| (name, bin))
}

/// `/usr/sbin/rabbitmq-server` and `/usr/sbin/rabbitmqctl` must exist (the Debian package).
/// We then run the real scripts in `/usr/lib/rabbitmq/bin` when present: Debian's `/usr/sbin`
/// wrappers `cd /var/lib/rabbitmq`, send the server's output to the shared
/// `/var/log/rabbitmq/startup_log` and override `HOME` for rabbitmqctl, which would defeat our
/// private cookie.
fn find_rabbitmq() -> Option<(PathBuf, PathBuf)> {
    let sbin = Path::new("/usr/sbin");
    if !sbin.join("rabbitmq-server").is_file() || !sbin.join("rabbitmqctl").is_file() {
        return None;
    }
    let lib = Path::new("/usr/lib/rabbitmq/bin");
    let pick = |name: &str| if lib.join(name).is_file() { lib.join(name) } else { sbin.join(name) };
    Some((pick("rabbitmq-server"), pick("rabbitmqctl")))
}
