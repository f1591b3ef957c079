#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! meseta-zk against a real ZooKeeper (Debian's package, installed on first use): the election,
//! the detector, fenced registry commits, 10,000 agents through the storage, and quorum loss on
//! a three-server ensemble. Tests share one standalone server, each under its own path; the
//! quorum test runs its own ensemble.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use meseta_api::common::{AgentID, AgentInfo, MasterInfo};
use meseta_registry::{Change, Record, Storage, Table};
use meseta_tests::zookeeper::{ZooKeeper, unique_path};
use meseta_zk::{Candidacy, Contender, Detector, ZkStorage, ZkUrl};
use tokio::sync::watch;

/// Short sessions keep failover quick (ZooKeeper allows 1 s to 60 s here); shorter ones make
/// the client give up connections to a server slowed by the other tests on 2 cores.
const SESSION: Duration = Duration::from_secs(4);
/// Generous bound on anything that should happen within a session timeout or two.
const WAIT: Duration = Duration::from_secs(20);

fn shared_url(prefix: &str) -> ZkUrl {
    let zk = ZooKeeper::shared().unwrap();
    ZkUrl::parse(&zk.url(&unique_path(prefix))).unwrap()
}

fn master(name: &str) -> MasterInfo {
    MasterInfo {
        id: format!("{name}-id"),
        ip: meseta_api::common::ipv4_to_mesos_u32(std::net::Ipv4Addr::LOCALHOST),
        port: 5050,
        pid: Some(format!("master@127.0.0.1:5050#{name}")),
        hostname: Some(name.to_string()),
        version: Some("1.11.0".to_string()),
        address: None,
    }
}

async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: not within {limit:?}"),
    }
}

/// Waits until `watch` satisfies `condition`.
async fn until<T: Clone>(
    what: &str,
    watch: &mut watch::Receiver<T>,
    condition: impl FnMut(&T) -> bool,
) -> T {
    within(what, WAIT, async {
        watch.wait_for(condition).await.map(|v| v.clone()).unwrap()
    })
    .await
}

async fn member(contender: &Contender) -> String {
    let mut status = contender.watch();
    until("membership", &mut status, |c| {
        matches!(c, Candidacy::Standby { .. } | Candidacy::Leading { .. })
    })
    .await
    .znode()
    .unwrap()
    .to_string()
}

/// A TCP proxy in front of one ZooKeeper server, through which one contender talks. Cutting
/// it is that contender's crash or partition as ZooKeeper sees it: its connections drop and no
/// new one gets through, so its session expires on the servers after the session timeout,
/// without any close from the client. Healing it lets the client reach ZooKeeper again.
struct Proxy {
    url: ZkUrl,
    open: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: &ZkUrl) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = upstream.servers[0].clone();
        let (open, open_rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut open = open_rx.clone();
                if !*open.borrow_and_update() {
                    continue; // dropped: refused
                }
                let server = server.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&server).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = open.wait_for(|open| !open) => {}
                    }
                });
            }
        });
        let mut url = upstream.clone();
        url.servers = vec![format!("127.0.0.1:{port}")];
        Proxy { url, open }
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn heal(&self) {
        self.open.send_replace(true);
    }
}

/// Waits until `contender` has left the membership of `znode` (its session has ended).
async fn left(contender: &Contender, znode: &str) {
    let mut status = contender.watch();
    until("leaving the old membership", &mut status, |c| {
        c.znode() != Some(znode)
    })
    .await;
}

