//! Routing records to one tape per (kind, venue, symbol), sorting them within a
//! tolerance, and choosing exponents from the data.
//!
//! # Exponents from the data, in one pass
//!
//! Each stream starts with 0 decimals (or the `--*-decimals` given). Before a
//! record is stored, [`Sink::fit`] checks how many decimals its values need; if
//! more than the stream has, the stream *widens*: records still in memory are
//! rescaled exactly, and the part of the tape already written is closed as a
//! finished *segment* at the old exponents. A new segment starts at the new
//! exponents. At the end, segments are merged into the final tape at the widest
//! exponents (multiplying by powers of ten, checked for overflow). The first
//! 64k records of a stream stay in memory before anything is written, so in
//! practice a tape almost always has a single segment, which is renamed into
//! place without being copied. Fixed decimals never widen: a value with more
//! decimals is an error that names it, since values are never rounded.
//!
//! # Order
//!
//! Records wait in a bounded reorder buffer until their exchange time is more
//! than the tolerance behind the newest time seen, and are written in
//! exchange-time order; equal times keep input order (a stable sort). A record
//! that arrives more than the tolerance behind is *late*: the caller reports it
//! (an error, or a skipped row with `--skip-bad`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use ticktape_tape::{Bar, Fill, Funding, Level, Quote, Record, RecordKind, Series, TapeMeta, TapeWriter, Trade, UNDEF};

use crate::decimal::{Dec, MAX_DECIMALS, POW10};
use crate::{Error, Result};

/// Decimals of the three value classes of a tape (exponent = −decimals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exps {
    /// Price decimals.
    pub price: u8,
    /// Quantity decimals.
    pub qty: u8,
    /// Money / rate / series value decimals.
    pub value: u8,
}

impl Exps {
    fn max(self, o: Exps) -> Exps {
        Exps { price: self.price.max(o.price), qty: self.qty.max(o.qty), value: self.value.max(o.value) }
    }
    fn covers(self, o: Exps) -> bool {
        self.price >= o.price && self.qty >= o.qty && self.value >= o.value
    }
}

/// Fixed decimals from the command line; `None` means "from the data".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixedExps {
    /// `--price-decimals`.
    pub price: Option<u8>,
    /// `--qty-decimals`.
    pub qty: Option<u8>,
    /// `--value-decimals`.
    pub value: Option<u8>,
}

/// Which exponent a value uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Prices.
    P,
    /// Quantities.
    Q,
    /// Money, rates, series values.
    V,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::P => "price",
            Class::Q => "qty",
            Class::V => "value",
        }
    }
}

/// Multiplies `v` by `10^d` unless it is [`UNDEF`]; `false` on overflow.
#[inline]
fn up(v: &mut i64, d: u8) -> bool {
    if d == 0 || *v == UNDEF {
        return true;
    }
    match v.checked_mul(POW10[usize::from(d)]) {
        Some(x) if x != UNDEF => {
            *v = x;
            true
        }
        _ => false,
    }
}

/// A record the converters write: knows which of its fields use which exponent.
pub(crate) trait Rec: Record + Copy + crate::valid::Sane {
    /// Rescales by `d` more decimals per class; `false` on overflow.
    fn rescale(&mut self, d: Exps) -> bool;
    /// Wraps a stream of this kind.
    fn wrap(s: Stream<Self>) -> AnyStream;
    /// The stream of this kind, if `a` is one.
    fn get(a: &mut AnyStream) -> Option<&mut Stream<Self>>;
}

macro_rules! rec {
    ($t:ident, |$r:ident, $d:ident| $body:expr) => {
        impl Rec for $t {
            #[inline]
            fn rescale(&mut self, $d: Exps) -> bool {
                let $r = self;
                $body
            }
            fn wrap(s: Stream<Self>) -> AnyStream {
                AnyStream::$t(s)
            }
            fn get(a: &mut AnyStream) -> Option<&mut Stream<Self>> {
                match a {
                    AnyStream::$t(s) => Some(s),
                    _ => None,
                }
            }
        }
    };
}

