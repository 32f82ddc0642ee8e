//! `cargo xtask double11 [-- <cairn sim double11 flags>]`: the Double-11 scenario on the
//! embedded default and on the distributed mode, side by side in one sitting.
//!
//! - Builds `cairn` in release.
//! - Embedded: `cairn sim double11 <flags>` (SQLite + the embedded bus, in the simulator's
//!   process, with the bare-endpoint baseline).
//! - Starts PostgreSQL (durable: fsync on, as a deployment runs it) and RabbitMQ as the test
//!   command does, and for each layout a fresh database: `cairn serve` processes on it, then
//!   `cairn sim double11 --cairn-url <the first process> <flags> --no-baseline`, which verifies
//!   from both sides through the API exactly as for the embedded run.
//!   - *one process*: `cairn serve` with every service;
//!   - *two processes*: the same, plus a second `cairn serve channels orders invoicing` whose
//!     consumers share the tenant-shard queues with the first's (the API stays on the first).
//! - Prints the orders/s of each beside the others, and fails when any run does (a lost,
//!   oversold or doubly applied order exits the simulator with 1).
//!
//! Default flags: `--tenants 5 --orders 10000 --no-shipping`.

use crate::{
    services::Services,
    util::{cargo_command, free_ports, pids, secs, show, stat_fields, target_dir},
};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The service sets of each process, per layout (an empty set: every service).
const LAYOUTS: &[(&str, &[&[&str]])] =
    &[("one process", &[&[]]), ("two processes", &[&[], &["channels", "orders", "invoicing"]])];

/// The app role the services connect as (owns nothing, no BYPASSRLS), as in the tests.
const APP_ROLE: &str = "cairn_app";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn psql(admin: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([admin, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr))) }
}

