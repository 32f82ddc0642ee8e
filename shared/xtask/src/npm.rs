//! npm, for the dashboard and the generated TypeScript client: installs that are skipped when
//! nothing changed.

use crate::util::show;
use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
};

/// `npm <args>` in `dir`; `shown` is how the log names `dir`.
pub fn run(dir: &Path, shown: &str, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    crate::say!("$ (cd {shown} && {})", show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot run npm (Node 20 and npm are needed): {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`npm {}` failed in {shown} ({status})", args.join(" "))) }
}

/// `npm ci` in `dir`, unless its `node_modules` was installed from this very
/// `package-lock.json`.
pub fn ci(dir: &Path, shown: &str) -> Result<(), String> {
    let lock =
        fs::read(dir.join("package-lock.json")).map_err(|e| format!("cannot read {shown}/package-lock.json: {e}"))?;
    let stamp = dir.join("node_modules/.cairn-installed-lock");
    if fs::read(&stamp).is_ok_and(|s| s == lock) {
        return Ok(());
    }
    run(dir, shown, &["ci", "--no-audit", "--no-fund"])?;
    fs::write(&stamp, &lock).map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}