rec!(Trade, |r, d| up(&mut r.price, d.price) && up(&mut r.qty, d.qty));
rec!(Level, |r, d| up(&mut r.price, d.price) && up(&mut r.qty, d.qty));
rec!(Quote, |r, d| up(&mut r.bid_price, d.price)
    && up(&mut r.ask_price, d.price)
    && up(&mut r.bid_qty, d.qty)
    && up(&mut r.ask_qty, d.qty));
rec!(Funding, |r, d| up(&mut r.funding_rate, d.value)
    && up(&mut r.mark_price, d.price)
    && up(&mut r.index_price, d.price));
rec!(Bar, |r, d| up(&mut r.open, d.price)
    && up(&mut r.high, d.price)
    && up(&mut r.low, d.price)
    && up(&mut r.close, d.price)
    && up(&mut r.volume, d.qty)
    && up(&mut r.taker_buy_volume, d.qty));
rec!(Series, |r, d| up(&mut r.value, d.value));
rec!(Fill, |r, d| up(&mut r.price, d.price)
    && up(&mut r.qty, d.qty)
    && up(&mut r.start_position, d.qty)
    && up(&mut r.closed_pnl, d.value)
    && up(&mut r.fee, d.value));

/// A stream of any kind.
#[derive(Debug)]
#[allow(missing_docs)]
pub(crate) enum AnyStream {
    Trade(Stream<Trade>),
    Level(Stream<Level>),
    Quote(Stream<Quote>),
    Funding(Stream<Funding>),
    Bar(Stream<Bar>),
    Series(Stream<Series>),
    Fill(Stream<Fill>),
}

macro_rules! each_stream {
    ($a:expr, |$s:ident| $body:expr) => {
        match $a {
            AnyStream::Trade($s) => $body,
            AnyStream::Level($s) => $body,
            AnyStream::Quote($s) => $body,
            AnyStream::Funding($s) => $body,
            AnyStream::Bar($s) => $body,
            AnyStream::Series($s) => $body,
            AnyStream::Fill($s) => $body,
        }
    };
}

/// What identifies an output tape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StreamKey {
    /// Record kind.
    pub kind: RecordKind,
    /// Venue.
    pub venue: String,
    /// Symbol.
    pub symbol: String,
    /// Keeps records of one kind that must not mix apart: `""`, or `"agg"`
    /// for aggregated trades (Binance `aggTrade`), which describe the same
    /// market trades as raw `trade` messages and would count them twice.
    pub variant: &'static str,
    /// Bar interval (`1m`, `1h`), empty for other kinds: it goes into the
    /// file name (`VENUE.SYMBOL.bars-1m.tape`), not the symbol, so the bars
    /// join their instrument.
    pub interval: String,
}

impl StreamKey {
    /// The tape's file name: `VENUE.SYMBOL.KIND.tape`, with the variant
    /// before the kind (`VENUE.SYMBOL.aggtrades.tape`).
    pub(crate) fn file_name(&self) -> String {
        let name = meta_for(self, Exps::default(), false, false).file_name(self.kind);
        let kind = self.kind.name();
        let interval = if self.interval.is_empty() { String::new() } else { format!("-{}", self.interval) };
        if self.variant.is_empty() && interval.is_empty() {
            name
        } else {
            name.replace(&format!(".{kind}.tape"), &format!(".{}{kind}{interval}.tape", self.variant))
        }
    }
}

/// A finished part of a stream, written at fixed exponents.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub exps: Exps,
}

/// A stream's output once its input is done.
#[derive(Debug)]
pub(crate) struct StreamOutput {
    pub key: StreamKey,
    pub has_local_ts: bool,
    /// The tick and lot are one unit of the exponents (see [`Sink::set_grid_ticks`]).
    pub grid_ticks: bool,
    pub segments: Vec<Segment>,
}

