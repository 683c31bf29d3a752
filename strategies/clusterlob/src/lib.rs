//! The ClusterLOB market maker (seed `002`, Experiments 6–8): a plugin that
//! quotes both sides around the micro-price, skewed by the decayed order flow
//! of one trade cluster (the *alpha* signal) and defended against the flow
//! of another (the *hazard* signal).
//!
//! # What it does
//!
//! At every trade it computes the trade's features with the book just before
//! the trade — the same [`Features`] code, levels and window the
//! `ticktape research clusterlob features` table and the model were made
//! with — and assigns the trade to the model's nearest cluster
//! ([`Model::assign`]). Each cluster `c` keeps an O(1) volume-weighted,
//! exponentially decayed sum of signed flow, `F_c = Σ side·qty·2^(−Δt/h)`
//! (side +1 for buyer-initiated trades, −1 for seller-initiated ones; `h` =
//! `half_life_ms`), and one more decayed sum keeps all traded volume `V`.
//! A signal is `gain · F_c / V` of its cluster (the cluster's share of the
//! recent flow, signed), squashed to `(−1, 1)` by `tanh`.
//!
//! Every `requote_ms` it cancels its quotes and posts, post-only:
//!
//! - centre = micro-price + `alpha_skew_ticks`·tanh(alpha)·tick − θ_dyn·Q·tick,
//!   with Q the inventory in lots and θ_dyn = `theta_ticks_per_lot`·(1 − |tanh(alpha)|)
//!   (dynamic aversion: a confident signal relaxes the inventory penalty;
//!   `fixed_theta = true` keeps θ fixed, the seed's Experiment 6 control);
//! - bid = centre − `half_spread_ticks`, ask = centre + `half_spread_ticks`,
//!   rounded away from the centre to the tick grid and kept on their side of
//!   the book (never crossing: they rest as maker);
//! - the hazard signal threatens the side its flow trades into: buying
//!   hazard flow (tanh(hazard) > 0) threatens the ask, selling flow the bid.
//!   At |tanh(hazard)| ≥ `hazard_widen` that side moves `hazard_widen_ticks`
//!   further out; at ≥ `hazard_pull` it is not quoted at all;
//! - the inventory limit: a side that could take |Q| beyond
//!   `max_position_lots` is not quoted.
//!
//! Which cluster is alpha and which is hazard is configuration: `alpha =
//! "opportunistic"`, `hazard = "toxic"` (the traditional mapping, default);
//! the seed's Experiment 8 found the inverted mapping on Binance Futures,
//! `alpha = "toxic"`, `hazard = "opportunistic"`. A label the model does not
//! have (no cluster met its rule, see [`Model::fit`]) turns that signal off:
//! an alpha that is off skews nothing and leaves θ fixed; a hazard that is
//! off widens nothing.
//!
//! # Order tags (the summary's per-tag attribution)
//!
//! | tag | name | the quote was placed |
//! |---|---|---|
//! | 1 | `spread` | with no signal shaping it (|tanh(alpha)| < `signal_floor`) |
//! | 2 | `alpha` | skewed by the alpha signal (|tanh(alpha)| ≥ `signal_floor`) |
//! | 3 | `hazard` | widened by the hazard signal |
//!
//! # Configuration
//!
//! Only `model` is required; see [`Config`] for every key and its default.
//!
//! ```toml
//! model = "results/clusterlob/model.json"   # relative to this configuration's file
//! # alpha = "toxic"           # Experiment 8: the inverted mapping
//! # hazard = "opportunistic"
//! ```

use std::time::Duration;

use ticktape_research::clusterlob::{
    BookTop, FEATURES, Features, Label, Model, N_FEATURES, TradeInput, Units, best_prices,
};
use ticktape_sdk::abi::subscribe;
use ticktape_sdk::signal::DecayAccumulator;
use ticktape_sdk::{Context, Instrument, Level, Quote, Side, Strategy, Trade, side};

/// Which cluster a signal follows, by the model's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The cluster labelled opportunistic (max z_sbs − z_obs).
    Opportunistic,
    /// The cluster labelled toxic (max z_obs − z_sbs).
    Toxic,
    /// The first cluster labelled passive.
    Passive,
    /// No cluster: the signal is off.
    Off,
}

