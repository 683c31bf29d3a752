//! Lasso and ElasticNet by cyclic coordinate descent, with intercept.
//!
//! The objective is scikit-learn's:
//!
//! `1/(2n)·‖y − Xw − b‖² + α·(l1_ratio·‖w‖₁ + (1 − l1_ratio)/2·‖w‖²)`
//!
//! The intercept `b` is not penalised: the columns of `X` and `y` are centred before the fit and
//! `b = ȳ − x̄·w` after it. With [`ElasticNet::standardize`] (the default) each centred column is
//! also divided by its population standard deviation before the fit (so `α` applies to standardised
//! exposures, as with scikit-learn's `StandardScaler` followed by `ElasticNet`), and the coefficients
//! are reported back on the original scale (`w_j / σ_j`). A constant column gets `σ = 1` and a zero
//! coefficient.
//!
//! # Convergence rule (scikit-learn's `enet_coordinate_descent`)
//!
//! One iteration updates every coordinate once, in column order. After an iteration where the largest
//! coordinate change is below `tol` times the largest coefficient (or all coefficients are zero, or
//! the iteration cap is reached), the duality gap of the `n`-scaled problem is computed; the fit stops
//! when it is below `tol·‖y − ȳ‖²` (that is, `tol·‖y − ȳ‖²/n` on the objective above). With the same
//! `tol` and `max_iter` the coefficients agree with scikit-learn's to the precision `tol` implies; at
//! `tol = 1e-12` they agree within 1e-6 (see the tests against committed scikit-learn references).
//! [`Fit::converged`] says whether the gap rule was met within `max_iter`.

use crate::{Error, Result, check_finite, check_matrix};

/// Options of one fit (and of a path or a cross-validation).
#[derive(Debug, Clone, PartialEq)]
pub struct ElasticNet {
    /// Regularisation strength α (≥ 0). Ignored by [`path`] and [`cross_validate`], which choose it.
    pub alpha: f64,
    /// Mix of L1 and L2: 1 is the Lasso, 0 is ridge. In (0, 1] for paths (the grid needs an L1 part).
    pub l1_ratio: f64,
    /// Standardise columns before fitting (coefficients still reported on the original scale).
    pub standardize: bool,
    /// Convergence tolerance (scikit-learn's default 1e-4); see the module docs.
    pub tol: f64,
    /// Iteration cap (scikit-learn's default 1000).
    pub max_iter: usize,
}

impl Default for ElasticNet {
    fn default() -> Self {
        ElasticNet { alpha: 1.0, l1_ratio: 1.0, standardize: true, tol: 1e-4, max_iter: 1000 }
    }
}

impl ElasticNet {
    /// The Lasso (`l1_ratio = 1`) at `alpha`, other options default.
    pub fn lasso(alpha: f64) -> Self {
        ElasticNet { alpha, ..ElasticNet::default() }
    }

    fn validate(&self, for_path: bool) -> Result<()> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(Error::Option { name: "alpha", detail: format!("must be ≥ 0, got {}", self.alpha) });
        }
        let lo_ok = if for_path { self.l1_ratio > 0.0 } else { self.l1_ratio >= 0.0 };
        if !(lo_ok && self.l1_ratio <= 1.0) {
            return Err(Error::Option {
                name: "l1_ratio",
                detail: format!("must be in {}, 1], got {}", if for_path { "(0" } else { "[0" }, self.l1_ratio),
            });
        }
        if !(self.tol > 0.0 && self.tol.is_finite()) {
            return Err(Error::Option { name: "tol", detail: format!("must be > 0, got {}", self.tol) });
        }
        if self.max_iter == 0 {
            return Err(Error::Option { name: "max_iter", detail: "must be ≥ 1".into() });
        }
        Ok(())
    }
}

