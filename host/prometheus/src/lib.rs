//! `GET /metrics`: a daemon's `/metrics/snapshot` and its modules' counters in the Prometheus
//! text exposition format (`text/plain; version=0.0.4`), encoded by `prometheus-client`.
//!
//! Names follow `mesos_exporter` where it has a counterpart (`mesos_master_elected`,
//! `mesos_master_task_states_current{state}`, `mesos_slave_cpus{type}`, ...). Every other snapshot
//! key `a/b/c_d` becomes the gauge `mesos_a_b_c_d` (`meseta/x` becomes `meseta_x`,
//! `allocator/mesos/x` becomes `mesos_master_allocator_x`), any character outside `[a-zA-Z0-9_]`
//! turned into `_`. Counters carry the `_total` suffix the format asks for. Each module adds
//! `meseta_module_{calls,fallbacks,instantiations}_total{module,kind}`,
//! `meseta_module_faults_total{module,kind,cause}` and the histogram
//! `meseta_module_call_duration_seconds{module,kind}`.
//!
//! Architecture invariant: no IO, no sockets; the daemons hand in what they hold and serve the text.

use std::collections::BTreeMap;
use std::sync::Arc;

use meseta_runtime::{CountersSnapshot, LatencyHistogram, LoadedModule};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One module's counters, as read at scrape time.
#[derive(Clone, Debug)]
pub struct ModuleMetrics {
    pub name: String,
    pub kind: String,
    pub counters: CountersSnapshot,
    pub latency: LatencyHistogram,
}

impl ModuleMetrics {
    pub fn of(module: &LoadedModule) -> ModuleMetrics {
        ModuleMetrics {
            name: module.spec.name.clone(),
            kind: module.world.kind.to_string(),
            counters: module.counters.snapshot(),
            latency: module.counters.latency_histogram(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

type Labels = Vec<(String, String)>;

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    samples: BTreeMap<Labels, f64>,
}

#[derive(Debug)]
struct Histogram {
    labels: Labels,
    latency: LatencyHistogram,
}

/// Everything one scrape shows, grouped by family name.
#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
    histograms: Vec<Histogram>,
}

impl Exposition {
    fn put(&mut self, name: String, kind: Kind, help: &str, labels: &[(&str, &str)], v: f64) {
        let family = self.families.entry(name).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            samples: BTreeMap::new(),
        });
        if family.kind != kind {
            return;
        }
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), escape(v)))
            .collect();
        // `+ 0.0` turns a `-0.0` (an empty sum in the snapshot) into `0.0`
        family.samples.entry(labels).or_insert(v + 0.0);
    }
}

/// Label values are written as given by `prometheus-client`: escape them here.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

