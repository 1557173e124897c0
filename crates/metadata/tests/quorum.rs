//! End-to-end tests of the one-voter metadata quorum: persistence across restarts, snapshots,
//! torn tails, crash copies and rejected commands.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use weir_metadata::{
    ApplyError, ClusterState, MetadataCommand, MetadataConfig, MetadataError, MetadataStore,
    SNAPSHOT_EVERY,
};

async fn open(dir: &Path) -> MetadataStore {
    MetadataStore::open(MetadataConfig {
        dir: dir.to_path_buf(),
        node_id: 1,
    })
    .await
    .unwrap()
}

fn create_topic(name: &str, partitions: usize) -> MetadataCommand {
    MetadataCommand::CreateTopic {
        name: name.into(),
        topic_id: uuid::Uuid::new_v4(),
        replicas: vec![vec![1]; partitions],
        configs: BTreeMap::from([("retention.ms".to_string(), "60000".to_string())]),
    }
}

async fn submit_ok(store: &MetadataStore, cmd: MetadataCommand) {
    store.submit(cmd).await.unwrap().unwrap();
}

/// Applies a varied workload and returns nothing; the caller compares whole states.
async fn workload(store: &MetadataStore) {
    submit_ok(
        store,
        MetadataCommand::RegisterBroker {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: Some("r1".into()),
        },
    )
    .await;
    submit_ok(store, create_topic("orders", 3)).await;
    submit_ok(store, create_topic("payments", 1)).await;
    submit_ok(
        store,
        MetadataCommand::AlterTopicConfigs {
            name: "orders".into(),
            set: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
            delete: vec!["retention.ms".into()],
        },
    )
    .await;
    submit_ok(
        store,
        MetadataCommand::CreatePartitions {
            name: "payments".into(),
            new_replicas: vec![vec![1], vec![1]],
        },
    )
    .await;
}

#[tokio::test]
async fn fresh_open_bootstraps_cluster_and_leads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let state = store.state();
    assert_eq!(state.cluster_id.as_ref().map(String::len), Some(22));
    assert_eq!(store.controller_id(), Some(1));
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    workload(&store).await;
    let before = store.state();
    assert_eq!(before.topic("payments").unwrap().partitions.len(), 3);
    store.shutdown().await.unwrap();

    let store = open(dir.path()).await;
    assert_eq!(*store.state(), *before);
    let orders = store.state().topic("orders").unwrap().clone();
    assert_eq!(
        store.state().topic_by_id(&orders.id).unwrap().name,
        "orders"
    );
    // And it keeps working after the restart.
    submit_ok(
        &store,
        MetadataCommand::DeleteTopic {
            name: "orders".into(),
        },
    )
    .await;
    store.shutdown().await.unwrap();

    let store = open(dir.path()).await;
    assert!(store.state().topic("orders").is_none());
    assert_eq!(store.state().cluster_id, before.cluster_id);
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_snapshot_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let total = SNAPSHOT_EVERY as usize + 300;
    // Concurrent proposals get batched into fewer fsyncs.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let store = store.clone();
        tasks.spawn(async move {
            let cmd = if i % 2 == 0 {
                create_topic(&format!("t{i}"), 1 + i % 3)
            } else {
                MetadataCommand::RegisterBroker {
                    node_id: (i % 7) as i32,
                    host: format!("h{i}"),
                    port: 9000 + i as i32,
                    rack: None,
                }
            };
            store.submit(cmd).await.unwrap().unwrap();
        });
        if tasks.len() >= 64 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // The snapshot is built in the background: wait for it and for the purge.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("raft.snapshot").exists() {
        assert!(Instant::now() < deadline, "no snapshot was taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // After the purge, raft.log starts with the purge marker and holds only the entries after
    // the snapshot.
    loop {
        let log = fs::read(dir.path().join("raft.log")).unwrap();
        if log.get(8..18) == Some(&b"{\"Purged\":"[..]) {
            let entries = log.windows(9).filter(|w| w == b"{\"Entry\":").count();
            assert!(
                entries < total - SNAPSHOT_EVERY as usize / 2,
                "{entries} entries left"
            );
            break;
        }
        assert!(Instant::now() < deadline, "log was not purged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = store.state();
    assert_eq!(before.topics.len(), total / 2);
    store.shutdown().await.unwrap();

    let store = open(dir.path()).await;
    assert_eq!(*store.state(), *before);
    store.shutdown().await.unwrap();

    // Losing the snapshot after the purge must not silently start from a partial state.
    fs::remove_file(dir.path().join("raft.snapshot")).unwrap();
    let res = MetadataStore::open(MetadataConfig {
        dir: dir.path().to_path_buf(),
        node_id: 1,
    })
    .await;
    assert!(matches!(res, Err(MetadataError::Corrupt(_))));
}

#[tokio::test]
async fn garbage_after_last_entry_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    workload(&store).await;
    let before = store.state();
    store.shutdown().await.unwrap();

    let mut f = OpenOptions::new()
        .append(true)
        .open(dir.path().join("raft.log"))
        .unwrap();
    f.write_all(&[0x17, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();
    drop(f);

    let store = open(dir.path()).await;
    assert_eq!(*store.state(), *before);
    submit_ok(&store, create_topic("after", 1)).await;
    store.shutdown().await.unwrap();
    let store = open(dir.path()).await;
    assert!(store.state().topic("after").is_some());
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn chopped_last_entry_is_dropped_and_log_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    submit_ok(&store, create_topic("kept", 1)).await;
    submit_ok(&store, create_topic("torn", 1)).await;
    store.shutdown().await.unwrap();

    let path = dir.path().join("raft.log");
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();

    let store = open(dir.path()).await;
    let state = store.state();
    assert!(state.topic("kept").is_some());
    assert!(
        state.topic("torn").is_none(),
        "torn entry must not be applied"
    );
    // The name is free again and new entries append cleanly after the cut.
    submit_ok(&store, create_topic("torn", 2)).await;
    let before = store.state();
    store.shutdown().await.unwrap();

    let store = open(dir.path()).await;
    assert_eq!(*store.state(), *before);
    assert_eq!(store.state().topic("torn").unwrap().partitions.len(), 2);
    store.shutdown().await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A copy of the directory taken while the store runs is what `kill -9` leaves behind: every
/// acknowledged command must be in it.
#[tokio::test]
async fn crash_copy_keeps_every_acknowledged_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    workload(&store).await;
    let acknowledged: ClusterState = (*store.state()).clone();

    let crashed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), crashed.path());
    store.shutdown().await.unwrap();

    let recovered = open(crashed.path()).await;
    assert_eq!(*recovered.state(), acknowledged);
    recovered.shutdown().await.unwrap();
}

#[tokio::test]
async fn rejected_commands_are_verdicts_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    submit_ok(&store, create_topic("t", 1)).await;
    let before = store.state();

    assert_eq!(
        store.submit(create_topic("t", 1)).await.unwrap(),
        Err(ApplyError::TopicAlreadyExists("t".into()))
    );
    assert_eq!(
        store
            .submit(MetadataCommand::DeleteTopic { name: "x".into() })
            .await
            .unwrap(),
        Err(ApplyError::UnknownTopic("x".into()))
    );
    assert!(matches!(
        store
            .submit(MetadataCommand::CreatePartitions {
                name: "t".into(),
                new_replicas: vec![],
            })
            .await
            .unwrap(),
        Err(ApplyError::InvalidPartitions(_))
    ));
    assert_eq!(*store.state(), *before);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscribers_see_each_apply() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut rx = store.subscribe();
    rx.borrow_and_update();
    submit_ok(&store, create_topic("watched", 1)).await;
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(rx.borrow().topic("watched").is_some());
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn submit_after_shutdown_fails_and_state_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    submit_ok(&store, create_topic("t", 1)).await;
    store.shutdown().await.unwrap();
    assert!(matches!(
        store.submit(create_topic("u", 1)).await,
        Err(MetadataError::Shutdown)
    ));
    assert!(store.state().topic("t").is_some());
}