/// One fitted model, on the original scale of the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The α it was fitted at.
    pub alpha: f64,
    /// Coefficients, one per column.
    pub coef: Vec<f64>,
    /// Intercept.
    pub intercept: f64,
    /// Coordinate-descent iterations used.
    pub n_iter: usize,
    /// Whether the duality-gap rule was met before `max_iter`.
    pub converged: bool,
}

impl Fit {
    /// Prediction for one row.
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>()
    }
}

/// Centred (and maybe scaled) design in column-major order, with what is needed to undo it.
struct Prepared {
    n: usize,
    p: usize,
    cols: Vec<f64>,
    norm2: Vec<f64>,
    x_mean: Vec<f64>,
    scale: Vec<f64>,
    y: Vec<f64>,
    y_mean: f64,
    /// `XᵀX` (row-major `p × p`) and `Xᵀy` when `n > p`: coordinate updates then cost O(p), not O(n).
    gram: Option<(Vec<f64>, Vec<f64>)>,
}

fn prepare(x: &[f64], p: usize, rows: std::ops::Range<usize>, y: &[f64], standardize: bool) -> Prepared {
    let n = rows.len();
    let nf = n as f64;
    let mut cols = vec![0.0; n * p];
    let mut x_mean = vec![0.0; p];
    let mut scale = vec![1.0; p];
    let mut norm2 = vec![0.0; p];
    for j in 0..p {
        let col = &mut cols[j * n..(j + 1) * n];
        for (k, i) in rows.clone().enumerate() {
            col[k] = x[i * p + j];
        }
        let m = col.iter().sum::<f64>() / nf;
        col.iter_mut().for_each(|v| *v -= m);
        x_mean[j] = m;
        let ss: f64 = col.iter().map(|v| v * v).sum();
        if standardize {
            let sd = (ss / nf).sqrt();
            if sd > 0.0 {
                scale[j] = sd;
                col.iter_mut().for_each(|v| *v /= sd);
            }
        }
        norm2[j] = col.iter().map(|v| v * v).sum();
    }
    let ys = &y[rows];
    let y_mean = ys.iter().sum::<f64>() / nf;
    let y: Vec<f64> = ys.iter().map(|v| v - y_mean).collect();
    let y: Vec<f64> = y;
    let mut prep = Prepared { n, p, cols, norm2, x_mean, scale, y, y_mean, gram: None };
    if n > p {
        let mut g = vec![0.0; p * p];
        for a in 0..p {
            for b in a..p {
                let v = dot(prep.col(a), prep.col(b));
                g[a * p + b] = v;
                g[b * p + a] = v;
            }
        }
        let xty = (0..p).map(|j| dot(prep.col(j), &prep.y)).collect();
        prep.gram = Some((g, xty));
    }
    prep
}

impl Prepared {
    fn col(&self, j: usize) -> &[f64] {
        &self.cols[j * self.n..(j + 1) * self.n]
    }

    /// `max_j |x_jᵀy| / (n·l1_ratio)`: the smallest α with an all-zero solution.
    fn alpha_max(&self, l1_ratio: f64) -> f64 {
        (0..self.p).map(|j| dot(self.col(j), &self.y).abs()).fold(0.0, f64::max) / (self.n as f64 * l1_ratio)
    }

    /// The solver state for `w = 0`: the residual `y`, or `Xᵀy` in the Gram form.
    fn start(&self) -> Vec<f64> {
        match &self.gram {
            Some((_, xty)) => xty.clone(),
            None => self.y.clone(),
        }
    }

    fn step(&self, w: &mut [f64], state: &mut [f64], alpha: f64, o: &ElasticNet) -> (usize, bool) {
        match &self.gram {
            Some((g, xty)) => self.descend_gram(g, xty, w, state, alpha, o),
            None => self.descend(w, state, alpha, o),
        }
    }