/// A record that could not be placed: more than the tolerance late.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Late {
    pub ts: i64,
    pub latest: i64,
}

/// Records not written yet hold in memory until this many are buffered.
const WARMUP: usize = 1 << 16;

/// One output stream: reorder buffer, exponents, current segment writer.
#[derive(Debug)]
pub(crate) struct Stream<R: Rec> {
    key: StreamKey,
    has_local_ts: bool,
    grid_ticks: bool,
    exps: Exps,
    fixed: FixedExps,
    buf: VecDeque<R>,
    tolerance: i64,
    cap: usize,
    latest: i64,
    floor: i64,
    started: bool,
    writer: Option<TapeWriter<R>>,
    writer_exps: Exps,
    segments: Vec<Segment>,
    part_base: PathBuf,
}

impl<R: Rec> Stream<R> {
    fn new(key: StreamKey, has_local_ts: bool, cfg: &SinkConfig, part_base: PathBuf) -> Self {
        let f = cfg.fixed;
        Stream {
            key,
            has_local_ts,
            grid_ticks: cfg.grid_ticks,
            exps: Exps { price: f.price.unwrap_or(0), qty: f.qty.unwrap_or(0), value: f.value.unwrap_or(0) },
            fixed: f,
            buf: VecDeque::new(),
            tolerance: cfg.tolerance_ns,
            cap: cfg.max_buffered,
            latest: i64::MIN,
            floor: i64::MIN,
            started: false,
            writer: None,
            writer_exps: Exps::default(),
            segments: Vec::new(),
            part_base,
        }
    }

    /// Widens to at least `need`; `Err(class)` if a fixed exponent is too small,
    /// or `Err(None)`-like overflow reported as a static reason.
    fn widen(&mut self, need: Exps) -> std::result::Result<(), (Class, &'static str)> {
        let target = self.exps.max(need);
        for (c, have, want, fixed) in [
            (Class::P, self.exps.price, target.price, self.fixed.price),
            (Class::Q, self.exps.qty, target.qty, self.fixed.qty),
            (Class::V, self.exps.value, target.value, self.fixed.value),
        ] {
            if want > have && fixed.is_some() {
                return Err((c, "it has more decimal places"));
            }
            if want > MAX_DECIMALS {
                return Err((c, "it needs more than 18 decimal places"));
            }
        }
        let d = Exps {
            price: target.price - self.exps.price,
            qty: target.qty - self.exps.qty,
            value: target.value - self.exps.value,
        };
        for r in self.buf.iter_mut() {
            if !r.rescale(d) {
                return Err((Class::P, "earlier values of this tape overflow a 64-bit integer at that many decimals"));
            }
        }
        self.exps = target;
        Ok(())
    }

    fn close_segment(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            let s = w.finish()?;
            self.segments.push(Segment { path: s.path, exps: self.writer_exps });
        }
        Ok(())
    }

    #[inline]
    fn push(&mut self, r: R) -> Result<std::result::Result<(), Late>> {
        let ts = r.stamp().exchange;
        if ts < self.floor {
            return Ok(Err(Late { ts, latest: self.latest }));
        }
        if self.buf.back().is_none_or(|b| b.stamp().exchange <= ts) {
            self.buf.push_back(r);
        } else {
            let at = self.buf.partition_point(|x| x.stamp().exchange <= ts);
            self.buf.insert(at, r);
        }
        if ts > self.latest {
            self.latest = ts;
            self.floor = self.floor.max(ts.saturating_sub(self.tolerance));
        }
        if !self.started && self.buf.len() < WARMUP {
            return Ok(Ok(()));
        }
        self.started = true;
        while let Some(front) = self.buf.front() {
            let fts = front.stamp().exchange;
            if fts < self.floor || self.buf.len() > self.cap {
                let rec = self.buf.pop_front().expect("front exists");
                self.floor = self.floor.max(fts);
                self.write(&rec)?;
            } else {
                break;
            }
        }
        Ok(Ok(()))
    }

    #[inline]
    fn write(&mut self, r: &R) -> Result<()> {
        if self.writer.as_ref().is_none() || self.writer_exps != self.exps {
            self.close_segment()?;
            let path = self.part_base.with_file_name(format!(
                "{}.{}",
                self.part_base.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
                self.segments.len()
            ));
            let meta = meta_for(&self.key, self.exps, self.has_local_ts, self.grid_ticks);
            self.writer = Some(TapeWriter::create(&path, &meta)?);
            self.writer_exps = self.exps;
        }
        self.writer.as_mut().expect("writer just created").push(r)?;
        Ok(())
    }

    fn finish(mut self) -> Result<StreamOutput> {
        while let Some(r) = self.buf.pop_front() {
            self.write(&r)?;
        }
        self.close_segment()?;
        Ok(StreamOutput {
            key: self.key.clone(),
            has_local_ts: self.has_local_ts,
            grid_ticks: self.grid_ticks,
            segments: std::mem::take(&mut self.segments),
        })
    }

    fn remove_parts(&mut self) {
        self.writer = None;
        for s in self.segments.drain(..) {
            let _ = std::fs::remove_file(&s.path);
        }
    }
}