const ACTIVE_TASK_STATES: [&str; 5] = ["staging", "starting", "running", "killing", "unreachable"];
const RESOURCES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// Places one snapshot key (the modules' own keys are skipped: they come with labels below).
fn classify(x: &mut Exposition, key: &str, v: f64) {
    use Kind::{Counter, Gauge};
    let help = format!("/metrics/snapshot {key}");
    let h = help.as_str();
    if key.starts_with("meseta/modules/") {
        return; // exported with labels from the modules' counters
    }
    for daemon in ["master", "slave"] {
        let Some(rest) = key.strip_prefix(daemon).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let p = format!("mesos_{daemon}");
        if rest == "elected" || rest == "registered" {
            return x.put(format!("{p}_{rest}"), Gauge, h, &[], v);
        }
        if rest == "uptime_secs" {
            return x.put(format!("{p}_uptime_seconds"), Gauge, h, &[], v);
        }
        if let Some(state) = rest.strip_prefix("tasks_") {
            return if ACTIVE_TASK_STATES.contains(&state) {
                let help = format!("/metrics/snapshot {daemon}/tasks_<state>, active states");
                x.put(
                    format!("{p}_task_states_current"),
                    Gauge,
                    &help,
                    &[("state", state)],
                    v,
                )
            } else {
                let help = format!("/metrics/snapshot {daemon}/tasks_<state>, terminal states");
                x.put(
                    format!("{p}_task_states_exit"),
                    Counter,
                    &help,
                    &[("state", state)],
                    v,
                )
            };
        }
        for r in RESOURCES {
            for revocable in ["", "_revocable"] {
                let Some(t) = rest.strip_prefix(&format!("{r}{revocable}_")) else {
                    continue;
                };
                if ["total", "used", "percent"].contains(&t) {
                    let help = format!("/metrics/snapshot {daemon}/{r}{revocable}_<type>");
                    return x.put(
                        format!("{p}_{r}{revocable}"),
                        Gauge,
                        &help,
                        &[("type", t)],
                        v,
                    );
                }
            }
        }
        if daemon == "slave"
            && let Some(state) = rest.strip_prefix("executors_")
            && ["registering", "running", "terminating"].contains(&state)
        {
            let help = "/metrics/snapshot slave/executors_<state>, live states";
            return x.put(
                format!("{p}_executors_state"),
                Gauge,
                help,
                &[("state", state)],
                v,
            );
        }
        if daemon == "master" {
            if let Some(t) = rest.strip_prefix("messages_") {
                let help = "/metrics/snapshot master/messages_<type>";
                return x.put(format!("{p}_messages"), Counter, help, &[("type", t)], v);
            }
            let event = match rest {
                "slave_registrations" => Some(("registration", "registered")),
                "slave_reregistrations" => Some(("registration", "reregistered")),
                "slave_removals" => Some(("removal", "removed")),
                _ => None,
            };
            if let Some((what, event)) = event {
                let help =
                    "/metrics/snapshot master/slave_{registrations,reregistrations,removals}";
                let name = format!("{p}_slave_{what}_events");
                return x.put(name, Counter, help, &[("event", event)], v);
            }
            if let Some(reason) = rest.strip_prefix("slave_removals/reason_") {
                let help = "/metrics/snapshot master/slave_removals/reason_<reason>";
                let name = format!("{p}_slave_removal_events_reasons");
                return x.put(name, Counter, help, &[("reason", reason)], v);
            }
            if rest == "outstanding_offers" {
                return x.put(format!("{p}_offers_pending"), Gauge, h, &[], v);
            }
            if let Some(call) = rest.strip_prefix("calls/") {
                let help = "/metrics/snapshot master/calls/<call>";
                return x.put(
                    "meseta_master_calls".into(),
                    Counter,
                    help,
                    &[("call", call)],
                    v,
                );
            }
        }
    }
    if let Some(rest) = key.strip_prefix("allocator/mesos/") {
        if rest == "allocation_runs" {
            return x.put("mesos_master_allocation_runs".into(), Counter, h, &[], v);
        }
        if let Some(t) = rest.strip_prefix("allocation_run_ms") {
            let t = t.strip_prefix('/').unwrap_or("last");
            let help = "/metrics/snapshot allocator/mesos/allocation_run_ms[/<type>]";
            let name = "mesos_master_allocation_run_ms".to_string();
            return x.put(
                name,
                Gauge,
                help,
                &[("type", if t.is_empty() { "last" } else { t })],
                v,
            );
        }
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["resources", r, t] => {
                let help = "/metrics/snapshot allocator/mesos/resources/<resource>/<type>";
                let name = "mesos_master_allocator_resources".to_string();
                return x.put(name, Gauge, help, &[("resource", r), ("type", t)], v);
            }
            ["roles", role, "weight"] => {
                let help = "/metrics/snapshot allocator/mesos/roles/<role>/weight";
                let name = "mesos_master_allocator_role_weight".to_string();
                return x.put(name, Gauge, help, &[("role", role)], v);
            }
            ["quota", "roles", role, "resources", r, t] => {
                let help = format!(
                    "/metrics/snapshot allocator/mesos/quota/roles/<role>/resources/<resource>/{t}"
                );
                let name = format!("mesos_master_allocator_role_quota_{}", sanitize(t));
                return x.put(name, Gauge, &help, &[("role", role), ("resource", r)], v);
            }
            ["offer_filters", "roles", role, "active"] => {
                let help = "/metrics/snapshot allocator/mesos/offer_filters/roles/<role>/active";
                let name = "mesos_master_allocator_role_offer_filters_active".to_string();
                return x.put(name, Gauge, help, &[("role", role)], v);
            }
            ["roles", role, "shares", "dominant"] => {
                let help = "/metrics/snapshot allocator/mesos/roles/<role>/shares/dominant";
                let name = "mesos_master_allocator_role_shares_dominant".to_string();
                return x.put(name, Gauge, help, &[("role", role)], v);
            }
            _ => {
                let name = format!("mesos_master_allocator_{}", sanitize(rest));
                return x.put(name, Gauge, h, &[], v);
            }
        }
    }
    if let Some(rest) = key.strip_prefix("meseta/allocator/shadow/")
        && let Some((shadow, what)) = rest.split_once('/')
    {
        let help = format!("/metrics/snapshot meseta/allocator/shadow/<shadow>/{what}");
        let name = format!("meseta_allocator_shadow_{}", sanitize(what));
        return x.put(name, Gauge, &help, &[("shadow", shadow)], v);
    }
    let name = match key.strip_prefix("meseta/") {
        Some(rest) => format!("meseta_{}", sanitize(rest)),
        None => format!("mesos_{}", sanitize(key)),
    };
    x.put(name, Gauge, h, &[], v);
}

