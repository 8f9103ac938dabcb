//! Lift of a journey's conversion over its holdout: the difference of two proportions with a
//! 95 % confidence interval by Newcombe's hybrid score method (method 10 of Newcombe 1998,
//! "Interval estimation for the difference between independent proportions"), built from
//! each group's Wilson score interval.
//!
//! Invariant: the interval stays inside [-1, 1] and contains the point estimate, also at the
//! edges (0 or all converting, tiny groups) where the textbook Wald interval collapses to a
//! point; with an empty group there is no lift to report (`None`).

use serde::Serialize;

/// The two-sided 95 % normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// Conversion of the journey's runs against its holdout's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lift {
    /// Conversion rate minus the holdout's (a share: 0.05 is five points).
    pub absolute: f64,
    /// `absolute` over the holdout's rate; `None` when no holdout run converted.
    pub relative: Option<f64>,
    /// 95 % interval of `absolute`: `[low, high]`.
    pub ci95: [f64; 2],
    /// Whether the interval excludes 0.
    pub significant: bool,
}

/// The lift of `converted` of `entered` over `holdout_converted` of `holdout_entered`. Counts
/// come from stored tallies (f64 as D1 returns them); an impossible pair (more converted than
/// entered, negative) or an empty group answers `None`.
pub fn lift(
    converted: f64,
    entered: f64,
    holdout_converted: f64,
    holdout_entered: f64,
) -> Option<Lift> {
    let (p1, l1, u1) = wilson(converted, entered)?;
    let (p0, l0, u0) = wilson(holdout_converted, holdout_entered)?;
    let d = p1 - p0;
    let low = d - ((p1 - l1).powi(2) + (u0 - p0).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p0 - l0).powi(2)).sqrt();
    Some(Lift {
        absolute: d,
        relative: (p0 > 0.0).then(|| d / p0),
        ci95: [low.max(-1.0), high.min(1.0)],
        significant: low > 0.0 || high < 0.0,
    })
}

/// The proportion and its Wilson score interval at 95 %.
fn wilson(x: f64, n: f64) -> Option<(f64, f64, f64)> {
    if !(n >= 1.0 && (0.0..=n).contains(&x)) {
        return None;
    }
    let p = x / n;
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z2 / n;
    Some((p, (centre - half) / denom, (centre + half) / denom))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Newcombe (1998), Table II, method 10: the published intervals, to four places.
    #[test]
    fn matches_newcombes_published_intervals() {
        for (x1, n1, x0, n0, lo, hi) in [
            (56.0, 70.0, 48.0, 80.0, 0.0524, 0.3339),
            (9.0, 10.0, 3.0, 10.0, 0.1705, 0.8090),
            (6.0, 7.0, 2.0, 7.0, 0.0582, 0.8062),
            (5.0, 56.0, 0.0, 29.0, -0.0381, 0.1926),
        ] {
            let l = lift(x1, n1, x0, n0).unwrap();
            assert!(
                close(l.ci95[0], lo) && close(l.ci95[1], hi),
                "{x1}/{n1} vs {x0}/{n0}: {l:?}"
            );
            assert!(close(l.absolute, x1 / n1 - x0 / n0));
            assert_eq!(l.significant, lo > 0.0);
        }
    }

    #[test]
    fn edges_keep_a_real_interval() {
        let none = lift(0.0, 10.0, 0.0, 20.0).unwrap();
        assert_eq!(none.absolute, 0.0);
        assert!(none.ci95[0] < 0.0 && none.ci95[1] > 0.0, "{none:?}");
        assert_eq!(
            none.relative, None,
            "no holdout conversion: no relative lift"
        );
        assert!(!none.significant);
        let all = lift(10.0, 10.0, 10.0, 10.0).unwrap();
        assert!(all.ci95[0] >= -1.0 && all.ci95[1] <= 1.0 && all.ci95[0] < 0.0);
        let big = lift(600.0, 1000.0, 500.0, 1000.0).unwrap();
        assert_eq!(big.relative.map(|r| (r * 1e6).round() / 1e6), Some(0.2));
        assert!(big.significant);
    }

    #[test]
    fn empty_or_impossible_groups_have_no_lift() {
        assert_eq!(lift(0.0, 0.0, 1.0, 2.0), None);
        assert_eq!(lift(1.0, 2.0, 0.0, 0.0), None);
        assert_eq!(lift(3.0, 2.0, 1.0, 2.0), None);
        assert_eq!(lift(-1.0, 2.0, 1.0, 2.0), None);
        assert_eq!(lift(f64::NAN, 2.0, 1.0, 2.0), None);
    }
}
