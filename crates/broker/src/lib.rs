//! The Weir server: the tokio listener, per-connection request loop, the router keyed by API
//! key, one handler per Kafka API, the broker's settings, and the start-up and shutdown
//! sequence of the `weir` binary.
//!
//! It can also be embedded: [`start`] runs a broker inside the caller's tokio runtime and
//! returns a handle with its bound address, which is how this crate's integration tests run.

pub mod acl_wire;
pub mod admin;
pub mod authorizer;
pub mod broker;
pub mod broker_config;
pub mod config;
pub mod connection;
pub mod group_config;
pub mod handlers;
pub mod housekeeping;
pub mod internal_topic;
pub mod offsets_topic;
pub mod partition;
pub mod producer_ids;
pub mod producer_state;
pub mod router;
pub mod server;
pub mod time;
pub mod topic_config;
pub mod txn_state;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weir_metadata::{MetadataCommand, MetadataConfig, MetadataStore};

pub use crate::broker::Broker;
pub use crate::config::{Args, BrokerConfig};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The metadata quorum did not open.
    #[error("metadata: {0}")]
    Metadata(#[from] weir_metadata::MetadataError),
    /// A partition log did not open.
    #[error("storage: {0}")]
    Storage(#[from] weir_storage::StorageError),
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: std::path::PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// A running broker.
pub struct RunningBroker {
    /// The address the listener is bound to (useful with port 0).
    pub local_addr: SocketAddr,
    /// Shared state, for embedding and tests.
    pub broker: Arc<Broker>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
    group_timers: JoinHandle<()>,
    txn_timer: JoinHandle<()>,
}

impl RunningBroker {
    /// Stops accepting connections, flushes every partition and closes the metadata quorum.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.housekeeping.abort();
        self.group_timers.abort();
        self.txn_timer.abort();
        self.broker.flush_all();
        if let Err(e) = self.broker.metadata.shutdown().await {
            tracing::warn!(error = %e, "metadata shutdown failed");
        }
    }
}

/// Opens the data directory, the metadata quorum and every partition, binds the listener and
/// starts serving in the current tokio runtime.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen.clone(),
        source,
    })?;
    let mut config = config;
    if config.advertised_port == 0 {
        config.advertised_port = i32::from(local_addr.port());
    }

    let metadata = MetadataStore::open(MetadataConfig {
        dir: config.data_dir.join("metadata"),
        node_id: config.node_id,
    })
    .await?;
    register_self(&metadata, &config).await?;
    let broker = Broker::new(config, metadata)?;
    offsets_topic::recover(&broker)?;
    txn_state::recover(&broker)?;

    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(server::serve(broker.clone(), listener, async {
        let _ = rx.await;
    }));
    let housekeeping = tokio::spawn(housekeeping::run(broker.clone()));
    let group_timers = offsets_topic::spawn_timers(broker.clone());
    let txn_timer = txn_state::spawn_timer(broker.clone());
    tracing::info!(
        listen = %local_addr,
        advertised = %format!("{}:{}", broker.config.advertised_host, broker.config.advertised_port),
        data_dir = %broker.config.data_dir.display(),
        node_id = broker.config.node_id,
        "weir broker started"
    );
    Ok(RunningBroker {
        local_addr,
        broker,
        shutdown: Some(tx),
        server,
        housekeeping,
        group_timers,
        txn_timer,
    })
}

/// Records this broker's advertised endpoint in the metadata state if it changed.
async fn register_self(metadata: &MetadataStore, config: &BrokerConfig) -> Result<(), StartError> {
    let state = metadata.state();
    let current = state.brokers.get(&config.node_id);
    let up_to_date = current
        .is_some_and(|b| b.host == config.advertised_host && b.port == config.advertised_port);
    if !up_to_date {
        metadata
            .submit(MetadataCommand::RegisterBroker {
                node_id: config.node_id,
                host: config.advertised_host.clone(),
                port: config.advertised_port,
                rack: None,
            })
            .await?
            .map_err(|e| weir_metadata::MetadataError::Raft(e.to_string()))?;
    }
    Ok(())
}
