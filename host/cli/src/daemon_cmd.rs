//! `meseta master`, `meseta agent` and `meseta local`: flags with Mesos' names (each also a
//! `MESETA_*` environment variable), module loading, and the daemons' lifetimes.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use meseta_agent::isolation::{Isolation, IsolationOptions, IsolatorSpec};
use meseta_agent::logger::{self, ContainerLogger, Rotation};
use meseta_agent::{Agent, AgentConfig, RecoverMode};
use meseta_hooks::{AgentHookChain, MasterHookChain};
use meseta_master::{Master, MasterConfig};
use meseta_runtime::manifest::parse_duration;
use meseta_runtime::{LoadedModule, Manifest, ModuleSpec, Settings, Source};

use crate::module_cmd;

/// Names `--allocator` accepts for the native hierarchical DRF.
/// `--isolation`'s built-in isolators (they report usage from `/proc`).
const POSIX_ISOLATORS: &[&str] = &["posix/cpu", "posix/mem"];

pub(crate) const NATIVE_ALLOCATOR: &[&str] = &[
    "hierarchical",
    "HierarchicalDRF",
    "mesos::internal::master::allocator::HierarchicalDRFAllocator",
];

#[derive(Args, Clone, Debug)]
pub struct ModuleArgs {
    /// Module manifest: a path, `file://` URI or inline JSON (Mesos' `--modules`).
    #[arg(long, env = "MESETA_MODULES")]
    modules: Option<String>,
    /// Directory of manifests, read in alphabetical order (Mesos' `--modules_dir`).
    #[arg(
        long = "modules_dir",
        alias = "modules-dir",
        env = "MESETA_MODULES_DIR"
    )]
    modules_dir: Option<PathBuf>,
    /// Compile modules afresh instead of using the compiled-module cache.
    #[arg(long = "no_cache", alias = "no-cache")]
    no_cache: bool,
}

#[derive(Args, Clone, Debug)]
pub struct MasterArgs {
    /// Allocator: a module name from --modules, a module built into this binary
    /// (`allocator-drf`, `allocator-binpack`), or `hierarchical` for the native DRF.
    #[arg(long, env = "MESETA_ALLOCATOR", default_value = "allocator-drf")]
    allocator: String,
    /// Candidate allocators run in shadow beside the live one, comma-separated (names as
    /// --allocator takes them, or component files): each computes its own rounds on the same
    /// state, its offers are never sent, and `/master/modules` shows how it differs.
    #[arg(
        long = "shadow_allocators",
        alias = "shadow-allocators",
        env = "MESETA_SHADOW_ALLOCATORS"
    )]
    shadow_allocators: Option<String>,
    #[command(flatten)]
    pub(crate) security: crate::security_args::MasterSecurityArgs,
    /// Roles frameworks may use (besides `*`), comma-separated; any role when absent.
    #[arg(long, env = "MESETA_ROLES")]
    roles: Option<String>,
    /// Role weights: `role1=2,role2=0.5`.
    #[arg(long, env = "MESETA_WEIGHTS")]
    weights: Option<String>,
    /// Time between allocation rounds.
    #[arg(long = "allocation_interval", alias = "allocation-interval", env = "MESETA_ALLOCATION_INTERVAL", default_value = "1secs", value_parser = parse_duration)]
    allocation_interval: Duration,
    /// Rescind offers outstanding this long (none by default).
    #[arg(long = "offer_timeout", alias = "offer-timeout", env = "MESETA_OFFER_TIMEOUT", value_parser = parse_duration)]
    offer_timeout: Option<Duration>,
    /// Time between pings of an agent; a missed answer counts as one timeout.
    #[arg(long = "agent_ping_timeout", alias = "agent-ping-timeout", env = "MESETA_AGENT_PING_TIMEOUT", default_value = "15secs", value_parser = parse_duration)]
    agent_ping_timeout: Duration,
    /// Missed pings in a row after which an agent is removed.
    #[arg(
        long = "max_agent_ping_timeouts",
        alias = "max-agent-ping-timeouts",
        env = "MESETA_MAX_AGENT_PING_TIMEOUTS",
        default_value_t = 5
    )]
    max_agent_ping_timeouts: u32,
    /// After a master restart, how long agents of the registry have to re-register before they
    /// are marked unreachable (Mesos' default; Mesos refuses less than 10 mins, Meseta takes
    /// any positive duration).
    #[arg(long = "agent_reregister_timeout", alias = "agent-reregister-timeout", env = "MESETA_AGENT_REREGISTER_TIMEOUT", default_value = "10mins", value_parser = parse_duration)]
    agent_reregister_timeout: Duration,
    /// Where the registry (admitted, unreachable and gone agents, weights, quota) lives:
    /// `replicated_log` (Mesos' name; here an embedded crash-safe store, `registry.redb`
    /// under the master's work dir) or `in_memory` (lost when the master stops; for tests).
    #[arg(long, env = "MESETA_REGISTRY", default_value = "replicated_log", value_parser = ["replicated_log", "log_storage", "in_memory"])]
    registry: String,
    /// Mesos' `--registry_strict`; only `false` is supported (as in Mesos, where `true` is
    /// refused).
    #[arg(long = "registry_strict", alias = "registry-strict", env = "MESETA_REGISTRY_STRICT", default_value_t = false, action = clap::ArgAction::Set)]
    registry_strict: bool,
    /// How long reading the registry at start-up may take.
    #[arg(long = "registry_fetch_timeout", alias = "registry-fetch-timeout", env = "MESETA_REGISTRY_FETCH_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    registry_fetch_timeout: Duration,
    /// How long one durable write of the registry may take; a slower one stops the master.
    #[arg(long = "registry_store_timeout", alias = "registry-store-timeout", env = "MESETA_REGISTRY_STORE_TIMEOUT", default_value = "20secs", value_parser = parse_duration)]
    registry_store_timeout: Duration,
    /// How often the registry drops unreachable and gone agents beyond the two limits below.
    #[arg(long = "registry_gc_interval", alias = "registry-gc-interval", env = "MESETA_REGISTRY_GC_INTERVAL", default_value = "15mins", value_parser = parse_duration)]
    registry_gc_interval: Duration,
    /// Unreachable and gone agents older than this are dropped from the registry.
    #[arg(long = "registry_max_agent_age", alias = "registry-max-agent-age", env = "MESETA_REGISTRY_MAX_AGENT_AGE", default_value = "2weeks", value_parser = parse_duration)]
    registry_max_agent_age: Duration,
    /// ZooKeeper for high availability, as Mesos: `zk://host:port[,host:port]/path` (or
    /// `zk://user:pass@...`, or `file:///path` holding such a URL). The masters given the same URL
    /// elect one leader; the others redirect to it; the registry lives in ZooKeeper.
    #[arg(long = "zk", env = "MESETA_ZK")]
    zk: Option<String>,
    /// Accepted for Mesos compatibility: the size of the replicated log's quorum. Meseta keeps
    /// the registry in ZooKeeper itself under `--zk`, whose own quorum applies.
    #[arg(long = "quorum", env = "MESETA_QUORUM")]
    quorum: Option<usize>,
    /// How long ZooKeeper may be unreachable before the session (and a leader's leadership) is
    /// lost.
    #[arg(long = "zk_session_timeout", alias = "zk-session-timeout", env = "MESETA_ZK_SESSION_TIMEOUT", default_value = "10secs", value_parser = parse_duration)]
    zk_session_timeout: Duration,
    /// At most this many unreachable (and, separately, gone) agents are kept in the registry.
    #[arg(
        long = "registry_max_agent_count",
        alias = "registry-max-agent-count",
        env = "MESETA_REGISTRY_MAX_AGENT_COUNT",
        default_value_t = 102_400
    )]
    registry_max_agent_count: usize,
    /// After a restart, the largest share of the registry's agents that may fail to re-register
    /// within --agent_reregister_timeout and be marked unreachable; beyond it the master exits
    /// (e.g. `50%`).
    #[arg(long = "recovery_agent_removal_limit", alias = "recovery-agent-removal-limit", env = "MESETA_RECOVERY_AGENT_REMOVAL_LIMIT", default_value = "100%", value_parser = parse_percent)]
    recovery_agent_removal_limit: f64,
    /// Smallest offer worth making: `cpus:0.01|mem:32` (alternatives separated by `|`).
    #[arg(
        long = "min_allocatable_resources",
        alias = "min-allocatable-resources",
        env = "MESETA_MIN_ALLOCATABLE_RESOURCES",
        default_value = "cpus:0.01|mem:32"
    )]
    min_allocatable_resources: String,
    /// Order in which roles (and frameworks in a role) are offered resources: `drf` (dominant
    /// resource fairness) or `random` (weighted random).
    #[arg(long = "role_sorter", alias = "role-sorter", alias = "framework_sorter", env = "MESETA_ROLE_SORTER", default_value = "drf", value_parser = ["drf", "random"])]
    role_sorter: String,
    /// Interval of HEARTBEAT events on scheduler streams.
    #[arg(long = "heartbeat_interval", alias = "heartbeat-interval", env = "MESETA_HEARTBEAT_INTERVAL", default_value = "5secs", value_parser = parse_duration)]
    heartbeat_interval: Duration,
}