    /// The same iterations and stopping rule as [`Self::descend`] on the covariance form (scikit-learn's
    /// `enet_coordinate_descent_gram`): the state is `q = Xᵀ(y − Xw)`.
    fn descend_gram(
        &self,
        g: &[f64],
        xty: &[f64],
        w: &mut [f64],
        q: &mut [f64],
        alpha: f64,
        o: &ElasticNet,
    ) -> (usize, bool) {
        let p = self.p;
        let nf = self.n as f64;
        let l1 = alpha * o.l1_ratio * nf;
        let l2 = alpha * (1.0 - o.l1_ratio) * nf;
        let yy = dot(&self.y, &self.y);
        let gap_tol = o.tol * yy;
        for it in 0..o.max_iter {
            let mut w_max = 0.0f64;
            let mut d_w_max = 0.0f64;
            for j in 0..p {
                let gjj = g[j * p + j];
                if gjj == 0.0 {
                    continue;
                }
                let w_old = w[j];
                let t = q[j] + w_old * gjj;
                let w_new = t.signum() * (t.abs() - l1).max(0.0) / (gjj + l2);
                if w_new != w_old {
                    let d = w_new - w_old;
                    let row = &g[j * p..(j + 1) * p];
                    q.iter_mut().zip(row).for_each(|(q, gk)| *q -= d * gk);
                    w[j] = w_new;
                }
                d_w_max = d_w_max.max((w_new - w_old).abs());
                w_max = w_max.max(w_new.abs());
            }
            let check = w_max == 0.0 || d_w_max / w_max < o.tol || it + 1 == o.max_iter;
            if check {
                let mut dual_norm = 0.0f64;
                for j in 0..p {
                    dual_norm = dual_norm.max((q[j] - l2 * w[j]).abs());
                }
                let w_xty = dot(w, xty);
                // Gw = Xᵀy − q, so ‖r‖² = yᵀy − 2wᵀXᵀy + wᵀGw.
                let w_gw = w_xty - dot(w, q);
                let r2 = (yy - 2.0 * w_xty + w_gw).max(0.0);
                let ry = yy - w_xty;
                let w2 = dot(w, w);
                let (c, mut gap) = if dual_norm > l1 {
                    let c = l1 / dual_norm;
                    (c, 0.5 * (r2 + r2 * c * c))
                } else {
                    (1.0, r2)
                };
                let l1_norm: f64 = w.iter().map(|v| v.abs()).sum();
                gap += l1 * l1_norm - c * ry + 0.5 * l2 * (1.0 + c * c) * w2;
                if gap < gap_tol {
                    return (it + 1, true);
                }
            }
        }
        (o.max_iter, false)
    }

    /// scikit-learn's `enet_coordinate_descent` on the `n`-scaled problem, warm-started from `w`
    /// (scaled space); `r` must hold `y − Xw` on entry and holds it on exit.
    fn descend(&self, w: &mut [f64], r: &mut [f64], alpha: f64, o: &ElasticNet) -> (usize, bool) {
        let nf = self.n as f64;
        let l1 = alpha * o.l1_ratio * nf;
        let l2 = alpha * (1.0 - o.l1_ratio) * nf;
        let gap_tol = o.tol * dot(&self.y, &self.y);
        for it in 0..o.max_iter {
            let mut w_max = 0.0f64;
            let mut d_w_max = 0.0f64;
            for j in 0..self.p {
                if self.norm2[j] == 0.0 {
                    continue;
                }
                let col = self.col(j);
                let w_old = w[j];
                if w_old != 0.0 {
                    axpy(w_old, col, r);
                }
                let t = dot(col, r);
                let w_new = t.signum() * (t.abs() - l1).max(0.0) / (self.norm2[j] + l2);
                w[j] = w_new;
                if w_new != 0.0 {
                    axpy(-w_new, col, r);
                }
                d_w_max = d_w_max.max((w_new - w_old).abs());
                w_max = w_max.max(w_new.abs());
            }
            let check = w_max == 0.0 || d_w_max / w_max < o.tol || it + 1 == o.max_iter;
            if check && self.duality_gap(w, r, l1, l2) < gap_tol {
                return (it + 1, true);
            }
        }
        (o.max_iter, false)
    }

