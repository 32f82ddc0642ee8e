//! Throwaway PostgreSQL and RabbitMQ servers for the test suite.
//!
//! Everything of one run lives under one directory, `/tmp/cairn-xtask-<id>/`:
//!
//! ```text
//! pg/            (postgres, 0700)  data/ (the cluster), postgres.log, the unix socket
//! rabbit/        (rabbitmq, 0700)  HOME with a private .erlang.cookie, mnesia/, log/, rabbit.pid,
//!                                  enabled_plugins ("[]."), rabbitmq.conf, rabbitmq-env.conf
//! *.log          output of the initdb / pg_ctl / rabbitmq-server / rabbitmqctl calls
//! ```
//!
//! Every server process gets `CAIRN_XTASK_INSTANCE=<id>` in its environment, so clean-up can
//! find and kill whatever is left (epmd, a half-started node) by scanning /proc.
//!
//! Clean-up runs from [`Services`]' `Drop` (normal return, error, panic) and, should xtask be
//! killed (Ctrl-C, SIGKILL), from a small "reaper" child: xtask itself, re-run as
//! `xtask __reaper` in its own process group (so Ctrl-C does not reach it), which is told about
//! the instance on its stdin and cleans up if that pipe closes without a `done` line.

use crate::{
    install::Tools,
    util::{
        free_ports, kill, pid_has_env, pids_with_env, process_alive, random_bytes, run_logged, secs, shell_quote, tail,
        wait_timeout,
    },
};
use std::{
    collections::HashMap,
    fs::{self, DirBuilder},
    io::{self, BufRead, Write},
    net::{SocketAddr, TcpStream},
    os::unix::{
        fs::{DirBuilderExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Environment variable that tags every process we start.
pub const MARKER_KEY: &str = "CAIRN_XTASK_INSTANCE";
/// Hidden sub-command that runs the reaper.
pub const REAPER_ARG: &str = "__reaper";

const PG_USER: &str = "postgres";
const RABBIT_USER: &str = "rabbitmq";
/// Budget for RabbitMQ to boot (from `rabbitmq-server -detached` to `await_startup` success).
const RABBIT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// One set of throwaway servers (plain data: enough to clean up from another process).
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub root: PathBuf,
    pub tools: Tools,
    pub pg_port: u16,
    pub amqp_port: u16,
    pub dist_port: u16,
    pub epmd_port: u16,
    /// PostgreSQL with its default durability (benchmarks) rather than fsync off (tests).
    pub durable: bool,
}

impl Instance {
    fn pg_dir(&self) -> PathBuf {
        self.root.join("pg")
    }
    fn pg_data(&self) -> PathBuf {
        self.pg_dir().join("data")
    }
    fn pg_log(&self) -> PathBuf {
        self.pg_dir().join("postgres.log")
    }
    fn rabbit_dir(&self) -> PathBuf {
        self.root.join("rabbit")
    }
    fn rabbit_pid_file(&self) -> PathBuf {
        self.rabbit_dir().join("rabbit.pid")
    }
    fn rabbit_log(&self) -> PathBuf {
        self.rabbit_dir().join("log").join(format!("{}.log", self.node()))
    }
    /// The pids of the PostgreSQL postmaster and of RabbitMQ's Erlang VM, when running.
    pub fn server_pids(&self) -> (Option<u32>, Option<u32>) {
        (read_pid(&self.pg_data().join("postmaster.pid")), read_pid(&self.rabbit_pid_file()))
    }
    pub fn node(&self) -> String {
        format!("cairn-test-{}@localhost", self.amqp_port)
    }
    fn marker(&self) -> String {
        format!("{MARKER_KEY}={}", self.id)
    }

    pub fn pg_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.pg_port)
    }
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }
    /// `CAIRN_TEST_RABBITMQCTL`: append a rabbitmqctl sub-command and run with `sh -c`.
    pub fn rabbitmqctl_prefix(&self) -> String {
        self.ctl_argv().iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    }

    /// `CAIRN_TEST_PG_CTL`: append a pg_ctl sub-command (e.g. `restart -m fast -w`) and run
    /// with `sh -c`. A restarted server keeps its options (pg_ctl reads `postmaster.opts`) and
    /// the marker, so the reaper still finds it.
    pub fn pg_ctl_prefix(&self) -> String {
        let mut argv: Vec<String> = Vec::new();
        if self.tools.as_service_users {
            argv.extend(["runuser", "-u", PG_USER, "--"].map(String::from));
        }
        argv.extend(["env".into(), "-C".into(), self.pg_dir().display().to_string(), self.marker()]);
        argv.push(self.tools.pg_bin.join("pg_ctl").display().to_string());
        argv.extend([
            "-D".into(),
            self.pg_data().display().to_string(),
            "-l".into(),
            self.pg_log().display().to_string(),
        ]);
        argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    }

    /// The variables the test suite reads.
    pub fn test_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CAIRN_TEST_PG_URL", self.pg_url()),
            ("CAIRN_TEST_AMQP_URL", self.amqp_url()),
            ("CAIRN_TEST_RABBITMQCTL", self.rabbitmqctl_prefix()),
            ("CAIRN_TEST_PG_CTL", self.pg_ctl_prefix()),
        ]
    }

    /// `program` run as `user` (via runuser when we are root), in `cwd`, with `env` and the
    /// marker. The variables go through env(1) after runuser, which would reset HOME.
    fn as_user(&self, user: &str, program: &Path, cwd: &Path, env: &[(&str, String)]) -> Command {
        let mut env = env.to_vec();
        env.push((MARKER_KEY, self.id.clone()));
        let mut cmd = if self.tools.as_service_users {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--", "env"]);
            c.args(env.iter().map(|(k, v)| format!("{k}={v}")));
            c.arg(program);
            c
        } else {
            let mut c = Command::new(program);
            c.envs(env.iter().map(|(k, v)| (k, v)));
            c
        };
        cmd.current_dir(cwd);
        cmd
    }

    /// Environment of the RabbitMQ node. HOME is private (its own .erlang.cookie), and every
    /// file and port is ours, so neither /etc/rabbitmq nor /var/lib/rabbitmq nor a system
    /// RabbitMQ (or its epmd on 4369) is involved.
    fn rabbit_env(&self) -> Vec<(&'static str, String)> {
        let dir = self.rabbit_dir();
        let p = |name: &str| dir.join(name).display().to_string();
        vec![
            ("HOME", dir.display().to_string()),
            ("RABBITMQ_NODENAME", self.node()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", self.amqp_port.to_string()),
            ("RABBITMQ_DIST_PORT", self.dist_port.to_string()),
            ("RABBITMQ_MNESIA_BASE", p("mnesia")),
            ("RABBITMQ_LOG_BASE", p("log")),
            ("RABBITMQ_PID_FILE", p("rabbit.pid")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", p("enabled_plugins")),
            ("RABBITMQ_CONFIG_FILE", p("rabbitmq.conf")),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", p("advanced.config")),
            ("RABBITMQ_CONF_ENV_FILE", p("rabbitmq-env.conf")),
            ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}".into()),
            ("ERL_EPMD_PORT", self.epmd_port.to_string()),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
        ]
    }

    /// `[runuser -u rabbitmq --] env -C <dir> HOME=<dir> ... rabbitmqctl -n <node>`
    fn ctl_argv(&self) -> Vec<String> {
        let dir = self.rabbit_dir().display().to_string();
        let mut argv: Vec<String> = Vec::new();
        if self.tools.as_service_users {
            argv.extend(["runuser", "-u", RABBIT_USER, "--"].map(String::from));
        }
        argv.extend(["env".into(), "-C".into(), dir.clone(), format!("HOME={dir}")]);
        argv.push(format!("ERL_EPMD_PORT={}", self.epmd_port));
        argv.push("ERL_EPMD_ADDRESS=127.0.0.1".into());
        argv.push(format!("RABBITMQ_CONF_ENV_FILE={dir}/rabbitmq-env.conf"));
        argv.push(self.marker());
        argv.push(self.tools.rabbitmqctl.display().to_string());
        argv.extend(["-n".into(), self.node()]);
        argv
    }

    fn rabbitmqctl(&self) -> Command {
        let argv = self.ctl_argv();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd
    }

    // ---- serialisation for the reaper -------------------------------------------------

    fn to_line(&self) -> String {
        let t = &self.tools;
        [
            ("id", self.id.clone()),
            ("root", self.root.display().to_string()),
            ("pg_version", t.pg_version.clone()),
            ("pg_bin", t.pg_bin.display().to_string()),
            ("rabbitmq_server", t.rabbitmq_server.display().to_string()),
            ("rabbitmqctl", t.rabbitmqctl.display().to_string()),
            ("as_service_users", u8::from(t.as_service_users).to_string()),
            ("pg_port", self.pg_port.to_string()),
            ("amqp_port", self.amqp_port.to_string()),
            ("dist_port", self.dist_port.to_string()),
            ("epmd_port", self.epmd_port.to_string()),
        ]
        .map(|(k, v)| format!("{k}={v}"))
        .join("\t")
    }

    fn from_line(line: &str) -> Option<Instance> {
        let m: HashMap<&str, &str> = line.split('\t').filter_map(|kv| kv.split_once('=')).collect();
        Some(Instance {
            id: m.get("id")?.to_string(),
            root: m.get("root")?.into(),
            tools: Tools {
                pg_version: m.get("pg_version")?.to_string(),
                pg_bin: m.get("pg_bin")?.into(),
                rabbitmq_server: m.get("rabbitmq_server")?.into(),
                rabbitmqctl: m.get("rabbitmqctl")?.into(),
                as_service_users: *m.get("as_service_users")? == "1",
            },
            pg_port: m.get("pg_port")?.parse().ok()?,
            amqp_port: m.get("amqp_port")?.parse().ok()?,
            dist_port: m.get("dist_port")?.parse().ok()?,
            epmd_port: m.get("epmd_port")?.parse().ok()?,
            // The reaper only stops and cleans up; durability does not matter to it.
            durable: false,
        })
    }

    // ---- start-up ---------------------------------------------------------------------

    /// `pg/` and `rabbit/`, owned by the service users, mode 0700.
    fn prepare_dirs(&self) -> Result<(), String> {
        for (dir, user) in [(self.pg_dir(), PG_USER), (self.rabbit_dir(), RABBIT_USER)] {
            DirBuilder::new().mode(0o700).create(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            self.give_to(&dir, user)?;
        }
        Ok(())
    }

    fn give_to(&self, path: &Path, user: &str) -> Result<(), String> {
        if !self.tools.as_service_users {
            return Ok(());
        }
        let u = crate::util::lookup_user(user).ok_or_else(|| format!("no `{user}` user"))?;
        std::os::unix::fs::chown(path, Some(u.uid), Some(u.gid))
            .map_err(|e| format!("cannot chown {} to {}: {e}", path.display(), u.name))
    }

    fn write_owned(&self, path: &Path, contents: &[u8], mode: u32, user: &str) -> Result<(), String> {
        fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
        self.give_to(path, user)
    }

    fn start_postgres(&self) -> Result<(), String> {
        let t0 = Instant::now();
        let bin = &self.tools.pg_bin;
        let setup_log = self.root.join("postgres-setup.log");
        let fail = |e: String| format!("PostgreSQL: {e}\n{}\n{}", tail(&setup_log, 20), tail(&self.pg_log(), 30));

        let mut initdb = self.as_user(PG_USER, &bin.join("initdb"), &self.pg_dir(), &[]);
        initdb.arg("-D").arg(self.pg_data());
        initdb.args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]);
        run_logged(&mut initdb, &setup_log, Duration::from_secs(120)).map_err(fail)?;
        let initdb_took = t0.elapsed();

        // A throwaway cluster for tests: durability settings off (tests create a database
        // each, which is much faster without fsync). Benchmarks keep PostgreSQL's defaults, so
        // every commit is durable as in production.
        let durability =
            if self.durable { "" } else { " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" };
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=400{durability}",
            self.pg_port,
            shell_quote(&self.pg_dir().display().to_string())
        );
        let t1 = Instant::now();
        let mut pg_ctl = self.as_user(PG_USER, &bin.join("pg_ctl"), &self.pg_dir(), &[]);
        pg_ctl.arg("-D").arg(self.pg_data()).arg("-l").arg(self.pg_log());
        pg_ctl.args(["-w", "-t", "60", "-o", &opts, "start"]);
        run_logged(&mut pg_ctl, &setup_log, Duration::from_secs(90)).map_err(fail)?;
        tcp_check(self.pg_port).map_err(fail)?;
        say!(
            "PostgreSQL {} ready on 127.0.0.1:{} in {} (initdb {}, pg_ctl start {})",
            self.tools.pg_version,
            self.pg_port,
            secs(t0.elapsed()),
            secs(initdb_took),
            secs(t1.elapsed())
        );
        Ok(())
    }

    fn start_rabbitmq(&self) -> Result<(), String> {
        let t0 = Instant::now();
        let deadline = t0 + RABBIT_BOOT_TIMEOUT;
        let dir = self.rabbit_dir();
        let setup_log = self.root.join("rabbitmq-setup.log");
        let fail = |e: String| format!("RabbitMQ: {e}\n{}\n{}", tail(&setup_log, 20), tail(&self.rabbit_log(), 40));

        // No plugins, no system config, a private cookie.
        self.write_owned(&dir.join("enabled_plugins"), b"[].\n", 0o644, RABBIT_USER)?;
        self.write_owned(
            &dir.join("rabbitmq-env.conf"),
            b"# empty: keeps /etc/rabbitmq/rabbitmq-env.conf out\n",
            0o644,
            RABBIT_USER,
        )?;
        self.write_owned(
            &dir.join("rabbitmq.conf"),
            b"# throwaway test node started by `cargo xtask`\nlog.file.level = info\nlog.console = false\n",
            0o644,
            RABBIT_USER,
        )?;
        let cookie: Vec<u8> = random_bytes(20)?.into_iter().map(|b| b'A' + b % 26).collect();
        self.write_owned(&dir.join(".erlang.cookie"), &cookie, 0o400, RABBIT_USER)?;

        // The node's open-file limit: runuser's PAM session leaves the soft limit at 1024, and the
        // node keeps a file handle per quorum queue segment and connection. With a few hundred
        // queues (every distributed test declares its consumers' queues) its file handle cache
        // ran out and new connections waited forever in `rabbit_networking:setup_socket`: the
        // AMQP listener looked wedged. Raise the soft limit to the hard one (at most 65536).
        let mut server = self.as_user(RABBIT_USER, Path::new("/bin/sh"), &dir, &self.rabbit_env());
        server.args([
            "-c",
            "h=$(ulimit -Hn); case \"$h\" in unlimited|'') h=65536;; esac; \
             [ \"$h\" -gt 65536 ] && h=65536; ulimit -n \"$h\" 2>/dev/null || true; exec \"$0\" \"$@\"",
        ]);
        server.arg(&self.tools.rabbitmq_server);
        server.arg("-detached");
        run_logged(&mut server, &setup_log, Duration::from_secs(60)).map_err(fail)?;

        // The node writes its pid file early in its boot.
        let pid = loop {
            if let Some(pid) = read_pid(&self.rabbit_pid_file()) {
                break pid;
            }
            let alive = pids_with_env(&self.marker()).iter().any(|(_, comm)| comm.starts_with("beam"));
            if !alive && t0.elapsed() > Duration::from_secs(15) {
                return Err(fail("the Erlang VM exited during start-up".into()));
            }
            if Instant::now() > deadline {
                return Err(fail(format!("no pid file after {}", secs(RABBIT_BOOT_TIMEOUT))));
            }
            thread::sleep(Duration::from_millis(50));
        };
        let pid_took = t0.elapsed();

        // The AMQP listener opens at the very end of the boot. Waiting for it with cheap
        // connect attempts first makes the single `await_startup` below return at once; started
        // earlier, rabbitmqctl only notices the finished boot a second or two late.
        while TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.amqp_port)), Duration::from_secs(1))
            .is_err()
        {
            if !process_alive(pid) {
                return Err(fail(format!("the node (pid {pid}) exited during start-up")));
            }
            if Instant::now() > deadline {
                break; // let await_startup report
            }
            thread::sleep(Duration::from_millis(50));
        }
        let listener_took = t0.elapsed();

        let t1 = Instant::now();
        let ctl_log = self.root.join("rabbitmqctl.log");
        loop {
            if !process_alive(pid) {
                return Err(fail(format!("the node (pid {pid}) exited during start-up")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(format!("not up after {}", secs(RABBIT_BOOT_TIMEOUT))));
            }
            let mut ctl = self.rabbitmqctl();
            ctl.args(["await_startup", "--timeout", &left.as_secs().max(1).to_string()]);
            match run_logged(&mut ctl, &ctl_log, left + Duration::from_secs(10)) {
                Ok(()) => break,
                Err(_) => thread::sleep(Duration::from_millis(250)),
            }
        }
        tcp_check(self.amqp_port).map_err(fail)?;
        say!(
            "RabbitMQ ready on 127.0.0.1:{} (node {}) in {} (VM up {}, AMQP listener {}, await_startup {})",
            self.amqp_port,
            self.node(),
            secs(t0.elapsed()),
            secs(pid_took),
            secs(listener_took),
            secs(t1.elapsed())
        );
        Ok(())
    }

    // ---- clean-up ---------------------------------------------------------------------

    /// Whether `pid` is a live process started by this instance.
    fn is_ours(&self, pid: u32) -> bool {
        process_alive(pid) && pid_has_env(pid, &self.marker())
    }

    /// Stops both servers, kills anything left with our marker, removes the directory.
    /// Idempotent; never fails (it reports what it could not do).
    pub fn cleanup(&self) {
        if !self.root.exists() && pids_with_env(&self.marker()).is_empty() {
            return;
        }
        let t0 = Instant::now();
        say!("stopping RabbitMQ and PostgreSQL ({})", self.root.display());
        let ctl_log = self.root.join("rabbitmqctl.log");

        // (Only pids that carry our marker: a stale pid file may name someone else's process.)
        if let Some(pid) = read_pid(&self.rabbit_pid_file())
            && self.is_ours(pid)
        {
            let t = Instant::now();
            let mut stop = self.rabbitmqctl();
            stop.arg("stop").arg(self.rabbit_pid_file());
            match run_logged(&mut stop, &ctl_log, Duration::from_secs(30)) {
                Ok(()) => say!("RabbitMQ stopped in {}", secs(t.elapsed())),
                Err(e) => {
                    say!("{e}; killing RabbitMQ (pid {pid})\n{}", tail(&ctl_log, 10));
                    kill(pid, "KILL");
                }
            }
        }

        let postmaster_pid = self.pg_data().join("postmaster.pid");
        if let Some(pid) = read_pid(&postmaster_pid)
            && self.is_ours(pid)
        {
            let t = Instant::now();
            let mut stop = self.as_user(PG_USER, &self.tools.pg_bin.join("pg_ctl"), &self.pg_dir(), &[]);
            stop.arg("-D").arg(self.pg_data()).args(["-m", "fast", "-w", "-t", "60", "stop"]);
            match run_logged(&mut stop, &self.root.join("postgres-setup.log"), Duration::from_secs(70)) {
                Ok(()) => say!("PostgreSQL stopped in {}", secs(t.elapsed())),
                Err(e) => {
                    say!("{e}; killing PostgreSQL (pid {pid})");
                    kill(pid, "KILL");
                }
            }
        }

        // epmd, and anything that was still starting when we were interrupted.
        let leftovers = pids_with_env(&self.marker());
        if !leftovers.is_empty() {
            let names: Vec<String> = leftovers.iter().map(|(pid, comm)| format!("{comm}[{pid}]")).collect();
            for (pid, _) in &leftovers {
                kill(*pid, "TERM");
            }
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(3) && leftovers.iter().any(|(pid, _)| process_alive(*pid)) {
                thread::sleep(Duration::from_millis(20));
            }
            for (pid, _) in &leftovers {
                if process_alive(*pid) {
                    kill(*pid, "KILL");
                }
            }
            if leftovers.iter().all(|(_, comm)| comm == "epmd") {
                say!("stopped the node's private {}", names.join(", "));
            } else {
                say!("terminated leftover processes: {}", names.join(", "));
            }
        }

        match fs::remove_dir_all(&self.root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => say!("could not remove {}: {e}", self.root.display()),
        }
        say!("servers stopped and {} removed in {}", self.root.display(), secs(t0.elapsed()));
    }
}

