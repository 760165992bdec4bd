//! The order-statistic intervals against a brute-force binomial, and their coverage by
//! simulation (fixed seeds).

use rand::{Rng, SeedableRng};

use super::*;

/// P(B <= k) for B ~ Binomial(n, q), summing every term with exact binomial
/// coefficients (n small enough for u128).
fn brute_cdf(n: u64, q: f64, k: i64) -> f64 {
    let choose = |n: u64, k: u64| -> f64 {
        let mut c: u128 = 1;
        for i in 0..k {
            c = c * u128::from(n - i) / u128::from(i + 1);
        }
        c as f64
    };
    (0..=n).filter(|&j| (j as i64) <= k).map(|j| choose(n, j) * q.powi(j as i32) * (1.0 - q).powi((n - j) as i32)).sum()
}

#[test]
fn ranks_match_a_brute_force_search_for_small_samples() {
    for n in 1..=60u64 {
        for q in [0.5, 0.9, 0.99] {
            for confidence in [0.9, 0.99] {
                let tail = (1.0 - confidence) / 2.0;
                let cdf = |k: u64| brute_cdf(n, q, k as i64 - 1);
                // Every candidate rank tried, in order.
                let low = (1..=n).filter(|&k| cdf(k) <= tail).max().unwrap_or(1);
                let high = (1..=n).find(|&k| cdf(k) >= 1.0 - tail).unwrap_or(n);
                let r = ranks(n, q, confidence).unwrap();
                assert_eq!((r.low, r.high), (low, high), "n {n} q {q} confidence {confidence}");
                let exact = cdf(high) - cdf(low);
                assert!((r.coverage - exact).abs() < 1e-9, "n {n} q {q}: {} vs {exact}", r.coverage);
                let bounded = cdf(1) <= tail && cdf(n) >= 1.0 - tail;
                if bounded {
                    assert!(r.coverage >= confidence - 1e-12, "n {n} q {q}: coverage {}", r.coverage);
                }
            }
        }
    }
    // 100 calls cannot bound p99 at 99%: the upper end is the largest call, and the
    // coverage says how much less than 99% that is.
    let r = ranks(100, 0.99, 0.99).unwrap();
    assert_eq!(r.high, 100);
    assert!(r.coverage < 0.99, "{r:?}");
    assert_eq!(ranks(0, 0.5, 0.99), None);
}

#[test]
fn large_samples_agree_with_the_normal_approximation() {
    let (n, q) = (1_000_000u64, 0.99);
    let r = ranks(n, q, 0.99).unwrap();
    let sd = (n as f64 * q * (1.0 - q)).sqrt();
    let centre = n as f64 * q;
    for (rank, expected) in [(r.low, centre - 2.576 * sd), (r.high, centre + 2.576 * sd)] {
        assert!((rank as f64 - expected).abs() < 5.0, "{r:?}: {rank} vs {expected}");
    }
    assert!(r.coverage >= 0.99 && r.coverage < 0.9905, "{r:?}");
}

/// Exponential latencies (mean 20 ms) in microseconds: the true q-quantile is known.
fn exponential(rng: &mut rand::rngs::StdRng, n: u64) -> Hist {
    let mut h = Hist::default();
    for _ in 0..n {
        let u: f64 = rng.random_range(0.0..1.0);
        h.record((-(1.0 - u).ln() * 20_000.0) as u64);
    }
    h
}

#[test]
fn intervals_cover_the_true_percentile_as_often_as_they_claim() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(27);
    let trials = 1_500;
    for (n, q, confidence) in [(200, 0.9, 0.95), (2_000, 0.5, 0.95), (1_000, 0.99, 0.9)] {
        let truth = -(1.0f64 - q).ln() * 20_000.0;
        let mut covered = 0;
        for _ in 0..trials {
            let i = of_quantile(&exponential(&mut rng, n), q, confidence).unwrap();
            assert!(i.coverage >= confidence, "{i:?}");
            covered += u32::from((i.low as f64) <= truth && truth <= i.high as f64);
        }
        let rate = f64::from(covered) / f64::from(trials);
        // The sampling error of 1,500 trials is about 0.6 points at 95%.
        assert!(rate >= confidence - 0.02, "n {n} q {q}: covered {rate} of the time, claimed {confidence}");
        assert!(rate <= 0.995, "n {n} q {q}: covered {rate}, the interval is far wider than needed");
    }
}

#[test]
fn the_histogram_gives_the_values_at_the_ranks() {
    let mut h = Hist::default();
    for v in 1..=1_000 {
        h.record(v);
    }
    let i = of_quantile(&h, 0.5, 0.99).unwrap();
    let r = ranks(1_000, 0.5, 0.99).unwrap();
    // Values below 2,048 are exact in a 3-digit histogram: the k-th smallest is k.
    assert_eq!((i.low, i.high), (r.low, r.high));
    assert!(i.low < 500 && 500 < i.high && i.high - i.low < 100, "{i:?}");
    assert_eq!(of_quantile(&Hist::default(), 0.5, 0.99), None);
}