impl<R: Rec> Drop for Stream<R> {
    fn drop(&mut self) {
        self.remove_parts();
    }
}

/// The tape metadata for a stream at given exponents; with `grid_ticks` the
/// tick and lot are one unit of those exponents (else 0, unknown).
pub(crate) fn meta_for(key: &StreamKey, exps: Exps, has_local_ts: bool, grid_ticks: bool) -> TapeMeta {
    TapeMeta {
        symbol: key.symbol.clone(),
        venue: key.venue.clone(),
        price_exponent: -(exps.price as i8),
        qty_exponent: -(exps.qty as i8),
        value_exponent: -(exps.value as i8),
        price_tick: i64::from(grid_ticks),
        qty_lot: i64::from(grid_ticks),
        has_local_ts,
    }
}

/// Settings shared by all streams of one input.
#[derive(Clone, Debug)]
pub(crate) struct SinkConfig {
    /// Where segment files go (the output folder, so renames stay on one file system).
    pub dir: PathBuf,
    /// Distinguishes this input's segment files.
    pub tag: String,
    /// Reorder tolerance, ns (`i64::MAX`: sort everything).
    pub tolerance_ns: i64,
    /// Most records held in a reorder buffer.
    pub max_buffered: usize,
    /// Fixed decimals.
    pub fixed: FixedExps,
    /// Tapes state a tick and lot of one unit of their exponents (set by
    /// [`Sink::set_grid_ticks`]).
    pub grid_ticks: bool,
}

/// Index of a stream in a [`Sink`].
pub(crate) type StreamId = usize;

/// Why a value was refused by [`Sink::fit`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Misfit {
    /// Index of the value in the slice given.
    pub index: usize,
    pub class: Class,
    pub decimals: u8,
    pub why: &'static str,
}

/// All streams of one input.
#[derive(Debug)]
pub(crate) struct Sink {
    cfg: SinkConfig,
    streams: Vec<AnyStream>,
    index: HashMap<StreamKey, StreamId>,
}

impl Sink {
    pub(crate) fn new(cfg: SinkConfig) -> Self {
        Sink { cfg, streams: Vec::new(), index: HashMap::new() }
    }

    /// The stream for (kind of `R`, venue, symbol), created on first use.
    pub(crate) fn stream<R: Rec>(&mut self, venue: &str, symbol: &str, has_local_ts: bool) -> StreamId {
        self.stream_variant::<R>(venue, symbol, "", has_local_ts)
    }

    /// The stream for (kind of `R`, venue, symbol, variant), created on
    /// first use (see [`StreamKey::variant`]).
    pub(crate) fn stream_variant<R: Rec>(
        &mut self,
        venue: &str,
        symbol: &str,
        variant: &'static str,
        has_local_ts: bool,
    ) -> StreamId {
        let key = StreamKey {
            kind: R::KIND,
            venue: venue.to_owned(),
            symbol: symbol.to_owned(),
            variant,
            interval: String::new(),
        };
        self.stream_key::<R>(key, has_local_ts)
    }