fn leaders(contenders: &[&Contender]) -> usize {
    contenders.iter().filter(|c| c.is_leading()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_hands_leadership_to_the_next_in_sequence_and_the_detector_follows() {
    let url = shared_url("election");
    let detector = Detector::with_session_timeout(url.clone(), SESSION).unwrap();
    let mut detected = detector.watch();
    assert_eq!(detector.leader(), None);

    // Joined one after another, so their sequences are in this order. a and c talk through
    // proxies that the test cuts to crash them.
    let a_proxy = Proxy::start(&url).await;
    let c_proxy = Proxy::start(&url).await;
    let a = Contender::with_session_timeout(a_proxy.url.clone(), &master("a"), SESSION).unwrap();
    let a_node = member(&a).await;
    let b = Contender::with_session_timeout(url.clone(), &master("b"), SESSION).unwrap();
    let b_node = member(&b).await;
    let c = Contender::with_session_timeout(c_proxy.url.clone(), &master("c"), SESSION).unwrap();
    let c_node = member(&c).await;
    assert!(
        a_node < b_node && b_node < c_node,
        "{a_node} {b_node} {c_node}"
    );
    assert!(a_node.starts_with(&format!("{}/json.info_", url.path)));

    a.leading().await.unwrap();
    assert_eq!(leaders(&[&a, &b, &c]), 1);
    assert!(matches!(b.candidacy(), Candidacy::Standby { .. }));
    let seen = until("the detector sees a", &mut detected, |l| l.is_some()).await;
    assert_eq!(seen, Some(master("a")));

    // The leader crashes: it stops leading at once, and once its session expires on the
    // servers (the session timeout) the next in sequence leads.
    let mut b_status = b.watch();
    let mut a_status = a.watch();
    a_proxy.cut();
    until("a stops leading", &mut a_status, |c| !c.is_leading()).await;
    within(
        "b leads within the session timeout",
        SESSION * 2,
        b_status.wait_for(Candidacy::is_leading),
    )
    .await
    .unwrap();
    assert!(!c.is_leading());
    let seen = until("the detector sees b", &mut detected, |l| {
        l.as_ref().and_then(|l| l.hostname.as_deref()) == Some("b")
    })
    .await;
    assert_eq!(seen, Some(master("b")));

    // a comes back and joins again with a new session, behind c.
    a_proxy.heal();
    left(&a, &a_node).await;
    let a_again = member(&a).await;
    assert!(a_again > c_node, "{a_again} rejoined after {c_node}");
    assert_eq!(leaders(&[&a, &b, &c]), 1);

    // b withdraws: c, the next in sequence, leads; then c's session dies and a leads.
    let mut c_status = c.watch();
    b.withdraw().await;
    until("c leads", &mut c_status, Candidacy::is_leading).await;
    until("the detector sees c", &mut detected, |l| {
        l.as_ref().and_then(|l| l.hostname.as_deref()) == Some("c")
    })
    .await;
    c_proxy.cut();
    until("c stops leading", &mut c_status, |c| !c.is_leading()).await;
    until("a leads again", &mut a_status, Candidacy::is_leading).await;
    until("the detector sees a again", &mut detected, |l| {
        l.as_ref().and_then(|l| l.hostname.as_deref()) == Some("a")
    })
    .await;
    assert_eq!(leaders(&[&a, &c]), 1);
    c_proxy.heal();
    left(&c, &c_node).await;

    // Everyone leaves: no leader.
    a.withdraw().await;
    c.withdraw().await;
    until(
        "the detector sees no leader",
        &mut detected,
        Option::is_none,
    )
    .await;
}

/// The data of a contender's znode is the MasterInfo as JSON, as Mesos' detectors read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_election_znode_holds_master_info_json() {
    let url = shared_url("json");
    let a = Contender::with_session_timeout(url.clone(), &master("a"), SESSION).unwrap();
    let fence = a.leading().await.unwrap();
    let client = zookeeper_client::Client::connect(&url.connect_string())
        .await
        .unwrap();
    let (data, _) = client.get_data(fence.znode()).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(json["hostname"], "a");
    assert_eq!(json["id"], "a-id");
    assert_eq!(json["port"], 5050);
    assert_eq!(json["ip"], 16777343);
    a.withdraw().await;
    let children = client.list_children(&url.path).await.unwrap();
    assert!(
        children.is_empty(),
        "withdrawing deletes the znode: {children:?}"
    );
}

fn a_fence_znode(storage: &ZkStorage) -> String {
    storage.fence().to_string()
}

fn agent(n: usize) -> Record {
    let id = format!("6f1e2b7c-0d3a-4e5f-9a8b-1c2d3e4f5a6b-S{n}");
    let info = AgentInfo {
        hostname: format!("agent-{n}.example.org"),
        port: Some(5051),
        id: Some(AgentID { value: id.clone() }),
        ..AgentInfo::default()
    };
    Record {
        table: Table::Agents,
        key: id,
        value: serde_json::to_vec(&info).unwrap(),
    }
}

async fn commit(storage: &Arc<ZkStorage>, changes: Vec<Change>) -> Result<(), String> {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || storage.commit(&changes).map_err(|e| e.to_string()))
        .await
        .unwrap()
}

