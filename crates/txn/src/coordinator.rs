//! The transaction coordinator: one shard of transactional ids per `__transaction_state`
//! partition behind its own lock, the request operations (InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn), the timer work (abort transactions past their timeout, finish
//! prepared ones, expire idle transactional ids) and start-up recovery.
//!
//! Everything a step decides is first appended to the log through [`TxnEnv::append`] and only
//! then applied in memory. Transaction markers are written synchronously through
//! [`TxnEnv::write_markers`] (on one node every partition is local), so EndTxn answers once the
//! transaction is fully decided and visible; if markers cannot be written the transaction
//! stays `Prepare*` and the timer retries them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use weir_protocol::kafka_protocol::error::ResponseError;

use crate::records::{build_batch, read_batches, TxnLogRecord};
use crate::state::{TxnMetadata, TxnStatus};

/// Why the environment could not do what the coordinator asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// What the coordinator needs from the broker: its log and the partitions markers go to.
pub trait TxnEnv {
    /// Appends one batch (as built by [`build_batch`]) to `__transaction_state` partition
    /// `partition`.
    fn append(&self, partition: i32, batch: Bytes) -> Result<(), EnvError>;
    /// Writes a commit or abort marker for `producer_id`/`producer_epoch` to every partition
    /// (partitions of deleted topics are skipped).
    fn write_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        partitions: &BTreeSet<(String, i32)>,
    ) -> Result<(), EnvError>;
}

/// Settings of the coordinator.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: larger producer timeouts are refused.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle transactional ids are forgotten after this.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Why InitProducerId could not be answered yet or at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// The caller must allocate a fresh producer id and call again with it.
    NeedProducerId,
    /// The answer is this error.
    Failed(ResponseError),
}

/// An InitProducerId for a transactional id.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// KIP-360: the producer id and epoch the client had, or -1/-1.
    pub expected: (i64, i16),
}

/// The transaction coordinator for every transactional id of this broker.
pub struct TransactionCoordinator {
    shards: Vec<Mutex<HashMap<String, TxnMetadata>>>,
    config: TxnConfig,
}

impl TransactionCoordinator {
    /// A coordinator over `partitions` partitions of `__transaction_state`, with no ids yet.
    pub fn new(config: TxnConfig, partitions: i32) -> Self {
        TransactionCoordinator {
            shards: (0..partitions.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            config,
        }
    }

    /// Number of `__transaction_state` partitions.
    pub fn partitions(&self) -> i32 {
        self.shards.len() as i32
    }

    /// The `__transaction_state` partition of a transactional id (Kafka's placement).
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        weir_protocol::partition_for_key(transactional_id, self.partitions())
    }

    fn shard(&self, partition: i32) -> MutexGuard<'_, HashMap<String, TxnMetadata>> {
        let idx = usize::try_from(partition).unwrap_or(0) % self.shards.len();
        self.shards[idx]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `next` to the log, then applies it.
    fn store(
        env: &dyn TxnEnv,
        shard: &mut HashMap<String, TxnMetadata>,
        partition: i32,
        next: TxnMetadata,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let record = TxnLogRecord {
            transactional_id: next.transactional_id.clone(),
            value: Some(next.clone()),
        };
        env.append(partition, build_batch(&[record], now_ms))
            .map_err(|e| {
                tracing::error!(transactional_id = %next.transactional_id, error = %e, "transaction state not persisted");
                ResponseError::CoordinatorNotAvailable
            })?;
        shard.insert(next.transactional_id.clone(), next);
        Ok(())
    }

