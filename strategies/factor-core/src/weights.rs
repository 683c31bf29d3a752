//! Mean-variance portfolio weights, solved with Clarabel (feature `weights`).
//!
//! maximise μᵀw − λ·wᵀΣw − γ·‖w‖² subject to Σᵢ wᵢ = 1 and lo ≤ wᵢ ≤ hi
//! (long-only when lo ≥ 0), i.e. the QP
//! minimise ½ wᵀ(2λΣ + 2γI)w − μᵀw, handed to Clarabel's interior-point
//! solver as it is (no hand-rolled optimiser).

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};

use crate::error::{Error, Result};

/// The problem's knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanVariance {
    /// λ, the weight of the variance.
    pub risk_aversion: f64,
    /// γ, the L2 penalty.
    pub l2: f64,
    /// Lower bound of each weight.
    pub min_weight: f64,
    /// Upper bound of each weight.
    pub max_weight: f64,
}

/// Mean and sample covariance (divides by n − 1) of the columns of
/// `returns` (one row per time, one column per strategy).
#[allow(clippy::needless_range_loop)] // matrix indices read best as indices
pub fn moments(returns: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = returns.len();
    let k = returns.first().map_or(0, Vec::len);
    let mut mu = vec![0.0; k];
    for r in returns {
        for j in 0..k {
            mu[j] += r[j] / n as f64;
        }
    }
    let mut cov = vec![vec![0.0; k]; k];
    for r in returns {
        for i in 0..k {
            for j in 0..k {
                cov[i][j] += (r[i] - mu[i]) * (r[j] - mu[j]) / (n as f64 - 1.0).max(1.0);
            }
        }
    }
    (mu, cov)
}

/// Solves for the weights given μ and Σ.
#[allow(clippy::needless_range_loop)] // matrix indices read best as indices
pub fn solve(mu: &[f64], cov: &[Vec<f64>], p: &MeanVariance) -> Result<Vec<f64>> {
    let n = mu.len();
    if n == 0 {
        return Err(Error::Param("no strategies to weight".into()));
    }
    if !(p.min_weight <= p.max_weight
        && p.min_weight * n as f64 <= 1.0 + 1e-12
        && p.max_weight * n as f64 >= 1.0 - 1e-12)
    {
        return Err(Error::Param(format!(
            "weights in [{}, {}] cannot sum to 1 over {n} strategies; widen --min-weight/--max-weight",
            p.min_weight, p.max_weight
        )));
    }
    if !(p.risk_aversion >= 0.0 && p.l2 >= 0.0 && p.risk_aversion.is_finite() && p.l2.is_finite()) {
        return Err(Error::Param("risk aversion and L2 penalty must be finite and non-negative".into()));
    }
    // P = 2λΣ + 2γI, upper triangle, column by column.
    let (mut colptr, mut rowval, mut nzval) = (vec![0usize], Vec::new(), Vec::new());
    for j in 0..n {
        for i in 0..=j {
            let v = 2.0 * p.risk_aversion * cov[i][j] + if i == j { 2.0 * p.l2 } else { 0.0 };
            if v != 0.0 {
                rowval.push(i);
                nzval.push(v);
            }
        }
        colptr.push(rowval.len());
    }
    let pm = CscMatrix::new(n, n, colptr, rowval, nzval);
    let q: Vec<f64> = mu.iter().map(|m| -m).collect();
    // Rows: Σw = 1 (zero cone); w ≤ hi and −w ≤ −lo (non-negative cone).
    let (mut colptr, mut rowval, mut nzval) = (vec![0usize], Vec::new(), Vec::new());
    for j in 0..n {
        rowval.extend([0, 1 + j, 1 + n + j]);
        nzval.extend([1.0, 1.0, -1.0]);
        colptr.push(rowval.len());
    }
    let a = CscMatrix::new(1 + 2 * n, n, colptr, rowval, nzval);
    let mut b = vec![1.0];
    b.extend(std::iter::repeat_n(p.max_weight, n));
    b.extend(std::iter::repeat_n(-p.min_weight, n));
    let cones = [SupportedConeT::ZeroConeT(1), SupportedConeT::NonnegativeConeT(2 * n)];
    let settings = DefaultSettings { verbose: false, ..DefaultSettings::default() };
    let mut solver = DefaultSolver::new(&pm, &q, &a, &b, &cones, settings)
        .map_err(|e| Error::Param(format!("the solver refused the problem: {e}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        s => return Err(Error::Param(format!("the mean-variance problem was not solved: {s:?}"))),
    }
    // Clean interior-point residue: clamp to the box, snap weights within
    // 1e-7 of a bound onto it, renormalise.
    let snap = |x: f64| {
        let x = x.clamp(p.min_weight, p.max_weight);
        if x - p.min_weight < 1e-7 {
            p.min_weight
        } else if p.max_weight - x < 1e-7 {
            p.max_weight
        } else {
            x
        }
    };
    let mut w: Vec<f64> = solver.solution.x.iter().map(|&x| snap(x)).collect();
    let s: f64 = w.iter().sum();
    for x in &mut w {
        *x /= s;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_case_matches_the_analytic_solution() {
        // Σ = diag(σ²), no binding box: the KKT conditions give
        // wᵢ = (μᵢ − ν) / (2(λσᵢ² + γ)), with ν set by Σw = 1.
        let mu = [0.10, 0.05, 0.02];
        let var = [0.04, 0.02, 0.01];
        let cov: Vec<Vec<f64>> = (0..3).map(|i| (0..3).map(|j| if i == j { var[i] } else { 0.0 }).collect()).collect();
        let p = MeanVariance { risk_aversion: 3.0, l2: 0.05, min_weight: 0.0, max_weight: 1.0 };
        let d: Vec<f64> = var.iter().map(|v| 2.0 * (p.risk_aversion * v + p.l2)).collect();
        let s1: f64 = d.iter().map(|x| 1.0 / x).sum();
        let s2: f64 = mu.iter().zip(&d).map(|(m, x)| m / x).sum();
        let nu = (s2 - 1.0) / s1;
        let expect: Vec<f64> = mu.iter().zip(&d).map(|(m, x)| (m - nu) / x).collect();
        assert!(expect.iter().all(|&w| w > 0.0 && w < 1.0), "{expect:?}");
        let w = solve(&mu, &cov, &p).unwrap();
        for (a, b) in w.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-6, "{w:?} vs {expect:?}");
        }
    }

    #[test]
    fn box_bounds_bind_and_sum_to_one() {
        // One dominant strategy: without a cap it takes everything.
        let mu = [0.5, 0.01, 0.01];
        let cov: Vec<Vec<f64>> = (0..3).map(|i| (0..3).map(|j| if i == j { 0.01 } else { 0.0 }).collect()).collect();
        let p = MeanVariance { risk_aversion: 1.0, l2: 0.0, min_weight: 0.0, max_weight: 0.5 };
        let w = solve(&mu, &cov, &p).unwrap();
        assert!((w[0] - 0.5).abs() < 1e-6, "{w:?}");
        assert!((w[1] - 0.25).abs() < 1e-6 && (w[2] - 0.25).abs() < 1e-6, "{w:?}");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(solve(&mu, &cov, &MeanVariance { max_weight: 0.2, ..p }).is_err(), "3 × 0.2 < 1");
        // Sample moments.
        let (m, c) = moments(&[vec![1.0, 2.0], vec![3.0, 2.0]]);
        assert_eq!(m, [2.0, 2.0]);
        assert_eq!(c[0][0], 2.0);
        assert_eq!(c[1][1], 0.0);
    }
}
