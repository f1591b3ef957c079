//! The registry on real files: operations, persistence across reopen, group commit, damaged
//! files, store failures and timeouts, and a writer killed with SIGKILL mid-burst.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use meseta_api::common::{AgentID, AgentInfo, MasterInfo, Resource};
use meseta_registry::{
    Backend, Change, ChangeSet, InMemoryStorage, Operation, OperationError, QuotaConfig, Record,
    RedbStorage, Registrar, RegistrarOptions, Registry, RegistryError, Storage, Table,
};

fn agent(id: &str) -> AgentInfo {
    AgentInfo {
        hostname: format!("{id}.example.org"),
        port: Some(5051),
        resources: vec![
            Resource::scalar("cpus", 8.0),
            Resource::scalar("mem", 32768.0),
            Resource::ranges("ports", &[(31000, 32000)]),
        ],
        attributes: Vec::new(),
        id: Some(AgentID::new(id)),
    }
}

fn master(id: &str) -> MasterInfo {
    MasterInfo {
        id: id.to_string(),
        ip: 16777343,
        port: 5050,
        hostname: Some("localhost".to_string()),
        version: Some("1.11.0".to_string()),
        ..MasterInfo::default()
    }
}

fn apply(registry: &mut Registry, op: Operation) -> Result<bool, OperationError> {
    let mut changes = ChangeSet::new();
    let before = registry.clone();
    let result = op.apply(registry, &mut changes);
    if result.is_err() {
        assert_eq!(
            *registry, before,
            "a refused operation changed the registry"
        );
        assert!(changes.is_empty(), "a refused operation recorded changes");
    }
    result
}

/// Opens the redb registry at `path`, recovers a registrar on it, and returns the storage handle
/// too, so that a test can wait for the file to be closed.
async fn recover(path: &Path) -> (Registrar, Registry, Arc<dyn Storage>) {
    let storage: Arc<dyn Storage> = Arc::new(RedbStorage::open(path).unwrap());
    let (registrar, registry) = Registrar::recover(storage.clone(), master("m1"))
        .await
        .unwrap();
    (registrar, registry, storage)
}

/// Drops the registrar and waits until its task has let go of the storage, which then closes.
async fn close(registrar: Registrar, storage: Arc<dyn Storage>) {
    drop(registrar);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&storage) > 1 {
        assert!(Instant::now() < deadline, "the registrar kept its storage");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(storage);
}

fn load(path: &Path) -> Result<Registry, RegistryError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(load_async(path))
}

async fn load_async(path: &Path) -> Result<Registry, RegistryError> {
    let storage: Arc<dyn Storage> = Arc::new(RedbStorage::open(path)?);
    let (registrar, registry) = Registrar::recover(storage.clone(), master("reader")).await?;
    close(registrar, storage).await;
    Ok(registry)
}

fn assert_names_file(error: &RegistryError, path: &Path) {
    let message = error.to_string();
    assert!(
        matches!(error, RegistryError::Corrupt { .. }),
        "not a corrupt-file error: {message}"
    );
    assert!(
        message.contains(&path.display().to_string()),
        "the error does not name the file: {message}"
    );
    assert!(
        message.contains("restore it from a backup, or move it away"),
        "the error does not say what to do: {message}"
    );
}