impl Role {
    fn label(self) -> Option<Label> {
        match self {
            Role::Opportunistic => Some(Label::Opportunistic),
            Role::Toxic => Some(Label::Toxic),
            Role::Passive => Some(Label::Passive),
            Role::Off => None,
        }
    }
}

/// The configuration (the `[strategy_config]` table of a run file, or the
/// file given with `--config`). Unknown keys are errors.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The model file written by `ticktape research clusterlob train`
    /// (relative to the file holding this configuration: the run file or
    /// the `--config` file). Required.
    pub model: String,
    /// Which instrument to quote (default: the first of the run).
    pub symbol: Option<String>,
    /// The cluster whose flow skews the quotes (default `"opportunistic"`;
    /// Experiment 8: `"toxic"`). One of opportunistic, toxic, passive, off.
    pub alpha: Role,
    /// The cluster whose flow widens or pulls the threatened side (default
    /// `"toxic"`; Experiment 8: `"opportunistic"`).
    pub hazard: Role,
    /// Half-life of the decayed flow sums, milliseconds (default 30000: the
    /// seed's alpha lives under 5 minutes).
    pub half_life_ms: f64,
    /// Gain from a cluster's signed share of recent flow to the signal
    /// before tanh (default 3: a cluster carrying all recent flow one way
    /// gives tanh(3) = 0.995).
    pub gain: f64,
    /// Skew of the quote centre at full alpha confidence, ticks (default 2).
    pub alpha_skew_ticks: f64,
    /// Distance of each quote from the centre, ticks (default 1).
    pub half_spread_ticks: f64,
    /// Inventory penalty θ: shift of the centre against inventory, ticks per
    /// lot held (default 0.5).
    pub theta_ticks_per_lot: f64,
    /// Keep θ fixed instead of θ·(1 − |tanh(alpha)|) (default false; true is
    /// the seed's Experiment 6 control).
    pub fixed_theta: bool,
    /// |tanh(alpha)| from which a quote counts as placed by the alpha signal
    /// (tag 2) rather than by the spread (tag 1) (default 0.1).
    pub signal_floor: f64,
    /// |tanh(hazard)| from which the threatened side is widened (default 0.3).
    pub hazard_widen: f64,
    /// How far the threatened side is widened, ticks (default 2).
    pub hazard_widen_ticks: f64,
    /// |tanh(hazard)| from which the threatened side is not quoted (default
    /// 0.7; above 1 never pulls).
    pub hazard_pull: f64,
    /// Requote interval, milliseconds (default 200: the seed's).
    pub requote_ms: i64,
    /// Size of each quote, lots (default 1).
    pub size_lots: i64,
    /// Inventory limit, lots: a side that could go beyond it is not quoted
    /// (default 10).
    pub max_position_lots: i64,
    /// Record every trade's z-scored features (series 0–5, `z_v_rel` ..
    /// `z_t_age`, at the trade's exchange time) into the results'
    /// `series.parquet` (default false; for checks against the research
    /// table).
    pub record_features: bool,
    /// Record the alpha and hazard signals, tanh-squashed, at each requote
    /// (series 10 `alpha`, 11 `hazard`) (default false).
    pub record_signals: bool,
    /// Quote only from this local time on, ns since the epoch (default: from
    /// the start). Features and flow sums still follow every trade before it,
    /// so they are warm when quoting starts (`walk-forward` quotes one test
    /// window this way).
    pub quote_from_ns: Option<i64>,
    /// Stop quoting at this local time, ns (default: never); the quotes are
    /// cancelled then and the inventory is kept.
    pub quote_to_ns: Option<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: String::new(),
            symbol: None,
            alpha: Role::Opportunistic,
            hazard: Role::Toxic,
            half_life_ms: 30_000.0,
            gain: 3.0,
            alpha_skew_ticks: 2.0,
            half_spread_ticks: 1.0,
            theta_ticks_per_lot: 0.5,
            fixed_theta: false,
            signal_floor: 0.1,
            hazard_widen: 0.3,
            hazard_widen_ticks: 2.0,
            hazard_pull: 0.7,
            requote_ms: 200,
            size_lots: 1,
            max_position_lots: 10,
            record_features: false,
            record_signals: false,
            quote_from_ns: None,
            quote_to_ns: None,
        }
    }
}

