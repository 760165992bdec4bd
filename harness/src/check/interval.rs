//! Distribution-free confidence intervals for a percentile, exact from a histogram.
//!
//! Of n independent calls, the number B at or below the true q-quantile is
//! Binomial(n, q). So the k-th smallest latency X_(k) is at or below the quantile exactly
//! when B >= k, and the interval [X_(lo), X_(hi)] holds the quantile with probability
//! P(lo <= B <= hi - 1), whatever the latency's distribution (for one with ties, at
//! least that). The ranks are chosen with equal tails: each side misses with probability
//! at most alpha / 2. No resampling, no normal approximation; the histogram gives the
//! values at those ranks (to its 3 significant digits, rounded outwards).

use workers::Hist;

/// The two-sided confidence asked of every percentile's interval.
pub const CONFIDENCE: f64 = 0.99;

/// Ranks (1-based, into the n sorted values) bounding the q-quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranks {
    pub low: u64,
    pub high: u64,
    /// P(low <= B <= high - 1) for B ~ Binomial(n, q): the interval's exact coverage.
    /// Below the confidence asked when n is too small to bound a tail percentile, in
    /// which case `low` is 1 or `high` is n (the sample's extremes).
    pub coverage: f64,
}

/// A percentile's confidence interval in the histogram's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: u64,
    pub high: u64,
    pub coverage: f64,
}

/// The binomial distribution's CDF, P(B <= k), over the part of its support that
/// carries any mass (weights are summed outwards from the mode until they vanish).
struct Binomial {
    /// The first k held.
    start: u64,
    /// cdf[i] = P(B <= start + i); P(B < start) is below 1e-40.
    cdf: Vec<f64>,
}

impl Binomial {
    fn new(n: u64, q: f64) -> Binomial {
        if q <= 0.0 || q >= 1.0 || n == 0 {
            let k = if q >= 1.0 { n } else { 0 };
            return Binomial { start: k, cdf: vec![1.0] };
        }
        let mode = (((n + 1) as f64 * q).floor() as u64).min(n);
        let odds = q / (1.0 - q);
        // Relative weights: pmf(k + 1) / pmf(k) = (n - k) / (k + 1) * q / (1 - q).
        let mut down = Vec::new();
        let (mut w, mut k) = (1.0f64, mode);
        while k > 0 && w > 1e-40 {
            w *= k as f64 / ((n - k + 1) as f64 * odds);
            k -= 1;
            down.push(w);
        }
        let mut up = Vec::new();
        let (mut w, mut k) = (1.0f64, mode);
        while k < n && w > 1e-40 {
            w *= (n - k) as f64 / ((k + 1) as f64) * odds;
            k += 1;
            up.push(w);
        }
        let start = mode - down.len() as u64;
        let weights: Vec<f64> = down.into_iter().rev().chain(std::iter::once(1.0)).chain(up).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                sum += w;
                (sum / total).min(1.0)
            })
            .collect();
        Binomial { start, cdf }
    }

    /// P(B <= k) (k may be negative: 0).
    fn cdf(&self, k: i64) -> f64 {
        if k < self.start as i64 {
            0.0
        } else {
            let i = (k - self.start as i64) as usize;
            self.cdf.get(i).copied().unwrap_or(1.0)
        }
    }
}

/// The ranks of the order statistics that bound the q-quantile of n values with
/// confidence at least `confidence` (equal tails), or the sample's extremes where n is
/// too small for that (see `Ranks::coverage`). None when n is 0.
pub fn ranks(n: u64, q: f64, confidence: f64) -> Option<Ranks> {
    if n == 0 {
        return None;
    }
    let b = Binomial::new(n, q);
    let tail = (1.0 - confidence) / 2.0;
    // The largest low with P(B <= low - 1) <= tail: P(X_(low) > quantile) <= tail
    // (the predicate holds for every k up to some point, so a binary search finds it).
    let low = first_failing(n, |k| b.cdf(k as i64 - 1) <= tail).saturating_sub(1).max(1);
    // The smallest high with P(B <= high - 1) >= 1 - tail: P(X_(high) < quantile) <= tail.
    let high = first_failing(n, |k| b.cdf(k as i64 - 1) < 1.0 - tail).min(n);
    let coverage = b.cdf(high as i64 - 1) - b.cdf(low as i64 - 1);
    Some(Ranks { low, high, coverage })
}

/// The first k in 1..=n for which `holds` (true up to some k, false after) is false;
/// n + 1 when it holds for all.
fn first_failing(n: u64, holds: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (1, n + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The confidence interval of the histogram's q-quantile: the values at the ranks of
/// `ranks`, the low end at its bucket's lowest value, the high end at its highest.
pub fn of_quantile(h: &Hist, q: f64, confidence: f64) -> Option<Interval> {
    let hist = h.to_histogram();
    let r = ranks(hist.len(), q, confidence)?;
    let (mut low, mut high, mut seen) = (None, None, 0u64);
    for v in hist.iter_recorded() {
        seen += v.count_at_value();
        let at = v.value_iterated_to();
        if low.is_none() && seen >= r.low {
            low = Some(hist.lowest_equivalent(at));
        }
        if seen >= r.high {
            high = Some(hist.highest_equivalent(at));
            break;
        }
    }
    Some(Interval { low: low?, high: high?, coverage: r.coverage })
}

#[cfg(test)]
#[path = "interval_tests.rs"]
mod tests;