/// Running servers; dropping this stops them and removes their files.
pub struct Services {
    inst: Instance,
    reaper: Option<Reaper>,
}

impl Services {
    /// Installs the servers if needed, then starts PostgreSQL and RabbitMQ (in parallel), with
    /// PostgreSQL's durability off (tests).
    pub fn start() -> Result<Services, String> {
        Self::start_with(false)
    }

    /// As [`Services::start`]; `durable` keeps PostgreSQL's default fsync settings (benchmarks).
    pub fn start_with(durable: bool) -> Result<Services, String> {
        let tools = crate::install::ensure_installed()?;
        let ports = free_ports(4)?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let id = format!("{}-{:06x}", std::process::id(), nanos & 0xff_ffff);
        let base = std::env::var_os("CAIRN_XTASK_TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let root = base.join(format!("cairn-xtask-{id}"));
        DirBuilder::new().mode(0o755).create(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let inst = Instance {
            id,
            root,
            tools,
            pg_port: ports[0],
            amqp_port: ports[1],
            dist_port: ports[2],
            epmd_port: ports[3],
            durable,
        };
        let reaper = match Reaper::spawn(&inst) {
            Ok(r) => Some(r),
            Err(e) => {
                say!(
                    "warning: no reaper ({e}); if xtask is killed, run `rm -rf {}` and stop its servers by hand",
                    inst.root.display()
                );
                None
            }
        };
        // From here on, Drop cleans up whatever happens.
        let services = Services { inst, reaper };
        let inst = &services.inst;
        inst.prepare_dirs()?;
        say!(
            "starting PostgreSQL {} (port {}) and RabbitMQ (AMQP port {}, dist port {}, epmd port {}) in {}",
            inst.tools.pg_version,
            inst.pg_port,
            inst.amqp_port,
            inst.dist_port,
            inst.epmd_port,
            inst.root.display()
        );
        let t0 = Instant::now();
        let (pg, rabbit) = thread::scope(|s| {
            let pg = s.spawn(|| inst.start_postgres());
            let rabbit = s.spawn(|| inst.start_rabbitmq());
            (pg.join(), rabbit.join())
        });
        let errors: Vec<String> = [("PostgreSQL", pg), ("RabbitMQ", rabbit)]
            .into_iter()
            .filter_map(|(name, r)| match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("{name}: start-up panicked")),
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        say!("servers ready in {}", secs(t0.elapsed()));
        Ok(services)
    }

    pub fn instance(&self) -> &Instance {
        &self.inst
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.inst.cleanup();
        if let Some(r) = self.reaper.take() {
            r.dismiss();
        }
    }
}

/// The watchdog child (see the module docs).
struct Reaper {
    child: Child,
    stdin: ChildStdin,
}

impl Reaper {
    fn spawn(inst: &Instance) -> io::Result<Reaper> {
        let exe = std::env::current_exe()?;
        let mut child =
            Command::new(exe).arg(REAPER_ARG).stdin(Stdio::piped()).stdout(Stdio::null()).process_group(0).spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("no stdin pipe"))?;
        writeln!(stdin, "{}", inst.to_line())?;
        stdin.flush()?;
        Ok(Reaper { child, stdin })
    }

    /// Normal exit: tell the reaper there is nothing to do.
    fn dismiss(mut self) {
        let _ = writeln!(self.stdin, "done");
        drop(self.stdin);
        if !matches!(wait_timeout(&mut self.child, Duration::from_secs(5)), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `xtask __reaper`: waits for its parent to say `done`; cleans up if the pipe closes first.
pub fn reaper_main() -> i32 {
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    let Some(Ok(first)) = lines.next() else { return 0 };
    let Some(inst) = Instance::from_line(&first) else {
        say!("reaper: cannot parse {first:?}");
        return 2;
    };
    for line in lines {
        match line {
            Ok(l) if l == "done" => return 0,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    say!("xtask was interrupted; the reaper is stopping its servers");
    inst.cleanup();
    0
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.lines().next()?.trim().parse().ok()
}

fn tcp_check(port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map(drop)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_survives_the_reaper_pipe() {
        let inst = Instance {
            id: "1-abc".into(),
            root: "/tmp/cairn-xtask-1-abc".into(),
            tools: Tools {
                pg_version: "15".into(),
                pg_bin: "/usr/lib/postgresql/15/bin".into(),
                rabbitmq_server: "/usr/lib/rabbitmq/bin/rabbitmq-server".into(),
                rabbitmqctl: "/usr/lib/rabbitmq/bin/rabbitmqctl".into(),
                as_service_users: true,
            },
            pg_port: 1,
            amqp_port: 2,
            dist_port: 3,
            epmd_port: 4,
            durable: false,
        };
        let back = Instance::from_line(&inst.to_line()).unwrap();
        assert_eq!(back.to_line(), inst.to_line());
        assert_eq!(back.amqp_url(), "amqp://guest:guest@127.0.0.1:2/%2f");
        assert_eq!(back.pg_url(), "postgres://postgres@127.0.0.1:1/postgres");
        assert!(
            back.rabbitmqctl_prefix().starts_with("runuser -u rabbitmq -- env -C /tmp/cairn-xtask-1-abc/rabbit HOME=")
        );
        assert!(back.rabbitmqctl_prefix().ends_with("rabbitmqctl -n cairn-test-2@localhost"));
    }
}
