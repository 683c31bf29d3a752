//! Binary logistic regression with an L2 penalty, scikit-learn's parametrisation, plus ROC AUC and
//! accuracy.
//!
//! Minimises `½‖w‖² + C·Σᵢ log(1 + exp(−sᵢ(xᵢ·w + b)))` with `sᵢ = ±1` and the intercept `b` not
//! penalised — the objective of `LogisticRegression(penalty="l2", C=C)` (default `C = 1`). It is
//! strictly convex; this solves it by Newton's method with step halving until the gradient's largest
//! component is below `tol`, so the coefficients are those of scikit-learn's `lbfgs` solver run to
//! convergence.

use crate::{Error, Result, check_finite, check_matrix};

/// Options of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Inverse regularisation strength (> 0).
    pub c: f64,
    /// Stop when the largest gradient component is below this.
    pub tol: f64,
    /// Newton iteration cap.
    pub max_iter: usize,
}

impl Default for Logistic {
    fn default() -> Self {
        Logistic { c: 1.0, tol: 1e-8, max_iter: 100 }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticFit {
    /// Coefficients.
    pub coef: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// Whether the gradient rule was met.
    pub converged: bool,
}

impl LogisticFit {
    /// Probability of class `true` for one row.
    pub fn predict_proba(&self, row: &[f64]) -> f64 {
        sigmoid(self.intercept + row.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>())
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 { 1.0 / (1.0 + (-z).exp()) } else { z.exp() / (1.0 + z.exp()) }
}

fn log1pexp(z: f64) -> f64 {
    if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() }
}

/// Fits on row-major `x` (`p` columns) and boolean labels `y`.
pub fn fit(x: &[f64], p: usize, y: &[bool], o: &Logistic) -> Result<LogisticFit> {
    let n = check_matrix("x", x, p)?;
    if n != y.len() {
        return Err(Error::Shape { what: "y", detail: format!("{} rows in x, {} labels", n, y.len()) });
    }
    if n == 0 {
        return Err(Error::TooFewRows { what: "logistic regression", need: 1, got: 0 });
    }
    if !(o.c > 0.0 && o.c.is_finite()) {
        return Err(Error::Option { name: "c", detail: format!("must be > 0, got {}", o.c) });
    }
    let q = p + 1; // parameters: w then b
    let row = |i: usize, j: usize| if j < p { x[i * p + j] } else { 1.0 };
    let objective = |t: &[f64]| {
        let mut f = 0.5 * t[..p].iter().map(|v| v * v).sum::<f64>();
        for i in 0..n {
            let z: f64 = (0..q).map(|j| row(i, j) * t[j]).sum();
            let s = if y[i] { 1.0 } else { -1.0 };
            f += o.c * log1pexp(-s * z);
        }
        f
    };
    let mut t = vec![0.0; q];
    let mut converged = false;
    for _ in 0..o.max_iter {
        let mut g = vec![0.0; q];
        let mut h = vec![0.0; q * q];
        g[..p].copy_from_slice(&t[..p]);
        for j in 0..p {
            h[j * q + j] = 1.0;
        }
        for i in 0..n {
            let z: f64 = (0..q).map(|j| row(i, j) * t[j]).sum();
            let pr = sigmoid(z);
            let r = o.c * (pr - if y[i] { 1.0 } else { 0.0 });
            let wgt = o.c * pr * (1.0 - pr);
            for a in 0..q {
                g[a] += r * row(i, a);
                for b in 0..q {
                    h[a * q + b] += wgt * row(i, a) * row(i, b);
                }
            }
        }
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < o.tol {
            converged = true;
            break;
        }
        let step = solve(&mut h, &mut g, q);
        let f0 = objective(&t);
        let mut s = 1.0;
        loop {
            let cand: Vec<f64> = t.iter().zip(&step).map(|(a, d)| a - s * d).collect();
            // Accept within rounding of the objective: near the optimum the decrease is below it.
            if objective(&cand) <= f0 + 1e-14 * f0.abs() || s < 1e-10 {
                t = cand;
                break;
            }
            s *= 0.5;
        }
    }
    check_finite("logistic coefficients", &t)?;
    Ok(LogisticFit { coef: t[..p].to_vec(), intercept: t[p], converged })
}

/// Solves `h·s = g` (h symmetric positive definite, `q × q`) by Gaussian elimination with partial
/// pivoting; returns `s`.
fn solve(h: &mut [f64], g: &mut [f64], q: usize) -> Vec<f64> {
    for c in 0..q {
        let piv = (c..q).fold(c, |b, r| if h[r * q + c].abs() > h[b * q + c].abs() { r } else { b });
        if piv != c {
            for k in 0..q {
                h.swap(c * q + k, piv * q + k);
            }
            g.swap(c, piv);
        }
        for r in c + 1..q {
            let f = h[r * q + c] / h[c * q + c];
            for k in c..q {
                h[r * q + k] -= f * h[c * q + k];
            }
            g[r] -= f * g[c];
        }
    }
    let mut s = vec![0.0; q];
    for c in (0..q).rev() {
        let acc: f64 = (c + 1..q).map(|k| h[c * q + k] * s[k]).sum();
        s[c] = (g[c] - acc) / h[c * q + c];
    }
    s
}

/// Area under the ROC curve of `scores` for labels `y` (ties in scores count one half), as
/// scikit-learn's `roc_auc_score`. Needs both classes present.
pub fn roc_auc(y: &[bool], scores: &[f64]) -> Result<f64> {
    check_finite("scores", scores)?;
    if y.len() != scores.len() {
        return Err(Error::Shape { what: "roc_auc", detail: format!("{} labels, {} scores", y.len(), scores.len()) });
    }
    let pos = y.iter().filter(|&&v| v).count();
    let neg = y.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::Option { name: "labels", detail: "roc_auc needs both classes".into() });
    }
    let ranks = crate::stats::rank_average(scores);
    let rpos: f64 = ranks.iter().zip(y).filter(|(_, v)| **v).map(|(r, _)| r).sum();
    Ok((rpos - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// Share of `predicted == actual`.
pub fn accuracy(actual: &[bool], predicted: &[bool]) -> Result<f64> {
    if actual.len() != predicted.len() || actual.is_empty() {
        return Err(Error::Shape {
            what: "accuracy",
            detail: format!("{} and {} labels", actual.len(), predicted.len()),
        });
    }
    Ok(actual.iter().zip(predicted).filter(|(a, b)| a == b).count() as f64 / actual.len() as f64)
}
