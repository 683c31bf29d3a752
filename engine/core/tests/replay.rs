//! Replay order, book maintenance over synthetic markets, and refusals.

use std::fs;
use std::path::{Path, PathBuf};

use ticktape_engine::Error;
use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay, ReplayOptions};
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};
use ticktape_tape::{Stamp, Tape, TapeMeta, TapeWriter, Trade, side};

fn make(dir: &std::path::Path, events: u64, symbols: &[&str], seed: u64) -> Vec<PathBuf> {
    let mut cfg = SynthConfig::new(events);
    cfg.symbols = symbols.iter().map(|s| SymbolSpec::preset(s)).collect();
    cfg.seed = seed;
    generate(&cfg, dir).unwrap().into_iter().map(|s| s.path).collect()
}

#[test]
fn synthetic_tapes_are_byte_identical_for_the_same_seed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let pa = make(a.path(), 50_000, &["BTCUSDT", "ETHUSDT"], 7);
    let pb = make(b.path(), 50_000, &["BTCUSDT", "ETHUSDT"], 7);
    assert_eq!(pa.len(), 4);
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.file_name(), y.file_name());
        assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap(), "{}", x.display());
    }
    let c = tempfile::tempdir().unwrap();
    let pc = make(c.path(), 50_000, &["BTCUSDT", "ETHUSDT"], 8);
    assert_ne!(fs::read(&pa[0]).unwrap(), fs::read(&pc[0]).unwrap(), "another seed gives another market");
}

#[test]
fn synthetic_tapes_are_sorted_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let paths = make(dir.path(), 30_000, &["BTCUSDT"], 1);
    let mut total = 0;
    for p in &paths {
        let t = Tape::open(p).unwrap();
        t.verify().unwrap();
        assert!(t.header().has_local_ts());
        total += t.len() as u64;
    }
    // The generator stops after the message that reaches the target.
    assert!((30_000..30_000 + 2_000).contains(&total), "{total}");
}

/// Checks the synthetic market is internally consistent: books never cross
/// after a batch, sizes are positive, and every trade prints at or through
/// the touch it hits (trades are delivered before the book updates they
/// cause, at equal exchange time).
#[derive(Default)]
struct Consistency {
    batches: u64,
    trades: u64,
    crossed: u64,
    bad_trades: u64,
    negative: u64,
    last_ts: i64,
    backwards: u64,
}

impl Handler<'_> for Consistency {
    fn on_event(&mut self, inst: usize, ev: Event<'_>, books: &[Book]) {
        let ts = ev.ts_exchange();
        if ts < self.last_ts {
            self.backwards += 1;
        }
        self.last_ts = ts;
        let book = &books[inst];
        match ev {
            Event::Level(l) => {
                if l.qty < 0 {
                    self.negative += 1;
                }
                if l.is_batch_end() {
                    self.batches += 1;
                    if let (Some((b, _)), Some((a, _))) = (book.best_bid(), book.best_ask())
                        && b >= a
                    {
                        self.crossed += 1;
                    }
                }
            }
            Event::Trade(t) => {
                self.trades += 1;
                let ok = match t.side {
                    side::BUY => book.best_ask().is_some_and(|(a, _)| t.price >= a),
                    side::SELL => book.best_bid().is_some_and(|(b, _)| t.price <= b),
                    _ => false,
                };
                if !ok {
                    self.bad_trades += 1;
                }
            }
            _ => {}
        }
    }
}

#[test]
fn synthetic_market_is_consistent_under_replay() {
    let dir = tempfile::tempdir().unwrap();
    let paths = make(dir.path(), 200_000, &["BTCUSDT", "SOLUSDT"], 3);
    let replay = Replay::open(&paths).unwrap();
    let mut h = Consistency::default();
    let out = replay.run(&mut h).unwrap();
    assert_eq!(out.events, replay.total_records());
    assert_eq!(h.backwards, 0, "events out of time order");
    assert_eq!(h.negative, 0);
    assert_eq!(h.crossed, 0, "book crossed after a batch");
    assert_eq!(h.bad_trades, 0, "trade printed inside the spread");
    assert!(h.trades > 10_000 && h.batches > 10_000, "{} trades, {} batches", h.trades, h.batches);
    assert_eq!(replay.instruments().len(), 2);
    assert_eq!(replay.instruments()[0].symbol, "BTCUSDT");
    for b in &out.books {
        assert!(b.bid_count() >= 10 && b.ask_count() >= 10);
    }
}

