//! `cairn`: one binary for every role.

use cairn::{Config, Launch, Service, Settings, app};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: under Double-11 load glibc spent about a fifth of the
/// process's CPU in `_int_malloc` and `malloc_consolidate` (SQLite's and sqlx's many small
/// allocations from several threads).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cairn", version, about = "Cairn, the seller back office")]
struct Cli {
    /// A TOML file of settings (keys as in `CAIRN_<KEY>`, lower case); `CAIRN_CONFIG` also
    /// names one. `CAIRN_` variables override it, and flags override both.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service in one process on a SQLite file: the zero-setup default.
    Up {
        /// Default 127.0.0.1:8080 (`listen`, `CAIRN_LISTEN`).
        #[arg(long)]
        listen: Option<String>,
        /// Default ./.cairn (`data_dir`, `CAIRN_DATA_DIR`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Also run the Bazaar marketplace simulator in-process, wired to Cairn: a demo seller,
        /// two shops, a catalog with stock, and a steady trickle of trades.
        #[arg(long)]
        demo: bool,
    },
    /// Only the named services (all when none), on PostgreSQL and RabbitMQ from the settings.
    Serve {
        #[arg(value_enum)]
        services: Vec<Service>,
    },
    /// Apply database migrations (as `migration_database_url`, else `database_url`, or the
    /// SQLite file of --data-dir), then grant `database_url`'s role what the services need.
    Migrate {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print the OpenAPI document (YAML).
    Openapi,
    /// Bazaar, the marketplace simulator (BAZAAR.md): runs it standalone, or a scenario.
    Sim(Box<SimArgs>),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SimArgs {
    #[command(subcommand)]
    scenario: Option<Scenario>,
    #[command(flatten)]
    config: bazaar_sim::SimConfig,
}

#[derive(Subcommand)]
enum Scenario {
    /// A flash sale against Cairn (embedded, or --cairn-url), verified from both sides, next to
    /// a bare-endpoint baseline. Exits 1 if an order was lost, oversold or applied twice.
    Double11(scenarios::double11::Double11Args),
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

const LOGS: &str = "info,sqlx=warn,sea_orm=warn";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Up { listen, data_dir, demo } => {
            telemetry::init(telemetry::Format::Pretty, LOGS);
            settings.listen = listen.or(settings.listen);
            settings.data_dir = data_dir.or(settings.data_dir);
            if demo {
                let config = Config::embedded_from(&settings)?;
                let opts = scenarios::demo::DemoOptions::new(
                    settings.data_dir.clone().unwrap_or_else(cairn::config::default_data_dir),
                    config.listen,
                );
                let demo = scenarios::demo::start(opts, &Launch(settings)).await?;
                println!("{}", demo.welcome());
                demo.wait(shutdown_signal()).await;
            } else {
                let started = std::time::Instant::now();
                let config = Config::embedded_from(&settings)?;
                let data_dir = settings.data_dir.unwrap_or_else(cairn::config::default_data_dir);
                let running = cairn::spawn(config).await?;
                let url = running.url();
                println!("Cairn is up in {} ms — data in {}", started.elapsed().as_millis(), data_dir.display());
                println!("  API docs: {url}/docs");
                println!("  health:   {url}/healthz");
                println!(
                    "  sign up:  curl -X POST {url}/v1/signup -H 'content-type: application/json' -d '{{\"tenant_name\":\"Demo\",\"email\":\"me@example.com\",\"password\":\"correct horse\"}}'"
                );
                running.wait(shutdown_signal()).await;
            }
        }
        Command::Serve { services } => {
            telemetry::init(telemetry::Format::Json, "info,sqlx=warn,sea_orm=warn,lapin=warn");
            let running = cairn::spawn(Config::distributed(&settings, services)?).await?;
            running.wait(shutdown_signal()).await;
        }
        Command::Migrate { data_dir } => {
            telemetry::init(telemetry::Format::Pretty, "info,sqlx=warn");
            let app_url = settings.database_url.filter(|u| !u.is_empty());
            let url = match settings.migration_database_url.filter(|u| !u.is_empty()).or_else(|| app_url.clone()) {
                Some(u) => u,
                None => {
                    let dir = data_dir.or(settings.data_dir).unwrap_or_else(cairn::config::default_data_dir);
                    std::fs::create_dir_all(&dir)?;
                    cairn::config::sqlite_url(&dir)
                }
            };
            let db = store::Db::connect(&url, 2).await?;
            app::migrate(&db, app_url.as_deref()).await?;
            println!("migrations applied");
        }
        Command::Openapi => print!("{}", cairn::openapi_yaml()),
        Command::Sim(sim) => match sim.scenario {
            None => run_sim(sim.config).await?,
            Some(Scenario::Double11(args)) => {
                telemetry::init(telemetry::Format::Pretty, "warn");
                let report = scenarios::double11::run(args, &Launch(settings)).await?;
                println!("{report}");
                if !report.ok() {
                    std::process::exit(1);
                }
            }
        },
    }
    Ok(())
}

/// `cairn sim`: the simulator alone, until Ctrl-C.
async fn run_sim(config: bazaar_sim::SimConfig) -> anyhow::Result<()> {
    telemetry::init(telemetry::Format::Pretty, "info");
    let sim = bazaar_sim::spawn(config).await?;
    println!("Bazaar is up at {} (Open API under /api/v1, admin API under /admin)", sim.url());
    println!("  app key {}, app secret {}", sim.app_key(), sim.app_secret());
    for shop in sim.shops().await {
        println!("  shop {} ({}): access token {}", shop.shop_id, shop.name, shop.access_token);
    }
    if let Some(path) = &sim.config().state_file {
        println!("  state is saved to {} on exit", path.display());
    }
    shutdown_signal().await;
    sim.shutdown().await?;
    Ok(())
}