#[test]
fn operations_follow_mesos_rules() {
    let mut r = Registry::default();
    assert_eq!(apply(&mut r, Operation::AdmitAgent(agent("a"))), Ok(true));
    assert_eq!(
        apply(&mut r, Operation::AdmitAgent(agent("a"))),
        Err(OperationError::AlreadyAdmitted("a".into()))
    );
    let mut no_id = agent("x");
    no_id.id = None;
    assert_eq!(
        apply(&mut r, Operation::AdmitAgent(no_id)),
        Err(OperationError::MissingAgentId)
    );

    // Update: a no-op when equal, refused when unknown.
    assert_eq!(apply(&mut r, Operation::UpdateAgent(agent("a"))), Ok(false));
    let mut bigger = agent("a");
    bigger.resources.push(Resource::scalar("disk", 100.0));
    assert_eq!(
        apply(&mut r, Operation::UpdateAgent(bigger.clone())),
        Ok(true)
    );
    assert_eq!(r.agents["a"], bigger);
    assert_eq!(
        apply(&mut r, Operation::UpdateAgent(agent("b"))),
        Err(OperationError::NotAdmitted("b".into()))
    );

    // Unreachable and back.
    let id = |s: &str| AgentID::new(s);
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentUnreachable {
                id: id("b"),
                time: 1.0
            }
        ),
        Err(OperationError::NotAdmitted("b".into()))
    );
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentUnreachable {
                id: id("a"),
                time: 10.0
            }
        ),
        Ok(true)
    );
    assert!(!r.is_admitted("a"));
    assert_eq!(r.unreachable.get("a"), Some(&10.0));
    assert_eq!(
        apply(&mut r, Operation::MarkAgentReachable(agent("a"))),
        Ok(true)
    );
    assert!(r.is_admitted("a") && r.unreachable.is_empty());
    // An unreachable agent's id cannot be admitted anew.
    apply(
        &mut r,
        Operation::MarkAgentUnreachable {
            id: id("a"),
            time: 11.0,
        },
    )
    .unwrap();
    assert_eq!(
        apply(&mut r, Operation::AdmitAgent(agent("a"))),
        Err(OperationError::IdReused("a".into()))
    );
    assert_eq!(
        r.apply(&Operation::MarkAgentReachable(agent("a"))),
        Ok(true)
    );
    // Reachable again while admitted: no-op; an unknown agent is admitted (pruned meanwhile).
    assert_eq!(
        apply(&mut r, Operation::MarkAgentReachable(agent("a"))),
        Ok(false)
    );
    assert_eq!(
        apply(&mut r, Operation::MarkAgentReachable(agent("c"))),
        Ok(true)
    );
    assert!(r.is_admitted("c"));

    // Gone, from admitted or unreachable; unknown refused; twice a no-op.
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentUnreachable {
                id: id("c"),
                time: 20.0
            }
        ),
        Ok(true)
    );
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentGone {
                id: id("c"),
                time: 30.0
            }
        ),
        Ok(true)
    );
    assert!(r.unreachable.is_empty());
    assert_eq!(r.gone.get("c"), Some(&30.0));
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentGone {
                id: id("c"),
                time: 31.0
            }
        ),
        Ok(false)
    );
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentGone {
                id: id("zz"),
                time: 31.0
            }
        ),
        Err(OperationError::UnknownAgent("zz".into()))
    );
    assert_eq!(
        apply(
            &mut r,
            Operation::MarkAgentGone {
                id: id("a"),
                time: 40.0
            }
        ),
        Ok(true)
    );
    assert!(r.agents.is_empty());
    // A gone agent never comes back.
    assert_eq!(
        apply(&mut r, Operation::MarkAgentReachable(agent("a"))),
        Err(OperationError::Gone("a".into()))
    );
    assert_eq!(
        apply(&mut r, Operation::AdmitAgent(agent("a"))),
        Err(OperationError::IdReused("a".into()))
    );

    // Remove and prune.
    assert_eq!(apply(&mut r, Operation::AdmitAgent(agent("d"))), Ok(true));
    assert_eq!(apply(&mut r, Operation::RemoveAgent(id("d"))), Ok(true));
    assert_eq!(
        apply(&mut r, Operation::RemoveAgent(id("d"))),
        Err(OperationError::NotAdmitted("d".into()))
    );
    assert_eq!(
        apply(
            &mut r,
            Operation::Prune {
                unreachable: vec![id("nope")],
                gone: vec![id("c"), id("nope")]
            }
        ),
        Ok(true)
    );
    assert_eq!(r.gone.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        apply(
            &mut r,
            Operation::Prune {
                unreachable: vec![],
                gone: vec![id("c")]
            }
        ),
        Ok(false)
    );

    // Weights: all or nothing.
    assert_eq!(
        apply(
            &mut r,
            Operation::UpdateWeights(vec![("dev".into(), 2.0), ("prod".into(), 0.0)])
        ),
        Err(OperationError::InvalidWeight {
            role: "prod".into(),
            weight: 0.0
        })
    );
    assert!(r.weights.is_empty());
    assert_eq!(
        apply(
            &mut r,
            Operation::UpdateWeights(vec![("dev".into(), 2.0), ("prod".into(), 3.5)])
        ),
        Ok(true)
    );
    assert_eq!(
        apply(&mut r, Operation::UpdateWeights(vec![("dev".into(), 2.0)])),
        Ok(false)
    );

    // Quota: set, refuse a guarantee above its limit, remove by None or by an empty config.
    let quota = QuotaConfig {
        guarantees: [("cpus".to_string(), 4.0)].into(),
        limits: [("cpus".to_string(), 8.0)].into(),
    };
    let set = |config: Option<QuotaConfig>| Operation::UpdateQuota {
        role: "dev".into(),
        config,
    };
    assert_eq!(apply(&mut r, set(Some(quota.clone()))), Ok(true));
    assert_eq!(apply(&mut r, set(Some(quota.clone()))), Ok(false));
    let inverted = QuotaConfig {
        guarantees: [("cpus".to_string(), 9.0)].into(),
        limits: [("cpus".to_string(), 8.0)].into(),
    };
    assert!(matches!(
        apply(&mut r, set(Some(inverted))),
        Err(OperationError::InvalidQuota { .. })
    ));
    assert_eq!(r.quotas["dev"], quota);
    assert_eq!(apply(&mut r, set(Some(QuotaConfig::default()))), Ok(true));
    assert!(r.quotas.is_empty());
    assert_eq!(apply(&mut r, set(None)), Ok(false));

    assert_eq!(apply(&mut r, Operation::Recover(master("m2"))), Ok(true));
    assert_eq!(r.master.as_ref().map(|m| m.id.as_str()), Some("m2"));
}