#[tokio::test]
async fn damaged_snapshot_is_corruption_not_data_loss() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("raft.snapshot"), b"not a snapshot").unwrap();
    let res = MetadataStore::open(MetadataConfig {
        dir: dir.path().to_path_buf(),
        node_id: 1,
    })
    .await;
    assert!(matches!(res, Err(MetadataError::Corrupt(_))));
}

#[tokio::test]
async fn negative_node_id_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let res = MetadataStore::open(MetadataConfig {
        dir: dir.path().to_path_buf(),
        node_id: -1,
    })
    .await;
    assert!(matches!(res, Err(MetadataError::InvalidConfig(_))));
}

/// Reports how long `open` takes; the broker targets < 100 ms to its first connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let store = open(dir.path()).await;
    let fresh = t.elapsed();
    workload(&store).await;
    store.shutdown().await.unwrap();

    let t = Instant::now();
    let store = open(dir.path()).await;
    let restart = t.elapsed();
    store.shutdown().await.unwrap();
    eprintln!("metadata open: fresh {fresh:?}, restart {restart:?}");
    // Far below an election timeout would mean we did not wait for one.
    assert!(
        restart < Duration::from_millis(250),
        "restart took {restart:?}"
    );
    assert!(
        fresh < Duration::from_millis(250),
        "fresh open took {fresh:?}"
    );
}

/// Child half of `kill_9_loses_no_acknowledged_command`: a no-op unless the parent set the env
/// var. Submits commands forever, printing each acknowledged one.
#[tokio::test]
async fn kill9_child_helper() {
    let Some(dir) = std::env::var_os("WEIR_METADATA_KILL9_DIR") else {
        return;
    };
    let store = open(Path::new(&dir)).await;
    for i in 0.. {
        submit_ok(&store, create_topic(&format!("k{i}"), 1)).await;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

/// A real `kill -9` of a process that is appending: every command it acknowledged is there.
#[test]
fn kill_9_loses_no_acknowledged_command() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEIR_METADATA_KILL9_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_ack = None;
    // Past the first snapshot, so the kill can land near a snapshot/purge too.
    let kill_after = SNAPSHOT_EVERY + 150;
    for line in lines.by_ref() {
        if let Some(i) = line.unwrap().strip_prefix("ack ") {
            let i: u64 = i.parse().unwrap();
            last_ack = Some(i);
            if i >= kill_after {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Acks printed before the kill landed are acknowledgements too.
    for line in lines {
        if let Some(i) = line.unwrap().strip_prefix("ack ") {
            last_ack = Some(i.parse().unwrap());
        }
    }
    let last_ack = last_ack.expect("child acknowledged nothing");
    assert!(last_ack >= kill_after);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = open(dir.path()).await;
        let state = store.state();
        for i in 0..=last_ack {
            assert!(state.topic(&format!("k{i}")).is_some(), "lost k{i}");
        }
        store.shutdown().await.unwrap();
    });
}
