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
use meseta_types::resources::{PersistentVolume, Reservation, Resource, ResourceValue, ValueRange};

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

/// What sets resources of one name apart: revocability, the reservation stack (outermost
/// first, empty when unreserved) and the persistent volume. Resources of the same name and
/// flavor are interchangeable; a persistent volume is one whole (see [`ResourceSet`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flavor {
    pub revocable: bool,
    pub reservations: Vec<Reservation>,
    pub volume: Option<PersistentVolume>,
}

impl Flavor {
    pub fn of(r: &Resource) -> Flavor {
        Flavor {
            revocable: r.revocable,
            reservations: r.stack(),
            volume: r.disk.clone(),
        }
    }

    pub fn revocable() -> Flavor {
        Flavor {
            revocable: true,
            ..Flavor::default()
        }
    }

    /// The role the resources are reserved for (the innermost reservation), `None` unreserved.
    pub fn role(&self) -> Option<&str> {
        self.reservations.last().map(|r| r.role.as_str())
    }

    pub fn is_plain(&self) -> bool {
        !self.revocable && self.reservations.is_empty() && self.volume.is_none()
    }
}

/// Concrete resources: scalars and ranges by (name, flavor). Sets are not allocated. A scalar
/// with a persistent volume is a whole volume: it is never split (see [`SlotTable::materialize`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceSet {
    pub scalars: BTreeMap<(String, Flavor), f64>,
    pub ranges: BTreeMap<(String, Flavor), Ranges>,
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
        let key = (r.name.clone(), Flavor::of(r));
        match &r.value {
            ResourceValue::Scalar(v) => {
                *self.scalars.entry(key).or_insert(0.0) += v;
            }
            ResourceValue::Ranges(rs) => {
                let entry = self.ranges.entry(key).or_default();
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

    /// Whether every resource of `other` is in `self` (same name and flavor).
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

    /// The non-revocable amount of `name`, reserved or not.
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars
            .iter()
            .filter(|((n, f), _)| n == name && !f.revocable)
            .fold(0.0, |sum, (_, v)| sum + v)
    }

    /// The part of the set whose flavor `keep` accepts.
    pub fn filter(&self, keep: impl Fn(&Flavor) -> bool) -> ResourceSet {
        ResourceSet {
            scalars: self
                .scalars
                .iter()
                .filter(|((_, f), _)| keep(f))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            ranges: self
                .ranges
                .iter()
                .filter(|((_, f), _)| keep(f))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The reserved part, by the role it is reserved for (the innermost reservation).
    pub fn by_reservation_role(&self) -> BTreeMap<String, ResourceSet> {
        let mut out: BTreeMap<String, ResourceSet> = BTreeMap::new();
        for ((name, f), v) in &self.scalars {
            if let Some(role) = f.role() {
                let set = out.entry(role.to_string()).or_default();
                *set.scalars.entry((name.clone(), f.clone())).or_insert(0.0) += v;
            }
        }
        for ((name, f), rs) in &self.ranges {
            if let Some(role) = f.role() {
                let set = out.entry(role.to_string()).or_default();
                set.ranges.insert((name.clone(), f.clone()), rs.clone());
            }
        }
        out
    }

    /// The same resources with every flavor changed by `change`.
    pub fn map_flavor(&self, change: impl Fn(&Flavor) -> Flavor) -> ResourceSet {
        let mut out = ResourceSet::default();
        for ((name, f), v) in &self.scalars {
            *out.scalars.entry((name.clone(), change(f))).or_insert(0.0) += v;
        }
        for ((name, f), rs) in &self.ranges {
            let entry = out.ranges.entry((name.clone(), change(f))).or_default();
            for x in rs.as_slice() {
                entry.add(*x);
            }
        }
        out
    }

    /// The persistent volumes in the set.
    pub fn volumes(&self) -> impl Iterator<Item = (&Flavor, &PersistentVolume, f64)> {
        self.scalars
            .iter()
            .filter_map(|((_, f), v)| f.volume.as_ref().map(|vol| (f, vol, *v)))
    }

    /// Back to named resources, scalars first then ranges, in (name, flavor) order.
    pub fn to_resources(&self) -> Vec<Resource> {
        let resource = |name: &str, f: &Flavor, value| {
            Resource {
                name: name.to_string(),
                value,
                role: None,
                revocable: f.revocable,
                reservations: Vec::new(),
                disk: f.volume.clone(),
            }
            .with_stack(f.reservations.clone())
        };
        let mut out = Vec::new();
        for ((name, f), v) in &self.scalars {
            if *v >= EPSILON {
                out.push(resource(name, f, ResourceValue::Scalar(*v)));
            }
        }
        for ((name, f), rs) in &self.ranges {
            if !rs.is_empty() {
                out.push(resource(
                    name,
                    f,
                    ResourceValue::Ranges(rs.as_slice().to_vec()),
                ));
            }
        }
        out
    }
}

/// One slot of the allocator's vectors: a resource name, revocable or not, and the role the
/// resources are reserved for (`None`: unreserved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub revocable: bool,
    pub reserved_for: Option<String>,
}

impl Slot {
    fn holds(&self, name: &str, f: &Flavor) -> bool {
        self.name == name
            && self.revocable == f.revocable
            && self.reserved_for.as_deref() == f.role()
    }
}

/// The allocator's slot table. It starts with [`DEFAULT_SLOTS`] (unreserved) and grows by
/// [`RESERVED_NAMES`] for each role some resources get reserved for ([`SlotTable::reserve_role`]);
/// slots are never removed, so vectors the allocator already holds stay valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTable {
    kinds: Vec<Slot>,
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

/// The resources a role's reservation gets slots for (revocable resources are never reserved).
pub const RESERVED_NAMES: &[&str] = &["cpus", "mem", "disk", "gpus", "ports"];

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            kinds: DEFAULT_SLOTS
                .iter()
                .map(|(n, r)| Slot {
                    name: n.to_string(),
                    revocable: *r,
                    reserved_for: None,
                })
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

    pub fn slots(&self) -> &[Slot] {
        &self.kinds
    }

    /// The unreserved slot of (name, revocable).
    pub fn slot(&self, name: &str, revocable: bool) -> Option<usize> {
        self.kinds
            .iter()
            .position(|k| k.name == name && k.revocable == revocable && k.reserved_for.is_none())
    }

    /// Adds the slots of resources reserved for `role` unless it has them; the new slots.
    pub fn reserve_role(&mut self, role: &str) -> Vec<Slot> {
        if self
            .kinds
            .iter()
            .any(|k| k.reserved_for.as_deref() == Some(role))
        {
            return Vec::new();
        }
        let added: Vec<Slot> = RESERVED_NAMES
            .iter()
            .map(|n| Slot {
                name: n.to_string(),
                revocable: false,
                reserved_for: Some(role.to_string()),
            })
            .collect();
        self.kinds.extend(added.iter().cloned());
        added
    }

    /// The initial (unreserved) kinds, for the allocator's `initialize`.
    pub fn kinds(&self) -> Vec<ResourceKind> {
        self.kinds
            .iter()
            .filter(|k| k.reserved_for.is_none())
            .map(|k| ResourceKind {
                name: k.name.clone(),
                revocable: k.revocable,
                reserved_for: None,
            })
            .collect()
    }

    /// The amounts of `set` in slots; ranges count their integers. Resources without a slot are
    /// left out (they are never offered).
    pub fn quantities(&self, set: &ResourceSet) -> Quantities {
        let mut q = Quantities::zeros(self.kinds.len());
        for ((name, f), v) in &set.scalars {
            if let Some(i) = self.kinds.iter().position(|k| k.holds(name, f)) {
                q.0[i] += *v;
            }
        }
        for ((name, f), rs) in &set.ranges {
            if let Some(i) = self.kinds.iter().position(|k| k.holds(name, f)) {
                q.0[i] += rs.count() as f64;
            }
        }
        q
    }

    /// Picks concrete resources worth `amounts` out of `free`: scalars as asked (whole
    /// persistent volumes first, while they fit, then divisible resources), ranges as the
    /// lowest free integers. Amounts beyond what is free are clipped to it.
    pub fn materialize(&self, amounts: &Quantities, free: &ResourceSet) -> ResourceSet {
        let mut out = ResourceSet::default();
        for (i, slot) in self.kinds.iter().enumerate() {
            let mut want = amounts.get(i);
            if want < EPSILON {
                continue;
            }
            let mut candidates: Vec<(&(String, Flavor), f64)> = free
                .scalars
                .iter()
                .filter(|((n, f), _)| slot.holds(n, f))
                .map(|(k, v)| (k, *v))
                .collect();
            // Volumes (whole) before divisible resources.
            candidates.sort_by_key(|((_, f), _)| f.volume.is_none());
            for (key, have) in candidates {
                if want < EPSILON {
                    break;
                }
                let take = if key.1.volume.is_some() {
                    if have > want + EPSILON {
                        continue;
                    }
                    have
                } else {
                    want.min(have)
                };
                *out.scalars.entry(key.clone()).or_insert(0.0) += take;
                want -= take;
            }
            for (key, ranges) in free.ranges.iter().filter(|((n, f), _)| slot.holds(n, f)) {
                if want < 0.5 {
                    break;
                }
                let taken = ranges.take_lowest(want.round() as u64);
                want -= taken.count() as f64;
                if !taken.is_empty() {
                    out.ranges.insert(key.clone(), taken);
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