#[test]
fn replay_outcome_does_not_depend_on_tape_order() {
    let dir = tempfile::tempdir().unwrap();
    let paths = make(dir.path(), 20_000, &["BTCUSDT", "ETHUSDT"], 5);
    #[derive(Default)]
    struct Trace(Vec<(usize, i64, u8)>);
    impl Handler<'_> for Trace {
        fn on_event(&mut self, inst: usize, ev: Event<'_>, _: &[Book]) {
            self.0.push((inst, ev.ts_exchange(), ev.kind().code() as u8));
        }
    }
    let mut a = Trace::default();
    Replay::open(&paths).unwrap().run(&mut a).unwrap();
    let mut reversed = paths.clone();
    reversed.reverse();
    let mut b = Trace::default();
    Replay::open(&reversed).unwrap().run(&mut b).unwrap();
    assert_eq!(a.0, b.0);
}

fn write_trades(path: &std::path::Path, ts: &[i64], price_exponent: i8) {
    let meta = TapeMeta { symbol: "X".into(), venue: "v".into(), price_exponent, ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(path, &meta).unwrap();
    for &t in ts {
        let t = T0 + t;
        w.push(&Trade { ts: Stamp { exchange: t, local: t }, price: 1, qty: 1, side: side::BUY, ..Trade::default() })
            .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn replay_refuses_unsorted_tapes_and_mismatched_exponents() {
    let dir = tempfile::tempdir().unwrap();
    let unsorted = dir.path().join("u.tape");
    write_trades(&unsorted, &[3, 1], -2);
    let e = Replay::open(&[&unsorted]).unwrap_err();
    assert!(matches!(e, Error::NotSorted { .. }), "{e}");
    assert!(e.to_string().contains("u.tape"));

    let a = dir.path().join("a.tape");
    let b = dir.path().join("b.tape");
    write_trades(&a, &[1], -2);
    write_trades(&b, &[2], -1);
    let e = Replay::open(&[&a, &b]).unwrap_err();
    assert!(e.to_string().contains("exponents"), "{e}");

    let e = Replay::open::<PathBuf>(&[]).unwrap_err();
    assert!(matches!(e, Error::NoTapes));
}

#[test]
fn book_slot_width_is_estimated_when_no_tape_states_a_tick() {
    use ticktape_tape::{Level, level_flags};
    let dir = tempfile::tempdir().unwrap();
    // Prices with 8 decimals on a 0.1 grid (10^7 units), no tick in the header.
    let meta = TapeMeta {
        symbol: "BTCUSDT".into(),
        venue: "v".into(),
        price_exponent: -8,
        qty_exponent: -3,
        ..TapeMeta::default()
    };
    let path = dir.path().join("l2.tape");
    let mut w = TapeWriter::<Level>::create(&path, &meta).unwrap();
    let unit = 10_000_000i64;
    for i in 0..200i64 {
        let (side_code, price) =
            if i % 2 == 0 { (side::BID, 6_000_000 - i / 2) } else { (side::ASK, 6_000_001 + i / 2) };
        w.push(&Level {
            ts: Stamp { exchange: T0 + i, local: T0 + i },
            price: price * unit,
            qty: 5,
            side: side_code,
            flags: if i == 199 { level_flags::BATCH_END } else { 0 },
            ..Level::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    let replay = Replay::open(&[&path]).unwrap();
    assert_eq!(replay.instruments()[0].price_tick, 0, "order validation keeps the unknown tick");
    assert_eq!(replay.instruments()[0].book_tick, unit);
    let out = replay.run(&mut ()).unwrap();
    let book = &out.books[0];
    assert_eq!(book.tick(), unit);
    assert_eq!((book.bid_count(), book.ask_count()), (100, 100));
    assert_eq!(book.best_bid(), Some((6_000_000 * unit, 5)));
    assert_eq!(book.best_ask(), Some((6_000_001 * unit, 5)));
}

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;
const DAY: i64 = 86_400_000_000_000;

/// A sorted-looking trades tape of `symbol` at `T0 + ts[i]`, then `patch`
/// applied to the file's bytes (to forge what a corrupt file holds).
fn forged(dir: &Path, name: &str, symbol: &str, ts: &[i64], patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let path = dir.join(name);
    let meta = TapeMeta { symbol: symbol.into(), venue: "v".into(), price_exponent: -2, ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    for &t in ts {
        let t = T0 + t;
        w.push(&Trade { ts: Stamp { exchange: t, local: t }, price: 1, qty: 1, side: side::BUY, ..Trade::default() })
            .unwrap();
    }
    w.finish().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    patch(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// Byte offset of field `at` of trade record `i`.
fn rec(i: usize, at: usize) -> usize {
    128 + 48 * i + at
}

fn replay_err(paths: &[&PathBuf]) -> String {
    match Replay::open(paths) {
        Err(e) => e.to_string(),
        Ok(r) => r.run(&mut ()).expect_err("the replay should fail").to_string(),
    }
}

#[test]
fn regression_sorted_header_with_backwards_time_fails_the_replay_at_the_record() {
    let dir = tempfile::tempdir().unwrap();
    // Record 2 goes back in time; the header still says sorted.
    let p = forged(dir.path(), "b.tape", "X", &[1, 2, 3, 4], |b| {
        b[rec(2, 0)..rec(2, 8)].copy_from_slice(&(T0 + 1).to_le_bytes());
    });
    let e = replay_err(&[&p]);
    assert!(e.contains("b.tape") && e.contains(&format!("byte offset {}", rec(2, 0))) && e.contains("earlier"), "{e}");
    assert_eq!(
        Tape::open(&p).unwrap().verify_replayable().unwrap_err().to_string(),
        e,
        "verify and replay share the check"
    );
}

#[test]
fn regression_trade_side_7_fails_the_replay_at_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let p = forged(dir.path(), "s.tape", "X", &[1, 2, 3], |b| b[rec(1, 40)] = 7);
    let e = replay_err(&[&p]);
    assert!(e.contains(&format!("byte offset {}", rec(1, 0))) && e.contains("trade side"), "{e}");
}

#[test]
fn regression_undefined_flag_bits_fail_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let p = forged(dir.path(), "f.tape", "X", &[1, 2, 3], |b| b[rec(1, 41)] = 0x80);
    assert!(replay_err(&[&p]).contains("undefined bits"));
}

#[test]
fn regression_price_exponent_127_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = forged(dir.path(), "e.tape", "X", &[1], |b| b[48] = 127);
    let e = Tape::open(&p).unwrap_err().to_string();
    assert!(e.contains("byte offset 48") && e.contains("price exponent 127"), "{e}");
}

#[test]
fn regression_negative_timestamps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = forged(dir.path(), "n.tape", "X", &[1], |b| {
        for at in [32, 40, rec(0, 0)] {
            b[at..at + 8].copy_from_slice(&(-5i64).to_le_bytes());
        }
    });
    let e = replay_err(&[&p]);
    assert!(e.contains("outside the supported range") && e.contains("byte offset 128"), "{e}");
}

#[test]
fn regression_header_first_ts_1_disagreeing_with_records_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = forged(dir.path(), "h.tape", "X", &[1, 2], |b| b[32..40].copy_from_slice(&1i64.to_le_bytes()));
    let e = Tape::open(&p).unwrap_err().to_string();
    assert!(e.contains("byte offset 32") && e.contains("first_ts 1"), "{e}");
}

#[test]
fn regression_record_later_than_header_last_ts_is_refused_before_delivery() {
    let dir = tempfile::tempdir().unwrap();
    // A middle record in 2090 would otherwise walk timers for decades.
    let p = forged(dir.path(), "l.tape", "X", &[1, 2, 3], |b| {
        b[rec(1, 0)..rec(1, 8)].copy_from_slice(&(T0 + 66 * 365 * DAY).to_le_bytes());
    });
    struct Count(u64);
    impl ticktape_engine::replay::Handler<'_> for Count {
        fn before(&mut self, _: i64, _: &[ticktape_engine::book::Book]) {
            self.0 += 1;
        }
    }
    let mut c = Count(0);
    let e = Replay::open(&[&p]).unwrap().run(&mut c).unwrap_err().to_string();
    assert_eq!(c.0, 1, "only the record before the bad one is delivered");
    assert!(e.contains("later than the header's last_ts"), "{e}");
}

#[test]
fn regression_tapes_years_apart_are_refused_unless_gaps_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let a = forged(dir.path(), "a.tape", "A", &[0, 10], |_| ());
    let b = forged(dir.path(), "b.tape", "B", &[3 * 365 * DAY, 3 * 365 * DAY + 10], |_| ());
    let e = Replay::open(&[&a, &b]).unwrap_err().to_string();
    assert!(
        e.contains("a.tape") && e.contains("b.tape") && e.contains("do not overlap") && e.contains("--allow-gaps"),
        "{e}"
    );
    let r = Replay::open_with(&[&a, &b], ReplayOptions { allow_gaps: true, ..ReplayOptions::default() }).unwrap();
    assert_eq!(r.run(&mut ()).unwrap().events, 4);
}

#[test]
fn regression_same_stream_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = forged(dir.path(), "a.tape", "X", &[0, 10], |_| ());
    let e = Replay::open(&[&a, &a]).unwrap_err().to_string();
    assert!(e.contains("same stream") && e.contains("the same file"), "{e}");
    // A copy under another name: same kind, venue, symbol, overlapping times.
    let copy = dir.path().join("copy.tape");
    std::fs::copy(&a, &copy).unwrap();
    let e = Replay::open(&[&a, &copy]).unwrap_err().to_string();
    assert!(e.contains("a.tape") && e.contains("copy.tape") && e.contains("overlapping"), "{e}");
    // Consecutive pieces of one stream (one tape per day) are one stream.
    let day2 = forged(dir.path(), "d2.tape", "X", &[DAY, DAY + 10], |_| ());
    assert_eq!(Replay::open(&[&a, &day2]).unwrap().run(&mut ()).unwrap().events, 4);
}

/// Counts events delivered.
struct Delivered(u64);
impl Handler<'_> for Delivered {
    fn on_event(&mut self, _: usize, _: Event<'_>, _: &[Book]) {
        self.0 += 1;
    }
}