    /// The bar stream of (venue, symbol) at `interval` (`""` if unknown).
    pub(crate) fn stream_bars(&mut self, venue: &str, symbol: &str, interval: &str) -> StreamId {
        let key = StreamKey {
            kind: RecordKind::Bar,
            venue: venue.to_owned(),
            symbol: symbol.to_owned(),
            variant: "",
            interval: interval.to_owned(),
        };
        self.stream_key::<Bar>(key, false)
    }

    fn stream_key<R: Rec>(&mut self, key: StreamKey, has_local_ts: bool) -> StreamId {
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let id = self.streams.len();
        let base = self.cfg.dir.join(format!(".{}.part.{}.{}", self.cfg.tag, id, std::process::id()));
        self.streams.push(R::wrap(Stream::new(key.clone(), has_local_ts, &self.cfg, base)));
        self.index.insert(key, id);
        id
    }

    /// Makes sure stream `id` has enough decimals for `vals` (widening if allowed),
    /// then returns them as fixed-point integers (`None` → [`UNDEF`]).
    #[inline]
    pub(crate) fn fit<R: Rec, const N: usize>(
        &mut self,
        id: StreamId,
        vals: [(Option<Dec>, Class); N],
    ) -> std::result::Result<[i64; N], Misfit> {
        let s = R::get(&mut self.streams[id]).expect("stream kind matches");
        let mut need = Exps::default();
        for (v, c) in &vals {
            if let Some(v) = v {
                match c {
                    Class::P => need.price = need.price.max(v.frac),
                    Class::Q => need.qty = need.qty.max(v.frac),
                    Class::V => need.value = need.value.max(v.frac),
                }
            }
        }
        if !s.exps.covers(need)
            && let Err((class, why)) = s.widen(need)
        {
            let index = vals.iter().position(|(v, c)| *c == class && v.is_some_and(|v| v.frac > 0)).unwrap_or(0);
            let decimals = match class {
                Class::P => s.exps.price,
                Class::Q => s.exps.qty,
                Class::V => s.exps.value,
            };
            return Err(Misfit { index, class, decimals, why });
        }
        let e = s.exps;
        let mut out = [UNDEF; N];
        for (i, (v, c)) in vals.iter().enumerate() {
            if let Some(v) = v {
                let d = match c {
                    Class::P => e.price,
                    Class::Q => e.qty,
                    Class::V => e.value,
                };
                out[i] = v.fixed(d).map_err(|why| Misfit { index: i, class: *c, decimals: d, why })?;
            }
        }
        Ok(out)
    }

    /// The current exponents of stream `id`.
    #[inline]
    pub(crate) fn exps(&self, id: StreamId) -> Exps {
        match &self.streams[id] {
            AnyStream::Trade(s) => s.exps,
            AnyStream::Level(s) => s.exps,
            AnyStream::Quote(s) => s.exps,
            AnyStream::Funding(s) => s.exps,
            AnyStream::Bar(s) => s.exps,
            AnyStream::Series(s) => s.exps,
            AnyStream::Fill(s) => s.exps,
        }
    }

    /// Changes the reorder tolerance and buffer cap of this input's streams.
    pub(crate) fn set_tolerance(&mut self, tolerance_ns: i64, max_buffered: usize) {
        self.cfg.tolerance_ns = tolerance_ns;
        self.cfg.max_buffered = max_buffered;
        for s in &mut self.streams {
            each_stream!(s, |s| {
                s.tolerance = tolerance_ns;
                s.cap = max_buffered;
            });
        }
    }

    /// Declares that the exponents of this input's tapes are the instrument's
    /// price and quantity grids (values were snapped to them), so each tape
    /// states a tick and lot of one unit. Affects streams created after.
    pub(crate) fn set_grid_ticks(&mut self) {
        self.cfg.grid_ticks = true;
    }

