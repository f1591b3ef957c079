//! What a replay measured, per allocator: the recorder the replay feeds, the report it turns
//! into, and the report as a terminal table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::workload::{RTask, Resolved};

/// A run of every allocator over one workload.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub workload: WorkloadSummary,
    pub runs: Vec<RunReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkloadSummary {
    pub name: String,
    pub agents: usize,
    pub frameworks: usize,
    pub roles: usize,
    pub tasks: usize,
    pub resources: BTreeMap<String, f64>,
    pub allocation_interval_s: f64,
}

impl WorkloadSummary {
    pub fn new(name: &str, w: &Resolved) -> Self {
        WorkloadSummary {
            name: name.to_string(),
            agents: w.agents.len(),
            frameworks: w.frameworks.len(),
            roles: w.roles.len(),
            tasks: w.tasks.len(),
            resources: w
                .kinds
                .iter()
                .cloned()
                .zip(w.total.iter().copied())
                .collect(),
            allocation_interval_s: w.interval_ms as f64 / 1000.0,
        }
    }
}

/// One allocator's results. Times in seconds of virtual time, but `round_ms` (wall time of the
/// real allocator call).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub allocator: String,
    pub tasks: usize,
    pub launched: u64,
    pub finished: u64,
    /// The replay stopped before every task finished (`--until`, or tasks nothing launches).
    pub stopped_early: bool,
    /// When the last task ended (or the replay stopped).
    pub makespan_s: f64,
    /// From arrival to launch, over the launched tasks.
    pub wait_s: Percentiles,
    pub offers: u64,
    /// Offers from which nothing was launched.
    pub offers_declined: u64,
    pub rounds: u64,
    pub round_ms: Percentiles,
    /// Module faults (a faulted round makes no offers).
    pub faults: u64,
    /// The first faults, each with the virtual time and the call it happened in.
    pub fault_log: Vec<String>,
    /// Per resource kind: held by running tasks / cluster total, time-weighted mean and peak.
    pub utilisation: Vec<KindStat>,
    pub agents_used_peak: u32,
    pub agents_used_mean: f64,
    /// Jain's fairness index over the weighted dominant shares of the roles with demand,
    /// time-weighted mean over the rounds where some role held something.
    pub jain_mean: Option<f64>,
    pub roles: Vec<RoleStat>,
    pub series: Series,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `v`.
    pub fn of(mut v: Vec<f64>) -> Self {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Percentiles {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct KindStat {
    pub kind: String,
    pub mean: f64,
    pub peak: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleStat {
    pub role: String,
    pub weight: f64,
    /// The role's dominant share (largest fraction of the cluster's total of any kind its
    /// running tasks hold), time-weighted mean and peak.
    pub share_mean: f64,
    pub share_max: f64,
    pub tasks: u64,
}

/// Time series, at most `points` evenly spaced samples of the state after each round.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Series {
    pub t_s: Vec<f64>,
    pub utilisation: BTreeMap<String, Vec<f64>>,
    pub shares: BTreeMap<String, Vec<f64>>,
    pub jain: Vec<Option<f64>>,
    pub agents_used: Vec<u32>,
}

struct Sample {
    t: u64,
    util: Vec<f64>,
    shares: Vec<f64>,
    jain: Option<f64>,
    agents_used: u32,
}

/// What the replay tells as it goes.
pub(crate) struct Recorder {
    name: String,
    kinds: Vec<String>,
    total: Vec<f64>,
    roles: Vec<(String, f64)>,
    tasks: usize,
    used: Vec<f64>,
    role_alloc: Vec<Vec<f64>>,
    role_tasks: Vec<u64>,
    /// Queued or running tasks per role.
    role_demand: Vec<u64>,
    agent_running: Vec<u32>,
    agents_used: u32,
    waits: Vec<f64>,
    launched: u64,
    finished: u64,
    last_end: u64,
    offers: u64,
    declined: u64,
    samples: Vec<Sample>,
}

impl Recorder {
    pub(crate) fn new(w: &Resolved, name: &str) -> Self {
        Recorder {
            name: name.to_string(),
            kinds: w.kinds.clone(),
            total: w.total.clone(),
            roles: w.roles.iter().map(|r| (r.name.clone(), r.weight)).collect(),
            tasks: w.tasks.len(),
            used: vec![0.0; w.kinds.len()],
            role_alloc: vec![vec![0.0; w.kinds.len()]; w.roles.len()],
            role_tasks: vec![0; w.roles.len()],
            role_demand: vec![0; w.roles.len()],
            agent_running: vec![0; w.agents.len()],
            agents_used: 0,
            waits: Vec::with_capacity(w.tasks.len()),
            launched: 0,
            finished: 0,
            last_end: 0,
            offers: 0,
            declined: 0,
            samples: Vec::new(),
        }
    }

    pub(crate) fn arrive(&mut self, t: &RTask) {
        self.role_demand[t.role as usize] += 1;
    }

    pub(crate) fn launch(&mut self, t: &RTask, agent: u32, now: u64) {
        self.launched += 1;
        self.waits
            .push(now.saturating_sub(t.arrival_ms) as f64 / 1000.0);
        add(&mut self.used, &t.resources, 1.0);
        add(&mut self.role_alloc[t.role as usize], &t.resources, 1.0);
        self.role_tasks[t.role as usize] += 1;
        let n = &mut self.agent_running[agent as usize];
        if *n == 0 {
            self.agents_used += 1;
        }
        *n += 1;
    }

    pub(crate) fn end(&mut self, t: &RTask, agent: u32, at: u64) {
        self.finished += 1;
        self.last_end = self.last_end.max(at);
        add(&mut self.used, &t.resources, -1.0);
        add(&mut self.role_alloc[t.role as usize], &t.resources, -1.0);
        self.role_demand[t.role as usize] -= 1;
        let n = &mut self.agent_running[agent as usize];
        *n -= 1;
        if *n == 0 {
            self.agents_used -= 1;
        }
    }

    pub(crate) fn offer(&mut self, declined: bool) {
        self.offers += 1;
        if declined {
            self.declined += 1;
        }
    }

    pub(crate) fn finished(&self) -> u64 {
        self.finished
    }

    fn share(&self, held: &[f64]) -> f64 {
        held.iter()
            .zip(&self.total)
            .filter(|(_, t)| **t > 0.0)
            .map(|(h, t)| (h / t).max(0.0))
            .fold(0.0, f64::max)
    }

    /// Records the state after a round.
    pub(crate) fn sample(&mut self, now: u64) {
        let util: Vec<f64> = self
            .used
            .iter()
            .zip(&self.total)
            .map(|(u, t)| if *t > 0.0 { (u / t).max(0.0) } else { 0.0 })
            .collect();
        let shares: Vec<f64> = self.role_alloc.iter().map(|a| self.share(a)).collect();
        let weighted: Vec<f64> = shares
            .iter()
            .zip(&self.roles)
            .zip(&self.role_demand)
            .filter(|(_, d)| **d > 0)
            .map(|((s, (_, w)), _)| s / w)
            .collect();
        let sum: f64 = weighted.iter().sum();
        let squares: f64 = weighted.iter().map(|x| x * x).sum();
        let jain = (squares > 0.0).then(|| sum * sum / (weighted.len() as f64 * squares));
        self.samples.push(Sample {
            t: now,
            util,
            shares,
            jain,
            agents_used: self.agents_used,
        });
    }

    pub(crate) fn finish(
        self,
        now: u64,
        round_cost: Vec<Duration>,
        faults: u64,
        stopped_early: bool,
        points: usize,
    ) -> RunReport {
        let end = if stopped_early {
            now
        } else {
            self.last_end.max(now)
        };
        let s = &self.samples;
        // Each sample holds until the next one (the last until the end).
        let weights: Vec<f64> = (0..s.len())
            .map(|i| {
                let until = s.get(i + 1).map_or(end, |n| n.t);
                until.saturating_sub(s[i].t) as f64
            })
            .collect();
        let mean = |value: &dyn Fn(&Sample) -> Option<f64>| -> Option<f64> {
            let (mut acc, mut w_acc, mut plain, mut n) = (0.0, 0.0, 0.0, 0usize);
            for (x, w) in s.iter().zip(&weights) {
                if let Some(v) = value(x) {
                    acc += v * w;
                    w_acc += w;
                    plain += v;
                    n += 1;
                }
            }
            if w_acc > 0.0 {
                Some(acc / w_acc)
            } else if n > 0 {
                Some(plain / n as f64)
            } else {
                None
            }
        };
        let peak = |value: &dyn Fn(&Sample) -> f64| s.iter().map(value).fold(0.0, f64::max);
        let utilisation = self
            .kinds
            .iter()
            .enumerate()
            .map(|(k, kind)| KindStat {
                kind: kind.clone(),
                mean: mean(&|x| Some(x.util[k])).unwrap_or(0.0),
                peak: peak(&|x| x.util[k]),
            })
            .collect();
        let roles = self
            .roles
            .iter()
            .enumerate()
            .map(|(r, (role, weight))| RoleStat {
                role: role.clone(),
                weight: *weight,
                share_mean: mean(&|x| Some(x.shares[r])).unwrap_or(0.0),
                share_max: peak(&|x| x.shares[r]),
                tasks: self.role_tasks[r],
            })
            .collect();
        let series = downsample(s, end, points.max(2), &self.kinds, &self.roles);
        RunReport {
            fault_log: Vec::new(),
            allocator: self.name.clone(),
            tasks: self.tasks,
            launched: self.launched,
            finished: self.finished,
            stopped_early,
            makespan_s: end as f64 / 1000.0,
            wait_s: Percentiles::of(self.waits.clone()),
            offers: self.offers,
            offers_declined: self.declined,
            rounds: round_cost.len() as u64,
            round_ms: Percentiles::of(round_cost.iter().map(|d| d.as_secs_f64() * 1e3).collect()),
            faults,
            utilisation,
            agents_used_peak: s.iter().map(|x| x.agents_used).max().unwrap_or(0),
            agents_used_mean: mean(&|x| Some(f64::from(x.agents_used))).unwrap_or(0.0),
            jain_mean: mean(&|x| x.jain),
            roles,
            series,
        }
    }
}

fn add(into: &mut [f64], r: &[f64], sign: f64) {
    for (a, v) in into.iter_mut().zip(r) {
        *a += sign * v;
    }
}

/// The state at `points` evenly spaced times from 0 to `end` (each the last sample at or
/// before it), or every sample when there are fewer.
fn downsample(
    s: &[Sample],
    end: u64,
    points: usize,
    kinds: &[String],
    roles: &[(String, f64)],
) -> Series {
    let picked: Vec<(f64, &Sample)> = if s.len() <= points {
        s.iter().map(|x| (x.t as f64, x)).collect()
    } else {
        (0..points)
            .filter_map(|i| {
                let t = end as f64 * i as f64 / (points - 1) as f64;
                let at = s.partition_point(|x| x.t as f64 <= t);
                s.get(at.saturating_sub(1)).map(|x| (t, x))
            })
            .collect()
    };
    Series {
        t_s: picked.iter().map(|(t, _)| t / 1000.0).collect(),
        utilisation: kinds
            .iter()
            .enumerate()
            .map(|(k, n)| (n.clone(), picked.iter().map(|(_, x)| x.util[k]).collect()))
            .collect(),
        shares: roles
            .iter()
            .enumerate()
            .map(|(r, (n, _))| (n.clone(), picked.iter().map(|(_, x)| x.shares[r]).collect()))
            .collect(),
        jain: picked.iter().map(|(_, x)| x.jain).collect(),
        agents_used: picked.iter().map(|(_, x)| x.agents_used).collect(),
    }
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The allocators side by side, one column each.
    pub fn table(&self) -> String {
        let w = &self.workload;
        let mut out = String::new();
        let resources: Vec<String> = w
            .resources
            .iter()
            .map(|(k, v)| format!("{k} {}", num(*v)))
            .collect();
        let _ = writeln!(
            out,
            "workload {}: {} ({}), {}, {}, {}, allocation every {} s",
            w.name,
            plural(w.agents, "agent"),
            resources.join(", "),
            plural(w.frameworks, "framework"),
            plural(w.roles, "role"),
            plural(w.tasks, "task"),
            num(w.allocation_interval_s)
        );
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut row = |label: &str, f: &dyn Fn(&RunReport) -> String| {
            rows.push((label.to_string(), self.runs.iter().map(f).collect()));
        };
        row("tasks launched / finished", &|r| {
            format!("{} / {}", r.launched, r.finished)
        });
        row("makespan", &|r| {
            format!(
                "{} s{}",
                num(r.makespan_s),
                if r.stopped_early { " (stopped)" } else { "" }
            )
        });
        row("wait p50 / p95 / p99", &|r| {
            format!(
                "{} / {} / {} s",
                num(r.wait_s.p50),
                num(r.wait_s.p95),
                num(r.wait_s.p99)
            )
        });
        row("offers (declined)", &|r| {
            format!("{} ({})", r.offers, r.offers_declined)
        });
        row("rounds, cost mean / p99", &|r| {
            format!(
                "{}, {} / {} ms",
                r.rounds,
                num(r.round_ms.mean),
                num(r.round_ms.p99)
            )
        });
        if self.runs.iter().any(|r| r.faults > 0) {
            row("module faults", &|r| r.faults.to_string());
        }
        for (k, kind) in w.resources.keys().enumerate() {
            row(&format!("utilisation {kind} mean / peak"), &|r| {
                r.utilisation
                    .get(k)
                    .map(|u| format!("{} / {}", pct(u.mean), pct(u.peak)))
                    .unwrap_or_default()
            });
        }
        row("agents used peak / mean", &|r| {
            format!("{} / {}", r.agents_used_peak, num(r.agents_used_mean))
        });
        row("Jain's index (weighted shares)", &|r| {
            r.jain_mean.map(|j| format!("{j:.3}")).unwrap_or("-".into())
        });
        let roles: Vec<(String, f64)> = self
            .runs
            .first()
            .map(|r| r.roles.iter().map(|s| (s.role.clone(), s.weight)).collect())
            .unwrap_or_default();
        for (i, (role, weight)) in roles.iter().enumerate() {
            let weight = if *weight == 1.0 {
                String::new()
            } else {
                format!(" (weight {})", num(*weight))
            };
            row(&format!("share {role}{weight} max / mean"), &|r| {
                r.roles
                    .get(i)
                    .map(|s| format!("{:.3} / {:.3}", s.share_max, s.share_mean))
                    .unwrap_or_default()
            });
        }
        let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let widths: Vec<usize> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                rows.iter()
                    .map(|(_, cells)| cells[i].len())
                    .chain([r.allocator.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = write!(out, "{:label_width$}", "");
        for (r, w) in self.runs.iter().zip(&widths) {
            let _ = write!(out, "  {:>w$}", r.allocator);
        }
        out.push('\n');
        for (label, cells) in &rows {
            let _ = write!(out, "{label:label_width$}");
            for (c, w) in cells.iter().zip(&widths) {
                let _ = write!(out, "  {c:>w$}");
            }
            out.push('\n');
        }
        out
    }
}

/// A number as a person reads it: up to three decimals, no trailing zeros.
pub(crate) fn num(x: f64) -> String {
    let s = if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    };
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
