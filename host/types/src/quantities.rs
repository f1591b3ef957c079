//! Resource amounts as a fixed numeric vector, the allocator's hot-path representation.

/// Slot `i` holds the amount of the resource kind at index `i` of the allocator's kind table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quantities(pub Vec<f64>);

/// Amounts below this are treated as zero (Mesos compares scalars at 0.001 precision).
pub const EPSILON: f64 = 1e-6;

impl Quantities {
    pub fn zeros(len: usize) -> Self {
        Quantities(vec![0.0; len])
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|v| *v <= EPSILON)
    }

    pub fn get(&self, slot: usize) -> f64 {
        self.0.get(slot).copied().unwrap_or(0.0)
    }

    /// `self += other`, growing `self` if `other` is longer.
    pub fn add(&mut self, other: &Quantities) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0.0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a += *b;
        }
    }

    /// `self -= other`, clamping at zero.
    pub fn subtract(&mut self, other: &Quantities) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = (*a - *b).max(0.0);
            if *a < EPSILON {
                *a = 0.0;
            }
        }
    }

    /// Whether every amount of `other` fits in `self`.
    pub fn contains(&self, other: &Quantities) -> bool {
        other
            .0
            .iter()
            .enumerate()
            .all(|(i, b)| *b <= self.get(i) + EPSILON)
    }

    /// Whether every amount is finite and not negative.
    pub fn is_valid(&self) -> bool {
        self.0.iter().all(|v| v.is_finite() && *v >= 0.0)
    }

    /// Keeps only the slots for which `keep` is true, zeroing the others.
    pub fn filter(&self, mut keep: impl FnMut(usize) -> bool) -> Quantities {
        Quantities(
            self.0
                .iter()
                .enumerate()
                .map(|(i, v)| if keep(i) { *v } else { 0.0 })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_clamps_and_compares() {
        let mut a = Quantities(vec![4.0, 1024.0]);
        a.subtract(&Quantities(vec![1.5, 2048.0]));
        assert_eq!(a, Quantities(vec![2.5, 0.0]));
        a.add(&Quantities(vec![0.5, 32.0, 7.0]));
        assert_eq!(a, Quantities(vec![3.0, 32.0, 7.0]));
        assert!(a.contains(&Quantities(vec![3.0, 32.0])));
        assert!(!a.contains(&Quantities(vec![3.1])));
        assert!(!Quantities(vec![-1.0]).is_valid());
        assert!(!Quantities(vec![f64::NAN]).is_valid());
        assert!(Quantities(vec![0.0, 0.0]).is_empty());
    }
}