#[derive(Args, Clone, Debug)]
pub struct AgentArgs {
    /// Resources to advertise (Mesos syntax: `cpus:4;mem:4096;ports:[31000-32000]`); the rest
    /// is detected.
    #[arg(long, env = "MESETA_RESOURCES")]
    resources: Option<String>,
    /// The role every resource that names none (detected ones included) is statically
    /// reserved for; `*`: unreserved (Mesos' `--default_role`).
    #[arg(
        long = "default_role",
        alias = "default-role",
        env = "MESETA_DEFAULT_ROLE",
        default_value = "*"
    )]
    default_role: String,
    /// Attributes to advertise: `rack:r1;zone:west`.
    #[arg(long, env = "MESETA_ATTRIBUTES")]
    attributes: Option<String>,
    /// Grace period between SIGTERM and SIGKILL when a task is killed; also the most a task's
    /// kill policy or an executor's shutdown_grace_period may ask for.
    #[arg(long = "executor_shutdown_grace_period", alias = "executor-shutdown-grace-period", env = "MESETA_EXECUTOR_SHUTDOWN_GRACE_PERIOD", default_value = "5secs", value_parser = parse_duration)]
    executor_shutdown_grace_period: Duration,
    /// How long a custom executor has to subscribe.
    #[arg(long = "executor_registration_timeout", alias = "executor-registration-timeout", env = "MESETA_EXECUTOR_REGISTRATION_TIMEOUT", default_value = "1mins", value_parser = parse_duration)]
    executor_registration_timeout: Duration,
    /// Isolators, comma-separated, run in this order: `posix/cpu`, `posix/mem` (built in), and
    /// isolator modules by name (from --modules, or built in: `isolator-cgroups`,
    /// `isolator-disk`).
    #[arg(long, env = "MESETA_ISOLATION", default_value = "posix/cpu,posix/mem")]
    isolation: String,
    /// The cgroup (under each controller) that holds the containers' cgroups.
    #[arg(
        long = "cgroups_root",
        alias = "cgroups-root",
        env = "MESETA_CGROUPS_ROOT",
        default_value = "meseta"
    )]
    cgroups_root: String,
    /// Hard cpu limits: a CFS quota of `cpus` (isolator parameter `cfs_quota`).
    #[arg(
        long = "cgroups_enable_cfs",
        alias = "cgroups-enable-cfs",
        env = "MESETA_CGROUPS_ENABLE_CFS"
    )]
    cgroups_enable_cfs: bool,
    /// Where tasks' stdout and stderr go: `logrotate` (files in the sandbox rotated by size,
    /// Mesos' LogrotateContainerLogger) or `sandbox` (unrotated files, Mesos' default). Mesos'
    /// module names `org_apache_mesos_LogrotateContainerLogger` and
    /// `org_apache_mesos_SandboxContainerLogger` are accepted too.
    #[arg(
        long = "container_logger",
        alias = "container-logger",
        env = "MESETA_CONTAINER_LOGGER",
        default_value = "logrotate",
        value_parser = [
            "logrotate",
            "sandbox",
            "org_apache_mesos_LogrotateContainerLogger",
            "org_apache_mesos_SandboxContainerLogger",
        ]
    )]
    container_logger: String,
    /// The logrotate logger's `max_stdout_size`: `stdout` is rotated when it reaches this
    /// (Mesos' byte syntax: `10MB`; at least 4KB).
    #[arg(long = "container_logger_max_stdout_size", alias = "container-logger-max-stdout-size", env = "MESETA_CONTAINER_LOGGER_MAX_STDOUT_SIZE", default_value = "10MB", value_parser = meseta_runtime::manifest::parse_bytes)]
    container_logger_max_stdout_size: u64,
    /// The logrotate logger's `logrotate_stdout_options`: `rotate <count>` rotated files of
    /// stdout are kept (`stdout.1` newest); without it none.
    #[arg(long = "container_logger_logrotate_stdout_options", alias = "container-logger-logrotate-stdout-options", env = "MESETA_CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS", default_value = meseta_agent::logger::DEFAULT_OPTIONS)]
    container_logger_logrotate_stdout_options: String,
    /// The logrotate logger's `max_stderr_size`.
    #[arg(long = "container_logger_max_stderr_size", alias = "container-logger-max-stderr-size", env = "MESETA_CONTAINER_LOGGER_MAX_STDERR_SIZE", default_value = "10MB", value_parser = meseta_runtime::manifest::parse_bytes)]
    container_logger_max_stderr_size: u64,
    /// The logrotate logger's `logrotate_stderr_options`.
    #[arg(long = "container_logger_logrotate_stderr_options", alias = "container-logger-logrotate-stderr-options", env = "MESETA_CONTAINER_LOGGER_LOGROTATE_STDERR_OPTIONS", default_value = meseta_agent::logger::DEFAULT_OPTIONS)]
    container_logger_logrotate_stderr_options: String,
    /// How often disk isolators measure a sandbox (isolator parameter `watch_interval`).
    #[arg(long = "container_disk_watch_interval", alias = "container-disk-watch-interval", env = "MESETA_CONTAINER_DISK_WATCH_INTERVAL", default_value = "15secs", value_parser = parse_duration)]
    container_disk_watch_interval: Duration,
    /// Resource estimator module: how much may be oversubscribed (revocable resources).
    #[arg(
        long = "resource_estimator",
        alias = "resource-estimator",
        env = "MESETA_RESOURCE_ESTIMATOR"
    )]
    resource_estimator: Option<String>,
    /// How often the resource estimator is asked.
    #[arg(long = "oversubscribed_resources_interval", alias = "oversubscribed-resources-interval", env = "MESETA_OVERSUBSCRIBED_RESOURCES_INTERVAL", default_value = "15secs", value_parser = parse_duration)]
    oversubscribed_resources_interval: Duration,
    /// QoS controller module: which revocable work to preempt.
    #[arg(
        long = "qos_controller",
        alias = "qos-controller",
        env = "MESETA_QOS_CONTROLLER"
    )]
    qos_controller: Option<String>,
    /// How often the QoS controller is asked.
    #[arg(long = "qos_correction_interval_min", alias = "qos-correction-interval-min", env = "MESETA_QOS_CORRECTION_INTERVAL_MIN", default_value = "1secs", value_parser = parse_duration)]
    qos_correction_interval_min: Duration,
    /// What to do with the executors and tasks a previous agent left in --work_dir:
    /// `reconnect` recovers the tasks of checkpointing frameworks (same agent id, their
    /// processes keep running, their status updates are resent); `cleanup` kills them all,
    /// forgets the agent id and exits.
    #[arg(long, env = "MESETA_RECOVER", default_value = "reconnect", value_parser = ["reconnect", "cleanup"])]
    recover: String,
    /// Whether an unreadable checkpoint stops the agent (`false`: it is skipped and counted in
    /// `slave/recovery_errors`).
    #[arg(long, env = "MESETA_STRICT", default_value_t = true, action = clap::ArgAction::Set)]
    strict: bool,
    /// How long the executors of checkpointing frameworks wait for a restarted agent
    /// (`MESOS_RECOVERY_TIMEOUT` in their environment).
    #[arg(long = "recovery_timeout", alias = "recovery-timeout", env = "MESETA_RECOVERY_TIMEOUT", default_value = "15mins", value_parser = parse_duration)]
    recovery_timeout: Duration,
    /// How long recovered executors have to subscribe again; then they are killed and their
    /// tasks become TASK_LOST (TASK_GONE for partition-aware frameworks). The agent
    /// re-registers with the master after it. At most 15 seconds.
    #[arg(long = "executor_reregistration_timeout", alias = "executor-reregistration-timeout", env = "MESETA_EXECUTOR_REREGISTRATION_TIMEOUT", default_value = "2secs", value_parser = parse_duration)]
    executor_reregistration_timeout: Duration,
    /// First resend of a status update the framework has not acknowledged (Mesos' fixed
    /// STATUS_UPDATE_RETRY_INTERVAL_MIN); each later resend comes after twice the previous
    /// interval.
    #[arg(long = "status_update_retry_interval_min", alias = "status-update-retry-interval-min", env = "MESETA_STATUS_UPDATE_RETRY_INTERVAL_MIN", default_value = "10secs", value_parser = parse_duration)]
    status_update_retry_interval_min: Duration,
    /// Longest interval between resends of an unacknowledged status update (Mesos' fixed
    /// STATUS_UPDATE_RETRY_INTERVAL_MAX); not less than --status_update_retry_interval_min.
    #[arg(long = "status_update_retry_interval_max", alias = "status-update-retry-interval-max", env = "MESETA_STATUS_UPDATE_RETRY_INTERVAL_MAX", default_value = "10mins", value_parser = parse_duration)]
    status_update_retry_interval_max: Duration,
}