fn ready(port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok((200, _)) = crate::util::http(&format!("127.0.0.1:{port}"), "GET", "/readyz", &[], None) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("cairn serve on port {port} was not ready after 90 s"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs the simulator; (exit code, its report).
fn sim(cairn: &Path, flags: &[String], log: &Path) -> Result<(i32, String), String> {
    let mut cmd = Command::new(cairn);
    cmd.args(["sim", "double11"]).args(flags).stdin(Stdio::null());
    crate::say!("$ {}", show(&cmd));
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", cairn.display()))?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::write(log, format!("{report}\n{}", String::from_utf8_lossy(&out.stderr)));
    print!("{report}");
    Ok((out.status.code().unwrap_or(1), report))
}

/// CPU seconds (user + system) in a process's [`stat_fields`]: its own, plus those of the
/// children it has reaped when `reaped`.
fn cpu_secs(fields: &[String], reaped: bool) -> f64 {
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let own = ticks(11) + ticks(12);
    // USER_HZ is 100 on every Linux this runs on.
    (if reaped { own + ticks(13) + ticks(14) } else { own }) / 100.0
}

/// CPU seconds of process `pid` so far (its own); 0 when it is gone.
fn process_cpu(pid: u32) -> f64 {
    stat_fields(pid).map_or(0.0, |f| cpu_secs(&f, false))
}

/// CPU seconds of a server so far: its main process (with the children it reaped) and its
/// live children (PostgreSQL's backends and background processes, the Erlang VM's helpers).
fn server_cpu(pid: Option<u32>) -> f64 {
    let Some(main) = pid.and_then(stat_fields) else { return 0.0 };
    let pid = pid.map(|p| p.to_string());
    let children: f64 =
        pids().filter_map(stat_fields).filter(|f| f.get(1) == pid.as_ref()).map(|f| cpu_secs(&f, false)).sum();
    cpu_secs(&main, true) + children
}

/// CPU seconds this process's reaped children have used (the simulator's, once it is waited for).
fn reaped_children_cpu() -> f64 {
    stat_fields(std::process::id()).map_or(0.0, |f| cpu_secs(&f, true) - cpu_secs(&f, false))
}

/// The first number on the report's line that starts with `label`.
fn figure(report: &str, label: &str) -> String {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .unwrap_or("?")
        .to_owned()
}

pub fn run(root: &Path, args: &[String]) -> Result<i32, String> {
    let t = Instant::now();
    let mut flags: Vec<String> = match args.first() {
        Some(a) if a == "--" => args[1..].to_vec(),
        _ => args.to_vec(),
    };
    if flags.is_empty() {
        flags = ["--tenants", "5", "--orders", "10000", "--no-shipping"].map(String::from).to_vec();
    }
    let mut build = cargo_command(root);
    build.args(["build", "--release", "--locked", "-p", "cairn"]);
    crate::say!("$ {}", show(&build));
    if !build.status().map_err(|e| format!("cannot run cargo: {e}"))?.success() {
        return Err("the release build failed".into());
    }
    let cairn = target_dir(root).join("release/cairn");
    let logs = target_dir(root).join("double11");
    let _ = std::fs::create_dir_all(&logs);
    let mut results: Vec<(String, i32, String)> = Vec::new();

    crate::say!("Double-11, embedded");
    let before = reaped_children_cpu();
    let (code, report) = sim(&cairn, &flags, &logs.join("embedded.log"))?;
    let cpu = format!(
        "CPU-seconds during the run: Cairn and the simulator in one process {:.1} (the bare-endpoint \
         baseline included)",
        reaped_children_cpu() - before
    );
    crate::say!("{cpu}");
    results.push(("embedded (SQLite, embedded bus)".into(), code, format!("{report}\n{cpu}\n")));

    let services = Services::start_with(true)?;
    let admin = services.instance().pg_url();
    let amqp = services.instance().amqp_url();
    psql(
        &admin,
        &format!(
            "do $$ begin if not exists (select 1 from pg_roles where rolname = '{APP_ROLE}') then \
             create role {APP_ROLE} login nosuperuser nobypassrls; end if; end $$"
        ),
    )?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    let host = base.split_once("://").and_then(|(_, r)| r.rsplit_once('@')).map_or("", |(_, h)| h).to_owned();
    for (i, (layout, processes)) in LAYOUTS.iter().enumerate() {
        let db = format!("cairn_double11_{i}");
        psql(&admin, &format!("create database {db}"))?;
        let ports = free_ports(processes.len())?;
        let mut running = Vec::new();
        for (p, services) in processes.iter().enumerate() {
            let mut cmd = Command::new(&cairn);
            cmd.arg("serve")
                .args(*services)
                .env("CAIRN_LISTEN", format!("127.0.0.1:{}", ports[p]))
                .env("CAIRN_PUBLIC_URL", format!("http://127.0.0.1:{}", ports[0]))
                .env("CAIRN_DATABASE_URL", format!("postgres://{APP_ROLE}@{host}/{db}"))
                .env("CAIRN_MIGRATION_DATABASE_URL", format!("{base}/{db}"))
                .env("CAIRN_MIGRATE_ON_START", if p == 0 { "true" } else { "false" })
                .env("CAIRN_AMQP_URL", &amqp)
                .env("CAIRN_AMQP_PREFIX", format!("d11-{i}."))
                .env("CAIRN_JWT_SECRET", "double11-secret-of-at-least-32-characters")
                .env("CAIRN_SUBSCRIPTIONS_ALLOW_PRIVATE_TARGETS", "true")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(logs.join(format!("serve-{i}-{p}.log")))
                        .map(Stdio::from)
                        .unwrap_or(Stdio::null()),
                );
            crate::say!("$ {}", show(&cmd));
            running.push(Serve(cmd.spawn().map_err(|e| format!("cannot start cairn serve: {e}"))?));
            ready(ports[p])?;
        }
        crate::say!("Double-11, distributed: {layout}");
        let mut remote = flags.clone();
        remote.extend(["--cairn-url".into(), format!("http://127.0.0.1:{}", ports[0]), "--no-baseline".into()]);
        // Where the CPU goes during the run (set-up and verification included): the basis of
        // the README's capacity estimate.
        let (pg, rabbit) = services.instance().server_pids();
        let cairn_cpu = |running: &[Serve]| running.iter().map(|s| process_cpu(s.0.id())).sum::<f64>();
        let before = [cairn_cpu(&running), server_cpu(pg), server_cpu(rabbit), reaped_children_cpu()];
        let (code, report) = sim(&cairn, &remote, &logs.join(format!("distributed-{i}.log")))?;
        let after = [cairn_cpu(&running), server_cpu(pg), server_cpu(rabbit), reaped_children_cpu()];
        let used: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let cpu = format!(
            "CPU-seconds during the run: cairn serve {:.1} ({} process{}), PostgreSQL {:.1}, RabbitMQ {:.1}, \
             the simulator {:.1}",
            used[0],
            running.len(),
            if running.len() == 1 { "" } else { "es" },
            used[1],
            used[2],
            used[3]
        );
        crate::say!("{cpu}");
        results.push((format!("distributed, {layout} (PostgreSQL + RabbitMQ)"), code, format!("{report}\n{cpu}\n")));
        drop(running);
    }
    drop(services);

    crate::say!("Double-11 side by side ({}; flags {}):", secs(t.elapsed()), flags.join(" "));
    // The embedded run's line: "orders/s end to end  <cairn>  <bare>  <ratio>".
    let bare = results[0]
        .2
        .lines()
        .find(|l| l.trim_start().starts_with("orders/s end to end"))
        .and_then(|l| l.split_whitespace().rev().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    crate::say!("  bare 200 endpoint (same run as the embedded one): {bare} orders/s");
    let mut failed = false;
    for (name, code, report) in &results {
        crate::say!(
            "  {name}: {} orders/s end to end, webhook p99 {} ms; lost {}, oversold {}, duplicates {}{}",
            figure(report, "orders/s end to end"),
            figure(report, "webhook latency p99 (ms)"),
            figure(report, "lost"),
            figure(report, "oversold units"),
            figure(report, "duplicates applied"),
            if *code == 0 { "" } else { " — FAILED" }
        );
        failed |= *code != 0;
        if let Some(cpu) = report.lines().find(|l| l.starts_with("CPU-seconds")) {
            crate::say!("    {cpu}");
        }
    }
    crate::say!("reports in {}", logs.display());
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_s_cpu_is_read_from_proc_and_a_child_counts_for_its_parent() {
        let me = std::process::id();
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu(me) >= 0.2, "{}", process_cpu(me));
        assert_eq!(process_cpu(u32::MAX), 0.0);
        // A live child's CPU counts for its parent; the parent's own is there too.
        let mut child = Command::new("sh").args(["-c", "sleep 5"]).spawn().unwrap();
        assert!(server_cpu(Some(me)) >= process_cpu(me));
        assert_eq!(server_cpu(None), 0.0);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(reaped_children_cpu() >= 0.0);
    }
}