/// `mesos_exporter`'s derived families: `*_slaves_state{state}` and the resources' `free`.
fn derive(x: &mut Exposition, snapshot: &BTreeMap<String, f64>) {
    let get = |k: &str| snapshot.get(k).copied();
    if let (Some(active), Some(connected), Some(disconnected), Some(unreachable)) = (
        get("master/slaves_active"),
        get("master/slaves_connected"),
        get("master/slaves_disconnected"),
        get("master/slaves_unreachable"),
    ) {
        let help = "agents by state, as mesos_exporter derives them from master/slaves_*";
        for (state, v) in [
            ("connected_active", active),
            ("connected_inactive", (connected - active).max(0.0)),
            ("disconnected_inactive", disconnected),
            ("unreachable", unreachable),
        ] {
            let name = "mesos_master_slaves_state".to_string();
            x.put(name, Kind::Gauge, help, &[("state", state)], v);
        }
    }
    for daemon in ["master", "slave"] {
        for r in RESOURCES {
            if let (Some(t), Some(u)) = (
                get(&format!("{daemon}/{r}_total")),
                get(&format!("{daemon}/{r}_used")),
            ) {
                let help = format!("/metrics/snapshot {daemon}/{r}_<type>");
                let name = format!("mesos_{daemon}_{r}");
                x.put(
                    name,
                    Kind::Gauge,
                    &help,
                    &[("type", "free")],
                    (t - u).max(0.0),
                );
            }
        }
    }
}

fn modules(x: &mut Exposition, modules: &[ModuleMetrics]) {
    use Kind::Counter;
    for m in modules {
        let id = [("module", m.name.as_str()), ("kind", m.kind.as_str())];
        let c = &m.counters;
        let calls = "calls into the module";
        x.put(
            "meseta_module_calls".into(),
            Counter,
            calls,
            &id,
            c.calls as f64,
        );
        let f = &c.faults;
        for (cause, n) in [
            ("trap", f.trap),
            ("deadline", f.deadline),
            ("memory", f.memory),
            ("invalid_output", f.invalid_output),
            ("instantiate", f.instantiate),
            ("quarantined", f.quarantined),
        ] {
            let labels = [id[0], id[1], ("cause", cause)];
            let help = "the module's faults by cause (quarantined: calls refused, not entered)";
            x.put(
                "meseta_module_faults".into(),
                Counter,
                help,
                &labels,
                n as f64,
            );
        }
        let help = "calls answered by the kind's built-in default after a fault";
        x.put(
            "meseta_module_fallbacks".into(),
            Counter,
            help,
            &id,
            c.fallbacks as f64,
        );
        let help = "instances of the module created";
        let n = c.instantiations as f64;
        x.put("meseta_module_instantiations".into(), Counter, help, &id, n);
        x.histograms.push(Histogram {
            labels: id
                .iter()
                .map(|(k, v)| ((*k).to_string(), escape(v)))
                .collect(),
            latency: m.latency.clone(),
        });
    }
}