/// What a daemon's HTTP server accepts (`meseta local`: the master's and each agent's).
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// Connections open at once; past it new connections wait until one closes.
    #[arg(long = "http_max_connections", alias = "http-max-connections", env = "MESETA_HTTP_MAX_CONNECTIONS", default_value_t = meseta_http::DEFAULT_MAX_CONNECTIONS, value_parser = parse_max_connections)]
    max_connections: usize,
    /// How long a request's head may take to arrive, from its first byte (a new connection:
    /// from its start); slower connections are closed.
    #[arg(long = "http_header_read_timeout", alias = "http-header-read-timeout", env = "MESETA_HTTP_HEADER_READ_TIMEOUT", default_value = "30secs", value_parser = parse_positive_duration)]
    header_read_timeout: Duration,
    /// How long a keep-alive connection with no request in flight may stay silent before it is
    /// closed (streams such as SUBSCRIBE are requests in flight, never cut).
    #[arg(long = "http_idle_timeout", alias = "http-idle-timeout", env = "MESETA_HTTP_IDLE_TIMEOUT", default_value = "1hrs", value_parser = parse_positive_duration)]
    idle_timeout: Duration,
    /// Largest request body (`16MB`, `512KB`); a larger one is answered 413.
    #[arg(long = "http_max_body_size", alias = "http-max-body-size", env = "MESETA_HTTP_MAX_BODY_SIZE", default_value = "16MB", value_parser = parse_body_size)]
    max_body_size: usize,
}

