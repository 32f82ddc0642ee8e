//! `cairn`: one binary for every role.

use cairn::{Config, Service, app};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every service in one process on a SQLite file: the zero-setup default.
    Up {
        #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./.cairn")]
        data_dir: PathBuf,
        /// Also run the Bazaar marketplace simulator in-process, wired to Cairn: a demo seller,
        /// two shops, a catalog with stock, and a steady trickle of trades.
        #[arg(long)]
        demo: bool,
    },
    /// Only the named services (all when none), on PostgreSQL and RabbitMQ from CAIRN_* variables.
    Serve {
        #[arg(value_enum)]
        services: Vec<Service>,
    },
    /// Apply database migrations (CAIRN_DATABASE_URL, or the SQLite file of --data-dir).
    Migrate {
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./.cairn")]
        data_dir: PathBuf,
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
    Double11(cairn::double11::Double11Args),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up { listen, data_dir, demo: true } => {
            telemetry::init(telemetry::Format::Pretty, "info,sqlx=warn,sea_orm=warn");
            let demo = cairn::demo::start(cairn::demo::DemoOptions::new(&data_dir, listen)).await?;
            println!("{}", demo.welcome());
            demo.wait(shutdown_signal()).await;
        }
        Command::Up { listen, data_dir, demo: false } => {
            telemetry::init(telemetry::Format::Pretty, "info,sqlx=warn,sea_orm=warn");
            let started = std::time::Instant::now();
            let running = cairn::spawn(Config::embedded(&listen, &data_dir)?).await?;
            let url = running.url();
            println!("Cairn is up in {} ms — data in {}", started.elapsed().as_millis(), data_dir.display());
            println!("  API docs: {url}/docs");
            println!("  health:   {url}/healthz");
            println!(
                "  sign up:  curl -X POST {url}/v1/signup -H 'content-type: application/json' -d '{{\"tenant_name\":\"Demo\",\"email\":\"me@example.com\",\"password\":\"correct horse\"}}'"
            );
            running.wait(shutdown_signal()).await;
        }
        Command::Serve { services } => {
            telemetry::init(telemetry::Format::Json, "info,sqlx=warn,sea_orm=warn,lapin=warn");
            let running = cairn::spawn(Config::distributed(services)?).await?;
            running.wait(shutdown_signal()).await;
        }
        Command::Migrate { data_dir } => {
            telemetry::init(telemetry::Format::Pretty, "info,sqlx=warn");
            let url = match std::env::var("CAIRN_DATABASE_URL") {
                Ok(u) if !u.is_empty() => u,
                _ => {
                    std::fs::create_dir_all(&data_dir)?;
                    cairn::config::sqlite_url(&data_dir)
                }
            };
            let db = store::Db::connect(&url, 2).await?;
            app::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Openapi => print!("{}", cairn::openapi_yaml()),
        Command::Sim(sim) if sim.scenario.is_none() => {
            let SimArgs { config, .. } = *sim;
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
        }
        Command::Sim(sim) => {
            let Some(Scenario::Double11(args)) = sim.scenario else { unreachable!("no scenario is handled above") };
            telemetry::init(telemetry::Format::Pretty, "warn");
            let report = cairn::double11::run(args).await?;
            println!("{report}");
            if !report.ok() {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