/// `prometheus-client` takes each bucket's own count (it sums them up) and `f64::MAX` for
/// `+Inf`; the runtime's histogram is cumulative.
fn per_bucket(h: &LatencyHistogram) -> Vec<(f64, u64)> {
    let mut out = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0;
    for (bound, cumulative) in &h.buckets {
        out.push((*bound, cumulative.saturating_sub(below)));
        below = below.max(*cumulative);
    }
    out.push((f64::MAX, h.count.saturating_sub(below)));
    out
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, family) in &self.families {
            // The 0.0.4 text format names a counter's `# TYPE` line as its samples
            // (`x_total`); `prometheus-client` writes OpenMetrics' `# TYPE x counter` over
            // `x_total` samples, which 0.0.4 parsers read as two families. So a counter is
            // described under its full name and its samples written plain, under that name.
            let (name, metric_type) = match family.kind {
                Kind::Gauge => (name.clone(), MetricType::Gauge),
                Kind::Counter => (format!("{name}_total"), MetricType::Counter),
            };
            let mut metric = encoder.encode_descriptor(&name, &family.help, None, metric_type)?;
            for (labels, v) in &family.samples {
                if labels.is_empty() {
                    metric.encode_gauge(v)?;
                } else {
                    metric.encode_family(labels)?.encode_gauge(v)?;
                }
            }
        }
        if !self.histograms.is_empty() {
            let mut metric = encoder.encode_descriptor(
                "meseta_module_call_duration_seconds",
                "time spent in each call into the module",
                None,
                MetricType::Histogram,
            )?;
            for h in &self.histograms {
                let l = &h.latency;
                metric
                    .encode_family(&h.labels)?
                    .encode_histogram::<NoLabelSet>(l.sum_seconds, l.count, &per_bucket(l), None)?;
            }
        }
        Ok(())
    }
}

/// The exposition of a daemon's snapshot (`/metrics/snapshot`'s keys and values) and modules.
pub fn render(
    snapshot: &BTreeMap<String, f64>,
    loaded: &[ModuleMetrics],
) -> Result<String, std::fmt::Error> {
    let mut x = Exposition::default();
    for (key, v) in snapshot {
        classify(&mut x, key, *v);
    }
    derive(&mut x, snapshot);
    modules(&mut x, loaded);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(x));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// [`render`] for modules the daemon holds as [`LoadedModule`]s.
/// [`render_loaded`] of a daemon's `/metrics/snapshot` JSON (its numeric entries).
pub fn render_snapshot(
    snapshot: &serde_json::Value,
    loaded: &[Arc<LoadedModule>],
) -> Result<String, std::fmt::Error> {
    let values: BTreeMap<String, f64> = snapshot
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    render_loaded(&values, loaded)
}

