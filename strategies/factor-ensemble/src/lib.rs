//! The factor-ensemble strategy: the multi-factor bot of the research
//! (`shared/seeds/004`) as a plugin.
//!
//! Give it the bar tapes of the symbols it trades and the series tapes of
//! its factors. Its configuration names a strategy file (see
//! [`ticktape_factors::file`]); rows with one factor id and symbol form one
//! ensemble. A factor id is the series tape's symbol (`oi_btc`), or
//! `SYMBOL#ID` for a series id other than 0.
//!
//! At each bar close of a symbol, each of its ensembles takes the factor's
//! latest value (as of that close: a value stamped later is not yet
//! delivered) into its signal models ([`ticktape_factors::signal`]). Then,
//! once per batch of bars, the position engine
//! ([`ticktape_factors::position`]) turns every ensemble's signal × weight ×
//! equity into targets per symbol, caps the leverage, rounds to lots and
//! sends the deltas as market orders (taker fees; slippage through
//! `ticktape run --bar-slippage-bps`, as bar-only instruments fill at the
//! close ± slippage).
//!
//! The rows' `res` column must match the bars: at the first bar of each
//! symbol the plugin compares the bar's interval (close − open) with the
//! resolution of every ensemble on that symbol and stops the run with one
//! error line if they differ (`1h` rows on daily bars). Rows without a
//! resolution are not checked.
//!
//! ```toml
//! strategies = "strategies.csv"   # relative to this configuration's file
//! # max_leverage = 0.99
//! # min_notional = 2.0            # quote currency
//! # allow_short = false
//! ```

use ticktape_factors::file::{EnsembleSpec, StrategyFile, bar_interval, check_resolution};
use ticktape_factors::position::{PositionConfig, PositionEngine};
use ticktape_factors::signal::Ensemble;
use ticktape_sdk::{Bar, Context, Series, Side, Strategy};

/// The configuration.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The strategy file (CSV or TOML), relative to the file holding this
    /// configuration (the run file or the `--config` file).
    pub strategies: String,
    /// Leverage cap: Σ |target notional| / equity (default 0.99).
    #[serde(default = "default_leverage")]
    pub max_leverage: f64,
    /// Orders under this notional are skipped, quote currency (default 2).
    #[serde(default = "default_min_notional")]
    pub min_notional: f64,
    /// Allow short targets (default false).
    #[serde(default)]
    pub allow_short: bool,
}

fn default_leverage() -> f64 {
    PositionConfig::default().max_leverage
}

fn default_min_notional() -> f64 {
    PositionConfig::default().min_notional
}

/// One traded symbol.
#[derive(Debug)]
struct Sym {
    name: String,
    /// Instrument index, once resolved.
    instrument: Option<u32>,
    /// 10^price_exponent, 10^qty_exponent and the lot in quantity units.
    px: f64,
    lot_units: i64,
    /// Lot in human units.
    lot: f64,
    /// Last close (human), NaN before the first bar.
    close: f64,
    /// A bar arrived since the last rebalance.
    fresh: bool,
    /// The resolution of its ensembles was checked against its bars.
    checked: bool,
}

/// One factor series.
#[derive(Debug)]
struct Factor {
    symbol: String,
    id: u64,
    instrument: Option<u32>,
    scale: f64,
    /// Latest value (human), NaN before the first.
    value: f64,
}

/// The strategy's state.
#[derive(Debug)]
pub struct FactorEnsemble {
    syms: Vec<Sym>,
    factors: Vec<Factor>,
    /// Per ensemble: (symbol slot, factor slot, weight, models).
    ensembles: Vec<(usize, usize, f64, Ensemble)>,
    engine: PositionEngine,
    prices: Vec<f64>,
    lots: Vec<f64>,
    positions: Vec<i64>,
    /// Per instrument index: its symbol slot, and its factor slots (built
    /// at start, so a bar or a value finds its slot without a search).
    sym_of: Vec<Option<usize>>,
    factors_of: Vec<Vec<usize>>,
    pending: bool,
    orders: u64,
    /// The strategy file (for error messages) and its ensembles.
    file: String,
    specs: Vec<EnsembleSpec>,
}

const REBALANCE: u64 = 1;

impl Strategy for FactorEnsemble {
    type Config = Config;

    const SUBSCRIBE: u32 = ticktape_sdk::abi::subscribe::BARS | ticktape_sdk::abi::subscribe::SERIES;

