//! ticktape's one report and plot module: charts drawn with plotters as
//! inline SVG, sortable tables and pages assembled into one self-contained
//! HTML file (no network, no external script or style; it opens from disk).
//!
//! - [`chart`]: line (time axes in UTC), area, scatter, histogram, bar and
//!   heatmap charts;
//! - [`page`]: the page builder (title, sections, key-value summaries,
//!   sortable tables) and the atomic write;
//! - [`run`]: the report of a run folder (what `ticktape run` writes):
//!   [`render_run_report`];
//! - [`sweep`]: the pieces of a sweep report (a metric over two parameters,
//!   the table of runs), for `ticktape sweep`.
//!
//! ```
//! use ticktape_report::chart::{LineChart, Series, XAxis, line_chart};
//! use ticktape_report::page::{Block, Page, Section};
//!
//! let t0 = 1_723_075_200.0; // 2024-08-08T00:00:00Z, seconds
//! let equity = Series::new("equity", (0..60).map(|i| (t0 + f64::from(i), 100.0 + f64::from(i).sqrt())).collect());
//! let svg = line_chart(&LineChart {
//!     title: "Equity".into(),
//!     x: XAxis::Time,
//!     y_label: "equity (USDT)".into(),
//!     series: vec![equity],
//!     step: false,
//! })?;
//! let mut page = Page::new("A run");
//! page.push(Section::new("Equity").with(Block::Chart(svg)));
//! let html = page.to_html();
//! assert!(html.contains("<svg") && !html.contains("http"));
//! # Ok::<(), ticktape_report::Error>(())
//! ```
#![deny(missing_docs)]

pub mod chart;
mod error;
pub mod page;
pub mod run;
pub mod sweep;

pub use error::{Error, Result};
pub use run::render_run_report;