    fn duality_gap(&self, w: &[f64], r: &[f64], l1: f64, l2: f64) -> f64 {
        let mut dual_norm = 0.0f64;
        for j in 0..self.p {
            dual_norm = dual_norm.max((dot(self.col(j), r) - l2 * w[j]).abs());
        }
        let r2 = dot(r, r);
        let w2 = dot(w, w);
        let (c, mut gap) = if dual_norm > l1 {
            let c = l1 / dual_norm;
            (c, 0.5 * (r2 + r2 * c * c))
        } else {
            (1.0, r2)
        };
        let l1_norm: f64 = w.iter().map(|v| v.abs()).sum();
        gap += l1 * l1_norm - c * dot(r, &self.y) + 0.5 * l2 * (1.0 + c * c) * w2;
        gap
    }

    fn unscale(&self, alpha: f64, w: &[f64], n_iter: usize, converged: bool) -> Fit {
        let coef: Vec<f64> = w.iter().zip(&self.scale).map(|(w, s)| w / s).collect();
        let intercept = self.y_mean - coef.iter().zip(&self.x_mean).map(|(c, m)| c * m).sum::<f64>();
        Fit { alpha, coef, intercept, n_iter, converged }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

fn check(x: &[f64], p: usize, y: &[f64], need: usize) -> Result<usize> {
    let n = check_matrix("x", x, p)?;
    check_finite("y", y)?;
    if n != y.len() {
        return Err(Error::Shape { what: "y", detail: format!("{} rows in x, {} values in y", n, y.len()) });
    }
    if n < need {
        return Err(Error::TooFewRows { what: "elastic net", need, got: n });
    }
    Ok(n)
}

/// Fits at `opts.alpha`. `x` is row-major with `p` columns; `y` has one value per row.
pub fn fit(x: &[f64], p: usize, y: &[f64], opts: &ElasticNet) -> Result<Fit> {
    opts.validate(false)?;
    let n = check(x, p, y, 1)?;
    let prep = prepare(x, p, 0..n, y, opts.standardize);
    let mut w = vec![0.0; p];
    let mut r = prep.start();
    let (it, ok) = prep.step(&mut w, &mut r, opts.alpha, opts);
    Ok(prep.unscale(opts.alpha, &w, it, ok))
}

/// The α grid of scikit-learn's `enet_path`: `n_alphas` values log-spaced from `alpha_max` (the
/// smallest α whose solution is all zeros) down to `eps·alpha_max`, largest first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Number of α values (scikit-learn's default 100).
    pub n_alphas: usize,
    /// Ratio of the smallest to the largest α (scikit-learn's default 1e-3).
    pub eps: f64,
}

impl Default for Grid {
    fn default() -> Self {
        Grid { n_alphas: 100, eps: 1e-3 }
    }
}

fn grid(prep: &Prepared, l1_ratio: f64, g: &Grid) -> Result<Vec<f64>> {
    if g.n_alphas == 0 || !(g.eps > 0.0 && g.eps < 1.0) {
        return Err(Error::Option { name: "grid", detail: "n_alphas ≥ 1 and eps in (0, 1)".into() });
    }
    let amax = prep.alpha_max(l1_ratio);
    if amax == 0.0 {
        // y is constant (or X is): every α gives zeros; a grid of a single tiny α says so.
        return Ok(vec![f64::EPSILON; g.n_alphas]);
    }
    let (hi, lo) = (amax.log10(), (amax * g.eps).log10());
    let m = g.n_alphas;
    Ok((0..m).map(|i| if m == 1 { amax } else { 10f64.powf(hi + (lo - hi) * i as f64 / (m - 1) as f64) }).collect())
}

/// Fits along the α grid, each fit warm-started from the previous one (largest α first).
pub fn path(x: &[f64], p: usize, y: &[f64], opts: &ElasticNet, g: &Grid) -> Result<Vec<Fit>> {
    opts.validate(true)?;
    let n = check(x, p, y, 2)?;
    let prep = prepare(x, p, 0..n, y, opts.standardize);
    let alphas = grid(&prep, opts.l1_ratio, g)?;
    Ok(run_path(&prep, &alphas, opts))
}

fn run_path(prep: &Prepared, alphas: &[f64], opts: &ElasticNet) -> Vec<Fit> {
    let mut w = vec![0.0; prep.p];
    let mut r = prep.start();
    alphas
        .iter()
        .map(|&a| {
            let (it, ok) = prep.step(&mut w, &mut r, a, opts);
            prep.unscale(a, &w, it, ok)
        })
        .collect()
}

/// The folds of scikit-learn's `TimeSeriesSplit(n_splits)`: expanding training windows, no shuffling.
/// Each fold is `(train, test)`: train is `0..start`, test is `start..start + n/(n_splits+1)`; the
/// last test block ends at `n`.
pub fn time_series_folds(n: usize, n_splits: usize) -> Result<Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>> {
    if n_splits < 2 {
        return Err(Error::Option { name: "n_splits", detail: format!("must be ≥ 2, got {n_splits}") });
    }
    let test = n / (n_splits + 1);
    if test == 0 {
        return Err(Error::TooFewRows { what: "time-series cross-validation", need: n_splits + 1, got: n });
    }
    let first = n - n_splits * test;
    Ok((0..n_splits).map(|k| (0..first + k * test, first + k * test..first + (k + 1) * test)).collect())
}

/// Result of [`cross_validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CvFit {
    /// The α grid (computed on all rows), largest first.
    pub alphas: Vec<f64>,
    /// Mean test MSE over the folds, per α.
    pub mse: Vec<f64>,
    /// The fit on all rows at the α with the lowest mean MSE (the largest such α on ties).
    pub best: Fit,
}