async fn load(storage: &Arc<ZkStorage>) -> Vec<Record> {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || storage.load().unwrap())
        .await
        .unwrap()
}

fn weight(role: &str, weight: f64) -> Change {
    Change::Put(Record {
        table: Table::Weights,
        key: role.to_string(),
        value: serde_json::to_vec(&serde_json::json!({ "weight": weight })).unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_commit_fails_and_the_new_leaders_succeeds() {
    let url = shared_url("fencing");
    let a_proxy = Proxy::start(&url).await;
    let a = Contender::with_session_timeout(a_proxy.url.clone(), &master("a"), SESSION).unwrap();
    let a_fence = a.leading().await.unwrap();
    let b = Contender::with_session_timeout(url.clone(), &master("b"), SESSION).unwrap();
    member(&b).await;

    let a_storage = Arc::new(ZkStorage::open(&url, a_fence).await.unwrap());
    assert_eq!(a_storage.location(), format!("{url}/registry"));
    commit(&a_storage, vec![weight("eng", 1.0)]).await.unwrap();

    // a is cut off; its session expires; b leads and writes.
    let a_node = a_fence_znode(&a_storage);
    a_proxy.cut();
    let b_fence = within("b leads", SESSION * 2, b.leading()).await.unwrap();
    let b_storage = Arc::new(ZkStorage::open(&url, b_fence).await.unwrap());
    commit(&b_storage, vec![weight("eng", 2.0), weight("ops", 3.0)])
        .await
        .unwrap();

    // a's late commits are refused whole: while it is cut off, and once it is back (its old
    // session has expired meanwhile and a has joined again with a new one).
    let late = vec![weight("eng", 9.0), weight("late", 9.0)];
    commit(&a_storage, late.clone()).await.unwrap_err();
    a_proxy.heal();
    left(&a, &a_node).await;
    member(&a).await;
    within("the late commit is refused as deposed", WAIT, async {
        loop {
            let refused = commit(&a_storage, late.clone()).await.unwrap_err();
            if refused.contains("no longer the leading master") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let records = load(&b_storage).await;
    let weights: Vec<(String, serde_json::Value)> = records
        .iter()
        .filter(|r| r.table == Table::Weights)
        .map(|r| (r.key.clone(), serde_json::from_slice(&r.value).unwrap()))
        .collect();
    assert_eq!(
        weights,
        [
            ("eng".to_string(), serde_json::json!({"weight": 2.0})),
            ("ops".to_string(), serde_json::json!({"weight": 3.0})),
        ]
    );
    assert!(
        records
            .iter()
            .any(|r| r.table == Table::Meta && r.key == "version")
    );

    // A leader deposed with its session alive (its znode deleted by an operator) is fenced too.
    let admin = zookeeper_client::Client::connect(&url.connect_string())
        .await
        .unwrap();
    admin.delete(b_storage.fence(), None).await.unwrap();
    let fenced = commit(&b_storage, vec![weight("ops", 4.0)])
        .await
        .unwrap_err();
    assert!(fenced.contains("election znode"), "{fenced}");
    // a leads again (b rejoins behind it), and its new term writes.
    let a_fence = a.leading().await.unwrap();
    let a_storage = Arc::new(ZkStorage::open(&url, a_fence).await.unwrap());
    commit(
        &a_storage,
        vec![Change::Delete {
            table: Table::Weights,
            key: "ops".to_string(),
        }],
    )
    .await
    .unwrap();
    let records = load(&a_storage).await;
    assert!(!records.iter().any(|r| r.key == "ops"));
    assert!(records.iter().any(|r| r.key == "eng"));
    a.withdraw().await;
    b.withdraw().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_agents_round_trip() {
    let url = shared_url("agents");
    let a = Contender::with_session_timeout(url.clone(), &master("a"), SESSION).unwrap();
    let fence = a.leading().await.unwrap();
    let storage = Arc::new(ZkStorage::open(&url, fence).await.unwrap());
    let agents: Vec<Record> = (0..10_000).map(agent).collect();

    // One transaction cannot carry them all: refused whole, with the reason.
    let all: Vec<Change> = agents.iter().cloned().map(Change::Put).collect();
    let too_big = commit(&storage, all).await.unwrap_err();
    assert!(too_big.contains("jute.maxbuffer"), "{too_big}");
    assert_eq!(
        load(&storage)
            .await
            .iter()
            .filter(|r| r.table == Table::Agents)
            .count(),
        0
    );

    for batch in agents.chunks(1_000) {
        let changes = batch.iter().cloned().map(Change::Put).collect();
        commit(&storage, changes).await.unwrap();
    }
    // Some updated, some removed, in one batch.
    let mut updated = agent(7);
    updated.value = serde_json::to_vec(&AgentInfo {
        hostname: "renamed".to_string(),
        id: Some(AgentID {
            value: updated.key.clone(),
        }),
        ..AgentInfo::default()
    })
    .unwrap();
    let removed = agent(9_999);
    commit(
        &storage,
        vec![
            Change::Put(updated.clone()),
            Change::Delete {
                table: Table::Agents,
                key: removed.key.clone(),
            },
        ],
    )
    .await
    .unwrap();

    // A new storage (as a new leader would open it) reads them all back.
    let reopened = Arc::new(ZkStorage::open(&url, a.fence().unwrap()).await.unwrap());
    let mut loaded: Vec<Record> = load(&reopened)
        .await
        .into_iter()
        .filter(|r| r.table == Table::Agents)
        .collect();
    let mut expected: Vec<Record> = agents
        .into_iter()
        .filter(|r| r.key != removed.key)
        .map(|r| {
            if r.key == updated.key {
                updated.clone()
            } else {
                r
            }
        })
        .collect();
    loaded.sort_by(|x, y| x.key.cmp(&y.key));
    expected.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(loaded.len(), 9_999);
    assert!(
        loaded == expected,
        "the agents read back differ from those written"
    );
    a.withdraw().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_loss_stops_the_leader_and_leadership_resumes_with_quorum() {
    let ensemble = ZooKeeper::ensemble(3).unwrap();
    let url = ZkUrl::parse(&ensemble.url("/mesos")).unwrap();
    let a = Contender::with_session_timeout(url.clone(), &master("a"), SESSION).unwrap();
    a.leading().await.unwrap();
    let b = Contender::with_session_timeout(url.clone(), &master("b"), SESSION).unwrap();
    member(&b).await;
    let detector = Detector::with_session_timeout(url.clone(), SESSION).unwrap();
    let mut detected = detector.watch();
    until("the detector sees a", &mut detected, Option::is_some).await;

    // Two of three servers die: no quorum, no leader.
    let mut a_status = a.watch();
    ensemble.kill(0).unwrap();
    ensemble.kill(1).unwrap();
    until("a stops leading", &mut a_status, |c| !c.is_leading()).await;
    assert_eq!(leaders(&[&a, &b]), 0);
    until(
        "the detector gives up the leader",
        &mut detected,
        Option::is_none,
    )
    .await;
    assert!(
        !ensemble.is_serving(2),
        "one server of three does not serve"
    );

    // Quorum returns: exactly one contender leads again, and the detector sees it.
    ensemble.restart(0).unwrap();
    ensemble.restart(1).unwrap();
    for node in 0..3 {
        ensemble.wait_serving(node, WAIT).unwrap();
    }
    let mut b_status = b.watch();
    within("leadership resumes", WAIT, async {
        tokio::select! {
            _ = a_status.wait_for(Candidacy::is_leading) => {}
            _ = b_status.wait_for(Candidacy::is_leading) => {}
        }
    })
    .await;
    assert_eq!(leaders(&[&a, &b]), 1);
    let leader = if a.is_leading() { "a" } else { "b" };
    until("the detector sees the new leader", &mut detected, |l| {
        l.as_ref().and_then(|l| l.hostname.as_deref()) == Some(leader)
    })
    .await;
}