    /// Writes the markers of a `Prepare*` state and completes it. On a marker failure the state
    /// stays prepared (the timer retries).
    fn finish(
        env: &dyn TxnEnv,
        shard: &mut HashMap<String, TxnMetadata>,
        partition: i32,
        prepared: &TxnMetadata,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if let Err(e) = env.write_markers(
            prepared.producer_id,
            prepared.producer_epoch,
            prepared.commits(),
            &prepared.partitions,
        ) {
            tracing::warn!(transactional_id = %prepared.transactional_id, error = %e, "transaction markers not written yet; will retry");
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        Self::store(env, shard, partition, prepared.completed(now_ms), now_ms)
    }

    /// Prepares, marks and completes the end of the open transaction of `current`.
    fn end(
        env: &dyn TxnEnv,
        shard: &mut HashMap<String, TxnMetadata>,
        partition: i32,
        current: &TxnMetadata,
        commit: bool,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let prepared = current.prepared(commit, now_ms);
        Self::store(env, shard, partition, prepared.clone(), now_ms)?;
        Self::finish(env, shard, partition, &prepared, now_ms)
    }

    /// InitProducerId with a transactional id: a new id gets a fresh producer id at epoch 0;
    /// a known one gets its epoch bumped, which fences the previous producer, after any open
    /// transaction of that producer is aborted.
    pub fn init_producer_id(
        &self,
        env: &dyn TxnEnv,
        req: &InitRequest,
        fresh_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<(i64, i16), InitError> {
        if req.timeout_ms <= 0 || req.timeout_ms > self.config.max_timeout_ms {
            return Err(InitError::Failed(ResponseError::InvalidTransactionTimeout));
        }
        let partition = self.partition_for(&req.transactional_id);
        let mut shard = self.shard(partition);
        let failed = InitError::Failed;
        let Some(current) = shard.get(&req.transactional_id).cloned() else {
            let pid = fresh_producer_id.ok_or(InitError::NeedProducerId)?;
            let m = TxnMetadata::new(&req.transactional_id, pid, req.timeout_ms, now_ms);
            Self::store(env, &mut shard, partition, m, now_ms).map_err(failed)?;
            return Ok((pid, 0));
        };
        let (expected_pid, expected_epoch) = req.expected;
        if expected_pid >= 0
            && (expected_pid != current.producer_id || expected_epoch != current.producer_epoch)
        {
            return Err(failed(ResponseError::ProducerFenced));
        }
        let mut current = current;
        if current.status.is_prepared() {
            // Markers of an earlier end are still owed: write them first.
            Self::finish(env, &mut shard, partition, &current, now_ms)
                .map_err(|_| InitError::Failed(ResponseError::ConcurrentTransactions))?;
            current = shard
                .get(&req.transactional_id)
                .cloned()
                .ok_or(failed(ResponseError::CoordinatorNotAvailable))?;
        }
        if current.status == TxnStatus::Ongoing {
            // The previous producer left a transaction open: abort it under a bumped epoch so
            // the old producer can no longer add to it.
            if current.epoch_exhausted() && fresh_producer_id.is_none() {
                return Err(InitError::NeedProducerId);
            }
            let mut fenced = current.clone();
            if !fenced.epoch_exhausted() {
                fenced.producer_epoch += 1;
            }
            Self::end(env, &mut shard, partition, &fenced, false, now_ms).map_err(failed)?;
            current = shard
                .get(&req.transactional_id)
                .cloned()
                .ok_or(failed(ResponseError::CoordinatorNotAvailable))?;
        }
        let mut next = current.clone();
        if current.epoch_exhausted() {
            next.producer_id = fresh_producer_id.ok_or(InitError::NeedProducerId)?;
            next.producer_epoch = 0;
        } else {
            next.producer_epoch += 1;
        }
        next.timeout_ms = req.timeout_ms;
        next.status = TxnStatus::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        let answer = (next.producer_id, next.producer_epoch);
        Self::store(env, &mut shard, partition, next, now_ms).map_err(failed)?;
        Ok(answer)
    }

    /// The producer id and epoch must own the transactional id.
    fn check_owner(
        current: Option<&TxnMetadata>,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<TxnMetadata, ResponseError> {
        let current = current.ok_or(ResponseError::InvalidProducerIdMapping)?;
        if current.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if current.producer_epoch != producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        if current.status.is_prepared() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        Ok(current.clone())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: `partitions` join the producer's transaction,
    /// opening one if none is open.
    pub fn add_partitions(
        &self,
        env: &dyn TxnEnv,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let partition = self.partition_for(transactional_id);
        let mut shard = self.shard(partition);
        let current = Self::check_owner(shard.get(transactional_id), producer_id, producer_epoch)?;
        let known = current.status == TxnStatus::Ongoing
            && partitions.iter().all(|p| current.partitions.contains(p));
        if known {
            return Ok(());
        }
        let next = current.with_partitions(partitions, now_ms);
        Self::store(env, &mut shard, partition, next, now_ms)
    }

    /// EndTxn: commits or aborts the producer's open transaction, markers included. A retried
    /// EndTxn of a transaction already ended the same way succeeds again.
    pub fn end_txn(
        &self,
        env: &dyn TxnEnv,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let partition = self.partition_for(transactional_id);
        let mut shard = self.shard(partition);
        let current = Self::check_owner(shard.get(transactional_id), producer_id, producer_epoch)?;
        match current.status {
            TxnStatus::Ongoing => Self::end(env, &mut shard, partition, &current, commit, now_ms),
            TxnStatus::CompleteCommit if commit => Ok(()),
            TxnStatus::CompleteAbort if !commit => Ok(()),
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Timer work: finishes prepared transactions whose markers are owed, aborts transactions
    /// past their timeout (bumping the epoch, which fences their producer, as Kafka does) and
    /// forgets transactional ids idle for longer than the expiration. Returns how many
    /// transactions were aborted for their timeout.
    pub fn tick(&self, env: &dyn TxnEnv, now_ms: i64) -> usize {
        let mut aborted = 0;
        for partition in 0..self.partitions() {
            let mut shard = self.shard(partition);
            let ids: Vec<String> = shard.keys().cloned().collect();
            for id in ids {
                let Some(current) = shard.get(&id).cloned() else {
                    continue;
                };
                if current.status.is_prepared() {
                    let _ = Self::finish(env, &mut shard, partition, &current, now_ms);
                } else if current.timed_out(now_ms) {
                    let mut fenced = current.clone();
                    if !fenced.epoch_exhausted() {
                        fenced.producer_epoch += 1;
                    }
                    tracing::info!(transactional_id = %id, producer_id = current.producer_id,
                        "aborting transaction past its timeout of {} ms", current.timeout_ms);
                    if Self::end(env, &mut shard, partition, &fenced, false, now_ms).is_ok() {
                        aborted += 1;
                    }
                } else if current.status.is_idle()
                    && current
                        .last_update_ms
                        .saturating_add(self.config.id_expiration_ms)
                        < now_ms
                {
                    let tombstone = TxnLogRecord {
                        transactional_id: id.clone(),
                        value: None,
                    };
                    if env
                        .append(partition, build_batch(&[tombstone], now_ms))
                        .is_ok()
                    {
                        shard.remove(&id);
                    }
                }
            }
        }
        aborted
    }

    /// Start-up: applies stored batches of one `__transaction_state` partition (the last
    /// record per id wins; a tombstone removes it). Undecodable records are skipped with a
    /// warning.
    pub fn replay_batches(&self, partition: i32, batches: &[u8]) {
        let mut shard = self.shard(partition);
        for record in read_batches(batches) {
            match record {
                Ok(TxnLogRecord {
                    transactional_id,
                    value: Some(m),
                }) => {
                    shard.insert(transactional_id, m);
                }
                Ok(TxnLogRecord {
                    transactional_id,
                    value: None,
                }) => {
                    shard.remove(&transactional_id);
                }
                Err(e) => {
                    tracing::warn!(partition, error = %e, "undecodable __transaction_state record skipped")
                }
            }
        }
    }

    /// Transactional ids, optionally only those in `states` (by name) or owned by one of
    /// `producer_ids`, or open for longer than `min_duration_ms` (ListTransactions).
    pub fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        now_ms: i64,
    ) -> Vec<TxnMetadata> {
        let mut out = Vec::new();
        for partition in 0..self.partitions() {
            for m in self.shard(partition).values() {
                let state_ok = states.is_empty() || states.iter().any(|s| s == m.status.name());
                let pid_ok = producer_ids.is_empty() || producer_ids.contains(&m.producer_id);
                let duration_ok = min_duration_ms < 0
                    || (m.start_ms >= 0 && now_ms - m.start_ms > min_duration_ms);
                if state_ok && pid_ok && duration_ok {
                    out.push(m.clone());
                }
            }
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// One transactional id's state (DescribeTransactions).
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.shard(self.partition_for(transactional_id))
            .get(transactional_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// (producer id, epoch, commit, partitions) of one write_markers call.
    type MarkerCall = (i64, i16, bool, Vec<(String, i32)>);

    /// Records what the coordinator wrote; can be told to fail.
    #[derive(Default)]
    struct TestEnv {
        log: RefCell<Vec<(i32, Bytes)>>,
        markers: RefCell<Vec<MarkerCall>>,
        fail_markers: RefCell<bool>,
    }

    impl TxnEnv for TestEnv {
        fn append(&self, partition: i32, batch: Bytes) -> Result<(), EnvError> {
            self.log.borrow_mut().push((partition, batch));
            Ok(())
        }
        fn write_markers(
            &self,
            producer_id: i64,
            producer_epoch: i16,
            commit: bool,
            partitions: &BTreeSet<(String, i32)>,
        ) -> Result<(), EnvError> {
            if *self.fail_markers.borrow() {
                return Err(EnvError("partition offline".into()));
            }
            self.markers.borrow_mut().push((
                producer_id,
                producer_epoch,
                commit,
                partitions.iter().cloned().collect(),
            ));
            Ok(())
        }
    }

    fn init(c: &TransactionCoordinator, env: &TestEnv, id: &str, fresh: i64) -> (i64, i16) {
        let req = InitRequest {
            transactional_id: id.into(),
            timeout_ms: 1000,
            expected: (-1, -1),
        };
        match c.init_producer_id(env, &req, None, 0) {
            Err(InitError::NeedProducerId) => {
                c.init_producer_id(env, &req, Some(fresh), 0).unwrap()
            }
            other => other.unwrap(),
        }
    }

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    /// Replays everything `env` logged into a fresh coordinator.
    fn recovered(env: &TestEnv, partitions: i32) -> TransactionCoordinator {
        let c = TransactionCoordinator::new(TxnConfig::default(), partitions);
        for (p, batch) in env.log.borrow().iter() {
            c.replay_batches(*p, batch);
        }
        c
    }

    #[test]
    fn commit_writes_markers_to_every_partition_and_completes() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 3);
        let env = TestEnv::default();
        let (pid, epoch) = init(&c, &env, "tx", 100);
        assert_eq!((pid, epoch), (100, 0));
        c.add_partitions(&env, "tx", pid, epoch, &[tp("a", 0), tp("a", 1)], 1)
            .unwrap();
        c.add_partitions(&env, "tx", pid, epoch, &[tp("b", 0)], 2)
            .unwrap();
        c.end_txn(&env, "tx", pid, epoch, true, 3).unwrap();
        let markers = env.markers.borrow();
        assert_eq!(markers.len(), 1);
        assert_eq!(
            markers[0],
            (100, 0, true, vec![tp("a", 0), tp("a", 1), tp("b", 0)])
        );
        let m = c.describe("tx").unwrap();
        assert_eq!(m.status, TxnStatus::CompleteCommit);
        // A retried EndTxn(commit) succeeds; an abort now is a state error.
        assert_eq!(c.end_txn(&env, "tx", pid, epoch, true, 4), Ok(()));
        assert_eq!(
            c.end_txn(&env, "tx", pid, epoch, false, 4),
            Err(ResponseError::InvalidTxnState)
        );
    }

    #[test]
    fn a_second_init_fences_the_first_producer_and_aborts_its_transaction() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 3);
        let env = TestEnv::default();
        let (pid, e0) = init(&c, &env, "tx", 100);
        c.add_partitions(&env, "tx", pid, e0, &[tp("a", 0)], 1)
            .unwrap();
        let (pid2, e1) = init(&c, &env, "tx", 999);
        assert_eq!(pid2, pid, "the producer id stays");
        assert!(e1 > e0 + 1, "one bump to abort, one for the new producer");
        let markers = env.markers.borrow();
        assert_eq!(
            markers.as_slice(),
            &[(100, e0 + 1, false, vec![tp("a", 0)])]
        );
        drop(markers);
        assert_eq!(
            c.add_partitions(&env, "tx", pid, e0, &[tp("a", 0)], 2),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            c.end_txn(&env, "tx", pid, e0, true, 2),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            c.end_txn(&env, "tx", 5, e1, true, 2),
            Err(ResponseError::InvalidProducerIdMapping)
        );
        assert_eq!(
            c.end_txn(&env, "tx", pid, e1, true, 2),
            Err(ResponseError::InvalidTxnState),
            "nothing is open for the new producer"
        );
    }

    #[test]
    fn timeouts_abort_with_a_bumped_epoch() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 1);
        let env = TestEnv::default();
        let (pid, e) = init(&c, &env, "tx", 100);
        c.add_partitions(&env, "tx", pid, e, &[tp("a", 0)], 10)
            .unwrap();
        assert_eq!(c.tick(&env, 1010), 0, "not yet past the 1000 ms timeout");
        assert_eq!(c.tick(&env, 1011), 1);
        assert_eq!(c.describe("tx").unwrap().status, TxnStatus::CompleteAbort);
        assert_eq!(
            env.markers.borrow()[0],
            (100, e + 1, false, vec![tp("a", 0)])
        );
        assert_eq!(
            c.add_partitions(&env, "tx", pid, e, &[tp("a", 0)], 1012),
            Err(ResponseError::ProducerFenced)
        );
    }

    #[test]
    fn recovery_restores_states_and_finishes_prepared_transactions() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 4);
        let env = TestEnv::default();
        let (p1, e1) = init(&c, &env, "open", 100);
        c.add_partitions(&env, "open", p1, e1, &[tp("a", 0)], 1)
            .unwrap();
        let (p2, e2) = init(&c, &env, "prepared", 200);
        c.add_partitions(&env, "prepared", p2, e2, &[tp("b", 0)], 1)
            .unwrap();
        *env.fail_markers.borrow_mut() = true;
        assert_eq!(
            c.end_txn(&env, "prepared", p2, e2, true, 2),
            Err(ResponseError::CoordinatorNotAvailable)
        );
        assert_eq!(
            c.describe("prepared").unwrap().status,
            TxnStatus::PrepareCommit
        );
        *env.fail_markers.borrow_mut() = false;

        // "Restart": a new coordinator from the log alone.
        let r = recovered(&env, 4);
        assert_eq!(r.describe("open").unwrap().status, TxnStatus::Ongoing);
        assert_eq!(r.describe("open").unwrap().partitions.len(), 1);
        assert_eq!(
            r.describe("prepared").unwrap().status,
            TxnStatus::PrepareCommit
        );
        r.tick(&env, 3);
        assert_eq!(
            r.describe("prepared").unwrap().status,
            TxnStatus::CompleteCommit
        );
        assert_eq!(
            env.markers.borrow().last().unwrap(),
            &(200, e2, true, vec![tp("b", 0)])
        );
        // The open one is aborted when its timeout passes, counted from its start.
        assert_eq!(r.tick(&env, 1002), 1);
        assert_eq!(r.describe("open").unwrap().status, TxnStatus::CompleteAbort);
    }

