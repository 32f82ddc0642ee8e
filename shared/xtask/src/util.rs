//! Small std-only helpers: running commands with logs and timeouts, free ports, users,
//! process scanning, workspace discovery, and a minimal HTTP/1.1 client for local servers.

use std::{
    ffi::OsString,
    fs::{self, OpenOptions},
    io::{self, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Prints one `xtask: ...` progress line on stderr (ignoring a closed stderr).
pub fn say_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "xtask: {line}");
}

/// `1.2s`
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The `cargo` that is running us (so the same toolchain is used), else `cargo` from PATH.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A `cargo` command run from the workspace root, without the per-package variables that
/// `cargo run` set for xtask itself (they would leak into the child's build scripts/tests).
pub fn cargo_command(root: &Path) -> Command {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(root);
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The workspace root: two levels above this crate, else `cargo locate-project --workspace`.
pub fn workspace_root() -> Result<PathBuf, String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(root) = here.parent().and_then(Path::parent)
        && fs::read_to_string(root.join("Cargo.toml")).is_ok_and(|s| s.contains("[workspace]"))
    {
        return Ok(root.to_path_buf());
    }
    let out = Command::new(cargo())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run `cargo locate-project`: {e}"))?;
    if !out.status.success() {
        return Err("`cargo locate-project --workspace` failed".into());
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("odd workspace manifest path {}", manifest.display()))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// One HTTP/1.1 request to a local server (`addr` is `host:port`), `Connection: close`, with
/// extra headers and an optional body, JSON unless the headers name another `Content-Type`:
/// (status, body). Enough for seeding a test server
/// from std alone; it reads `Content-Length` and chunked answers.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> Result<(u16, String), String> {
    let fail = |e: io::Error| format!("{method} http://{addr}{path}: {e}");
    let mut stream = TcpStream::connect(addr).map_err(fail)?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(fail)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = json.unwrap_or("");
    // A body is JSON unless a header says otherwise (e.g. an OAuth token request's form).
    if json.is_some() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(fail)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, rest) = raw.split_once("\r\n\r\n").ok_or_else(|| format!("{method} {path}: no HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    Ok((status, if chunked { dechunk(rest) } else { rest.to_owned() }))
}

/// The payload of a chunked HTTP body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else { break };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// The string value of the first `"key": "..."` in a JSON text (ids and tokens: no escapes).
pub fn json_str(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Quotes `s` for a POSIX shell (only when needed).
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// The command line of `cmd`, shell-quoted (environment overrides not included).
pub fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits for `child` at most `timeout`; `None` if it was still running, and then it is killed
/// and reaped.
pub fn wait_or_kill(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let status = wait_timeout(child, timeout)?;
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(status)
}

/// Waits for `child` at most `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(5);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(100));
    }
}

/// Runs `cmd` (stdin from /dev/null) with stdout and stderr appended to `log`, killing it
/// after `timeout`. Files rather than pipes, so daemons that keep inherited descriptors open
/// cannot make us wait for them.
pub fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration) -> Result<(), String> {
    let shown = show(cmd);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let _ = writeln!(file, "$ {shown}");
    let err_file = file.try_clone().map_err(|e| format!("cannot dup log file: {e}"))?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(err_file);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    match wait_or_kill(&mut child, timeout).map_err(|e| format!("waiting for `{shown}`: {e}"))? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("`{shown}` failed ({status})")),
        None => Err(format!("`{shown}` did not finish within {}", secs(timeout))),
    }
}

/// The last `n` lines of a (text) file, or a note saying why there are none.
pub fn tail(path: &Path, n: usize) -> String {
    let mut bytes = Vec::new();
    match fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            format!("---- last lines of {} ----\n{}\n----", path.display(), lines[start..].join("\n"))
        }
        Err(e) => format!("(no {}: {e})", path.display()),
    }
}

/// `n` distinct currently-free TCP ports on 127.0.0.1 (all bound at once, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| e.to_string())
}

/// A local account from /etc/passwd.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

pub fn lookup_user(name: &str) -> Option<User> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || f[0] != name {
            return None;
        }
        Some(User { name: name.to_owned(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()? })
    })
}

/// Our effective uid (from /proc/self/status).
pub fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The pids of every process, from /proc.
pub fn pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc").into_iter().flatten().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok())
}

/// The fields of `/proc/<pid>/stat` after the command name: state, ppid, … (utime is the
/// 12th, index 11); `None` when the process is gone.
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the command name may hold anything, so split after the last ')'.
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect())
}

/// Live (non-zombie) processes whose initial environment contains `entry` (`KEY=value`),
/// as (pid, command name).
pub fn pids_with_env(entry: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    pids()
        .filter(|&pid| pid != me && pid_has_env(pid, entry) && process_alive(pid))
        .map(|pid| (pid, fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned()))
        .collect()
}

/// Whether the initial environment of process `pid` contains `entry` (`KEY=value`).
pub fn pid_has_env(pid: u32, entry: &str) -> bool {
    fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == entry.as_bytes()))
}

pub fn process_alive(pid: u32) -> bool {
    let fields = stat_fields(pid).unwrap_or_default();
    matches!(fields.first().map(String::as_str), Some(s) if s != "Z" && s != "X")
}

/// Sends `signal` (e.g. `KILL`) to `pid` with kill(1).
pub fn kill(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `n` random bytes from the kernel.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::{dechunk, json_str, shell_quote};

    #[test]
    fn small_http_parsing() {
        assert_eq!(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
        let body = r#"{"tenant_id":"t-1", "access_token" : "ey.J"}"#;
        assert_eq!(json_str(body, "access_token").as_deref(), Some("ey.J"));
        assert_eq!(json_str(body, "tenant_id").as_deref(), Some("t-1"));
        assert_eq!(json_str(body, "missing"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