/// Picks α by time-series cross-validation with `n_splits` expanding folds (like scikit-learn's
/// `ElasticNetCV(cv=TimeSeriesSplit(n_splits))`): the grid comes from all rows; each fold fits the
/// warm-started path on its training rows (centred and standardised on those rows only) and scores
/// the mean squared error on its test rows; the α with the lowest mean MSE is refitted on all rows.
pub fn cross_validate(x: &[f64], p: usize, y: &[f64], opts: &ElasticNet, g: &Grid, n_splits: usize) -> Result<CvFit> {
    opts.validate(true)?;
    let n = check(x, p, y, 2)?;
    let folds = time_series_folds(n, n_splits)?;
    let all = prepare(x, p, 0..n, y, opts.standardize);
    let alphas = grid(&all, opts.l1_ratio, g)?;
    let mut mse = vec![0.0; alphas.len()];
    for (train, test) in &folds {
        let prep = prepare(x, p, train.clone(), y, opts.standardize);
        for (k, f) in run_path(&prep, &alphas, opts).iter().enumerate() {
            let se: f64 = test.clone().map(|i| (y[i] - f.predict_row(&x[i * p..(i + 1) * p])).powi(2)).sum();
            mse[k] += se / test.len() as f64 / folds.len() as f64;
        }
    }
    let best_k = (0..mse.len()).fold(0, |b, k| if mse[k] < mse[b] { k } else { b });
    let mut w = vec![0.0; p];
    let mut r = all.start();
    // Warm-start along the grid down to the chosen α, as the path does.
    let mut last = (0, false);
    for &a in &alphas[..=best_k] {
        last = all.step(&mut w, &mut r, a, opts);
    }
    let best = all.unscale(alphas[best_k], &w, last.0, last.1);
    Ok(CvFit { alphas, mse, best })
}
