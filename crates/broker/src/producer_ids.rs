//! Producer ids for idempotent producers, taken from blocks that the metadata quorum hands
//! out, so an id is never given twice: not after a restart, and (later) not by two brokers.

use tokio::sync::Mutex;
use weir_metadata::{ApplyError, MetadataCommand, MetadataStore};

/// Ids per block: one quorum round trip serves this many InitProducerId requests.
pub const BLOCK_SIZE: i64 = 1000;

/// How often a lost race for a block is retried before giving up.
const MAX_ATTEMPTS: usize = 10;

/// This broker's current block of producer ids.
#[derive(Debug, Default)]
pub struct ProducerIdAllocator {
    /// (next id to hand out, end of the block, exclusive)
    block: Mutex<(i64, i64)>,
}

/// Why no producer id could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum AllocateError {
    /// The quorum failed.
    #[error(transparent)]
    Metadata(#[from] weir_metadata::MetadataError),
    /// Every attempt lost the race for the next block.
    #[error("could not reserve a producer id block")]
    Contended,
}

impl ProducerIdAllocator {
    /// The next unused producer id.
    pub async fn next(&self, metadata: &MetadataStore, node_id: i32) -> Result<i64, AllocateError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            *block = reserve(metadata, node_id).await?;
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

async fn reserve(metadata: &MetadataStore, node_id: i32) -> Result<(i64, i64), AllocateError> {
    for _ in 0..MAX_ATTEMPTS {
        let first = metadata.state().next_producer_id;
        let cmd = MetadataCommand::AllocateProducerIds {
            node_id,
            first,
            count: BLOCK_SIZE,
        };
        match metadata.submit(cmd).await? {
            Ok(()) => return Ok((first, first + BLOCK_SIZE)),
            Err(ApplyError::StaleProducerIdBlock(_)) => continue,
            Err(other) => {
                return Err(AllocateError::Metadata(weir_metadata::MetadataError::Raft(
                    other.to_string(),
                )))
            }
        }
    }
    Err(AllocateError::Contended)
}
