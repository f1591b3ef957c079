//! Resource accounting between Mesos' named resources and the allocator's numeric slots.
//!
//! Agents advertise named resources (scalars such as `cpus`, ranges such as `ports`), frameworks
//! launch tasks on concrete ones (port 31005, not "one port"), while the allocator reasons about
//! fixed numeric vectors. [`ResourceSet`] is the concrete side with exact arithmetic; a
//! [`SlotTable`] maps it to [`Quantities`] and, when the allocator offers an amount, picks the
//! concrete resources from what is free.

use std::collections::BTreeMap;

use meseta_types::Quantities;
use meseta_types::allocation::ResourceKind;
use meseta_types::quantities::EPSILON;
use meseta_types::resources::{Resource, ResourceValue, ValueRange};

/// Inclusive integer ranges, kept sorted, merged and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges(Vec<ValueRange>);

impl Ranges {
    pub fn new(ranges: impl IntoIterator<Item = ValueRange>) -> Self {
        let mut r = Ranges::default();
        for x in ranges {
            r.add(x);
        }
        r
    }

    pub fn as_slice(&self) -> &[ValueRange] {
        &self.0
    }

    /// How many integers the ranges hold.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.begin + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, r: ValueRange) {
        if r.begin > r.end {
            return;
        }
        self.0.push(r);
        self.0.sort_by_key(|r| r.begin);
        let mut merged: Vec<ValueRange> = Vec::with_capacity(self.0.len());
        for r in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if r.begin <= last.end.saturating_add(1) => {
                    last.end = last.end.max(r.end)
                }
                _ => merged.push(r),
            }
        }
        self.0 = merged;
    }

    pub fn subtract(&mut self, r: ValueRange) {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for x in self.0.drain(..) {
            if r.end < x.begin || r.begin > x.end {
                out.push(x);
                continue;
            }
            if x.begin < r.begin {
                out.push(ValueRange {
                    begin: x.begin,
                    end: r.begin - 1,
                });
            }
            if x.end > r.end {
                out.push(ValueRange {
                    begin: r.end + 1,
                    end: x.end,
                });
            }
        }
        self.0 = out;
    }

    pub fn contains(&self, r: ValueRange) -> bool {
        self.0.iter().any(|x| x.begin <= r.begin && r.end <= x.end)
    }

    /// The lowest `n` integers, as ranges (fewer if there are not that many).
    pub fn take_lowest(&self, mut n: u64) -> Ranges {
        let mut out = Ranges::default();
        for x in &self.0 {
            if n == 0 {
                break;
            }
            let len = (x.end - x.begin + 1).min(n);
            out.0.push(ValueRange {
                begin: x.begin,
                end: x.begin + len - 1,
            });
            n -= len;
        }
        out
    }
}

/// Concrete resources: scalars by (name, revocable) and ranges by name. Sets are not allocated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceSet {
    pub scalars: BTreeMap<(String, bool), f64>,
    pub ranges: BTreeMap<String, Ranges>,
}

impl ResourceSet {
    pub fn from_resources(resources: &[Resource]) -> Self {
        let mut set = ResourceSet::default();
        for r in resources {
            set.add_resource(r);
        }
        set
    }

    pub fn add_resource(&mut self, r: &Resource) {
        match &r.value {
            ResourceValue::Scalar(v) => {
                *self
                    .scalars
                    .entry((r.name.clone(), r.revocable))
                    .or_insert(0.0) += v;
            }
            ResourceValue::Ranges(rs) => {
                let entry = self.ranges.entry(r.name.clone()).or_default();
                for x in rs {
                    entry.add(*x);
                }
            }
            ResourceValue::Set(_) => {}
        }
    }

    pub fn add(&mut self, other: &ResourceSet) {
        for (k, v) in &other.scalars {
            *self.scalars.entry(k.clone()).or_insert(0.0) += v;
        }
        for (k, rs) in &other.ranges {
            let entry = self.ranges.entry(k.clone()).or_default();
            for x in rs.as_slice() {
                entry.add(*x);
            }
        }
    }

    /// `self -= other`, clamping scalars at zero.
    pub fn subtract(&mut self, other: &ResourceSet) {
        for (k, v) in &other.scalars {
            if let Some(mine) = self.scalars.get_mut(k) {
                *mine = (*mine - v).max(0.0);
                if *mine < EPSILON {
                    self.scalars.remove(k);
                }
            }
        }
        for (k, rs) in &other.ranges {
            if let Some(mine) = self.ranges.get_mut(k) {
                for x in rs.as_slice() {
                    mine.subtract(*x);
                }
                if mine.is_empty() {
                    self.ranges.remove(k);
                }
            }
        }
    }

    /// Whether every resource of `other` is in `self`.
    pub fn contains(&self, other: &ResourceSet) -> bool {
        other
            .scalars
            .iter()
            .all(|(k, v)| *v <= self.scalars.get(k).copied().unwrap_or(0.0) + EPSILON)
            && other.ranges.iter().all(|(k, rs)| {
                let mine = self.ranges.get(k);
                rs.as_slice()
                    .iter()
                    .all(|x| mine.is_some_and(|m| m.contains(*x)))
            })
    }