    /// Stores a record; `Ok(Err(late))` if it is beyond the tolerance.
    #[inline]
    pub(crate) fn push<R: Rec>(&mut self, id: StreamId, r: R) -> Result<std::result::Result<(), Late>> {
        R::get(&mut self.streams[id]).expect("stream kind matches").push(r)
    }

    /// Flushes every stream and returns their segments.
    pub(crate) fn finish(self) -> Result<Vec<StreamOutput>> {
        let mut out = Vec::with_capacity(self.streams.len());
        for s in self.streams {
            out.push(each_stream!(s, |s| s.finish()?));
        }
        Ok(out)
    }
}

impl Misfit {
    /// The error for this misfit, naming the value's text.
    pub(crate) fn error(&self, path: &Path, line: u64, text: &[u8]) -> Error {
        Error::DoesNotFit {
            path: path.to_path_buf(),
            line,
            text: crate::error::snippet(text),
            field: self.class.name(),
            decimals: self.decimals,
            why: self.why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticktape_tape::{Stamp, Tape};

    fn cfg(dir: &Path, tol: i64) -> SinkConfig {
        SinkConfig {
            dir: dir.to_path_buf(),
            tag: "t".into(),
            tolerance_ns: tol,
            max_buffered: 1 << 20,
            fixed: FixedExps::default(),
            grid_ticks: false,
        }
    }

    fn trade(ts: i64, id: u64) -> Trade {
        Trade { ts: Stamp { exchange: ts, local: ts }, price: 1, qty: 1, trade_id: id, ..Trade::default() }
    }

    #[test]
    fn sorts_stably_within_tolerance_and_reports_late() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(cfg(dir.path(), 10));
        let id = sink.stream::<Trade>("v", "S", false);
        for (ts, i) in [(100, 1), (95, 2), (100, 3), (91, 4), (120, 5)] {
            sink.push(id, trade(ts, i)).unwrap().unwrap();
        }
        let late = sink.push(id, trade(105, 6)).unwrap().unwrap_err();
        assert_eq!((late.ts, late.latest), (105, 120));
        let out = sink.finish().unwrap();
        assert_eq!(out[0].segments.len(), 1);
        let tape = Tape::open(&out[0].segments[0].path).unwrap();
        let ids: Vec<u64> = tape.records::<Trade>().unwrap().iter().map(|t| t.trade_id).collect();
        assert_eq!(ids, vec![4, 2, 1, 3, 5]);
        std::fs::remove_file(&out[0].segments[0].path).unwrap();
    }

    #[test]
    fn widening_rescales_buffer_and_refuses_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(cfg(dir.path(), 0));
        let id = sink.stream::<Trade>("v", "S", false);
        let p = |s: &str| Some(Dec::parse(s.as_bytes()).unwrap());
        assert_eq!(sink.fit::<Trade, 2>(id, [(p("61800.3"), Class::P), (p("2"), Class::Q)]).unwrap(), [618003, 2]);
        let mut t = trade(1, 1);
        t.price = 618003;
        sink.push(id, t).unwrap().unwrap();
        assert_eq!(sink.fit::<Trade, 1>(id, [(p("61800.35"), Class::P)]).unwrap(), [6180035]);
        match &sink.streams[id] {
            AnyStream::Trade(s) => assert_eq!(s.buf[0].price, 6180030),
            _ => unreachable!(),
        }

        let mut c = cfg(dir.path(), 0);
        c.fixed.price = Some(1);
        let mut sink = Sink::new(c);
        let id = sink.stream::<Trade>("v", "S", false);
        let m = sink.fit::<Trade, 2>(id, [(p("1"), Class::Q), (p("61800.35"), Class::P)]).unwrap_err();
        assert_eq!((m.index, m.class, m.decimals), (1, Class::P, 1));
    }
}