#[test]
fn gc_prunes_oldest_beyond_the_count_and_everything_too_old() {
    let mut r = Registry::default();
    // Unreachable marked out of time order: 5 agents, times 100, 50, 300, 200, 400.
    for (name, time) in [
        ("u1", 100.0),
        ("u2", 50.0),
        ("u3", 300.0),
        ("u4", 200.0),
        ("u5", 400.0),
    ] {
        apply(&mut r, Operation::AdmitAgent(agent(name))).unwrap();
        apply(
            &mut r,
            Operation::MarkAgentUnreachable {
                id: AgentID::new(name),
                time,
            },
        )
        .unwrap();
    }
    for (name, time) in [("g1", 10.0), ("g2", 390.0)] {
        apply(&mut r, Operation::AdmitAgent(agent(name))).unwrap();
        apply(
            &mut r,
            Operation::MarkAgentGone {
                id: AgentID::new(name),
                time,
            },
        )
        .unwrap();
    }
    let names = |ids: &[AgentID]| ids.iter().map(|i| i.value.clone()).collect::<Vec<_>>();

    // Count only: keep 3 of 5 unreachable (the two oldest go), both gone stay.
    let gc = r.gc(400.0, Duration::from_secs(1000), 3);
    assert_eq!(names(&gc.unreachable), ["u2", "u1"]);
    assert!(gc.gone.is_empty());

    // Age only: older than 250 s at 400 means marked before 150.
    let gc = r.gc(400.0, Duration::from_secs(250), 100);
    assert_eq!(names(&gc.unreachable), ["u2", "u1"]);
    assert_eq!(names(&gc.gone), ["g1"]);

    // Both: age 150 s prunes u2, u1 (times < 250); count 1 then also prunes u4 and u3.
    let gc = r.gc(400.0, Duration::from_secs(150), 1);
    assert_eq!(names(&gc.unreachable), ["u2", "u1", "u4", "u3"]);
    assert_eq!(names(&gc.gone), ["g1"]);

    // Nothing to do.
    assert!(r.gc(400.0, Duration::from_secs(1000), 10).is_empty());

    // The prune operation removes exactly those.
    let gc = r.gc(400.0, Duration::from_secs(150), 1);
    apply(&mut r, gc.into_operation()).unwrap();
    assert_eq!(r.unreachable.keys().collect::<Vec<_>>(), ["u5"]);
    assert_eq!(r.gone.keys().collect::<Vec<_>>(), ["g2"]);
}