/// Tag of quotes no signal shaped.
pub const TAG_SPREAD: u64 = 1;
/// Tag of quotes skewed by the alpha signal.
pub const TAG_ALPHA: u64 = 2;
/// Tag of quotes widened by the hazard signal.
pub const TAG_HAZARD: u64 = 3;
/// First series id of the recorded features (`z_v_rel`; +1 per feature).
pub const SERIES_FEATURES: u32 = 0;
/// Series id of the recorded alpha signal.
pub const SERIES_ALPHA: u32 = 10;
/// Series id of the recorded hazard signal.
pub const SERIES_HAZARD: u32 = 11;

const REQUOTE: u64 = 1;
const MS: i64 = 1_000_000;

/// The strategy's state.
#[derive(Debug)]
pub struct ClusterLob {
    cfg: Config,
    model: Model,
    features: Features,
    /// Decayed signed flow per cluster.
    flow: Vec<DecayAccumulator>,
    /// Decayed traded volume (all clusters).
    volume: DecayAccumulator,
    /// Cluster of each signal, `None` when off.
    alpha_cluster: Option<usize>,
    hazard_cluster: Option<usize>,
    instrument: Option<Instrument>,
    units: Units,
    /// Whether an L2 level was seen (quotes then do not move the mid for `t_m`).
    seen_levels: bool,
    /// Trades assigned to each cluster.
    assigned: Vec<u64>,
}

fn cluster_of(model: &Model, role: Role) -> Option<usize> {
    let label = role.label()?;
    (0..model.k).find(|&c| model.labels[c] == label)
}

impl ClusterLob {
    /// The alpha and hazard signals at `ts`, tanh-squashed: `(alpha, hazard)`,
    /// 0 for a signal that is off.
    pub fn signals(&self, ts: i64) -> (f64, f64) {
        let v = self.volume.value(ts);
        let sig = |c: Option<usize>| match c {
            Some(c) if v > 0.0 => (self.cfg.gain * self.flow[c].value(ts) / v).tanh(),
            _ => 0.0,
        };
        (sig(self.alpha_cluster), sig(self.hazard_cluster))
    }

    /// Trades assigned to each cluster so far.
    pub fn assigned(&self) -> &[u64] {
        &self.assigned
    }

    fn requote(&mut self, ctx: &mut Context<'_>) {
        let Some(inst) = &self.instrument else { return };
        let i = inst.index;
        ctx.cancel_all(Some(i));
        if self.cfg.quote_from_ns.is_some_and(|t| ctx.now() < t) {
            return;
        }
        let Some(micro) = ctx.micro_price(i) else { return };
        let (Some((best_bid, _)), Some((best_ask, _))) = (ctx.best_bid(i), ctx.best_ask(i)) else { return };
        let c = &self.cfg;
        let tick = inst.price_tick as f64;
        let lots = ctx.position(i).position / inst.qty_lot;
        let (alpha, hazard) = self.signals(ctx.now());
        if c.record_signals {
            let now = ctx.now();
            ctx.record(SERIES_ALPHA, now, alpha);
            ctx.record(SERIES_HAZARD, now, hazard);
        }
        let theta = if c.fixed_theta || self.alpha_cluster.is_none() {
            c.theta_ticks_per_lot
        } else {
            c.theta_ticks_per_lot * (1.0 - alpha.abs())
        };
        let centre = micro + c.alpha_skew_ticks * alpha * tick - theta * lots as f64 * tick;
        let base = if alpha.abs() >= c.signal_floor { TAG_ALPHA } else { TAG_SPREAD };
        let widen = |threat: f64| -> Option<(f64, u64)> {
            if threat >= c.hazard_pull {
                None
            } else if threat >= c.hazard_widen {
                Some((c.hazard_widen_ticks * tick, TAG_HAZARD))
            } else {
                Some((0.0, base))
            }
        };
        let qty = c.size_lots * inst.qty_lot;
        // Buying hazard flow threatens the ask, selling flow the bid.
        if let Some((extra, tag)) = widen(-hazard)
            && lots + c.size_lots <= c.max_position_lots
        {
            let bid = inst.floor_to_tick(centre - c.half_spread_ticks * tick - extra).min(best_ask - inst.price_tick);
            if bid > 0 {
                ctx.post_only(i, Side::Buy, bid, qty, tag);
            }
        }
        if let Some((extra, tag)) = widen(hazard)
            && lots - c.size_lots >= -c.max_position_lots
        {
            let ask = inst.ceil_to_tick(centre + c.half_spread_ticks * tick + extra).max(best_bid + inst.price_tick);
            ctx.post_only(i, Side::Sell, ask, qty, tag);
        }
    }
}

