//! Resource amounts as a fixed numeric vector, the allocator's hot-path representation.

/// Slot `i` holds the amount of the resource kind at index `i` of the allocator's kind table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quantities(pub Vec<f64>);

/// Amounts below this are treated as zero (Mesos compares scalars at 0.001 precision).
pub const EPSILON: f64 = 1e-6;

/// `a.max(b)`, NaN handling included, as two compares: on `wasm32` `f64::max` is a call into
/// libm (wasm's `f64.max` treats NaN differently), and allocation rounds take thousands.
#[inline]
pub fn max(a: f64, b: f64) -> f64 {
    if a > b || b.is_nan() { a } else { b }
}

/// `a.min(b)`, as [`max`] is `a.max(b)`.
#[inline]
pub fn min(a: f64, b: f64) -> f64 {
    if a < b || b.is_nan() { a } else { b }
}

/// `amounts -= taken` slot by slot (the slots both have), clamping at zero and rounding what
/// is left below [`EPSILON`] to zero: [`Quantities::subtract`] on plain slices.
#[inline]
pub fn subtract_amounts(amounts: &mut [f64], taken: &[f64]) {
    for (a, b) in amounts.iter_mut().zip(taken) {
        *a = max(*a - *b, 0.0);
        if *a < EPSILON {
            *a = 0.0;
        }
    }
}

impl Quantities {
    pub fn zeros(len: usize) -> Self {
        Quantities(vec![0.0; len])
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|v| *v <= EPSILON)
    }

    #[inline]
    pub fn get(&self, slot: usize) -> f64 {
        self.0.get(slot).copied().unwrap_or(0.0)
    }

    /// `self += other`, growing `self` if `other` is longer.
    #[inline]
    pub fn add(&mut self, other: &Quantities) {
        self.add_amounts(&other.0);
    }

    /// `self += amounts` (slot by slot), growing `self` if `amounts` is longer.
    #[inline]
    pub fn add_amounts(&mut self, amounts: &[f64]) {
        if self.0.len() < amounts.len() {
            self.0.resize(amounts.len(), 0.0);
        }
        for (a, b) in self.0.iter_mut().zip(amounts) {
            *a += *b;
        }
    }

    /// `self -= other`, clamping at zero.
    #[inline]
    pub fn subtract(&mut self, other: &Quantities) {
        subtract_amounts(&mut self.0, &other.0);
    }

    /// Whether every amount of `other` fits in `self`.
    #[inline]
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

#[cfg(test)]
mod max_min_tests {
    use super::{max, min};

    #[test]
    fn max_and_min_agree_with_std_including_nan() {
        let values = [
            0.0,
            -1.5,
            2.0,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for a in values {
            for b in values {
                let (m, n) = (max(a, b), min(a, b));
                assert!(
                    m == a.max(b) || (m.is_nan() && a.max(b).is_nan()),
                    "max({a}, {b})"
                );
                assert!(
                    n == a.min(b) || (n.is_nan() && a.min(b).is_nan()),
                    "min({a}, {b})"
                );
            }
        }
    }
}
