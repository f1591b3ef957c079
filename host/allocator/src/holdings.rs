//! What each client holds on one agent, in two flat vectors.
//!
//! A round records every offer here and a decline gives it back, so in the steady state of
//! Mesos' decline benchmark every agent gains and loses a holding each round. Kept as a map of
//! small vectors, that was a tree node and a vector allocated and freed per offer; here the
//! agent's two vectors keep their capacity, and a holding comes and goes without allocating.

use meseta_types::allocation::{FrameworkId, RoleId};

/// Holdings of (framework, role) pairs, sorted by the pair, each with `width` amounts.
#[derive(Debug, Default)]
pub(crate) struct Holdings {
    holders: Vec<(FrameworkId, RoleId)>,
    /// `width` amounts per holder, in the holders' order.
    amounts: Vec<f64>,
    width: usize,
}

impl Holdings {
    /// Every holding in (framework, role) order, with its amounts (`width` of them, the
    /// slots beyond what was ever given being 0).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (FrameworkId, RoleId, &[f64])> {
        let width = self.width;
        self.holders.iter().enumerate().map(move |(i, &(f, r))| {
            let held = self.amounts.get(i * width..(i + 1) * width);
            (f, r, held.unwrap_or(&[]))
        })
    }

    /// Adds `r` to what the framework holds in the role.
    pub(crate) fn add(&mut self, framework: FrameworkId, role: RoleId, r: &[f64]) {
        if r.len() > self.width {
            self.widen(r.len());
        }
        let i = match self.holders.binary_search(&(framework, role)) {
            Ok(i) => i,
            Err(i) => {
                self.holders.insert(i, (framework, role));
                let at = i * self.width;
                self.amounts
                    .splice(at..at, std::iter::repeat_n(0.0, self.width));
                i
            }
        };
        if let Some(held) = self.amounts.get_mut(i * self.width..(i + 1) * self.width) {
            for (a, b) in held.iter_mut().zip(r) {
                *a += *b;
            }
        }
    }

    /// Takes `r` from what the framework holds in the role, each amount not below 0 (as
    /// `Quantities::subtract`); the holding goes when nothing is left of it.
    pub(crate) fn subtract(&mut self, framework: FrameworkId, role: RoleId, r: &[f64]) {
        let Ok(i) = self.holders.binary_search(&(framework, role)) else {
            return;
        };
        let range = i * self.width..(i + 1) * self.width;
        let Some(held) = self.amounts.get_mut(range.clone()) else {
            return;
        };
        meseta_types::quantities::subtract_amounts(held, r);
        if held.iter().all(|a| *a <= meseta_types::quantities::EPSILON) {
            self.holders.remove(i);
            self.amounts.drain(range);
        }
    }

    /// Drops the holdings of the frameworks `keep` rejects; whether any went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(FrameworkId) -> bool) -> bool {
        let before = self.holders.len();
        let width = self.width;
        let mut i = 0;
        while let Some(&(f, _)) = self.holders.get(i) {
            if keep(f) {
                i += 1;
            } else {
                self.holders.remove(i);
                self.amounts.drain(i * width..(i + 1) * width);
            }
        }
        self.holders.len() != before
    }

    /// Lays the amounts out `width` per holder (wider than now).
    fn widen(&mut self, width: usize) {
        let mut amounts = Vec::with_capacity(self.holders.len() * width);
        for i in 0..self.holders.len() {
            let old = self
                .amounts
                .get(i * self.width..(i + 1) * self.width)
                .unwrap_or(&[]);
            amounts.extend_from_slice(old);
            amounts.extend(std::iter::repeat_n(0.0, width - old.len()));
        }
        self.amounts = amounts;
        self.width = width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(h: &Holdings) -> Vec<(FrameworkId, RoleId, Vec<f64>)> {
        h.iter().map(|(f, r, a)| (f, r, a.to_vec())).collect()
    }

    #[test]
    fn holdings_add_up_per_client_in_client_order_and_go_when_given_back() {
        let mut h = Holdings::default();
        h.add(2, 0, &[1.0, 32.0]);
        h.add(1, 5, &[2.0]);
        h.add(2, 0, &[1.0, 32.0]);
        assert_eq!(list(&h), [(1, 5, vec![2.0, 0.0]), (2, 0, vec![2.0, 64.0])]);
        h.add(1, 5, &[0.0, 0.0, 7.0]);
        assert_eq!(
            list(&h),
            [(1, 5, vec![2.0, 0.0, 7.0]), (2, 0, vec![2.0, 64.0, 0.0])],
            "a wider amount widens every holding"
        );
        h.subtract(2, 0, &[5.0, 64.0]);
        assert_eq!(
            list(&h),
            [(1, 5, vec![2.0, 0.0, 7.0])],
            "nothing left: gone"
        );
        h.subtract(9, 9, &[1.0]);
        h.subtract(1, 5, &[2.0]);
        assert_eq!(list(&h), [(1, 5, vec![0.0, 0.0, 7.0])]);
        let capacity = h.amounts.capacity();
        h.subtract(1, 5, &[0.0, 0.0, 7.0]);
        assert!(h.holders.is_empty());
        h.add(3, 3, &[1.0, 1.0, 1.0]);
        assert_eq!(
            h.amounts.capacity(),
            capacity,
            "capacity is kept for the next holding"
        );
    }

    #[test]
    fn a_holding_of_no_amounts_is_still_listed() {
        let mut h = Holdings::default();
        h.add(4, 2, &[]);
        assert_eq!(list(&h), [(4, 2, vec![])]);
        h.add(4, 3, &[1.0]);
        assert_eq!(list(&h), [(4, 2, vec![0.0]), (4, 3, vec![1.0])]);
    }

    #[test]
    fn retain_drops_the_holdings_of_the_frameworks_rejected() {
        let mut h = Holdings::default();
        for f in 0..4 {
            h.add(f, 0, &[f64::from(f) + 1.0]);
            h.add(f, 1, &[f64::from(f) + 1.0]);
        }
        assert!(h.retain(|f| f % 2 == 0));
        assert_eq!(
            list(&h),
            [
                (0, 0, vec![1.0]),
                (0, 1, vec![1.0]),
                (2, 0, vec![3.0]),
                (2, 1, vec![3.0])
            ]
        );
        assert!(!h.retain(|_| true));
    }
}
