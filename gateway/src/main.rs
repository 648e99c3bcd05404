//! The `linkgate` binary: `linkgate run --config FILE` runs the gateway
//! daemon; `linkgate check --config FILE` validates a config file;
//! `linkgate link ...` and `linkgate mirror ...` query and change a running
//! gateway's links and mirror topics through its REST API (see [`cli`]).

mod cli;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use linkgate::config::GatewayConfig;
use linkgate::runtime::Gateway;

/// linkgate: replication gateway for Apache Kafka.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: mirror the configured links until SIGTERM or SIGINT.
    Run {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and print a summary; exits non-zero on errors.
    Check {
        /// Path of the TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Cluster links of a running gateway: create, list, describe,
    /// task-list, alter, delete.
    Link(cli::LinkArgs),
    /// Mirror topics of a running gateway: create, list, describe, promote,
    /// failover, pause, unpause.
    Mirror(cli::MirrorArgs),
    /// Consumer groups over a link of a running gateway: migrate.
    Group(cli::GroupArgs),
}

/// How long shutdown waits for links to finish in-flight rounds.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Log targets that are never shown, whatever `RUST_LOG` says: at trace
/// level ureq's protocol layer dumps whole HTTP requests, `Authorization`
/// headers (OAuth client secrets, the REST API token) included.
const SILENCED_TARGETS: [&str; 2] = ["ureq_proto=off", "ureq=off"];

fn main() -> anyhow::Result<()> {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in SILENCED_TARGETS {
        if let Ok(directive) = target.parse() {
            filter = filter.add_directive(directive);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => {
            let cfg = GatewayConfig::load(&config)?;
            for l in &cfg.links {
                println!(
                    "link {}: {} -> {}, {} mirror topic(s), start {:?}{}",
                    l.name,
                    l.source.bootstrap_servers.join(","),
                    l.destination.bootstrap_servers.join(","),
                    l.mirror_topics.len(),
                    l.start_offset,
                    if l.paused { ", paused" } else { "" }
                );
            }
            println!("config OK");
            Ok(())
        }
        Command::Run { config } => {
            let cfg = GatewayConfig::load(&config)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?
                .block_on(run(cfg, config))
        }
        Command::Link(args) => {
            cli::exit_on_error(cli::run_link(&args, &mut std::io::stdout().lock()));
            Ok(())
        }
        Command::Mirror(args) => {
            cli::exit_on_error(cli::run_mirror(&args, &mut std::io::stdout().lock()));
            Ok(())
        }
        Command::Group(args) => {
            cli::exit_on_error(cli::run_group(&args, &mut std::io::stdout().lock()));
            Ok(())
        }
    }
}

async fn run(cfg: GatewayConfig, path: PathBuf) -> anyhow::Result<()> {
    // The recorder first (nothing recorded at start-up is lost), the
    // /metrics listener once the gateway (and its REST API) is up: a
    // scraper or a script that sees /metrics answer can use the API.
    let (recorder, exporter) = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(cfg.metrics_listen)
        .build()
        .with_context(|| format!("cannot serve metrics on {}", cfg.metrics_listen))?;
    metrics::set_global_recorder(recorder).context("cannot install the metrics recorder")?;
    let gateway = Gateway::start(&cfg, Some(&path))
        .await
        .context("cannot start the gateway")?;
    tokio::spawn(async move {
        if exporter.await.is_err() {
            tracing::error!("the metrics endpoint stopped");
        }
    });
    tracing::info!(metrics = %cfg.metrics_listen, links = cfg.links.len(), "linkgate started");

    wait_for_signal().await?;
    tracing::info!("shutting down: finishing in-flight rounds");
    if !gateway.stop(SHUTDOWN_GRACE).await {
        tracing::warn!("links did not stop within {SHUTDOWN_GRACE:?}; exiting (unfinished rounds are recovered at the next start)");
    }
    tracing::info!("linkgate stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
