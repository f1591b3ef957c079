#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Each shipped module does its job when driven through its kind's adapter.

use std::sync::{Arc, Mutex};

use meseta_hooks::AgentHookChain;
use meseta_isolator::WasmIsolator;
use meseta_oversubscription::{WasmEstimator, WasmQosController};
use meseta_runtime::Settings;
use meseta_tests::load;
use meseta_types::hooks::{CommandInfo, ExecutorInfo};
use meseta_types::isolation::{
    CgroupError, Cgroups, ContainerConfig, CpuStats, LimitationReason, MemoryStats,
};
use meseta_types::oversubscription::{Correction, ExecutorUsage, LoadAverage, ResourceUsage};
use meseta_types::resources::{EnvVar, Resource, scalar_total};

/// Records what the isolator asked of the cgroups backend (a stand-in for the agent's real
/// cgroups, which come with the agent).
#[derive(Default)]
struct Recorded {
    calls: Vec<String>,
    ooms: u64,
}

struct Recorder(Arc<Mutex<Recorded>>);

impl Cgroups for Recorder {
    fn set_cpu_shares(&mut self, c: u32, shares: u64) -> Result<(), CgroupError> {
        self.0
            .lock()
            .unwrap()
            .calls
            .push(format!("{c}:shares={shares}"));
        Ok(())
    }
    fn set_cpu_quota(
        &mut self,
        c: u32,
        period: u64,
        quota: Option<u64>,
    ) -> Result<(), CgroupError> {
        self.0
            .lock()
            .unwrap()
            .calls
            .push(format!("{c}:quota={quota:?}/{period}"));
        Ok(())
    }
    fn set_memory_limit(&mut self, c: u32, bytes: u64) -> Result<(), CgroupError> {
        self.0
            .lock()
            .unwrap()
            .calls
            .push(format!("{c}:mem={bytes}"));
        Ok(())
    }
    fn cpu_stats(&mut self, _: u32) -> Result<CpuStats, CgroupError> {
        Ok(CpuStats {
            user_ns: 2_000_000_000,
            nr_throttled: 5,
            ..Default::default()
        })
    }
    fn memory_stats(&mut self, _: u32) -> Result<MemoryStats, CgroupError> {
        Ok(MemoryStats {
            usage_bytes: 1 << 20,
            limit_bytes: Some(64 << 20),
            ..Default::default()
        })
    }
    fn oom_events(&mut self, _: u32) -> Result<u64, CgroupError> {
        Ok(self.0.lock().unwrap().ooms)
    }
}

#[test]
fn isolator_cgroups_sets_limits_reports_usage_and_sees_ooms() {
    let rec = Arc::new(Mutex::new(Recorded::default()));
    let r2 = rec.clone();
    let module = load(
        "isolator-cgroups",
        &[("cfs_quota", "true")],
        Settings::default(),
    )
    .unwrap();
    let mut iso = WasmIsolator::new(module, move || Box::new(Recorder(r2.clone()))).unwrap();
    let config = ContainerConfig {
        container: 1,
        name: "c1".into(),
        resources: vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)],
        ..Default::default()
    };
    iso.prepare(&config).unwrap().unwrap();
    let calls = rec.lock().unwrap().calls.clone();
    assert!(calls.contains(&"1:shares=512".to_string()), "{calls:?}");
    assert!(
        calls.contains(&format!("1:mem={}", 64u64 << 20)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"1:quota=Some(50000)/100000".to_string()),
        "{calls:?}"
    );
    let usage = iso.usage(1).unwrap().unwrap();
    assert_eq!(usage.cpus_user_time_secs, Some(2.0));
    assert_eq!(usage.mem_limit_bytes, Some(64 << 20));
    assert_eq!(iso.watch(1).unwrap(), None);
    rec.lock().unwrap().ooms = 1;
    let limitation = iso.watch(1).unwrap().unwrap();
    assert_eq!(limitation.reason, LimitationReason::Memory);
}

fn usage(revocable: bool) -> ResourceUsage {
    ResourceUsage {
        executors: vec![ExecutorUsage {
            container: 9,
            framework_id: "fw".into(),
            executor_id: "ex".into(),
            allocated: vec![Resource {
                revocable,
                ..Resource::scalar("cpus", 2.0)
            }],
            statistics: None,
            revocable,
        }],
        total: vec![Resource::scalar("cpus", 16.0)],
        load: LoadAverage {
            one: 0.5,
            five: 0.5,
            fifteen: 0.5,
        },
    }
}

#[test]
fn estimator_fixed_offers_its_parameter_minus_revocable_in_use() {
    let mut e = WasmEstimator::new(
        load(
            "estimator-fixed",
            &[("resources", "cpus:14;mem:512")],
            Settings::default(),
        )
        .unwrap(),
    )
    .unwrap();
    let estimate = e.oversubscribable(&usage(true)).unwrap().unwrap();
    assert_eq!(scalar_total(&estimate, "cpus"), 12.0);
    assert_eq!(scalar_total(&estimate, "mem"), 512.0);
    assert!(estimate.iter().all(|r| r.revocable));
    let bad = load("estimator-fixed", &[], Settings::default()).unwrap();
    let err = WasmEstimator::new(bad).err().unwrap().to_string();
    assert!(err.contains("resources"), "{err}");
}

#[test]
fn qos_load_kills_revocable_executors_above_threshold() {
    let mut q = WasmQosController::new(
        load(
            "qos-load",
            &[("load_threshold_5min", "0")],
            Settings::default(),
        )
        .unwrap(),
    )
    .unwrap();
    let kills = q.corrections(&usage(true)).unwrap().unwrap();
    assert!(
        matches!(&kills[..], [Correction::Kill(k)] if k.executor_id == "ex"),
        "{kills:?}"
    );
    assert!(
        q.corrections(&usage(false)).unwrap().unwrap().is_empty(),
        "non-revocable work is never killed"
    );
}

#[test]
fn hook_env_adds_environment_variables() {
    let chain = AgentHookChain::from_modules(vec![
        load(
            "hook-env",
            &[("DEPLOY_ENV", "staging")],
            Settings::default(),
        )
        .unwrap(),
    ])
    .unwrap();
    let executor = ExecutorInfo {
        executor_id: "ex".into(),
        command: Some(CommandInfo {
            environment: vec![EnvVar {
                name: "KEEP".into(),
                value: "1".into(),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let env = chain.executor_environment(&executor).unwrap();
    assert!(env.contains(&EnvVar {
        name: "DEPLOY_ENV".into(),
        value: "staging".into()
    }));
    assert!(env.iter().any(|e| e.name == "KEEP"));
}
