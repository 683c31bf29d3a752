//! `ticktape report`: one self-contained HTML report of a run folder.

use std::path::PathBuf;

use anyhow::Result;

/// Draw the results of a backtest as one self-contained HTML page.
///
/// DIR is a run folder: what `ticktape run` writes into its `out` folder
/// (summary.json, equity.parquet, inventory.parquet, fills.parquet,
/// orders.parquet). The page holds the summary, equity and drawdown, the
/// inventory per symbol, the fills over the price (buys and sells, maker and
/// taker), the PnL distribution and the attribution per order tag. Charts are
/// inline SVG and the page needs no network: open it from disk or mail it.
///
/// DIR may also be a sweep folder (what `ticktape sweep` or `ticktape merge`
/// writes): the page then holds a heatmap of a metric over two parameters
/// (--heatmap) and the sortable table of runs.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape run engine/cli/examples/demo/run.toml && ticktape report results/demo -o demo.html
  ticktape report results/mm                    # writes results/mm/report.html
  ticktape report results/sweep --heatmap sharpe_per_sample:half_spread_ticks:max_position_lots
  ticktape report out/shard-2 -o shard-2.html   # one shard's runs, before the merge
  xdg-open results/mm/report.html

METRIC is a column of runs.parquet (net_pnl, sharpe, sharpe_per_sample, max_drawdown, fills,
fill_rate, maker_share, turnover, orders, ...); PARAM_X and PARAM_Y are two [grid] keys. Runs that
did not end `ok` are left blank in the heatmap and listed with their error in the table.")]
pub(crate) struct ReportArgs {
    /// The run folder (`ticktape run --out DIR`) or sweep folder (`ticktape
    /// sweep -o DIR`, `ticktape merge -o DIR`) to draw.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The HTML file to write [default: DIR/report.html].
    #[arg(short, long, value_name = "REPORT.html")]
    out: Option<PathBuf>,
    /// For a sweep folder: the heatmap, METRIC:PARAM_X:PARAM_Y [default:
    /// net_pnl over the first two parameters].
    #[arg(long, value_name = "METRIC:X:Y")]
    heatmap: Option<String>,
}

pub(crate) fn run(a: ReportArgs) -> Result<()> {
    let out = a.out.unwrap_or_else(|| a.dir.join("report.html"));
    if crate::sweep::is_sweep_folder(&a.dir) {
        crate::sweep::render_report(&a.dir, &out, a.heatmap.as_deref())?;
    } else {
        if a.heatmap.is_some() {
            anyhow::bail!("--heatmap is for sweep folders; {} is not one (no sweep manifest.json)", a.dir.display());
        }
        ticktape_report::render_run_report(&a.dir, &out)?;
    }
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("wrote {} ({})", out.display(), crate::fmt::bytes(bytes));
    Ok(())
}