/// The replay checks a chunk of records ahead of its loop; a bad record
/// deep in a tape (past the first chunk, with another tape interleaved) is
/// still reported at its exact offset, and exactly the events before it in
/// merge order are delivered, as a check per record would.
#[test]
fn a_bad_record_past_the_first_chunk_stops_the_replay_exactly_there() {
    let dir = tempfile::tempdir().unwrap();
    // 5,002 records: the last chunk ends in two records that are not a
    // whole group of four.
    let n = 5_002usize;
    let even: Vec<i64> = (0..n as i64).map(|i| 2 * i).collect();
    let odd: Vec<i64> = (0..n as i64).map(|i| 2 * i + 1).collect();
    let b = forged(dir.path(), "b.tape", "B", &odd, |_| ());
    for (bad, what) in [(3_000, "trade side"), (5_000, "trade side"), (1_024, "trade side"), (1_023, "trade side")] {
        let a = forged(dir.path(), "a.tape", "A", &even, |b| b[rec(bad, 40)] = 3);
        let r = Replay::open(&[&a, &b]).unwrap();
        let mut d = Delivered(0);
        let e = r.run(&mut d).unwrap_err().to_string();
        assert!(e.contains("a.tape") && e.contains(&format!("byte offset {}", rec(bad, 0))) && e.contains(what), "{e}");
        // A's records before `bad` and B's earlier than A's bad record.
        assert_eq!(d.0, 2 * bad as u64, "bad record {bad}");
    }
    // Values beyond the fast pass's ranges (a price of 2^62) are still
    // valid: the chunk is re-checked exactly and the replay goes through.
    let a = forged(dir.path(), "a.tape", "A", &even, |b| {
        b[rec(2_500, 16)..rec(2_500, 24)].copy_from_slice(&(1i64 << 62).to_le_bytes())
    });
    let mut d = Delivered(0);
    Replay::open(&[&a, &b]).unwrap().run(&mut d).unwrap();
    assert_eq!(d.0, 2 * n as u64);
}