impl HttpArgs {
    fn limits(&self) -> meseta_http::Limits {
        meseta_http::Limits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_body_size: self.max_body_size,
        }
    }

    fn flags(&self) -> Vec<(String, String)> {
        vec![
            (
                "http_max_connections".into(),
                self.max_connections.to_string(),
            ),
            (
                "http_header_read_timeout".into(),
                format!("{:?}", self.header_read_timeout),
            ),
            (
                "http_idle_timeout".into(),
                format!("{:?}", self.idle_timeout),
            ),
            (
                "http_max_body_size".into(),
                format!("{}B", self.max_body_size),
            ),
        ]
    }
}

fn parse_max_connections(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "\"{text}\" is not a positive number of connections"
        )),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("\"{text}\" must be longer than zero"));
    }
    Ok(d)
}

fn parse_body_size(text: &str) -> Result<usize, String> {
    let n = meseta_runtime::manifest::parse_bytes(text)?;
    if n == 0 {
        return Err(format!("\"{text}\" must be more than zero bytes"));
    }
    usize::try_from(n).map_err(|_| format!("\"{text}\" is too large"))
}

#[derive(Args, Clone, Debug)]
pub struct MasterCommand {
    /// IP address to listen on.
    #[arg(long, env = "MESETA_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "MESETA_PORT", default_value_t = 5050)]
    port: u16,
    /// Hostname to advertise.
    #[arg(long, env = "MESETA_HOSTNAME")]
    hostname: Option<String>,
    /// Directory for the master's files (the registry, `registry.redb`).
    #[arg(
        long = "work_dir",
        alias = "work-dir",
        env = "MESETA_WORK_DIR",
        default_value = "/tmp/meseta/master"
    )]
    work_dir: PathBuf,
    /// Master hook modules, comma-separated, run in this order.
    #[arg(long = "hooks", env = "MESETA_HOOKS")]
    hooks: Option<String>,
    #[command(flatten)]
    master: MasterArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    modules: ModuleArgs,
}

#[derive(Args, Clone, Debug)]
pub struct AgentCommand {
    /// The master: `host:port`, or, to follow the leading master of a ZooKeeper election as
    /// Mesos' agents do, `zk://host:port[,host:port...]/path` (`zk://user:password@hosts/path`
    /// for digest authentication) or `file:///path` of a file holding such a URL.
    #[arg(long, env = "MESETA_MASTER")]
    master: String,
    /// IP address to listen on.
    #[arg(long, env = "MESETA_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "MESETA_PORT", default_value_t = 5051)]
    port: u16,
    /// Hostname to advertise.
    #[arg(long, env = "MESETA_HOSTNAME")]
    hostname: Option<String>,
    /// Directory for sandboxes.
    #[arg(
        long = "work_dir",
        alias = "work-dir",
        env = "MESETA_WORK_DIR",
        default_value = "/tmp/meseta/agent"
    )]
    work_dir: PathBuf,
    /// Agent hook modules, comma-separated, run in this order.
    #[arg(long = "hooks", env = "MESETA_HOOKS")]
    hooks: Option<String>,
    #[command(flatten)]
    agent: AgentArgs,
    #[command(flatten)]
    security: crate::security_args::AgentSecurityArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    modules: ModuleArgs,
}

