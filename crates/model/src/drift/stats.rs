//! Two-sample statistics behind the drift tests: Kolmogorov-Smirnov with the
//! asymptotic Kolmogorov distribution, Pearson's chi-squared with the
//! regularised incomplete gamma function, population stability index,
//! Jensen-Shannon distance and the first Wasserstein distance.
//!
//! Everything here is pure arithmetic on slices; callers drop missing values
//! first. Inputs to the sample-based functions must be sorted ascending.

/// Smallest share used in place of an empty bin (PSI, Jensen-Shannon), so
/// logarithms stay finite.
pub const EMPTY_BIN_SHARE: f64 = 1e-4;

/// Two-sample Kolmogorov-Smirnov statistic `D = sup |F_a - F_b|` of two
/// sorted samples. Returns 0 when either is empty.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut d: f64 = 0.0;
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// Survival function of the Kolmogorov distribution,
/// `Q(λ) = P(K > λ) = 2 Σ_{k≥1} (-1)^{k-1} exp(-2 k² λ²)`.
///
/// For small λ the alternating series converges slowly, so the
/// Jacobi-theta form `1 - √(2π)/λ Σ exp(-(2k-1)² π² / (8 λ²))` is used.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.0 {
        let c = std::f64::consts::PI * std::f64::consts::PI / (8.0 * lambda * lambda);
        let mut s = 0.0;
        for k in 1..=20 {
            let m = (2 * k - 1) as f64;
            s += (-m * m * c).exp();
        }
        (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * s).clamp(0.0, 1.0)
    } else {
        let mut s = 0.0;
        for k in 1..=100 {
            let kf = k as f64;
            let term = (-2.0 * kf * kf * lambda * lambda).exp();
            s += if k % 2 == 1 { term } else { -term };
            if term < 1e-17 {
                break;
            }
        }
        (2.0 * s).clamp(0.0, 1.0)
    }
}

