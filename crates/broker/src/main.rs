//! The `weir` binary: parse settings, start the broker, run until Ctrl-C or SIGTERM, then shut
//! down cleanly (flush partitions, close the metadata quorum).

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use weir_broker::{start, Args, BrokerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = BrokerConfig::resolve(Args::parse()).context("invalid settings")?;
    let filter = EnvFilter::try_from_default_env()
        // openraft narrates every election at info; keep its warnings only unless asked.
        .or_else(|_| EnvFilter::try_new(format!("openraft=warn,{}", config.log_level)))
        .context("invalid log level")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let running = start(config).await.context("broker failed to start")?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