/// Replays of a million records or more check ahead of the loop on a second
/// thread (the loop checks a chunk itself whenever it catches up). The answer
/// is the same: the exact bad record, exactly the events before it, and the
/// same again on a second run of the same replay (whose tapes are then
/// checked up to the bad record only).
#[test]
fn a_bad_record_is_found_exactly_with_the_check_ahead_thread() {
    let dir = tempfile::tempdir().unwrap();
    let n = 600_000usize; // two tapes: 1.2 M records, above the thread's threshold
    let even: Vec<i64> = (0..n as i64).map(|i| 2 * i).collect();
    let odd: Vec<i64> = (0..n as i64).map(|i| 2 * i + 1).collect();
    let b = forged(dir.path(), "b.tape", "B", &odd, |_| ());
    for bad in [3_000, 599_998, 345_679] {
        let a = forged(dir.path(), "a.tape", "A", &even, |b| b[rec(bad, 40)] = 3);
        let r = Replay::open(&[&a, &b]).unwrap();
        for pass in 0..2 {
            let mut d = Delivered(0);
            let e = r.run(&mut d).unwrap_err().to_string();
            assert!(e.contains("a.tape") && e.contains(&format!("byte offset {}", rec(bad, 0))), "{e}");
            assert_eq!(d.0, 2 * bad as u64, "bad record {bad}, pass {pass}");
        }
    }
    let a = forged(dir.path(), "a.tape", "A", &even, |_| ());
    let r = Replay::open(&[&a, &b]).unwrap();
    for _ in 0..2 {
        let mut d = Delivered(0);
        r.run(&mut d).unwrap();
        assert_eq!(d.0, 2 * n as u64);
    }
}