impl Strategy for ClusterLob {
    type Config = Config;

    // Trades feed the features and the flow sums; the ends of the book
    // messages that move the top (and quotes of a quote-only instrument)
    // move the mid that `t_m` measures from. A message end that leaves both
    // best prices as they were cannot change the mid, so `BOOK_TOPS` (one
    // call per top move instead of one per level update) gives the features
    // every mid change the research table sees.
    const SUBSCRIBE: u32 = subscribe::TRADES | subscribe::BOOK_TOPS | subscribe::QUOTES;

    fn new(cfg: Config) -> Result<Self, String> {
        if cfg.model.is_empty() {
            return Err("`model` is required: the MODEL.json written by `ticktape research clusterlob train` (e.g. model = \"results/clusterlob/model.json\")".into());
        }
        let model = Model::load(ticktape_sdk::config_path(&cfg.model)).map_err(|e| e.to_string())?;
        let positive =
            [("half_life_ms", cfg.half_life_ms), ("gain", cfg.gain), ("half_spread_ticks", cfg.half_spread_ticks)];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} = {v}: must be a positive number"));
            }
        }
        let non_negative = [
            ("alpha_skew_ticks", cfg.alpha_skew_ticks),
            ("theta_ticks_per_lot", cfg.theta_ticks_per_lot),
            ("signal_floor", cfg.signal_floor),
            ("hazard_widen", cfg.hazard_widen),
            ("hazard_widen_ticks", cfg.hazard_widen_ticks),
            ("hazard_pull", cfg.hazard_pull),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} = {v}: must be a number ≥ 0"));
            }
        }
        if let (Some(a), Some(b)) = (cfg.quote_from_ns, cfg.quote_to_ns)
            && a >= b
        {
            return Err(format!("quote_from_ns = {a} is not before quote_to_ns = {b}"));
        }
        if cfg.requote_ms < 1 || cfg.size_lots < 1 || cfg.max_position_lots < 0 {
            return Err("requote_ms and size_lots must be at least 1, max_position_lots at least 0".into());
        }
        let half_life = Duration::from_secs_f64(cfg.half_life_ms / 1e3);
        let acc = || DecayAccumulator::with_half_life(half_life).map_err(|e| e.to_string());
        let flow = (0..model.k).map(|_| acc()).collect::<Result<Vec<_>, _>>()?;
        let features = Features::new(model.levels, model.window).map_err(|e| e.to_string())?;
        Ok(ClusterLob {
            alpha_cluster: cluster_of(&model, cfg.alpha),
            hazard_cluster: cluster_of(&model, cfg.hazard),
            assigned: vec![0; model.k],
            volume: acc()?,
            flow,
            features,
            model,
            cfg,
            instrument: None,
            units: Units::from_exponents(0, 0),
            seen_levels: false,
        })
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.instrument = match &self.cfg.symbol {
            Some(s) => ctx.find_instrument(s),
            None => ctx.instrument(0),
        };
        ctx.name_tag(TAG_SPREAD, "spread");
        ctx.name_tag(TAG_ALPHA, "alpha");
        ctx.name_tag(TAG_HAZARD, "hazard");
        if self.cfg.record_features {
            for (j, name) in FEATURES.iter().enumerate() {
                ctx.name_series(SERIES_FEATURES + j as u32, &format!("z_{name}"));
            }
        }
        if self.cfg.record_signals {
            ctx.name_series(SERIES_ALPHA, "alpha");
            ctx.name_series(SERIES_HAZARD, "hazard");
        }
        let state = |role: Role, c: Option<usize>| match (role, c) {
            (Role::Off, _) => "off (configured)".to_owned(),
            (r, None) => format!("off (the model has no {r:?} cluster)").to_lowercase(),
            (r, Some(c)) => format!("cluster {c} ({r:?})").to_lowercase(),
        };
        ctx.info(&format!(
            "model {} (k = {}, levels {}, window {}): alpha {}, hazard {}",
            self.cfg.model,
            self.model.k,
            self.model.levels,
            self.model.window,
            state(self.cfg.alpha, self.alpha_cluster),
            state(self.cfg.hazard, self.hazard_cluster)
        ));
        match &self.instrument {
            Some(i) => {
                self.units = Units::from_exponents(i.price_exponent, i.qty_exponent);
                ctx.info(&format!("quoting {} every {} ms", i.symbol, self.cfg.requote_ms));
            }
            None => ctx.warn("no such instrument in this run; not quoting"),
        }
        ctx.set_timer(ctx.now() + self.cfg.requote_ms * MS, REQUOTE);
    }

    fn on_level(&mut self, ctx: &mut Context<'_>, instrument: u32, level: &Level) {
        // The host ends a batch at the level that ends an exchange message,
        // so the book read here is the one after this message.
        if !level.is_batch_end() || self.instrument.as_ref().is_none_or(|i| i.index != instrument) {
            return;
        }
        self.seen_levels = true;
        // One host call per book message (no depth: only the mid is used).
        let top = ctx.book_top(instrument, 0);
        let (b, a) = best_prices(top.bid, top.ask, &self.units);
        self.features.on_book(level.ts.exchange, b, a);
    }

    fn on_quote(&mut self, ctx: &mut Context<'_>, instrument: u32, quote: &Quote) {
        if self.seen_levels || self.instrument.as_ref().is_none_or(|i| i.index != instrument) {
            return;
        }
        let top = ctx.book_top(instrument, 0);
        let (b, a) = best_prices(top.bid, top.ask, &self.units);
        self.features.on_book(quote.ts.exchange, b, a);
    }

    fn on_trade(&mut self, ctx: &mut Context<'_>, instrument: u32, trade: &Trade) {
        if self.instrument.as_ref().is_none_or(|i| i.index != instrument) {
            return;
        }
        // The host delivers a trade before any book update that follows it,
        // so this is the book just before the trade, as in the research table.
        // One host call for best bid, best ask and both depths.
        let top = ctx.book_top(instrument, self.features.levels() as u32);
        let book = BookTop::from_fixed(top.bid, top.ask, top.bid_depth, top.ask_depth, &self.units);
        let input = TradeInput::from_record(trade, &self.units);
        let Some(row) = self.features.on_trade(&input, &book) else { return };
        let c = self.model.assign(&row.z);
        self.assigned[c] += 1;
        let sign = if trade.side == side::BUY { 1.0 } else { -1.0 };
        // Exactly `flow[c].update(..)` and `volume.update(..)`, with one `exp`
        // for both when the previous trade was in the same cluster.
        DecayAccumulator::update_pair(&mut self.flow[c], &mut self.volume, row.ts, (sign, row.qty), (1.0, row.qty));
        if self.cfg.record_features {
            for j in 0..N_FEATURES {
                ctx.record(SERIES_FEATURES + j as u32, row.ts, row.z[j]);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, token: u64) {
        if token != REQUOTE {
            return;
        }
        let next = ctx.now() + self.cfg.requote_ms * MS;
        if let Some(end) = self.cfg.quote_to_ns
            && ctx.now() >= end
        {
            ctx.cancel_all(None);
            return;
        }
        // The last requote before `quote_to_ns` re-arms at it, to cancel.
        ctx.set_timer(self.cfg.quote_to_ns.map_or(next, |end| next.min(end)), REQUOTE);
        self.requote(ctx);
    }

    fn on_finish(&mut self, ctx: &mut Context<'_>) {
        let shares: Vec<String> = self
            .assigned
            .iter()
            .enumerate()
            .map(|(c, n)| format!("{c} {} {n}", self.model.labels[c].as_str()))
            .collect();
        ctx.info(&format!("trades per cluster: {}", shares.join(", ")));
        if let Some(inst) = &self.instrument {
            let p = ctx.position(inst.index);
            ctx.info(&format!("final position {} lots, realised {:.2}", p.position / inst.qty_lot, p.realized_pnl));
        }
    }
}

ticktape_sdk::export_strategy!(ClusterLob);
