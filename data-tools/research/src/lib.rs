//! Numeric research kernels for ticktape.
//!
//! One small crate with no I/O dependencies, so strategy plugins and the CLI link the same code:
//!
//! - [`clusterlob`]: the ClusterLOB trade-triggered features (one implementation for the research
//!   commands and the market-maker plugin) and the clustering model file.
//! - [`enet`]: Lasso and ElasticNet by cyclic coordinate descent with intercept, optional
//!   standardisation, a warm-started alpha path and time-series cross-validation. The objective and
//!   the stopping rule are scikit-learn's.
//! - [`kmeans`]: k-means++ seeding with restarts and Lloyd iterations, the elbow table and the
//!   silhouette score.
//! - [`logistic`]: binary L2-regularised logistic regression (scikit-learn's `C` parametrisation),
//!   ROC AUC and accuracy.
//! - [`profile`]: trader profiling over fills (per-account aggregates, position cycles with
//!   flips, partial closes and gaps, daily PnL and Sharpe, rule-based classes).
//! - [`stats`]: mean, standard deviation, quantiles, Pearson and Spearman correlation, a seeded
//!   bootstrap confidence interval of a mean difference, and Mann-Whitney U as scipy computes it.
//!
//! Every kernel is single-threaded and deterministic: the same inputs (and seed) give bit-identical
//! outputs. Callers parallelise across accounts.
//!
//! Matrices are passed row-major as a flat slice with their number of columns.
//!
//! ```
//! use ticktape_research::enet::{ElasticNet, fit};
//!
//! // y = 1 + 2·x0 exactly; a tiny alpha recovers the slope almost exactly.
//! let x = [0.0, 1.0, 1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 4.0, 1.0];
//! let y = [1.0, 3.0, 5.0, 7.0, 9.0];
//! let model = fit(&x, 2, &y, &ElasticNet { alpha: 1e-6, ..ElasticNet::default() }).unwrap();
//! assert!((model.coef[0] - 2.0).abs() < 1e-4);
//! assert!((model.intercept - 1.0).abs() < 1e-3);
//! ```
#![deny(missing_docs)]
// Numeric loops index several parallel arrays by the same position; iterator chains read worse.
#![allow(clippy::needless_range_loop)]

pub mod clusterlob;
pub mod enet;
pub mod kmeans;
pub mod logistic;
pub mod profile;
mod rng;
pub mod stats;

/// Errors of the research kernels: all are about the shape or content of the inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input has no rows (or too few for what was asked).
    #[error("{what}: need at least {need} rows, got {got}")]
    TooFewRows {
        /// Which input or operation.
        what: &'static str,
        /// Rows needed.
        need: usize,
        /// Rows given.
        got: usize,
    },
    /// A flat matrix's length is not a multiple of its column count, or two inputs disagree in length.
    #[error("{what}: shape mismatch ({detail})")]
    Shape {
        /// Which input.
        what: &'static str,
        /// What disagrees.
        detail: String,
    },
    /// A value is NaN or infinite.
    #[error("{what}: non-finite value at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat index of the value.
        index: usize,
    },
    /// An option is out of its range.
    #[error("invalid option {name}: {detail}")]
    Option {
        /// The option.
        name: &'static str,
        /// Its valid range.
        detail: String,
    },
}

/// Result of the kernels.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn check_finite(what: &'static str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

pub(crate) fn check_matrix(what: &'static str, x: &[f64], cols: usize) -> Result<usize> {
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(Error::Shape {
            what,
            detail: format!("{} values is not a whole number of rows of {cols} columns", x.len()),
        });
    }
    check_finite(what, x)?;
    Ok(x.len() / cols)
}