    fn new(cfg: Config) -> Result<Self, String> {
        if !(cfg.max_leverage.is_finite() && cfg.max_leverage > 0.0) {
            return Err(format!("max_leverage = {}: give a positive number (default 0.99)", cfg.max_leverage));
        }
        if !(cfg.min_notional.is_finite() && cfg.min_notional >= 0.0) {
            return Err(format!("min_notional = {}: give a non-negative amount (default 2)", cfg.min_notional));
        }
        let file = StrategyFile::load(&ticktape_sdk::config_path(&cfg.strategies)).map_err(|e| e.to_string())?;
        let mut syms: Vec<Sym> = Vec::new();
        let mut factors: Vec<Factor> = Vec::new();
        let mut ensembles = Vec::new();
        for e in &file.ensembles {
            let s = syms.iter().position(|s| s.name == e.symbol).unwrap_or_else(|| {
                syms.push(Sym {
                    name: e.symbol.clone(),
                    instrument: None,
                    px: 1.0,
                    lot_units: 1,
                    lot: 1.0,
                    close: f64::NAN,
                    fresh: false,
                    checked: false,
                });
                syms.len() - 1
            });
            let (symbol, id) = match e.factor.rsplit_once('#') {
                Some((s, id)) => match id.parse::<u64>() {
                    Ok(id) => (s.to_owned(), id),
                    Err(_) => return Err(format!("factor id {:?}: after '#' comes a series id (a number)", e.factor)),
                },
                None => (e.factor.clone(), 0),
            };
            let f = factors.iter().position(|f| f.symbol == symbol && f.id == id).unwrap_or_else(|| {
                factors.push(Factor { symbol, id, instrument: None, scale: 1.0, value: f64::NAN });
                factors.len() - 1
            });
            let models = Ensemble::new(&e.sets, cfg.allow_short).map_err(|x| format!("{}: {x}", e.factor))?;
            ensembles.push((s, f, e.weight, models));
        }
        let n = syms.len();
        let pcfg = PositionConfig {
            max_leverage: cfg.max_leverage,
            min_notional: cfg.min_notional,
            allow_short: cfg.allow_short,
        };
        Ok(FactorEnsemble {
            syms,
            factors,
            ensembles,
            engine: PositionEngine::new(pcfg, n),
            prices: vec![f64::NAN; n],
            lots: vec![1.0; n],
            positions: vec![0; n],
            sym_of: Vec::new(),
            factors_of: Vec::new(),
            pending: false,
            orders: 0,
            file: cfg.strategies,
            specs: file.ensembles,
        })
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        for i in 0..ctx.instrument_count() {
            let Some(inst) = ctx.instrument(i) else { continue };
            for s in &mut self.syms {
                if s.name == inst.symbol && s.instrument.is_none() {
                    s.instrument = Some(i);
                    s.px = 10f64.powi(i32::from(inst.price_exponent));
                    s.lot_units = inst.qty_lot.max(1);
                    s.lot = inst.qty_lot.max(1) as f64 * 10f64.powi(i32::from(inst.qty_exponent));
                }
            }
            for f in &mut self.factors {
                if f.symbol == inst.symbol {
                    f.instrument = Some(i);
                    f.scale = 10f64.powi(i32::from(inst.value_exponent));
                }
            }
        }
        for s in &self.syms {
            if s.instrument.is_none() {
                ctx.warn(&format!("symbol {} is not in this run (give its bar tape); its ensembles stay flat", s.name));
            }
        }
        for f in &self.factors {
            if f.instrument.is_none() {
                ctx.warn(&format!("factor {} is not in this run (give its series tape); its signal stays 0", f.symbol));
            }
        }
        let n = ctx.instrument_count() as usize;
        self.sym_of = vec![None; n];
        self.factors_of = vec![Vec::new(); n];
        for (k, s) in self.syms.iter().enumerate() {
            self.lots[k] = s.lot;
            if let Some(i) = s.instrument {
                self.sym_of[i as usize] = Some(k);
            }
        }
        for (k, f) in self.factors.iter().enumerate() {
            if let Some(i) = f.instrument {
                self.factors_of[i as usize].push(k);
            }
        }
        ctx.info(&format!(
            "{} ensembles on {} symbols from {} factors",
            self.ensembles.len(),
            self.syms.len(),
            self.factors.len()
        ));
    }

    fn on_series(&mut self, _ctx: &mut Context<'_>, instrument: u32, value: &Series) {
        let Some(slots) = self.factors_of.get(instrument as usize) else { return };
        for &k in slots {
            let f = &mut self.factors[k];
            if f.id == value.id {
                f.value = value.value as f64 * f.scale;
            }
        }
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, instrument: u32, bar: &Bar) {
        // One symbol per instrument (on_start gives each instrument to the
        // first symbol of its name, and names are distinct).
        let Some(&Some(k)) = self.sym_of.get(instrument as usize) else { return };
        let s = &mut self.syms[k];
        if !s.checked {
            s.checked = true;
            if bar.ts.exchange > bar.open_ts {
                let interval = bar_interval(bar.open_ts, bar.ts.exchange);
                let slots = self.ensembles.iter().zip(&self.specs).filter(|((e, ..), _)| *e == k);
                for (_, spec) in slots {
                    if let Err(why) = check_resolution(spec, interval) {
                        ctx.fail(format!("{}: {why}", self.file));
                        return;
                    }
                }
            }
        }
        s.close = bar.close as f64 * s.px;
        s.fresh = true;
        // Rebalance once, after every bar of this instant has arrived.
        if !self.pending {
            self.pending = true;
            let now = ctx.now();
            ctx.set_timer(now, REBALANCE);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        if token != REBALANCE {
            return;
        }
        self.pending = false;
        for (s, f, _, models) in &mut self.ensembles {
            if self.syms[*s].fresh {
                models.update(self.factors[*f].value);
            }
        }
        for (k, s) in self.syms.iter_mut().enumerate() {
            s.fresh = false;
            self.prices[k] = s.close;
            self.positions[k] = s.instrument.map_or(0, |i| ctx.position(i).position / s.lot_units);
        }
        let balance = ctx.equity();
        let exposures = self.ensembles.iter().map(|(s, _, w, m)| (*s, m.signal() * *w));
        self.engine.rebalance(balance, exposures, &self.prices, &self.lots, &self.positions);
        for (k, s) in self.syms.iter().enumerate() {
            let d = self.engine.delta_lots[k];
            let Some(i) = s.instrument else { continue };
            if d != 0 {
                let side = if d > 0 { Side::Buy } else { Side::Sell };
                ctx.market(i, side, d.abs() * s.lot_units, 0);
                self.orders += 1;
            }
        }
    }

    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        ctx.info(&format!("{} rebalancing orders sent", self.orders));
    }
}

ticktape_sdk::export_strategy!(FactorEnsemble);
