//! Per-module counters: calls, faults by cause, fallbacks, instantiations, and a latency summary.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::error::FaultCause;

/// Latency buckets are powers of two of nanoseconds: bucket `i` holds calls of < 2^i ns.
const BUCKETS: usize = 40;

#[derive(Debug)]
pub struct Counters {
    calls: AtomicU64,
    trap: AtomicU64,
    deadline: AtomicU64,
    memory: AtomicU64,
    invalid_output: AtomicU64,
    instantiate: AtomicU64,
    quarantined: AtomicU64,
    fallbacks: AtomicU64,
    instantiations: AtomicU64,
    latency_sum_ns: AtomicU64,
    latency_max_ns: AtomicU64,
    latency: [AtomicU64; BUCKETS],
    /// The largest linear memory granted to any instance, in bytes.
    memory_peak: AtomicU64,
}

/// A point-in-time copy of the counters, as served by `/master/modules`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CountersSnapshot {
    pub calls: u64,
    pub faults: FaultCounts,
    pub fallbacks: u64,
    pub instantiations: u64,
    pub latency: LatencySummary,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    pub trap: u64,
    pub deadline: u64,
    pub memory: u64,
    pub invalid_output: u64,
    pub instantiate: u64,
    /// Calls refused without entering the module while it was quarantined.
    pub quarantined: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.trap + self.deadline + self.memory + self.invalid_output + self.instantiate
    }
}

/// The latency histogram for Prometheus: cumulative counts at fixed bounds, read from the same
/// power-of-two buckets `record_call` fills (so recording costs nothing more). A bound of
/// 2^i ns counts the calls that took less than 2^i ns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    pub count: u64,
    pub sum_seconds: f64,
    /// `(upper bound in seconds, calls at or under it)`, cumulative, ascending, without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

/// The histogram's bounds, as powers of two of nanoseconds: 1.024 µs, 4.1 µs, ... 1.07 s.
const HISTOGRAM_BOUNDS: [usize; 11] = [10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    /// Upper bound of the bucket holding the median (buckets are powers of two).
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            calls: AtomicU64::new(0),
            trap: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            memory: AtomicU64::new(0),
            invalid_output: AtomicU64::new(0),
            instantiate: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            instantiations: AtomicU64::new(0),
            latency_sum_ns: AtomicU64::new(0),
            latency_max_ns: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            memory_peak: AtomicU64::new(0),
        }
    }
}

impl Counters {
    pub fn record_call(&self, elapsed: Duration) {
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        self.calls.fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
        self.latency_max_ns.fetch_max(ns, Relaxed);
        let bucket = (64 - ns.leading_zeros() as usize).min(BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Relaxed);
    }

    pub fn record_fault(&self, cause: &FaultCause) {
        let c = match cause {
            FaultCause::Trap(_) => &self.trap,
            FaultCause::Deadline(_) => &self.deadline,
            FaultCause::MemoryLimit(_) => &self.memory,
            FaultCause::InvalidOutput(_) => &self.invalid_output,
            FaultCause::Instantiate(_) => &self.instantiate,
            FaultCause::Quarantined(_) => &self.quarantined,
        };
        c.fetch_add(1, Relaxed);
    }

    pub fn record_fallback(&self) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    pub fn record_instantiation(&self) {
        self.instantiations.fetch_add(1, Relaxed);
    }

    /// The latency as a histogram with fixed bounds (see [`LatencyHistogram`]).
    pub fn latency_histogram(&self) -> LatencyHistogram {
        let counts: Vec<u64> = self.latency.iter().map(|b| b.load(Relaxed)).collect();
        let mut buckets = Vec::with_capacity(HISTOGRAM_BOUNDS.len());
        let mut seen = 0;
        let mut next = 0;
        for bound in HISTOGRAM_BOUNDS {
            // bucket i holds calls of [2^(i-1), 2^i) ns: under 2^bound ns are buckets 0..=bound
            while next <= bound && next < counts.len() {
                seen += counts[next];
                next += 1;
            }
            buckets.push(((1u64 << bound) as f64 / 1e9, seen));
        }
        LatencyHistogram {
            count: counts.iter().sum(),
            sum_seconds: self.latency_sum_ns.load(Relaxed) as f64 / 1e9,
            buckets,
        }
    }

    /// A memory of `bytes` was granted (at instantiation or `memory.grow`).
    pub fn record_memory(&self, bytes: u64) {
        self.memory_peak.fetch_max(bytes, Relaxed);
    }

    /// The largest linear memory granted to any instance of the module so far, in bytes.
    pub fn memory_peak(&self) -> u64 {
        self.memory_peak.load(Relaxed)
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let counts: Vec<u64> = self.latency.iter().map(|b| b.load(Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let percentile = |p: f64| -> f64 {
            if count == 0 {
                return 0.0;
            }
            let target = ((count as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= target {
                    return (1u64 << i) as f64 / 1000.0;
                }
            }
            0.0
        };
        let sum = self.latency_sum_ns.load(Relaxed);
        CountersSnapshot {
            calls: self.calls.load(Relaxed),
            faults: FaultCounts {
                trap: self.trap.load(Relaxed),
                deadline: self.deadline.load(Relaxed),
                memory: self.memory.load(Relaxed),
                invalid_output: self.invalid_output.load(Relaxed),
                instantiate: self.instantiate.load(Relaxed),
                quarantined: self.quarantined.load(Relaxed),
            },
            fallbacks: self.fallbacks.load(Relaxed),
            instantiations: self.instantiations.load(Relaxed),
            latency: LatencySummary {
                count,
                mean_us: if count == 0 {
                    0.0
                } else {
                    sum as f64 / count as f64 / 1000.0
                },
                p50_us: percentile(0.5),
                p99_us: percentile(0.99),
                max_us: self.latency_max_ns.load(Relaxed) as f64 / 1000.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_bucketed_percentiles() {
        let c = Counters::default();
        for _ in 0..98 {
            c.record_call(Duration::from_nanos(900));
        }
        c.record_call(Duration::from_micros(500));
        c.record_call(Duration::from_micros(500));
        c.record_fault(&FaultCause::Deadline(Duration::from_millis(1)));
        let s = c.snapshot();
        assert_eq!(s.calls, 100);
        assert_eq!(s.latency.p50_us, 1.024);
        assert_eq!(s.latency.p99_us, 524.288);
        assert_eq!(s.latency.max_us, 500.0);
        assert_eq!(s.faults.deadline, 1);
        assert_eq!(s.faults.total(), 1);
        let h = c.latency_histogram();
        assert_eq!(h.count, 100);
        assert_eq!(h.buckets[0], (1.024e-6, 98));
        assert_eq!(
            h.buckets[4].1, 98,
            "262 µs bound: the 500 µs calls are over it"
        );
        assert_eq!(h.buckets[5].1, 100, "1.05 ms bound");
        assert!((h.sum_seconds - (98.0 * 900e-9 + 1e-3)).abs() < 1e-12);
    }
}
