//! The transaction coordinator of Weir: for every transactional id, which producer id and
//! epoch own it and where its transaction stands, kept as records of the internal compacted
//! topic `__transaction_state` in Kafka's format, so the state survives restarts.
//!
//! - [`state`]: one transactional id's state and the transitions between states;
//! - [`records`]: the `__transaction_state` key and value formats;
//! - [`coordinator`]: the operations behind InitProducerId, AddPartitionsToTxn,
//!   AddOffsetsToTxn, EndTxn, ListTransactions and DescribeTransactions, the timer that aborts
//!   transactions past their timeout, and recovery from the log.
//!
//! The crate does no I/O: the broker gives it a [`TxnEnv`] that appends to
//! `__transaction_state` and writes transaction markers to data partitions.

pub mod coordinator;
pub mod records;
pub mod state;

pub use coordinator::{
    EnvError, InitError, InitRequest, TransactionCoordinator, TxnConfig, TxnEnv,
};
pub use state::{TxnMetadata, TxnStatus};

/// The internal topic that holds the transaction log.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