#[test]
fn backend_flag_values() {
    assert_eq!("redb".parse::<Backend>().unwrap(), Backend::Redb);
    assert_eq!("in_memory".parse::<Backend>().unwrap(), Backend::InMemory);
    assert!(matches!(
        "replicated_log".parse::<Backend>(),
        Err(RegistryError::UnknownBackend(_))
    ));
    assert!(matches!(
        meseta_registry::open(Backend::Redb, None),
        Err(RegistryError::NoWorkDir)
    ));
    let dir = tempfile::tempdir().unwrap();
    let storage = meseta_registry::open(Backend::Redb, Some(dir.path())).unwrap();
    assert_eq!(
        storage.location(),
        dir.path().join("registry.redb").display().to_string()
    );
    let memory = meseta_registry::open(Backend::InMemory, None).unwrap();
    assert_eq!(memory.location(), "in_memory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let (registrar, recovered, storage) = recover(&path).await;
    assert_eq!(recovered.master.as_ref().unwrap().id, "m1");
    assert!(recovered.agents.is_empty());

    let id = AgentID::new;
    for name in ["a", "b", "c", "d", "e", "f"] {
        assert!(
            registrar
                .apply(Operation::AdmitAgent(agent(name)))
                .await
                .unwrap()
        );
    }
    // Unreachable in an order that is not the time order: the order must survive.
    for (name, time) in [("b", 300.0), ("c", 100.0), ("d", 200.0), ("e", 250.0)] {
        registrar
            .apply(Operation::MarkAgentUnreachable { id: id(name), time })
            .await
            .unwrap();
    }
    registrar
        .apply(Operation::MarkAgentReachable(agent("e")))
        .await
        .unwrap();
    registrar
        .apply(Operation::MarkAgentGone {
            id: id("f"),
            time: 400.0,
        })
        .await
        .unwrap();
    registrar
        .apply(Operation::UpdateWeights(vec![
            ("dev".into(), 2.0),
            ("prod".into(), 5.0),
        ]))
        .await
        .unwrap();
    let quota = QuotaConfig {
        guarantees: [("cpus".to_string(), 4.0), ("mem".to_string(), 1024.0)].into(),
        limits: [("cpus".to_string(), 8.0)].into(),
    };
    registrar
        .apply(Operation::UpdateQuota {
            role: "dev".into(),
            config: Some(quota.clone()),
        })
        .await
        .unwrap();
    let before = registrar.snapshot();
    assert_eq!(
        before.unreachable.keys().collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    close(registrar, storage).await;

    // A second master recovers the same registry, now with itself as the leader.
    let storage: Arc<dyn Storage> = Arc::new(RedbStorage::open(&path).unwrap());
    let (registrar, after) = Registrar::recover(storage.clone(), master("m2"))
        .await
        .unwrap();
    assert_eq!(after.master.as_ref().unwrap().id, "m2");
    assert_eq!(after.agents, before.agents);
    assert_eq!(
        after.agents.keys().collect::<Vec<_>>(),
        ["a", "e"],
        "admitted agents"
    );
    assert_eq!(after.unreachable, before.unreachable);
    assert_eq!(
        after.unreachable.keys().collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    assert_eq!(after.gone, before.gone);
    assert_eq!(after.weights, before.weights);
    assert_eq!(after.quotas["dev"], quota);

    // New unreachable entries go after the recovered ones.
    registrar
        .apply(Operation::MarkAgentUnreachable {
            id: id("a"),
            time: 1.0,
        })
        .await
        .unwrap();
    // Deletions persist too: a prune, a quota removed, an agent removed.
    registrar
        .apply(Operation::Prune {
            unreachable: vec![id("c")],
            gone: vec![id("f")],
        })
        .await
        .unwrap();
    registrar
        .apply(Operation::UpdateQuota {
            role: "dev".into(),
            config: None,
        })
        .await
        .unwrap();
    registrar
        .apply(Operation::RemoveAgent(id("e")))
        .await
        .unwrap();
    let expected = registrar.snapshot();
    close(registrar, storage).await;
    let again = load_async(&path).await.unwrap();
    assert_eq!(
        again.unreachable.keys().collect::<Vec<_>>(),
        ["b", "d", "a"]
    );
    assert!(again.gone.is_empty() && again.quotas.is_empty() && again.agents.is_empty());
    assert_eq!(again.weights, expected.weights);
    assert_eq!(again.unreachable, expected.unreachable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_admissions_is_committed_in_few_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let (registrar, _, storage) = recover(&path).await;
    let before = registrar.commits();

    let mut tasks = Vec::new();
    for i in 0..1000 {
        let registrar = registrar.clone();
        tasks.push(tokio::spawn(async move {
            registrar
                .apply(Operation::AdmitAgent(agent(&format!("agent-{i}"))))
                .await
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().unwrap());
    }
    let commits = registrar.commits() - before;
    assert!(
        commits < 100,
        "1,000 admissions took {commits} commits: not batched"
    );
    assert_eq!(registrar.snapshot().agents.len(), 1000);
    close(registrar, storage).await;
    assert_eq!(load_async(&path).await.unwrap().agents.len(), 1000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_operation_fails_alone_in_its_batch() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    let (registrar, _) = Registrar::recover(storage, master("m1")).await.unwrap();
    registrar
        .apply(Operation::AdmitAgent(agent("a")))
        .await
        .unwrap();
    let before = registrar.commits();
    // All three are queued before the registrar's task runs, so they form one batch.
    let (first, duplicate, other) = tokio::join!(
        registrar.apply(Operation::AdmitAgent(agent("b"))),
        registrar.apply(Operation::AdmitAgent(agent("a"))),
        registrar.apply(Operation::AdmitAgent(agent("c"))),
    );
    assert_eq!(registrar.commits() - before, 1, "not one batch");
    assert!(first.unwrap());
    assert!(matches!(
        duplicate,
        Err(RegistryError::Refused(OperationError::AlreadyAdmitted(ref id))) if id == "a"
    ));
    assert!(other.unwrap());
    assert_eq!(
        registrar.snapshot().agents.keys().collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

/// A storage whose commits can be made to fail or to hang.
struct FlakyStorage {
    inner: InMemoryStorage,
    fail_after: u64,
    delay_after: u64,
    delay: Duration,
    commits: AtomicU64,
}

impl Storage for FlakyStorage {
    fn location(&self) -> &str {
        "flaky"
    }
    fn load(&self) -> Result<Vec<Record>, RegistryError> {
        self.inner.load()
    }
    fn commit(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst);
        if n >= self.fail_after {
            return Err(RegistryError::Storage {
                location: "flaky".into(),
                detail: "disk on fire".into(),
            });
        }
        if n >= self.delay_after {
            std::thread::sleep(self.delay);
        }
        self.inner.commit(changes)
    }
}

fn flaky(fail_after: u64, delay_after: u64, delay: Duration) -> Arc<dyn Storage> {
    Arc::new(FlakyStorage {
        inner: InMemoryStorage::new(),
        fail_after,
        delay_after,
        delay,
        commits: AtomicU64::new(0),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_fails_its_batch_and_stops_the_registrar() {
    // The recovery's commit and one more succeed; the third fails.
    let (registrar, _) = Registrar::recover(flaky(2, u64::MAX, Duration::ZERO), master("m1"))
        .await
        .unwrap();
    assert!(
        registrar
            .apply(Operation::AdmitAgent(agent("a")))
            .await
            .unwrap()
    );
    let error = registrar
        .apply(Operation::AdmitAgent(agent("b")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("disk on fire"), "{error}");
    assert!(registrar.failure().is_some());
    let later = registrar
        .apply(Operation::AdmitAgent(agent("c")))
        .await
        .unwrap_err();
    assert!(matches!(later, RegistryError::Stopped(_)), "{later}");
    // What readers see is the last durable state.
    assert_eq!(
        registrar.snapshot().agents.keys().collect::<Vec<_>>(),
        ["a"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_times_out() {
    let options = RegistrarOptions {
        fetch_timeout: Duration::from_secs(5),
        store_timeout: Duration::from_millis(100),
    };
    let storage = flaky(u64::MAX, 1, Duration::from_secs(2));
    let (registrar, _) = Registrar::recover_with(storage, master("m1"), options)
        .await
        .unwrap();
    let error = registrar
        .apply(Operation::AdmitAgent(agent("a")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Timeout { what: "store", .. }),
        "{error}"
    );
    assert!(matches!(
        registrar.apply(Operation::AdmitAgent(agent("b"))).await,
        Err(RegistryError::Stopped(_))
    ));
    assert!(registrar.snapshot().agents.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_admissions_are_in_the_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let (registrar, _, storage) = recover(&path).await;
    for i in 0..200 {
        registrar
            .apply(Operation::AdmitAgent(agent(&format!("agent-{i}"))))
            .await
            .unwrap();
    }
    // The file as it stands while the registrar still holds it open, as a crash would leave it.
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    let crashed = std::thread::spawn(move || load(&copy))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(crashed.agents.len(), 200);

    // And dropped with no shutdown of any kind.
    close(registrar, storage).await;
    let reopened = std::thread::spawn(move || load(&path))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(reopened.agents.len(), 200);
}

fn write_registry(path: &Path, agents: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (registrar, _, storage) = recover(path).await;
        for i in 0..agents {
            registrar
                .apply(Operation::AdmitAgent(agent(&format!("agent-{i}"))))
                .await
                .unwrap();
        }
        close(registrar, storage).await;
    });
}

#[test]
fn a_truncated_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    write_registry(&path, 2000);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    assert_names_file(&load(&path).unwrap_err(), &path);
}

#[test]
fn a_file_of_random_bytes_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    assert_names_file(&load(&path).unwrap_err(), &path);
    // Nothing was written over it.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 100_000);
}

#[test]
fn a_record_that_does_not_parse_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    write_registry(&path, 3);
    let storage = RedbStorage::open(&path).unwrap();
    storage
        .commit(&[Change::Put(Record {
            table: Table::Agents,
            key: "agent-1".into(),
            value: b"{not json".to_vec(),
        })])
        .unwrap();
    drop(storage);
    let error = load(&path).unwrap_err();
    assert_names_file(&error, &path);
    assert!(error.to_string().contains("agent-1"), "{error}");
}

#[test]
fn a_redb_database_of_something_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn
                .open_table(redb::TableDefinition::<u64, u64>::new("counters"))
                .unwrap();
            table.insert(1, 2).unwrap();
        }
        txn.commit().unwrap();
    }
    assert_names_file(&load(&path).unwrap_err(), &path);
}

#[test]
fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    write_registry(&path, 1);
    let storage = RedbStorage::open(&path).unwrap();
    storage
        .commit(&[Change::Put(Record {
            table: Table::Meta,
            key: "version".into(),
            value: b"99".to_vec(),
        })])
        .unwrap();
    drop(storage);
    let error = load(&path).unwrap_err();
    assert!(
        matches!(error, RegistryError::UnsupportedVersion { found: 99, .. }),
        "{error}"
    );
}

#[test]
fn a_file_held_by_another_master_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let first = RedbStorage::open(&path).unwrap();
    let error = RedbStorage::open(&path).unwrap_err();
    assert!(matches!(error, RegistryError::Open { .. }), "{error}");
    drop(first);
    RedbStorage::open(&path).unwrap();
}

const WRITER_ENV: &str = "MESETA_REGISTRY_CRASH_WRITER";

/// The child of `acknowledged_admissions_survive_sigkill`: does nothing unless told to, then
/// admits agents from 16 concurrent tasks until it is killed, printing each acknowledged id.
#[test]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (registrar, _, _storage) = recover(&path).await;
        println!("recovered end");
        let mut tasks = Vec::new();
        for t in 0..16 {
            let registrar = registrar.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100_000 {
                    let id = format!("agent-{t}-{i}");
                    registrar
                        .apply(Operation::AdmitAgent(agent(&id)))
                        .await
                        .unwrap();
                    println!("acked {id} end");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_admissions_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_writer_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < 2000 {
        assert!(Instant::now() < deadline, "the writer is too slow");
        let line = lines.next().expect("the writer ended").unwrap();
        if let Some(id) = line
            .strip_prefix("acked ")
            .and_then(|l| l.strip_suffix(" end"))
        {
            acked.push(id.to_string());
        }
    }
    // SIGKILL, mid-burst: 16 admissions are in flight.
    child.kill().unwrap();
    child.wait().unwrap();
    // Acknowledgements printed before the kill.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(id) = line
            .strip_prefix("acked ")
            .and_then(|l| l.strip_suffix(" end"))
        {
            acked.push(id.to_string());
        }
    }

    let registry = load(&path).unwrap();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !registry.agents.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged admissions lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(registry.agents.len() >= acked.len());
}

#[test]
fn serializes_as_mesos_registrar_json() {
    let mut r = Registry::default();
    apply(&mut r, Operation::Recover(master("m1"))).unwrap();
    for name in ["a", "b", "c"] {
        apply(&mut r, Operation::AdmitAgent(agent(name))).unwrap();
    }
    apply(
        &mut r,
        Operation::MarkAgentUnreachable {
            id: AgentID::new("b"),
            time: 1.5,
        },
    )
    .unwrap();
    apply(
        &mut r,
        Operation::MarkAgentGone {
            id: AgentID::new("c"),
            time: 2.0,
        },
    )
    .unwrap();
    apply(&mut r, Operation::UpdateWeights(vec![("dev".into(), 2.0)])).unwrap();
    apply(
        &mut r,
        Operation::UpdateQuota {
            role: "dev".into(),
            config: Some(QuotaConfig {
                guarantees: [("cpus".to_string(), 4.0)].into(),
                limits: [("cpus".to_string(), 8.0)].into(),
            }),
        },
    )
    .unwrap();
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["master"]["info"]["id"], "m1");
    assert_eq!(json["slaves"]["slaves"][0]["info"]["id"]["value"], "a");
    assert_eq!(
        json["slaves"]["slaves"][0]["info"]["hostname"],
        "a.example.org"
    );
    assert_eq!(json["slaves"]["slaves"].as_array().unwrap().len(), 1);
    assert_eq!(
        json["unreachable"],
        serde_json::json!({"slaves": [{"id": {"value": "b"}, "timestamp": {"nanoseconds": 1_500_000_000}}]})
    );
    assert_eq!(json["gone"]["slaves"][0]["id"]["value"], "c");
    assert_eq!(
        json["weights"],
        serde_json::json!([{"info": {"role": "dev", "weight": 2.0}}])
    );
    assert_eq!(
        json["quota_configs"],
        serde_json::json!([{"role": "dev", "guarantees": {"cpus": {"value": 4.0}}, "limits": {"cpus": {"value": 8.0}}}])
    );

    // An empty registry still has its lists, and no master.
    let empty = serde_json::to_value(Registry::default()).unwrap();
    assert!(empty.get("master").is_none());
    assert_eq!(empty["slaves"]["slaves"], serde_json::json!([]));
    assert_eq!(empty["unreachable"]["slaves"], serde_json::json!([]));
}

#[tokio::test]
async fn close_stores_what_was_queued_and_lets_go_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let storage: Arc<dyn Storage> = Arc::new(RedbStorage::open(&path).unwrap());
    let (registrar, _) = Registrar::recover(storage, master("m1")).await.unwrap();
    let queued = {
        let r = registrar.clone();
        tokio::spawn(async move { r.apply(Operation::AdmitAgent(agent("a1"))).await })
    };
    tokio::task::yield_now().await;
    registrar.close().await;
    // The file is free at once: a new master opens it (no "held by another process").
    let reopened = RedbStorage::open(&path).unwrap();
    drop(reopened);
    let late = registrar
        .apply(Operation::AdmitAgent(agent("a2")))
        .await
        .unwrap_err();
    assert!(matches!(late, RegistryError::Stopped(_)), "{late}");
    let registry = load_async(&path).await.unwrap();
    let admitted = queued.await.unwrap().is_ok();
    assert_eq!(registry.agents.contains_key("a1"), admitted);
    assert!(!registry.agents.contains_key("a2"));
}

fn schedule(machines: &[(&str, &str)]) -> meseta_api::maintenance::Schedule {
    use meseta_api::maintenance::{MachineID, Schedule, Unavailability, Window};
    Schedule {
        windows: vec![Window {
            machine_ids: machines.iter().map(|(h, i)| MachineID::new(h, i)).collect(),
            unavailability: Some(Unavailability::default()),
        }],
    }
}

#[tokio::test]
async fn maintenance_follows_mesos_modes_and_survives_reopen() {
    use meseta_api::maintenance::{MachineID, MachineMode};
    let mut registry = Registry::default();
    let m1 = MachineID::new("Host1", "10.0.0.1");
    let m2 = MachineID::new("host2", "10.0.0.2");
    // Scheduled machines go DRAINING; only DRAINING ones can go DOWN, only DOWN ones UP.
    assert!(
        apply(
            &mut registry,
            Operation::UpdateSchedule(schedule(&[("Host1", "10.0.0.1"), ("host2", "10.0.0.2")]))
        )
        .unwrap()
    );
    assert_eq!(registry.machines[&m1.key()].mode, MachineMode::Draining);
    let err = apply(&mut registry, Operation::StopMaintenance(vec![m1.clone()])).unwrap_err();
    assert!(err.to_string().contains("not in DOWN mode"), "{err}");
    let unknown = MachineID::new("host3", "10.0.0.3");
    let err = apply(
        &mut registry,
        Operation::StartMaintenance(vec![m1.clone(), unknown]),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("not part of a maintenance schedule"),
        "{err}"
    );
    assert!(apply(&mut registry, Operation::StartMaintenance(vec![m1.clone()])).unwrap());
    assert_eq!(registry.machines[&m1.key()].mode, MachineMode::Down);
    // A DOWN machine cannot be dropped from the schedule; a DRAINING one can (it goes UP).
    let err = apply(
        &mut registry,
        Operation::UpdateSchedule(schedule(&[("host2", "10.0.0.2")])),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("must stay in the schedule"),
        "{err}"
    );
    assert!(
        apply(
            &mut registry,
            Operation::UpdateSchedule(schedule(&[("host1", "10.0.0.1")]))
        )
        .unwrap()
    );
    assert!(!registry.machines.contains_key(&m2.key()));
    // Invalid schedules are refused with Mesos' reasons.
    let err = apply(
        &mut registry,
        Operation::UpdateSchedule(schedule(&[("a", ""), ("A", "")])),
    )
    .unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");

    // Stored, reloaded, then brought up: it leaves the machines and the schedule.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.redb");
    let (registrar, _, storage) = recover(&path).await;
    registrar
        .apply(Operation::UpdateSchedule(schedule(&[(
            "host1", "10.0.0.1",
        )])))
        .await
        .unwrap();
    registrar
        .apply(Operation::StartMaintenance(vec![m1.clone()]))
        .await
        .unwrap();
    registrar
        .apply(Operation::SetAgentDrain {
            id: AgentID::new("a1"),
            drain: Some(meseta_registry::AgentDrainRecord {
                drain: Some(meseta_registry::DrainRecord {
                    state: "DRAINING".into(),
                    max_grace_period: Some(10.0),
                    mark_gone: false,
                }),
            }),
        })
        .await
        .unwrap();
    close(registrar, storage).await;
    let reloaded = load_async(&path).await.unwrap();
    assert_eq!(reloaded.machines[&m1.key()].mode, MachineMode::Down);
    assert_eq!(reloaded.schedule, schedule(&[("host1", "10.0.0.1")]));
    assert_eq!(
        reloaded.agent_drains["a1"]
            .drain
            .as_ref()
            .unwrap()
            .max_grace_period,
        Some(10.0)
    );
    let json = serde_json::to_value(&reloaded).unwrap();
    assert_eq!(json["machines"]["machines"][0]["info"]["mode"], "DOWN");
    assert_eq!(
        json["schedules"][0]["windows"][0]["machine_ids"][0]["hostname"],
        "host1"
    );
    let (registrar, _, storage) = recover(&path).await;
    registrar
        .apply(Operation::StopMaintenance(vec![m1.clone()]))
        .await
        .unwrap();
    registrar
        .apply(Operation::SetAgentDrain {
            id: AgentID::new("a1"),
            drain: None,
        })
        .await
        .unwrap();
    close(registrar, storage).await;
    let reloaded = load_async(&path).await.unwrap();
    assert!(reloaded.machines.is_empty());
    assert!(reloaded.schedule.windows.is_empty());
    assert!(reloaded.agent_drains.is_empty());
}