/// The k-way loop (three tapes) finds a bad record exactly too, and so does
/// the replay that plans the merge order on a second thread (`plan_ahead`):
/// a bad side code inside a run, and a time beyond the header's `last_ts`
/// where a run ends (reported as the run reaches it, with no other
/// stream's later events delivered first), on the first and the second run
/// of a replay.
#[test]
fn a_bad_record_is_found_exactly_by_the_k_way_loop_and_the_planned_one() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400_000usize; // three tapes, 1.2 M records: checked ahead on a second thread
    let every = |k: i64| -> Vec<i64> { (0..n as i64).map(|i| 3 * i + k).collect() };
    let b = forged(dir.path(), "b.tape", "B", &every(1), |_| ());
    let c = forged(dir.path(), "c.tape", "C", &every(2), |_| ());
    let late = (T0 + 3 * n as i64).to_le_bytes();
    for bad in [5, 3_000, 399_998, 345_679] {
        type Patch = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: [(Patch, u64); 2] = [
            (Box::new(move |b: &mut Vec<u8>| b[rec(bad, 40)] = 3), 3 * bad as u64),
            (Box::new(move |b: &mut Vec<u8>| b[rec(bad, 0)..rec(bad, 8)].copy_from_slice(&late)), 3 * bad as u64 - 2),
        ];
        for (patch, delivered) in cases {
            let a = forged(dir.path(), "a.tape", "A", &every(0), |b| patch(b));
            for plan_ahead in [false, true] {
                let opts = ReplayOptions { plan_ahead, ..ReplayOptions::default() };
                let r = Replay::open_with(&[&a, &b, &c], opts).unwrap();
                for pass in 0..2 {
                    let mut d = Delivered(0);
                    let e = r.run(&mut d).unwrap_err().to_string();
                    assert!(e.contains("a.tape") && e.contains(&format!("byte offset {}", rec(bad, 0))), "{e}");
                    assert_eq!(d.0, delivered, "bad record {bad}, pass {pass}, plan_ahead {plan_ahead}");
                }
            }
        }
    }
    let a = forged(dir.path(), "a.tape", "A", &every(0), |_| ());
    for plan_ahead in [false, true] {
        let r = Replay::open_with(&[&a, &b, &c], ReplayOptions { plan_ahead, ..ReplayOptions::default() }).unwrap();
        for _ in 0..2 {
            let mut d = Delivered(0);
            let out = r.run(&mut d).unwrap();
            assert_eq!((d.0, out.events, out.runs), (3 * n as u64, 3 * n as u64, 3 * n as u64));
        }
    }
}