#[derive(Args, Clone, Debug)]
pub struct LocalCommand {
    /// IP address the master and the agent listen on.
    #[arg(long, env = "MESETA_IP", default_value = "127.0.0.1")]
    ip: IpAddr,
    /// The master's port (0: any free port).
    #[arg(long, env = "MESETA_PORT", default_value_t = 5050)]
    port: u16,
    /// The agent's port (0: any free port; the default picks a free one).
    #[arg(
        long = "agent_port",
        alias = "agent-port",
        env = "MESETA_AGENT_PORT",
        default_value_t = 0
    )]
    agent_port: u16,
    /// How many agents to run (Mesos' `mesos-local --num_slaves`); each advertises
    /// `--resources` and listens on a free port (the first on `--agent_port`).
    #[arg(
        long = "num_agents",
        alias = "num-agents",
        alias = "num_slaves",
        env = "MESETA_NUM_AGENTS",
        default_value_t = 1
    )]
    num_agents: u16,
    /// Hostname to advertise.
    #[arg(long, env = "MESETA_HOSTNAME")]
    hostname: Option<String>,
    /// Directory for sandboxes.
    #[arg(
        long = "work_dir",
        alias = "work-dir",
        env = "MESETA_WORK_DIR",
        default_value = "/tmp/meseta/local"
    )]
    work_dir: PathBuf,
    /// Hook modules, comma-separated (master hooks and agent hooks by their kind).
    #[arg(long = "hooks", env = "MESETA_HOOKS")]
    hooks: Option<String>,
    #[command(flatten)]
    master: MasterArgs,
    #[command(flatten)]
    agent: AgentArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    modules: ModuleArgs,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("meseta: {message}");
    ExitCode::from(1)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The modules of the manifest, loaded and started once each (a broken module stops the daemon
/// at start-up, with the loader's message).
pub(crate) struct Modules {
    loaded: Vec<Arc<LoadedModule>>,
    no_cache: bool,
}

impl Modules {
    pub(crate) fn load(args: &ModuleArgs) -> Result<Modules, String> {
        let manifest = Manifest::from_flags(args.modules.as_deref(), args.modules_dir.as_deref())
            .map_err(|e| e.to_string())?;
        let loader = module_cmd::loader(args.no_cache);
        let mut loaded = Vec::new();
        for spec in &manifest.modules {
            let m = Arc::new(loader.load(spec).map_err(|e| e.to_string())?);
            loaded.push(m);
        }
        Ok(Modules {
            loaded,
            no_cache: args.no_cache,
        })
    }

    /// An allocator module by name, as [`Modules::get`], refusing a module of another kind.
    pub(crate) fn allocator(
        &mut self,
        name: &str,
        flag: &str,
    ) -> Result<Arc<LoadedModule>, String> {
        let m = self.get_of(name, flag, &["allocator"])?;
        if m.world.kind != "allocator" {
            return Err(format!(
                "{flag}: module '{name}' is {} {} module, not an allocator",
                meseta_runtime::article(m.world.kind),
                m.world.kind
            ));
        }
        Ok(m)
    }

    /// An isolator module for `--isolation`, which also takes the built-in `posix/*` names.
    fn isolator(&mut self, name: &str) -> Result<Arc<LoadedModule>, String> {
        self.get_or(name, "--isolation", &["isolator"], POSIX_ISOLATORS)
    }

    /// A module by name: from the manifest, else one built into the binary (crate name).
    pub(crate) fn get(&mut self, name: &str, flag: &str) -> Result<Arc<LoadedModule>, String> {
        self.get_of(name, flag, &[])
    }

    /// [`Modules::get`] for a flag that takes modules of `kinds` only (all kinds when empty):
    /// an unknown name is answered with the modules of those kinds, plus `also` (the flag's
    /// built-in names, e.g. `posix/cpu`).
    pub(crate) fn get_of(
        &mut self,
        name: &str,
        flag: &str,
        kinds: &[&str],
    ) -> Result<Arc<LoadedModule>, String> {
        self.get_or(name, flag, kinds, &[])
    }

    fn get_or(
        &mut self,
        name: &str,
        flag: &str,
        kinds: &[&str],
        also: &[&str],
    ) -> Result<Arc<LoadedModule>, String> {
        if let Some(m) = self.loaded.iter().find(|m| m.spec.name == name) {
            return Ok(m.clone());
        }
        if meseta_artifacts::shipped(name).is_none() {
            let fits = |kind: &str| kinds.is_empty() || kinds.contains(&kind);
            let mut known: Vec<String> = also.iter().map(|s| s.to_string()).collect();
            // Manifest modules are loaded at start-up, so their kinds are known.
            known.extend(
                self.loaded
                    .iter()
                    .filter(|m| fits(m.world.kind))
                    .map(|m| m.spec.name.clone()),
            );
            known.extend(
                meseta_artifacts::SHIPPED
                    .iter()
                    .filter(|a| fits(a.kind))
                    .map(|a| a.name.to_string()),
            );
            let what = match kinds {
                [] => "module".to_string(),
                [kind] => format!("{kind} module"),
                _ => format!("{} module", kinds.join(" or ")),
            };
            // A shipped module already loaded (as the allocator, say) is named once.
            let mut seen = std::collections::HashSet::new();
            known.retain(|k| seen.insert(k.clone()));
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(format!(
                "{flag}: no {what} named '{name}' in --modules/--modules_dir and none built into this binary (known: {known})"
            ));
        }
        let spec = ModuleSpec {
            name: name.to_string(),
            source: Source::Builtin(name.to_string()),
            kind: None,
            parameters: Vec::new(),
            settings: Settings::default(),
            origin: format!("{flag} (built into meseta)"),
        };
        let loader = module_cmd::loader(self.no_cache);
        let m = Arc::new(loader.load(&spec).map_err(|e| e.to_string())?);
        self.loaded.push(m.clone());
        Ok(m)
    }
}

/// `--recovery_agent_removal_limit`: a percentage (`50%`, Mesos' syntax), as a fraction.
fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text
        .trim()
        .strip_suffix('%')
        .ok_or_else(|| format!("'{text}' must be a percentage ending in '%', e.g. 50%"))?;
    match number.trim().parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!("'{text}' must be a percentage from 0% to 100%")),
    }
}

fn parse_weights(text: Option<&str>) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for part in text
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (role, w) = part
            .split_once('=')
            .ok_or_else(|| format!("--weights: '{part}' is not 'role=weight'"))?;
        let w: f64 = w
            .trim()
            .parse()
            .map_err(|_| format!("--weights: the weight in '{part}' is not a number"))?;
        out.push((role.trim().to_string(), w));
    }
    Ok(out)
}

