//! Multinomial logistic regression with sample weights and an L2 penalty,
//! fitted by L-BFGS. The objective matches the usual `C`-parameterised form
//! `C Σ wᵢ ℓᵢ + ½‖W‖²` (divided by `C n` for numerical scale). For warm start
//! the penalty also pulls toward a source model's weights:
//! `½‖W‖² + s/2 ‖W - W₀‖²` (`s` = `warm_start_strength`), which transfers
//! what the source learnt about rare classes while the new data refines it.

use serde::{Deserialize, Serialize};

use super::gbm::softmax_in_place;
use crate::preprocess::Matrix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub n_classes: usize,
    pub n_features: usize,
    /// Row-major `n_classes × (n_features + 1)`; the last column is the intercept.
    pub weights: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogisticParams {
    pub c: f64,
    pub max_iter: usize,
    pub warm_strength: f64,
}

impl Logistic {
    pub fn predict_proba_into(&self, x: &[f64], out: &mut [f64]) {
        let s = self.n_features + 1;
        for (c, o) in out.iter_mut().enumerate().take(self.n_classes) {
            let w = &self.weights[c * s..(c + 1) * s];
            let mut z = w[self.n_features];
            for (a, b) in w[..self.n_features].iter().zip(x) {
                z += a * b;
            }
            *o = z;
        }
        softmax_in_place(out);
    }

    pub fn is_valid(&self) -> bool {
        self.weights.len() == self.n_classes * (self.n_features + 1)
            && self.weights.iter().all(|w| w.is_finite())
    }

    pub fn fit(
        x: &Matrix,
        y: &[usize],
        w: &[f64],
        k: usize,
        p: &LogisticParams,
        warm: Option<&Logistic>,
    ) -> Logistic {
        let d = x.cols;
        let s = d + 1;
        let n = x.rows as f64;
        let wsum: f64 = w.iter().sum();
        let wscale = if wsum > 0.0 { n / wsum } else { 1.0 };
        let reg = 1.0 / (p.c * n);
        let center: Option<Vec<f64>> = warm
            .filter(|m| m.n_features == d && m.n_classes == k)
            .map(|m| m.weights.clone());
        let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
            grad.fill(0.0);
            let mut loss = 0.0;
            let mut z = vec![0.0; k];
            for i in 0..x.rows {
                let xi = x.row(i);
                for (c, zc) in z.iter_mut().enumerate() {
                    let wc = &theta[c * s..(c + 1) * s];
                    let mut v = wc[d];
                    for (a, b) in wc[..d].iter().zip(xi) {
                        v += a * b;
                    }
                    *zc = v;
                }
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let zy = z[y[i]];
                // z becomes exp(z - m): one exponential per class.
                let mut sum = 0.0;
                for v in z.iter_mut() {
                    *v = (*v - m).exp();
                    sum += *v;
                }
                let wi = w[i] * wscale / n;
                // -log softmax(z)_y = log Σ exp(z - m) - (z_y - m): one logarithm.
                loss += wi * (sum.ln() - (zy - m));
                let inv = 1.0 / sum;
                for c in 0..k {
                    let r = wi * (z[c] * inv - if c == y[i] { 1.0 } else { 0.0 });
                    let gc = &mut grad[c * s..(c + 1) * s];
                    for (g, b) in gc[..d].iter_mut().zip(xi) {
                        *g += r * b;
                    }
                    gc[d] += r;
                }
            }
            for c in 0..k {
                for j in 0..d {
                    let t = theta[c * s + j];
                    loss += 0.5 * reg * t * t;
                    grad[c * s + j] += reg * t;
                    if let Some(w0) = &center {
                        let diff = t - w0[c * s + j];
                        loss += 0.5 * reg * p.warm_strength * diff * diff;
                        grad[c * s + j] += reg * p.warm_strength * diff;
                    }
                }
            }
            loss
        };
        let start = match &center {
            Some(w0) => w0.clone(),
            None => vec![0.0; k * s],
        };
        let weights = lbfgs(start, objective, p.max_iter, GRADIENT_TOLERANCE);
        Logistic {
            n_classes: k,
            n_features: d,
            weights,
        }
    }
}

