//! `ticktape research clusterlob features`: the trade-feature cache.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay, ReplayOptions};
use ticktape_research::clusterlob::{BookTop, FEATURES_VERSION, Features, TradeInput, Units, best_prices};
use ticktape_tape::{RecordKind, Tape};

use super::table::{
    self, DayEntry, MANIFEST, MANIFEST_KIND, MANIFEST_VERSION, Manifest, ROW_GROUP, RowBuf, TapeId, Writer, day_name,
    day_of,
};
use crate::fmt;

/// Compute the ClusterLOB trade features of one instrument's tapes into a cached feature folder.
///
/// Replays the tapes (trades and the L2 or quotes tape, any number of days) in time order and, at
/// every trade, computes from the book just before it (the replay puts a trade before the book
/// updates it caused): v_rel = size / rolling mean size over the last W trades; sbs = resting depth
/// of the best N levels on the aggressor's own side; obs = the same on the side it trades into;
/// spread = ask − bid; t_m = seconds since the mid last changed; t_age = seconds since the previous
/// trade; and each one's rolling z-score over the last W trades (this trade included, sample std,
/// 0 while the std is 0). The windows run across day boundaries.
///
/// FEAT_DIR gets, per UTC day, `features-DAY.parquet` (one row per trade: ts, side (+1 buy, −1 sell),
/// price, qty, v_rel, sbs, obs, spread, t_m, t_age, z_v_rel, z_sbs, z_obs, z_spread, z_t_m,
/// z_t_age; human units: prices and sizes as decimals, times in seconds) and `mid-DAY.parquet` (the
/// book mid every second, for `ic`), and a `manifest.json` with the tapes' content hashes and the
/// parameters. A re-run with the same tapes and parameters reuses the folder; anything else
/// rebuilds it. Trades with an unknown aggressor or without a two-sided book get no row.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ticktape research clusterlob features sample/*.tape -o feat
  ticktape research clusterlob features week/*.tape -o feat --levels 10 --window 200
  ticktape research clusterlob features data/*.tape -o feat --symbol BTCUSDT   # tapes of several symbols
  ticktape research clusterlob features sample/*.tape -o feat                  # again: reuses the cache")]
pub(crate) struct FeaturesArgs {
    /// Tapes of one instrument: its trades tape and its L2 (or quotes) tape; one stream may come in
    /// consecutive pieces (e.g. one tape per day).
    #[arg(required = true, value_name = "TAPE")]
    tapes: Vec<PathBuf>,
    /// Feature folder to write (created; a previous feature folder there is replaced when stale).
    #[arg(short, long, value_name = "FEAT_DIR")]
    out: PathBuf,
    /// Book levels per side summed into sbs and obs.
    #[arg(long, default_value_t = ticktape_research::clusterlob::DEFAULT_LEVELS)]
    levels: usize,
    /// Rolling window, in trades, of v_rel's mean and of the z-scores.
    #[arg(long, default_value_t = ticktape_research::clusterlob::DEFAULT_WINDOW)]
    window: usize,
    /// Use only the tapes of this symbol (when the tapes hold several).
    #[arg(long)]
    symbol: Option<String>,
    /// Recompute even when the cache is up to date.
    #[arg(long)]
    rebuild: bool,
    /// Replay tapes whose time ranges do not overlap.
    #[arg(long)]
    allow_gaps: bool,
}

/// Spacing of the mid samples written for `ic`.
pub(crate) const MID_STEP_NS: i64 = 1_000_000_000;

/// What [`compute`] did.
#[derive(Debug)]
pub(crate) struct Computed {
    pub(crate) events: u64,
    pub(crate) trades: u64,
    pub(crate) rows: u64,
    pub(crate) skipped: u64,
    pub(crate) days: Vec<DayEntry>,
    pub(crate) symbol: String,
    pub(crate) venue: String,
    pub(crate) secs: f64,
}

struct Extract<'w> {
    inst: usize,
    quote_driven: bool,
    levels: usize,
    units: Units,
    f: Features,
    buf: RowBuf,
    day: i64,
    writer: &'w mut Writer,
    next_mid: i64,
    mid_day: i64,
    mid_ts: Vec<i64>,
    mid: Vec<Option<f64>>,
    trades: u64,
    rows: u64,
    skipped: u64,
    failed: bool,
}

impl Extract<'_> {
    fn flush_rows(&mut self) {
        if self.buf.len() > 0 {
            let buf = std::mem::replace(&mut self.buf, self.writer.buffer());
            self.failed |= !self.writer.rows(self.day, buf);
        }
    }

    fn flush_mids(&mut self) {
        if !self.mid_ts.is_empty() {
            let ts = std::mem::take(&mut self.mid_ts);
            let mid = std::mem::take(&mut self.mid);
            self.failed |= !self.writer.mids(self.mid_day, ts, mid);
        }
    }

    /// Records the mid at every grid time up to `ts` (the state before the records at `ts`).
    #[cold]
    fn sample_mids(&mut self, ts: i64, book: &Book) {
        if self.next_mid == i64::MIN {
            self.next_mid = ts.div_euclid(MID_STEP_NS) * MID_STEP_NS;
            if self.next_mid < ts {
                self.next_mid += MID_STEP_NS;
            }
            self.mid_day = day_of(self.next_mid);
        }
        let (bid, ask) = best_prices(book.best_bid(), book.best_ask(), &self.units);
        let mid = (bid.is_finite() && ask.is_finite()).then_some(0.5 * (bid + ask));
        while self.next_mid <= ts {
            let d = day_of(self.next_mid);
            if d != self.mid_day {
                self.flush_mids();
                self.mid_day = d;
            }
            self.mid_ts.push(self.next_mid);
            self.mid.push(mid);
            self.next_mid += MID_STEP_NS;
        }
    }
}

impl<'a> Handler<'a> for Extract<'_> {
    #[inline(always)]
    fn before(&mut self, ts: i64, books: &[Book]) {
        if ts >= self.next_mid {
            self.sample_mids(ts, &books[self.inst]);
        }
    }

    #[inline]
    fn on_event(&mut self, instrument: usize, event: Event<'a>, books: &[Book]) {
        if instrument != self.inst {
            return;
        }
        let b = &books[instrument];
        match event {
            Event::Trade(t) => {
                self.trades += 1;
                let top = BookTop::from_fixed(
                    b.best_bid(),
                    b.best_ask(),
                    b.bid_depth(self.levels),
                    b.ask_depth(self.levels),
                    &self.units,
                );
                match self.f.on_trade(&TradeInput::from_record(t, &self.units), &top) {
                    Some(row) => {
                        let d = day_of(row.ts);
                        if d != self.day || self.buf.len() == ROW_GROUP {
                            self.flush_rows();
                            self.day = d;
                        }
                        self.buf.push(&row);
                        self.rows += 1;
                    }
                    None => self.skipped += 1,
                }
            }
            Event::Level(l) if l.is_batch_end() => {
                let (bid, ask) = best_prices(b.best_bid(), b.best_ask(), &self.units);
                self.f.on_book(l.ts.exchange, bid, ask);
            }
            Event::Quote(q) if self.quote_driven => {
                let (bid, ask) = best_prices(b.best_bid(), b.best_ask(), &self.units);
                self.f.on_book(q.ts.exchange, bid, ask);
            }
            _ => {}
        }
    }

    fn end(&mut self, books: &[Book]) {
        self.flush_rows();
        if self.next_mid != i64::MIN {
            // The state after the last event, at the next grid time.
            let t = self.next_mid;
            self.sample_mids(t, &books[self.inst]);
        }
        self.flush_mids();
    }

    #[inline(always)]
    fn stop(&self) -> bool {
        self.failed
    }
}

/// Opens the tapes (keeping only `symbol`'s when given) and checks they are one instrument with trades.
fn open(tapes: &[PathBuf], symbol: Option<&str>, allow_gaps: bool) -> Result<Replay> {
    let mut open = Vec::new();
    for p in tapes {
        let t = Tape::open(p)?;
        if symbol.is_none_or(|s| t.header().symbol() == s) {
            open.push(t);
        }
    }
    if open.is_empty() {
        bail!("no tape of symbol {} among the {} given; check --symbol", symbol.unwrap_or_default(), tapes.len());
    }
    let replay = Replay::from_tapes_with(open, ReplayOptions { allow_gaps, ..Default::default() })?;
    if replay.instruments().len() > 1 {
        let names: Vec<String> = replay.instruments().iter().map(|i| format!("{}@{}", i.symbol, i.venue)).collect();
        bail!(
            "the tapes hold {} instruments ({}); features are per instrument: pass --symbol or the tapes of one",
            names.len(),
            names.join(", ")
        );
    }
    if !replay.tapes().iter().any(|t| t.kind() == RecordKind::Trade) {
        bail!("no trades tape among the inputs; features are computed at trades (pass the *.trades.tape too)");
    }
    if !replay.tapes().iter().any(|t| matches!(t.kind(), RecordKind::Level | RecordKind::Quote)) {
        bail!("no L2 or quotes tape among the inputs; sbs, obs and spread need the book (pass the *.l2.tape too)");
    }
    Ok(replay)
}

/// Replays `tapes` and writes the day files into `dir` (no manifest, no cache check).
pub(crate) fn compute(
    tapes: &[PathBuf],
    dir: &Path,
    levels: usize,
    window: usize,
    symbol: Option<&str>,
    allow_gaps: bool,
) -> Result<Computed> {
    let replay = open(tapes, symbol, allow_gaps)?;
    let inst = &replay.instruments()[0];
    let f = Features::new(levels, window).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut writer = Writer::new(dir);
    let t0 = Instant::now();
    let mut h = Extract {
        inst: 0,
        quote_driven: !inst.has_l2,
        levels,
        units: Units::from_exponents(inst.price_exponent, inst.qty_exponent),
        f,
        buf: RowBuf::new(),
        day: i64::MIN,
        writer: &mut writer,
        next_mid: i64::MIN,
        mid_day: i64::MIN,
        mid_ts: Vec::new(),
        mid: Vec::new(),
        trades: 0,
        rows: 0,
        skipped: 0,
        failed: false,
    };
    let out = replay.run(&mut h);
    let (trades, rows, skipped, failed) = (h.trades, h.rows, h.skipped, h.failed);
    let written = writer.finish();
    let out = out?;
    let written = written?;
    if failed {
        bail!("the feature writer stopped early");
    }
    let secs = t0.elapsed().as_secs_f64();
    let days = written
        .iter()
        .map(|(&d, w)| DayEntry {
            day: day_name(d),
            features: if w.rows > 0 { table::features_file(d) } else { String::new() },
            mid: if w.mids > 0 { table::mid_file(d) } else { String::new() },
            rows: w.rows,
            first_ts: w.first_ts,
            last_ts: w.last_ts,
        })
        .collect();
    Ok(Computed {
        events: out.events,
        trades,
        rows,
        skipped,
        days,
        symbol: inst.symbol.clone(),
        venue: inst.venue.clone(),
        secs,
    })
}

/// Size and XXH3-128 of each tape's content, hashed on up to two threads.
pub(crate) fn identify(tapes: &[PathBuf]) -> Result<Vec<TapeId>> {
    fn one(p: &Path) -> Result<TapeId> {
        let mut f = std::fs::File::open(p).with_context(|| format!("cannot open tape {}", p.display()))?;
        let mut h = twox_hash::XxHash3_128::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            let n = f.read(&mut buf).with_context(|| format!("cannot read tape {}", p.display()))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            h.write(&buf[..n]);
        }
        Ok(TapeId { xxh3_128: format!("{:032x}", h.finish_128()), bytes, path: p.to_string_lossy().into_owned() })
    }
    let half = tapes.len().div_ceil(2);
    let (a, b) = tapes.split_at(half);
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| b.iter().map(|p| one(p)).collect::<Result<Vec<_>>>());
        let ra = a.iter().map(|p| one(p)).collect::<Result<Vec<_>>>();
        (ra, hb.join().expect("hash thread"))
    });
    let mut ids = ra?;
    ids.extend(rb?);
    Ok(ids)
}

/// Writes `dir/manifest.json` for the tables [`compute`] wrote there.
pub(crate) fn write_manifest(dir: &Path, ids: Vec<TapeId>, levels: usize, window: usize, c: &Computed) -> Result<()> {
    let manifest = Manifest {
        kind: MANIFEST_KIND.into(),
        version: MANIFEST_VERSION,
        ticktape_version: env!("CARGO_PKG_VERSION").into(),
        features_version: FEATURES_VERSION,
        levels,
        window,
        symbol: c.symbol.clone(),
        venue: c.venue.clone(),
        mid_step_ns: MID_STEP_NS,
        tapes: ids,
        days: c.days.clone(),
        rows: c.rows,
        skipped_trades: c.skipped,
    };
    ticktape_engine::results::write_json(&dir.join(MANIFEST), &serde_json::to_value(&manifest)?)?;
    Ok(())
}

/// Whether `m` was made from the same tape contents with the same parameters and is complete.
fn fresh(m: &Manifest, dir: &Path, ids: &[TapeId], levels: usize, window: usize) -> bool {
    let key = |v: &[TapeId]| {
        let mut k: Vec<(String, u64)> = v.iter().map(|t| (t.xxh3_128.clone(), t.bytes)).collect();
        k.sort();
        k
    };
    m.levels == levels
        && m.window == window
        && m.features_version == FEATURES_VERSION
        && key(&m.tapes) == key(ids)
        && m.days.iter().all(|d| {
            (d.features.is_empty() || dir.join(&d.features).is_file())
                && (d.mid.is_empty() || dir.join(&d.mid).is_file())
        })
}

pub(crate) fn run(a: FeaturesArgs) -> Result<()> {
    if a.levels == 0 || a.window == 0 {
        bail!("--levels and --window must be at least 1 (got {} and {})", a.levels, a.window);
    }
    let mut tapes = a.tapes.clone();
    tapes.sort();
    tapes.dedup();
    let t0 = Instant::now();
    let ids = identify(&tapes)?;
    let existing = a.out.join(MANIFEST);
    if existing.is_file() {
        match Manifest::read(&a.out) {
            Ok(m)
                if !a.rebuild
                    && fresh(&m, &a.out, &ids, a.levels, a.window)
                    && a.symbol.as_deref().is_none_or(|s| s == m.symbol) =>
            {
                println!(
                    "features up to date in {} ({} rows over {} days, levels {}, window {}): reused, nothing recomputed \
                     (--rebuild forces it)",
                    a.out.display(),
                    fmt::thousands(m.rows),
                    m.days.len(),
                    m.levels,
                    m.window
                );
                return Ok(());
            }
            _ => {}
        }
    } else if a.out.is_dir() && std::fs::read_dir(&a.out).map(|mut d| d.next().is_some()).unwrap_or(false) {
        bail!(
            "{} exists and is not a feature folder (no {MANIFEST}); choose a new or empty folder for -o",
            a.out.display()
        );
    }
    let stage = ticktape_engine::results::stage(&a.out, true)?;
    let c = compute(&tapes, stage.dir(), a.levels, a.window, a.symbol.as_deref(), a.allow_gaps)?;
    write_manifest(stage.dir(), ids, a.levels, a.window, &c)?;
    stage.promote()?;
    println!(
        "features of {}@{}: {} trades -> {} rows over {} UTC days ({} skipped: unknown side or no two-sided book)",
        c.symbol,
        c.venue,
        fmt::thousands(c.trades),
        fmt::thousands(c.rows),
        c.days.len(),
        fmt::thousands(c.skipped)
    );
    println!(
        "  replayed {} events in {:.2}s ({}); total with hashing {:.2}s -> {}",
        fmt::thousands(c.events),
        c.secs,
        fmt::rate(c.events as f64 / c.secs),
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    for d in &c.days {
        println!("  {}  {:>12} rows  {}", d.day, fmt::thousands(d.rows), d.features);
    }
    Ok(())
}