    pub fn is_empty(&self) -> bool {
        self.scalars.values().all(|v| *v < EPSILON) && self.ranges.values().all(Ranges::is_empty)
    }

    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars
            .get(&(name.to_string(), false))
            .copied()
            .unwrap_or(0.0)
    }

    /// Back to named resources (role `*`), scalars first then ranges, in name order.
    pub fn to_resources(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        for ((name, revocable), v) in &self.scalars {
            if *v >= EPSILON {
                out.push(Resource {
                    name: name.clone(),
                    value: ResourceValue::Scalar(*v),
                    role: None,
                    revocable: *revocable,
                });
            }
        }
        for (name, rs) in &self.ranges {
            if !rs.is_empty() {
                out.push(Resource {
                    name: name.clone(),
                    value: ResourceValue::Ranges(rs.as_slice().to_vec()),
                    role: None,
                    revocable: false,
                });
            }
        }
        out
    }
}

/// The allocator's slot table: which (name, revocable) each slot of a `Quantities` vector holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTable {
    kinds: Vec<(String, bool)>,
}

/// The slots Meseta's master gives every allocator.
pub const DEFAULT_SLOTS: &[(&str, bool)] = &[
    ("cpus", false),
    ("mem", false),
    ("disk", false),
    ("gpus", false),
    ("ports", false),
    ("cpus", true),
    ("mem", true),
    ("disk", true),
];

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            kinds: DEFAULT_SLOTS
                .iter()
                .map(|(n, r)| (n.to_string(), *r))
                .collect(),
        }
    }
}

impl SlotTable {
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn slot(&self, name: &str, revocable: bool) -> Option<usize> {
        self.kinds
            .iter()
            .position(|(n, r)| n == name && *r == revocable)
    }

    pub fn kinds(&self) -> Vec<ResourceKind> {
        self.kinds
            .iter()
            .map(|(name, revocable)| ResourceKind {
                name: name.clone(),
                revocable: *revocable,
                reserved_for: None,
            })
            .collect()
    }

    /// The amounts of `set` in slots; ranges count their integers. Resources without a slot are
    /// left out (they are never offered).
    pub fn quantities(&self, set: &ResourceSet) -> Quantities {
        let mut q = Quantities::zeros(self.kinds.len());
        for (i, (name, revocable)) in self.kinds.iter().enumerate() {
            q.0[i] = match set.scalars.get(&(name.clone(), *revocable)) {
                Some(v) => *v,
                None if !*revocable => set.ranges.get(name).map_or(0.0, |r| r.count() as f64),
                None => 0.0,
            };
        }
        q
    }

    /// Picks concrete resources worth `amounts` out of `free`: scalars as asked, ranges as the
    /// lowest free integers. Amounts beyond what is free are clipped to it.
    pub fn materialize(&self, amounts: &Quantities, free: &ResourceSet) -> ResourceSet {
        let mut out = ResourceSet::default();
        for (i, (name, revocable)) in self.kinds.iter().enumerate() {
            let want = amounts.get(i);
            if want < EPSILON {
                continue;
            }
            if let Some(have) = free.scalars.get(&(name.clone(), *revocable)) {
                out.scalars
                    .insert((name.clone(), *revocable), want.min(*have));
            } else if let Some(ranges) = free.ranges.get(name).filter(|_| !*revocable) {
                let taken = ranges.take_lowest(want.round() as u64);
                if !taken.is_empty() {
                    out.ranges.insert(name.clone(), taken);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::resources::parse_resources;

    fn set(text: &str) -> ResourceSet {
        ResourceSet::from_resources(&parse_resources(text).unwrap())
    }

    fn r(begin: u64, end: u64) -> ValueRange {
        ValueRange { begin, end }
    }

    #[test]
    fn ranges_merge_subtract_and_take() {
        let mut p = Ranges::new([r(31000, 31010), r(31011, 31020), r(40000, 40000)]);
        assert_eq!(p.as_slice(), &[r(31000, 31020), r(40000, 40000)]);
        assert_eq!(p.count(), 22);
        p.subtract(r(31005, 31006));
        assert_eq!(
            p.as_slice(),
            &[r(31000, 31004), r(31007, 31020), r(40000, 40000)]
        );
        assert!(p.contains(r(31007, 31010)));
        assert!(!p.contains(r(31004, 31007)));
        assert_eq!(
            p.take_lowest(7).as_slice(),
            &[r(31000, 31004), r(31007, 31008)]
        );
    }

    #[test]
    fn sets_do_exact_arithmetic_on_scalars_and_ports() {
        let mut agent = set("cpus:4;mem:1024;ports:[31000-32000]");
        let task = set("cpus:0.5;mem:128;ports:[31005-31005]");
        assert!(agent.contains(&task));
        agent.subtract(&task);
        assert_eq!(agent.scalar("cpus"), 3.5);
        assert!(!agent.contains(&set("ports:[31005-31005]")));
        assert!(!agent.contains(&set("cpus:4")));
        assert!(!agent.contains(&set("gpus:1")));
        agent.add(&task);
        assert_eq!(agent, set("cpus:4;mem:1024;ports:[31000-32000]"));
    }

    #[test]
    fn slots_round_trip_through_the_allocator_view() {
        let table = SlotTable::default();
        let free = set("cpus:4;mem:1024;disk:100;ports:[31000-31009]");
        let q = table.quantities(&free);
        assert_eq!(q.0[..5], [4.0, 1024.0, 100.0, 0.0, 10.0]);
        let mut asked = Quantities::zeros(table.len());
        asked.0[0] = 1.5;
        asked.0[4] = 3.0;
        let picked = table.materialize(&asked, &free);
        assert_eq!(picked, set("cpus:1.5;ports:[31000-31002]"));
        assert_eq!(
            table.materialize(&q, &free),
            free,
            "offering everything gives everything"
        );
        let kinds = table.kinds();
        assert!(kinds[5].revocable && kinds[5].name == "cpus");
    }
}