/// The replay against two independent models on one symbol (the
/// two-stream loop) and three symbols (6 tapes, the k-way merge): events
/// come in a stable sort of every record by (time, kind code, symbol,
/// venue, tape position in the list), and each final book holds exactly
/// the levels of its L2 tape applied in file order to a map (snapshot
/// starts clear it). Guards the merge loops and the book's fast paths.
#[test]
fn replay_order_and_final_books_match_models() {
    replay_matches_models(&["BTCUSDT"], 200_000, 12, false);
    replay_matches_models(&["BTCUSDT", "ETHUSDT", "SOLUSDT"], 300_000, 11, false);
    // The merge order planned on a second thread (`plan_ahead`).
    replay_matches_models(&["BTCUSDT", "ETHUSDT", "SOLUSDT"], 300_000, 11, true);
}

fn replay_matches_models(symbols: &[&str], events: u64, seed: u64, plan_ahead: bool) {
    use std::collections::BTreeMap;

    use ticktape_tape::{Level, RecordKind};

    let dir = tempfile::tempdir().unwrap();
    let paths = make(dir.path(), events, symbols, seed);
    assert_eq!(paths.len(), 2 * symbols.len());
    let tapes: Vec<Tape> = paths.iter().map(|p| Tape::open(p).unwrap()).collect();

    // (time, kind, symbol, venue, tape, position) for every record.
    let mut want: Vec<(i64, u16, String, String, usize, usize)> = Vec::new();
    for (ti, t) in tapes.iter().enumerate() {
        let h = t.header();
        for i in 0..t.len() {
            want.push((t.ts_at(i).unwrap(), t.kind().code(), h.symbol().into(), h.venue().into(), ti, i));
        }
    }
    want.sort();

    #[derive(Default)]
    struct Trace(Vec<(i64, u8, i64, i64)>);
    impl Handler<'_> for Trace {
        fn on_event(&mut self, _: usize, ev: Event<'_>, _: &[Book]) {
            let (p, q) = match ev {
                Event::Trade(r) => (r.price, r.qty),
                Event::Level(r) => (r.price, r.qty),
                _ => (0, 0),
            };
            self.0.push((ev.ts_exchange(), ev.kind().code() as u8, p, q));
        }
    }
    let replay = Replay::open_with(&paths, ReplayOptions { plan_ahead, ..ReplayOptions::default() }).unwrap();
    let mut trace = Trace::default();
    let out = replay.run(&mut trace).unwrap();
    let want_trace: Vec<(i64, u8, i64, i64)> = want
        .iter()
        .map(|&(ts, kind, _, _, ti, i)| {
            let t = &tapes[ti];
            let (p, q) = match t.kind() {
                RecordKind::Trade => {
                    let r = &t.records::<Trade>().unwrap()[i];
                    (r.price, r.qty)
                }
                _ => {
                    let r = &t.records::<Level>().unwrap()[i];
                    (r.price, r.qty)
                }
            };
            (ts, kind as u8, p, q)
        })
        .collect();
    assert_eq!(trace.0.len(), want_trace.len());
    assert!(trace.0 == want_trace, "replay order differs from the stable sort by (time, rank)");
    assert!(out.runs > 1000 && out.runs < out.events, "{} runs", out.runs);

    for (inst, book) in replay.instruments().iter().zip(&out.books) {
        let mut model = [BTreeMap::new(), BTreeMap::new()];
        for t in tapes.iter().filter(|t| t.kind() == RecordKind::Level && t.header().symbol() == inst.symbol) {
            for l in t.records::<Level>().unwrap() {
                if l.is_snapshot_start() {
                    model = [BTreeMap::new(), BTreeMap::new()];
                }
                let m = &mut model[usize::from(l.side - 1)];
                if l.qty == 0 {
                    m.remove(&l.price);
                } else {
                    m.insert(l.price, l.qty);
                }
            }
        }
        let bids: Vec<(i64, i64)> = model[0].iter().rev().map(|(&p, &q)| (p, q)).collect();
        let asks: Vec<(i64, i64)> = model[1].iter().map(|(&p, &q)| (p, q)).collect();
        assert!(bids.len() > 10 && asks.len() > 10, "{}", inst.symbol);
        assert_eq!(book.bid_levels().collect::<Vec<_>>(), bids, "{} bids", inst.symbol);
        assert_eq!(book.ask_levels().collect::<Vec<_>>(), asks, "{} asks", inst.symbol);
    }
}