/// Two-sample KS test on sorted samples: `(D, p)` with the asymptotic
/// p-value `Q(√(n m / (n + m)) · D)`.
pub fn ks_test(a: &[f64], b: &[f64]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 1.0);
    }
    let d = ks_statistic(a, b);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let en = (n * m / (n + m)).sqrt();
    (d, kolmogorov_sf(en * d))
}

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, 9 terms).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)`,
/// by its power series for `x < a + 1` and Lentz's continued fraction above.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let log_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // P(a, x) = e^{-x} x^a / Γ(a+1) · Σ x^n / ((a+1)…(a+n)).
        let mut ap = a;
        let mut term = 1.0 / a;
        let mut sum = term;
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * log_prefix.exp()).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (log_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

/// Survival function of the chi-squared distribution with `dof` degrees of freedom.
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x.is_infinite() && x > 0.0 {
        return 0.0;
    }
    gamma_q(dof / 2.0, x / 2.0)
}

/// Pearson's chi-squared goodness-of-fit test of observed counts against
/// expected counts: `(statistic, p-value)` with `len - 1` degrees of freedom.
/// A category observed but never expected makes the statistic infinite
/// (p = 0); fewer than two categories give `(0, 1)`.
pub fn chi_squared_test(observed: &[f64], expected: &[f64]) -> (f64, f64) {
    let k = observed.len().min(expected.len());
    if k < 2 {
        return (0.0, 1.0);
    }
    let mut stat = 0.0;
    for (o, e) in observed.iter().zip(expected) {
        if *e > 0.0 {
            stat += (o - e) * (o - e) / e;
        } else if *o > 0.0 {
            return (f64::INFINITY, 0.0);
        }
    }
    (stat, chi2_sf(stat, (k - 1) as f64))
}

fn floor_shares(shares: &[f64]) -> Vec<f64> {
    shares
        .iter()
        .map(|&s| if s > 0.0 { s } else { EMPTY_BIN_SHARE })
        .collect()
}

/// Population stability index `Σ (cur - ref) · ln(cur / ref)` of two share
/// vectors over the same bins; empty bins count as `EMPTY_BIN_SHARE`.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    let r = floor_shares(reference);
    let c = floor_shares(current);
    r.iter().zip(&c).map(|(r, c)| (c - r) * (c / r).ln()).sum()
}

/// Jensen-Shannon distance (square root of the divergence, natural log, so
/// in `[0, √ln 2]`) of two share vectors over the same bins; each is
/// normalised to sum to one first.
pub fn jensen_shannon(reference: &[f64], current: &[f64]) -> f64 {
    let norm = |v: &[f64]| -> Vec<f64> {
        let s: f64 = v.iter().sum();
        if s > 0.0 {
            v.iter().map(|x| x / s).collect()
        } else {
            v.to_vec()
        }
    };
    let p = norm(reference);
    let q = norm(current);
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(a, _)| **a > 0.0)
            .map(|(a, m)| a * (a / m).ln())
            .sum::<f64>()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| 0.5 * (a + b)).collect();
    let js = 0.5 * kl(&p, &m) + 0.5 * kl(&q, &m);
    js.max(0.0).sqrt()
}

/// First Wasserstein (earth mover's) distance between the empirical
/// distributions of two sorted samples: `∫ |F_a(x) - F_b(x)| dx`.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    let mut prev = a[0].min(b[0]);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        total += (i as f64 / na - j as f64 / nb).abs() * (x - prev);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        prev = x;
    }
    total
}

/// Share of values in each of the bins given by sorted `edges` (n edges →
/// n-1 bins, each `[e_i, e_{i+1})`, the last closed); values below the first
/// edge count in the first bin and above the last edge in the last bin.
pub fn bin_shares(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len().saturating_sub(1).max(1);
    let mut counts = vec![0.0; bins];
    for &v in values {
        let b = if edges.len() < 2 {
            0
        } else {
            edges
                .partition_point(|&e| e <= v)
                .saturating_sub(1)
                .min(bins - 1)
        };
        counts[b] += 1.0;
    }
    if !values.is_empty() {
        for c in &mut counts {
            *c /= values.len() as f64;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn kolmogorov_distribution_known_values() {
        // Reference values of the Kolmogorov survival function (scipy.special.kolmogorov).
        assert!(close(kolmogorov_sf(0.5), 0.963_945_243_664_875_1, 1e-12));
        assert!(close(kolmogorov_sf(1.0), 0.269_999_671_677_354_6, 1e-12));
        assert!(close(kolmogorov_sf(1.358_098_8), 0.05, 1e-6));
        assert!(close(kolmogorov_sf(2.0), 6.709_252_557_796_953e-4, 1e-14));
        assert_eq!(kolmogorov_sf(0.0), 1.0);
        // Both series agree where they meet.
        assert!(close(
            kolmogorov_sf(0.999_999_9),
            kolmogorov_sf(1.000_000_1),
            1e-6
        ));
    }

    #[test]
    fn ks_statistic_and_p_value() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(ks_test(&a, &a), (0.0, 1.0));
        let b: Vec<f64> = (50..150).map(f64::from).collect();
        let (d, p) = ks_test(&a, &b);
        assert!(close(d, 0.5, 1e-12));
        // sqrt(100*100/200) * 0.5 = 3.5355 → Q ≈ 2.5e-11
        assert!(p < 1e-9 && p > 0.0);
        let c: Vec<f64> = vec![1.0, 2.0, 3.0];
        let e: Vec<f64> = vec![1.5, 2.5, 3.5, 4.5];
        // F_c - F_e is largest (0.5) just after 3.0, where F_c = 1, F_e = 0.5.
        assert!(close(ks_statistic(&c, &e), 0.5, 1e-12));
    }

    #[test]
    fn gamma_and_chi_squared_known_values() {
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
        assert!(close(ln_gamma(10.5), 13.940_625_219_403_763, 1e-10));
        // chi-squared quantiles: 95th percentile with 1 dof, and scipy.stats.chi2.sf values.
        assert!(close(chi2_sf(3.841_458_820_694_124, 1.0), 0.05, 1e-10));
        assert!(close(chi2_sf(10.0, 5.0), 0.075_235_246_146_512_17, 1e-10));
        assert!(close(chi2_sf(1.0, 3.0), 0.801_251_956_901_200_9, 1e-10));
        assert!(close(chi2_sf(100.0, 80.0), 0.064_570_368_921_133, 1e-8));
        // Q(1, x) = e^{-x}
        assert!(close(gamma_q(1.0, 2.5), (-2.5f64).exp(), 1e-14));
        assert_eq!(chi2_sf(0.0, 4.0), 1.0);
    }

    #[test]
    fn chi_squared_test_cases() {
        let (s, p) = chi_squared_test(&[50.0, 50.0], &[50.0, 50.0]);
        assert_eq!(s, 0.0);
        assert!(close(p, 1.0, 1e-12));
        // (60-50)²/50 + (40-50)²/50 = 4 with 1 dof → p = 0.0455
        let (s, p) = chi_squared_test(&[60.0, 40.0], &[50.0, 50.0]);
        assert!(close(s, 4.0, 1e-12));
        assert!(close(p, 0.045_500_263_896_358_4, 1e-10));
        assert_eq!(
            chi_squared_test(&[1.0, 5.0], &[6.0, 0.0]),
            (f64::INFINITY, 0.0)
        );
        assert_eq!(chi_squared_test(&[3.0], &[3.0]), (0.0, 1.0));
    }

    #[test]
    fn psi_js_wasserstein() {
        let r = [0.25, 0.25, 0.25, 0.25];
        assert_eq!(psi(&r, &r), 0.0);
        let c = [0.1, 0.2, 0.3, 0.4];
        let expected: f64 = r.iter().zip(&c).map(|(r, c)| (c - r) * (c / r).ln()).sum();
        assert!(close(psi(&r, &c), expected, 1e-15));
        assert!(close(psi(&r, &c), 0.228_217_409_573_391_8, 1e-12));
        assert_eq!(jensen_shannon(&r, &r), 0.0);
        // Disjoint supports: divergence ln 2.
        assert!(close(
            jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]),
            2f64.ln().sqrt(),
            1e-12
        ));
        // scipy.spatial.distance.jensenshannon([.25]*4, [.1,.2,.3,.4])
        assert!(close(jensen_shannon(&r, &c), 0.166_929_965_725_979_6, 1e-9));
        // Shifting a sample by 3 moves it by exactly 3.
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 3.0).collect();
        assert!(close(wasserstein(&a, &b), 3.0, 1e-12));
        assert!(close(
            wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]),
            5.0,
            1e-12
        ));
        // scipy.stats.wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5; ([0,1], [0,0,1,1,1]) = 0.1
        assert!(close(
            wasserstein(&[0.0, 1.0], &[0.0, 0.0, 1.0, 1.0, 1.0]),
            0.1,
            1e-12
        ));
    }

    #[test]
    fn binning() {
        assert_eq!(
            bin_shares(&[-5.0, 0.5, 1.5, 9.0], &[0.0, 1.0, 2.0]),
            vec![0.5, 0.5]
        );
    }
}