fn master_config(
    listen: SocketAddr,
    hostname: Option<String>,
    work_dir: PathBuf,
    args: &MasterArgs,
    hooks: Option<&str>,
    modules: &mut Modules,
) -> Result<MasterConfig, String> {
    if args.registry_strict {
        return Err(
            "--registry_strict=true is not supported (Mesos refuses it too): drop the flag".into(),
        );
    }
    let registry = if args.registry == "in_memory" {
        meseta_registry::Backend::InMemory
    } else {
        meseta_registry::Backend::Redb
    };
    let zk = match &args.zk {
        Some(text) => Some(meseta_zk::ZkUrl::parse(text).map_err(|e| format!("--zk: {e}"))?),
        None => None,
    };
    if args.quorum == Some(0) {
        return Err("--quorum must be at least 1".into());
    }
    let authentication = args.security.authentication()?;
    let acls = args
        .security
        .acls
        .as_deref()
        .map(meseta_authorizer::read_acls_flag)
        .transpose()?;
    let authorizer = meseta_authorizer::Authorizer::resolve(
        &args.security.authorizers,
        acls.as_deref(),
        |name| modules.get_of(name, "--authorizers", &["authorizer"]),
    )?;
    let authz = if authorizer.allows_everything() {
        meseta_master::security::Authz::default()
    } else {
        meseta_master::security::Authz::new(move |request| authorizer.authorized(request))
    };
    let mut flags = master_flags(args, listen);
    flags.extend(args.security.flags());
    flags.push(("work_dir".into(), work_dir.display().to_string()));
    if let Some(zk) = &zk {
        flags.push(("zk".into(), zk.to_string()));
        flags.push((
            "zk_session_timeout".into(),
            format!("{}secs", args.zk_session_timeout.as_secs_f64()),
        ));
    }
    if let Some(q) = args.quorum {
        flags.push(("quorum".into(), q.to_string()));
    }
    let allocator = if NATIVE_ALLOCATOR.contains(&args.allocator.as_str()) {
        None
    } else {
        Some(modules.allocator(&args.allocator, "--allocator")?)
    };
    let mut master_hooks = Vec::new();
    for name in hook_names(hooks) {
        let m = modules.get_of(name, "--hooks", &["master-hooks", "agent-hooks"])?;
        if m.world.kind != "master-hooks" && m.world.kind != "agent-hooks" {
            return Err(format!(
                "--hooks: module '{name}' is {} {} module, not a hook module",
                meseta_runtime::article(m.world.kind),
                m.world.kind
            ));
        }
        // Agent hooks are for the agents (`meseta local` passes them on).
        if m.world.kind == "master-hooks" {
            master_hooks.push(m);
        }
    }
    let hooks = MasterHookChain::from_modules(master_hooks).map_err(|e| e.to_string())?;
    let roles = args.roles.as_ref().map(|r| {
        r.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    Ok(MasterConfig {
        listen,
        hostname,
        http: meseta_http::Limits::default(),
        heartbeat_interval: args.heartbeat_interval,
        allocation_interval: args.allocation_interval,
        offer_timeout: args.offer_timeout,
        agent_ping_timeout: args.agent_ping_timeout,
        max_agent_ping_timeouts: args.max_agent_ping_timeouts,
        agent_reregister_timeout: args.agent_reregister_timeout,
        registry,
        work_dir: Some(work_dir),
        zk,
        zk_session_timeout: args.zk_session_timeout,
        allocators: None,
        shadow_allocators: Vec::new(),
        registry_fetch_timeout: args.registry_fetch_timeout,
        registry_store_timeout: args.registry_store_timeout,
        registry_gc_interval: args.registry_gc_interval,
        registry_max_agent_age: args.registry_max_agent_age,
        registry_max_agent_count: args.registry_max_agent_count,
        recovery_agent_removal_limit: args.recovery_agent_removal_limit,
        roles,
        weights: parse_weights(args.weights.as_deref())?,
        min_allocatable_resources: args.min_allocatable_resources.clone(),
        sorter: if args.role_sorter == "random" {
            meseta_types::allocation::Sorter::Random
        } else {
            meseta_types::allocation::Sorter::Drf
        },
        allocator,
        modules: modules.loaded.clone(),
        hooks: Arc::new(hooks),
        flags,
        authentication,
        authz,
    })
}

fn master_flags(args: &MasterArgs, listen: SocketAddr) -> Vec<(String, String)> {
    let mut f = vec![
        ("ip".to_string(), listen.ip().to_string()),
        ("port".to_string(), listen.port().to_string()),
        ("allocator".to_string(), args.allocator.clone()),
        ("role_sorter".to_string(), args.role_sorter.clone()),
        (
            "allocation_interval".to_string(),
            format!("{}secs", args.allocation_interval.as_secs_f64()),
        ),
        (
            "agent_ping_timeout".to_string(),
            format!("{}secs", args.agent_ping_timeout.as_secs_f64()),
        ),
        (
            "max_agent_ping_timeouts".to_string(),
            args.max_agent_ping_timeouts.to_string(),
        ),
        (
            "min_allocatable_resources".to_string(),
            args.min_allocatable_resources.clone(),
        ),
    ];
    if let Some(t) = args.offer_timeout {
        f.push(("offer_timeout".into(), format!("{}secs", t.as_secs_f64())));
    }
    if let Some(w) = &args.weights {
        f.push(("weights".into(), w.clone()));
    }
    if let Some(r) = &args.roles {
        f.push(("roles".into(), r.clone()));
    }
    if let Some(s) = &args.shadow_allocators {
        f.push(("shadow_allocators".into(), s.clone()));
    }
    f
}

/// `--shadow_allocators`, each loaded as `ADD_SHADOW_ALLOCATOR` would load it.
fn shadow_allocators(
    args: &MasterArgs,
    resolve: &meseta_master::AllocatorResolver,
) -> Result<
    Vec<(
        meseta_master::AllocatorChoice,
        meseta_master::AllocatorSource,
    )>,
    String,
> {
    let Some(list) = &args.shadow_allocators else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let source = meseta_master::AllocatorSource {
            allocator: name.to_string(),
            manifest: None,
        };
        let choice = resolve(&source).map_err(|e| format!("--shadow_allocators: {e}"))?;
        let named = meseta_master::allocator::choice_name(&choice);
        if out
            .iter()
            .any(|(c, _)| meseta_master::allocator::choice_name(c) == named)
        {
            return Err(format!(
                "--shadow_allocators: '{name}' is named twice (a shadow runs once)"
            ));
        }
        out.push((choice, source));
    }
    Ok(out)
}

/// `--isolation`: each agent gets its own isolators (module instances start here).
fn isolation(args: &AgentArgs, modules: &mut Modules) -> Result<Arc<Isolation>, String> {
    let mut specs = Vec::new();
    for name in args
        .isolation
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        specs.push(match name {
            "posix/cpu" => IsolatorSpec::PosixCpu,
            "posix/mem" => IsolatorSpec::PosixMem,
            "cgroups/cpu" | "cgroups/mem" => {
                return Err(format!(
                    "--isolation: '{name}' is a Mesos built-in; Meseta's cgroups isolation is \
                     the module 'isolator-cgroups'"
                ));
            }
            _ => IsolatorSpec::Module(modules.isolator(name)?),
        });
    }
    let options = IsolationOptions {
        cgroups_root: args.cgroups_root.clone(),
        cgroups_enable_cfs: args.cgroups_enable_cfs,
        container_disk_watch_interval: args.container_disk_watch_interval,
        ..IsolationOptions::default()
    };
    Isolation::new(&specs, options)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The agent-hooks modules of a `--hooks` list (already loaded and kind-checked).
fn agent_hook_modules(
    list: Option<&str>,
    modules: &mut Modules,
) -> Result<Vec<Arc<LoadedModule>>, String> {
    let mut out = Vec::new();
    for name in hook_names(list) {
        let m = modules.get(name, "--hooks")?;
        if m.world.kind == "agent-hooks" {
            out.push(m);
        }
    }
    Ok(out)
}

/// A fresh chain (its own instances) of the agent-hooks modules, for one agent.
fn agent_hooks(modules: &[Arc<LoadedModule>]) -> Result<Arc<AgentHookChain>, String> {
    AgentHookChain::from_modules(modules.to_vec())
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// `--container_logger` and the logrotate logger's parameters.
fn container_logger(args: &AgentArgs) -> Result<ContainerLogger, String> {
    if matches!(
        args.container_logger.as_str(),
        "sandbox" | "org_apache_mesos_SandboxContainerLogger"
    ) {
        return Ok(ContainerLogger::Sandbox);
    }
    let stream = |name: &str, max_size: u64, options: &str| -> Result<Rotation, String> {
        Ok(Rotation {
            max_size: logger::check_max_size(max_size)
                .map_err(|e| format!("--container_logger_max_{name}_size: {e}"))?,
            keep: logger::parse_logrotate_options(options)
                .map_err(|e| format!("--container_logger_logrotate_{name}_options: {e}"))?,
        })
    };
    Ok(ContainerLogger::Logrotate {
        stdout: stream(
            "stdout",
            args.container_logger_max_stdout_size,
            &args.container_logger_logrotate_stdout_options,
        )?,
        stderr: stream(
            "stderr",
            args.container_logger_max_stderr_size,
            &args.container_logger_logrotate_stderr_options,
        )?,
    })
}

fn agent_config(
    master: String,
    listen: SocketAddr,
    hostname: Option<String>,
    work_dir: PathBuf,
    args: &AgentArgs,
    modules: &mut Modules,
    hooks: Arc<AgentHookChain>,
) -> Result<AgentConfig, String> {
    let resource_estimator = match &args.resource_estimator {
        Some(name) => {
            Some(modules.get_of(name, "--resource_estimator", &["resource-estimator"])?)
        }
        None => None,
    };
    let qos_controller = match &args.qos_controller {
        Some(name) => Some(modules.get_of(name, "--qos_controller", &["qos-controller"])?),
        None => None,
    };
    if args.status_update_retry_interval_min.is_zero() {
        return Err("--status_update_retry_interval_min must be positive".into());
    }
    if args.status_update_retry_interval_max < args.status_update_retry_interval_min {
        return Err(format!(
            "--status_update_retry_interval_max ({:?}) is less than \
             --status_update_retry_interval_min ({:?})",
            args.status_update_retry_interval_max, args.status_update_retry_interval_min
        ));
    }
    let container_logger = container_logger(args)?;
    Ok(AgentConfig {
        container_logger,
        master,
        listen,
        hostname,
        http: meseta_http::Limits::default(),
        work_dir,
        resources: args.resources.clone(),
        default_role: Some(args.default_role.clone()),
        attributes: args.attributes.clone(),
        executor_shutdown_grace_period: args.executor_shutdown_grace_period,
        executor_registration_timeout: args.executor_registration_timeout,
        isolation: Some(isolation(args, modules)?),
        resource_estimator,
        oversubscribed_resources_interval: args.oversubscribed_resources_interval,
        qos_controller,
        qos_correction_interval_min: args.qos_correction_interval_min,
        hooks,
        // command tasks and executors run under `meseta supervise`, so that those of
        // checkpointing frameworks outlive the agent
        supervisor: std::env::current_exe().ok(),
        recover: match args.recover.as_str() {
            "cleanup" => RecoverMode::Cleanup,
            _ => RecoverMode::Reconnect,
        },
        strict: args.strict,
        recovery_timeout: args.recovery_timeout,
        executor_reregistration_timeout: args
            .executor_reregistration_timeout
            .min(Duration::from_secs(15)),
        status_update_retry_min: args.status_update_retry_interval_min,
        status_update_retry_max: args.status_update_retry_interval_max,
        cgroups_root: args.cgroups_root.clone(),
        ..AgentConfig::default()
    })
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The names of a comma-separated `--hooks` list.
fn hook_names(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

pub fn master(cmd: MasterCommand) -> ExitCode {
    exit(run_master(cmd))
}

pub fn agent(cmd: AgentCommand) -> ExitCode {
    exit(run_agent(cmd))
}

pub fn local(cmd: LocalCommand) -> ExitCode {
    exit(run_local(cmd))
}

/// What `SWAP_ALLOCATOR`, `ADD_SHADOW_ALLOCATOR` and `--shadow_allocators` may name: a name as `--allocator` takes it (from the daemon's module
/// list or built into the binary, loaded on first use), `hierarchical`, the path of a component
/// file on the master's machine, or the entry of that name in a module manifest there.
fn allocator_resolver(modules: Modules) -> meseta_master::AllocatorResolver {
    let modules = std::sync::Mutex::new(modules);
    Arc::new(move |source: &meseta_master::AllocatorSource| {
        let name = source.allocator.as_str();
        let load = |spec: &ModuleSpec| -> Result<meseta_master::AllocatorChoice, String> {
            let m = module_cmd::loader(false)
                .load(spec)
                .map_err(|e| format!("allocator '{name}': {e}"))?;
            if m.world.kind != "allocator" {
                return Err(format!(
                    "module '{name}' is {} {} module, not an allocator",
                    meseta_runtime::article(m.world.kind),
                    m.world.kind
                ));
            }
            Ok(meseta_master::AllocatorChoice::Module(Arc::new(m)))
        };
        if let Some(manifest) = &source.manifest {
            let manifest = Manifest::from_flags(Some(manifest), None)
                .map_err(|e| format!("manifest {manifest}: {e}"))?;
            let spec = manifest
                .modules
                .iter()
                .find(|m| m.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        manifest.modules.iter().map(|m| m.name.as_str()).collect();
                    format!(
                        "the manifest has no module named '{name}' (it has: {})",
                        known.join(", ")
                    )
                })?;
            return load(spec);
        }
        if NATIVE_ALLOCATOR.contains(&name) {
            return Ok(meseta_master::AllocatorChoice::Native);
        }
        if name.ends_with(".wasm") {
            return load(&module_cmd::file_spec(
                std::path::Path::new(name),
                Some("allocator"),
            ));
        }
        let mut modules = modules
            .lock()
            .map_err(|_| "the module list is unusable (a load panicked)")?;
        modules
            .allocator(name, "allocator")
            .map(meseta_master::AllocatorChoice::Module)
    })
}

fn run_master(cmd: MasterCommand) -> Result<(), String> {
    let listen = SocketAddr::new(cmd.ip, cmd.port);
    let mut modules = Modules::load(&cmd.modules)?;
    let mut config = master_config(
        listen,
        cmd.hostname,
        cmd.work_dir,
        &cmd.master,
        cmd.hooks.as_deref(),
        &mut modules,
    )?;
    let resolve = allocator_resolver(modules);
    config.shadow_allocators = shadow_allocators(&cmd.master, &resolve)?;
    config.allocators = Some(resolve);
    config.http = cmd.http.limits();
    config.flags.extend(cmd.http.flags());
    runtime()?.block_on(async move {
        let master = Master::start(config).await.map_err(|e| e.to_string())?;
        print_line(&format!(
            "Master: {}",
            meseta_http::tls::url(&master.address().to_string())
        ));
        let failed = tokio::select! {
            _ = stop_signal() => None,
            why = master.failed() => Some(why),
        };
        master.stop().await;
        failed.map_or(Ok(()), Err)
    })
}

fn run_agent(cmd: AgentCommand) -> Result<(), String> {
    let listen = SocketAddr::new(cmd.ip, cmd.port);
    let mut modules = Modules::load(&cmd.modules)?;
    for name in hook_names(cmd.hooks.as_deref()) {
        let m = modules.get_of(name, "--hooks", &["agent-hooks"])?;
        if m.world.kind != "agent-hooks" {
            return Err(format!(
                "--hooks: module '{name}' is {} {} module, not an agent-hooks module",
                meseta_runtime::article(m.world.kind),
                m.world.kind
            ));
        }
    }
    let hooks = agent_hooks(&agent_hook_modules(cmd.hooks.as_deref(), &mut modules)?)?;
    let mut config = agent_config(
        cmd.master,
        listen,
        cmd.hostname,
        cmd.work_dir,
        &cmd.agent,
        &mut modules,
        hooks,
    )?;
    config.http = cmd.http.limits();
    config.auth = cmd.security.auth()?;
    if config.recover == RecoverMode::Cleanup {
        let killed = meseta_agent::daemon::cleanup(&config.work_dir, &config.cgroups_root)
            .map_err(|e| e.to_string())?;
        tracing::info!(
            containers = killed,
            "--recover=cleanup: killed what the previous agent left; exiting"
        );
        return Ok(());
    }
    runtime()?.block_on(async move {
        let agent = Agent::start(config).await.map_err(|e| e.to_string())?;
        print_line(&format!(
            "Agent: {}",
            meseta_http::tls::url(&agent.address().to_string())
        ));
        tokio::select! {
            _ = stop_signal() => {
                // as Mesos' agent: the tasks of checkpointing frameworks outlive a clean exit
                agent.exit().await;
                Ok(())
            }
            why = agent.shut_down_by_master() => {
                agent.stop().await;
                eprintln!("meseta: the master shut this agent down: {why}");
                Ok(())
            }
        }
    })
}

fn run_local(cmd: LocalCommand) -> Result<(), String> {
    let listen = SocketAddr::new(cmd.ip, cmd.port);
    let mut modules = Modules::load(&cmd.modules)?;
    // the master's registry beside the agents' sandboxes
    let mut config = master_config(
        listen,
        cmd.hostname.clone(),
        cmd.work_dir.join("master"),
        &cmd.master,
        cmd.hooks.as_deref(),
        &mut modules,
    )?;
    // the agents' configs (their isolators and policies start here); the master's address is
    // filled in once it listens
    let agent_hook_modules = agent_hook_modules(cmd.hooks.as_deref(), &mut modules)?;
    let mut agent_configs = Vec::new();
    for i in 0..cmd.num_agents.max(1) {
        let port = if i == 0 { cmd.agent_port } else { 0 };
        // one work dir per agent: each checkpoints its own id (`meta/slaves/latest`)
        let work_dir = if i == 0 {
            cmd.work_dir.clone()
        } else {
            cmd.work_dir.join("agents").join(i.to_string())
        };
        agent_configs.push(agent_config(
            String::new(),
            SocketAddr::new(cmd.ip, port),
            cmd.hostname.clone(),
            work_dir,
            &cmd.agent,
            &mut modules,
            agent_hooks(&agent_hook_modules)?,
        )?);
    }
    let agent_credential = cmd.master.security.agent_credential()?;
    for agent in &mut agent_configs {
        agent.http = cmd.http.limits();
        agent.auth.credential = agent_credential.clone();
    }
    let resolve = allocator_resolver(modules);
    config.shadow_allocators = shadow_allocators(&cmd.master, &resolve)?;
    config.allocators = Some(resolve);
    config.http = cmd.http.limits();
    config.flags.extend(cmd.http.flags());
    let zk = cmd.master.zk.clone();
    runtime()?.block_on(async move {
        let master = Master::start(config).await.map_err(|e| e.to_string())?;
        let mut agents = Vec::new();
        for mut config in agent_configs {
            // with --zk the agents follow whichever master leads, as agents given the URL do
            config.master = match &zk {
                Some(url) => url.clone(),
                None => master.address().to_string(),
            };
            // new flags on the same --work_dir start a new agent rather than refuse to start
            config.new_agent_when_incompatible = true;
            match Agent::start(config).await.map_err(|e| e.to_string()) {
                Ok(a) => agents.push(a),
                Err(e) => {
                    for a in agents {
                        a.stop().await;
                    }
                    master.stop().await;
                    return Err(e);
                }
            }
        }
        for agent in &agents {
            if !agent.wait_registered(Duration::from_secs(30)).await {
                eprintln!(
                    "meseta: warning: the agent at {} has not registered with the master yet",
                    agent.address()
                );
            }
            print_line(&format!(
                "Agent: {}",
                meseta_http::tls::url(&agent.address().to_string())
            ));
        }
        print_line(&format!(
            "Master: {}",
            meseta_http::tls::url(&master.address().to_string())
        ));
        let failed = tokio::select! {
            _ = stop_signal() => None,
            why = master.failed() => Some(why),
        };
        for agent in agents {
            agent.stop().await;
        }
        master.stop().await;
        failed.map_or(Ok(()), Err)
    })
}