pub fn render_loaded(
    snapshot: &BTreeMap<String, f64>,
    loaded: &[Arc<LoadedModule>],
) -> Result<String, std::fmt::Error> {
    let metrics: Vec<ModuleMetrics> = loaded.iter().map(|m| ModuleMetrics::of(m)).collect();
    render(snapshot, &metrics)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn snapshot(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }

    #[test]
    fn snapshot_keys_take_mesos_exporter_names() {
        let s = snapshot(&[
            ("master/elected", 1.0),
            ("master/tasks_running", 2.0),
            ("master/tasks_finished", 3.0),
            ("master/cpus_total", 4.0),
            ("master/cpus_used", 1.0),
            ("master/slave_removals/reason_unhealthy", 1.0),
            ("allocator/mesos/resources/mem/total", 64.0),
            ("meseta/allocator/shadow/drf-b/rounds", 7.0),
            ("allocator/mesos/roles/web/shares/dominant", 0.25),
            ("allocator/mesos/offer_filters/roles/web/active", 3.0),
            (
                "allocator/mesos/quota/roles/web/resources/cpus/guarantee",
                2.0,
            ),
            ("meseta/modules/drf/calls", 9.0),
            ("master/weird key", 5.0),
        ]);
        let text = render(&s, &[]).unwrap();
        for line in [
            "mesos_master_elected 1.0",
            "mesos_master_task_states_current{state=\"running\"} 2.0",
            "# TYPE mesos_master_task_states_exit_total counter",
            "mesos_master_task_states_exit_total{state=\"finished\"} 3.0",
            "mesos_master_cpus{type=\"total\"} 4.0",
            "mesos_master_cpus{type=\"free\"} 3.0",
            "mesos_master_slave_removal_events_reasons_total{reason=\"unhealthy\"} 1.0",
            "mesos_master_allocator_resources{resource=\"mem\",type=\"total\"} 64.0",
            "meseta_allocator_shadow_rounds{shadow=\"drf-b\"} 7.0",
            "mesos_master_allocator_role_shares_dominant{role=\"web\"} 0.25",
            "mesos_master_allocator_role_offer_filters_active{role=\"web\"} 3.0",
            "mesos_master_allocator_role_quota_guarantee{role=\"web\",resource=\"cpus\"} 2.0",
            "mesos_master_weird_key 5.0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("meseta_modules_drf"), "{text}");
    }

    #[test]
    fn label_values_are_escaped_and_negative_zero_is_zero() {
        let s = snapshot(&[
            ("meseta/allocator/shadow/a\"b\\c/rounds", 1.0),
            ("slave/cpus_used", -0.0),
        ]);
        let text = render(&s, &[]).unwrap();
        assert!(
            text.lines()
                .any(|l| l == "meseta_allocator_shadow_rounds{shadow=\"a\\\"b\\\\c\"} 1.0"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l == "mesos_slave_cpus{type=\"used\"} 0.0"),
            "{text}"
        );
    }

    #[test]
    fn module_latency_is_a_cumulative_histogram() {
        let counters = meseta_runtime::Counters::default();
        counters.record_call(std::time::Duration::from_nanos(900));
        counters.record_call(std::time::Duration::from_micros(500));
        counters.record_call(std::time::Duration::from_secs(3));
        let m = ModuleMetrics {
            name: "drf".into(),
            kind: "allocator".into(),
            counters: counters.snapshot(),
            latency: counters.latency_histogram(),
        };
        let text = render(&BTreeMap::new(), &[m]).unwrap();
        let base = "meseta_module_call_duration_seconds";
        for line in [
            format!("{base}_count{{module=\"drf\",kind=\"allocator\"}} 3"),
            format!("{base}_bucket{{le=\"0.000001024\",module=\"drf\",kind=\"allocator\"}} 1"),
            format!("{base}_bucket{{le=\"0.000262144\",module=\"drf\",kind=\"allocator\"}} 1"),
            format!("{base}_bucket{{le=\"0.001048576\",module=\"drf\",kind=\"allocator\"}} 2"),
            format!("{base}_bucket{{le=\"1.073741824\",module=\"drf\",kind=\"allocator\"}} 2"),
            format!("{base}_bucket{{le=\"+Inf\",module=\"drf\",kind=\"allocator\"}} 3"),
            "meseta_module_calls_total{module=\"drf\",kind=\"allocator\"} 3.0".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