    #[test]
    fn timeouts_beyond_the_maximum_are_refused() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 1);
        let env = TestEnv::default();
        let req = InitRequest {
            transactional_id: "tx".into(),
            timeout_ms: 900_001,
            expected: (-1, -1),
        };
        assert_eq!(
            c.init_producer_id(&env, &req, Some(1), 0),
            Err(InitError::Failed(ResponseError::InvalidTransactionTimeout))
        );
    }

    #[test]
    fn exhausted_epochs_take_a_new_producer_id() {
        let c = TransactionCoordinator::new(TxnConfig::default(), 1);
        let env = TestEnv::default();
        init(&c, &env, "tx", 100);
        {
            let mut shard = c.shard(0);
            let m = shard.get_mut("tx").unwrap();
            m.producer_epoch = crate::state::MAX_EPOCH;
        }
        assert_eq!(init(&c, &env, "tx", 101), (101, 0));
    }

    #[test]
    fn idle_ids_expire_and_listing_filters() {
        let c = TransactionCoordinator::new(
            TxnConfig {
                id_expiration_ms: 100,
                ..TxnConfig::default()
            },
            2,
        );
        let env = TestEnv::default();
        let (pid, e) = init(&c, &env, "busy", 1);
        init(&c, &env, "idle", 2);
        c.add_partitions(&env, "busy", pid, e, &[tp("a", 0)], 50)
            .unwrap();
        assert_eq!(c.list(&["Ongoing".into()], &[], -1, 60).len(), 1);
        assert_eq!(c.list(&[], &[2], -1, 60).len(), 1);
        assert_eq!(c.list(&[], &[], 5, 60).len(), 1, "open for more than 5 ms");
        c.tick(&env, 101);
        assert!(c.describe("idle").is_none(), "expired");
        assert!(c.describe("busy").is_some());
        assert!(
            recovered(&env, 2).describe("idle").is_none(),
            "tombstone replayed"
        );
    }
}
