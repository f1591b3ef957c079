//! A table keyed by the `u32` handles the master gives agents and frameworks.
//!
//! The master numbers them from 0, so the table is a vector indexed by the handle: looking one
//! up is an index, not a hash probe or a tree search, and walking the handles in ascending
//! order walks memory in ascending order (the host's check of a round visits its offers agent
//! by agent that way). A handle far beyond the others (more than twice as many slots as entries
//! would be needed) goes to an ordered map instead, so a stray large handle costs one entry,
//! not gigabytes. Iteration is in ascending handle order, as a `BTreeMap`'s.

use std::collections::BTreeMap;

/// Handles below this always fit in the vector, however few entries there are.
const ALWAYS_DENSE: usize = 1024;

#[derive(Clone, Debug)]
pub struct Handles<T> {
    /// Indexed by handle. Every handle in `sparse` is at least `dense.len()`.
    dense: Vec<Option<T>>,
    sparse: BTreeMap<u32, T>,
    len: usize,
}

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Handles {
            dense: Vec::new(),
            sparse: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<T> Handles<T> {
    pub fn get(&self, id: u32) -> Option<&T> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&id),
        }
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None => self.sparse.get_mut(&id),
        }
    }

    /// Inserts or replaces the value of `id`; returns the value replaced.
    pub fn insert(&mut self, id: u32, value: T) -> Option<T> {
        let i = id as usize;
        let limit = ALWAYS_DENSE.max(2 * (self.len + 1));
        if i >= self.dense.len() && i < limit {
            self.grow_to((i + 1).max(2 * self.dense.len()).min(limit));
        }
        let old = match self.dense.get_mut(i) {
            Some(slot) => slot.replace(value),
            None => self.sparse.insert(id, value),
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, id: u32) -> Option<T> {
        let old = match self.dense.get_mut(id as usize) {
            Some(slot) => slot.take(),
            None => self.sparse.remove(&id),
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// The value of `id`, inserted as `T::default()` if there was none.
    pub fn or_default(&mut self, id: u32) -> &mut T
    where
        T: Default,
    {
        if self.get(id).is_none() {
            self.insert(id, T::default());
        }
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.get_or_insert_with(T::default),
            None => self.sparse.entry(id).or_default(),
        }
    }

    /// Every entry in ascending handle order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.dense
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| Some((i as u32, slot.as_ref()?)))
            .chain(self.sparse.iter().map(|(id, v)| (*id, v)))
    }

    /// Every entry in ascending handle order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.dense
            .iter_mut()
            .enumerate()
            .filter_map(|(i, slot)| Some((i as u32, slot.as_mut()?)))
            .chain(self.sparse.iter_mut().map(|(id, v)| (*id, v)))
    }

    /// Every handle, ascending.
    pub fn keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter().map(|(id, _)| id)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.iter_mut().map(|(_, v)| v)
    }

    pub fn contains_key(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Extends the vector to `n` slots, moving the hash map's handles below `n` into it.
    fn grow_to(&mut self, n: usize) {
        self.dense.resize_with(n, || None);
        let above = self.sparse.split_off(&u32::try_from(n).unwrap_or(u32::MAX));
        for (id, v) in std::mem::replace(&mut self.sparse, above) {
            if let Some(slot) = self.dense.get_mut(id as usize) {
                *slot = Some(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn small_handles_are_indexed_and_large_ones_hashed_and_both_iterate_in_order() {
        let mut t: Handles<&str> = Handles::default();
        assert_eq!(t.insert(3, "c"), None);
        assert_eq!(t.insert(4_000_000_000, "far"), None);
        assert_eq!(t.insert(0, "a"), None);
        assert_eq!(t.insert(3, "C"), Some("c"));
        assert_eq!(t.dense.len(), 4, "a small handle gets a slot in the vector");
        assert_eq!(
            t.sparse.len(),
            1,
            "a handle far beyond the others is hashed"
        );
        assert_eq!(t.get(3), Some(&"C"));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(4_000_000_000), Some(&"far"));
        assert_eq!(t.get(5), None);
        let order: Vec<u32> = t.iter().map(|(id, _)| id).collect();
        assert_eq!(order, [0, 3, 4_000_000_000]);
        assert_eq!(t.remove(3), Some("C"));
        assert_eq!(t.remove(3), None);
        assert_eq!(t.remove(4_000_000_000), Some("far"));
        assert_eq!(t.len(), 1);
        assert!(t.contains_key(0) && !t.contains_key(3));
    }

    #[test]
    fn hashed_handles_move_into_the_vector_when_it_grows_past_them() {
        let mut t: Handles<u32> = Handles::default();
        t.insert(5000, 5000);
        assert_eq!(t.sparse.len(), 1);
        for id in 0..3000 {
            t.insert(id, id);
        }
        t.insert(4500, 4500);
        assert!(
            t.dense.len() > 5000,
            "3,000 entries make room for handle 5,000"
        );
        assert!(t.sparse.is_empty());
        assert_eq!(t.get(5000), Some(&5000));
        let ids: Vec<u32> = t.iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 3002);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        *t.or_default(7000) += 1;
        assert_eq!(t.get(7000), Some(&1));
        assert_eq!(t.values_mut().count(), 3003);
        assert_eq!(t.keys().last(), Some(7000));
        for (id, v) in t.iter_mut() {
            assert!(id != 7000 || *v == 1);
            *v = id;
        }
        assert!(t.iter().all(|(id, v)| id == *v));
    }
}