/// Largest gradient component at which the fit counts as converged: the
/// objective is a mean over rows, as in scikit-learn, whose L-BFGS default
/// is the same `tol = 1e-4` (was 1e-5 here; README, Models and defaults).
pub const GRADIENT_TOLERANCE: f64 = 1e-4;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Limited-memory BFGS (memory 10) with a backtracking Armijo line search.
pub fn lbfgs<F>(mut x: Vec<f64>, mut f: F, max_iter: usize, gtol: f64) -> Vec<f64>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let m = 10;
    let dim = x.len();
    let mut g = vec![0.0; dim];
    let mut fx = f(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut dir = vec![0.0; dim];
    let mut x_new = vec![0.0; dim];
    let mut g_new = vec![0.0; dim];
    for _ in 0..max_iter {
        // Converged when no gradient component is above `gtol` (the
        // objective is scaled by 1/(C n), so this is relative to the data size).
        if g.iter().all(|v| v.abs() < gtol) {
            break;
        }
        let gnorm = dot(&g, &g).sqrt();
        // Two-loop recursion.
        dir.copy_from_slice(&g);
        let mut alphas = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alphas[i] = rho * dot(&s_hist[i], &dir);
            for (d, yv) in dir.iter_mut().zip(&y_hist[i]) {
                *d -= alphas[i] * yv;
            }
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            for d in dir.iter_mut() {
                *d *= gamma;
            }
        } else {
            let sc = 1.0 / gnorm.max(1.0);
            for d in dir.iter_mut() {
                *d *= sc;
            }
        }
        for i in 0..s_hist.len() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &dir);
            for (d, sv) in dir.iter_mut().zip(&s_hist[i]) {
                *d += sv * (alphas[i] - beta);
            }
        }
        for d in dir.iter_mut() {
            *d = -*d;
        }
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction: fall back to steepest descent.
            for (d, gv) in dir.iter_mut().zip(&g) {
                *d = -gv / gnorm.max(1.0);
            }
            slope = dot(&g, &dir);
            s_hist.clear();
            y_hist.clear();
        }
        let mut step = 1.0;
        let mut accepted = false;
        let mut f_new = fx;
        for _ in 0..40 {
            for ((xn, xv), d) in x_new.iter_mut().zip(&x).zip(&dir) {
                *xn = xv + step * d;
            }
            f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &yv);
        let rel = (fx - f_new).abs() / fx.abs().max(1e-12);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        fx = f_new;
        if sy > 1e-12 {
            if s_hist.len() == m {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(yv);
        }
        if rel < 1e-9 {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_minimises_a_quadratic() {
        let x = lbfgs(
            vec![5.0, -3.0],
            |t, g| {
                g[0] = 2.0 * (t[0] - 1.0);
                g[1] = 20.0 * (t[1] + 2.0);
                (t[0] - 1.0).powi(2) + 10.0 * (t[1] + 2.0).powi(2)
            },
            100,
            1e-7,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-5 && (x[1] + 2.0).abs() < 1e-5,
            "{x:?}"
        );
    }

    #[test]
    fn separates_three_clusters_and_weights_matter() {
        let mut data = Vec::new();
        let mut y = Vec::new();
        for i in 0..90 {
            let c = i % 3;
            let jitter = ((i * 7) % 11) as f64 / 11.0 - 0.5;
            data.push(c as f64 * 3.0 + jitter);
            data.push(jitter);
            y.push(c);
        }
        let x = Matrix {
            data,
            rows: 90,
            cols: 2,
        };
        let w = vec![1.0; 90];
        let p = LogisticParams {
            c: 1.0,
            max_iter: 200,
            warm_strength: 0.0,
        };
        let m = Logistic::fit(&x, &y, &w, 3, &p, None);
        assert!(m.is_valid());
        let mut out = vec![0.0; 3];
        for (i, &yi) in y.iter().enumerate() {
            m.predict_proba_into(x.row(i), &mut out);
            let arg = (0..3).max_by(|&a, &b| out[a].total_cmp(&out[b])).unwrap();
            assert_eq!(arg, yi);
        }
        // Up-weighting class 2 raises its probability at the boundary.
        let w2: Vec<f64> = y.iter().map(|&c| if c == 2 { 5.0 } else { 1.0 }).collect();
        let m2 = Logistic::fit(&x, &y, &w2, 3, &p, None);
        let mut a = vec![0.0; 3];
        let mut b = vec![0.0; 3];
        m.predict_proba_into(&[4.5, 0.0], &mut a);
        m2.predict_proba_into(&[4.5, 0.0], &mut b);
        assert!(b[2] > a[2]);
    }
}
