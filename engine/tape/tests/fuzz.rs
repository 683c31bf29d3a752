//! Property-based fuzzing of the header parse and the record checks, on the
//! stable toolchain: arbitrary bytes never panic and give a typed error or a
//! valid tape; mutations of a valid tape are caught where they break an
//! invariant; the replay's branch-free checks agree with the diagnosing ones.

use proptest::prelude::*;
use ticktape_tape::check::{self, Scan};
use ticktape_tape::{Level, Record, Stamp, Tape, TapeMeta, TapeWriter, Trade, side};

const T0: i64 = 1_714_521_600_000_000_000;

fn valid_tape(dir: &std::path::Path, n: i64) -> std::path::PathBuf {
    let path = dir.join("v.tape");
    let meta = TapeMeta { symbol: "X".into(), venue: "v".into(), price_exponent: -2, ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    for i in 0..n {
        let ts = T0 + i * 10;
        w.push(&Trade {
            ts: Stamp { exchange: ts, local: ts },
            price: 5,
            qty: 1,
            side: side::SELL,
            ..Trade::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    path
}

/// Opens and fully verifies; a panic anywhere fails the property.
fn open_and_verify(path: &std::path::Path) -> Result<(), String> {
    let tape = Tape::open(path).map_err(|e| e.to_string())?;
    tape.verify().map_err(|e| e.to_string())?;
    tape.verify_replayable().map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tape");
        std::fs::write(&p, &bytes).unwrap();
        let _ = open_and_verify(&p);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_magic_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 128..600)) {
        bytes[..8].copy_from_slice(b"TICKTAPE");
        bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tape");
        std::fs::write(&p, &bytes).unwrap();
        let _ = open_and_verify(&p);
    }

    /// Overwriting any byte of a valid tape either leaves it valid or is an
    /// error; and when the tape still passes, every record it hands out is
    /// in order, in range and clean.
    #[test]
    fn a_mutated_valid_tape_is_caught_or_still_consistent(at in 0usize..(128 + 48 * 6), value in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = valid_tape(dir.path(), 6);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[at] = value;
        std::fs::write(&p, &bytes).unwrap();
        if open_and_verify(&p).is_ok() {
            let tape = Tape::open(&p).unwrap();
            let recs: &[Trade] = tape.records().unwrap();
            let h = tape.header();
            prop_assert!(h.price_exponent.unsigned_abs() <= 18);
            prop_assert_eq!(recs.first().map(|r| r.ts.exchange), Some(h.first_ts));
            let mut prev = check::TS_MIN;
            for r in recs {
                prop_assert!(r.ts.exchange >= prev && r.ts.exchange <= h.last_ts);
                prop_assert!(check::ts_in_range(r.ts.local));
                prop_assert!(r.check().is_none());
                prev = r.ts.exchange;
            }
        }
    }

    #[test]
    fn trade_fast_check_agrees_with_the_diagnosis(bytes in proptest::array::uniform32(any::<u8>()), tail in proptest::array::uniform16(any::<u8>()), small in 0u8..4) {
        let mut all = [0u8; 48];
        all[..32].copy_from_slice(&bytes);
        all[32..].copy_from_slice(&tail);
        let mut t: Trade = bytemuck::pod_read_unaligned(&all);
        prop_assert_eq!(t.is_valid(), t.check().is_none());
        // Near-valid records exercise each condition on its own.
        t.side = small; t.flags = small & 1; t.reserved = [0; 6];
        prop_assert_eq!(t.is_valid(), t.check().is_none());
    }

    #[test]
    fn level_fast_check_agrees_with_the_diagnosis(bytes in proptest::array::uniform32(any::<u8>()), tail in any::<u64>(), small in 0u8..8) {
        let mut all = [0u8; 40];
        all[..32].copy_from_slice(&bytes);
        all[32..].copy_from_slice(&tail.to_le_bytes());
        let mut l: Level = bytemuck::pod_read_unaligned(&all);
        prop_assert_eq!(l.is_valid(), l.check().is_none());
        l.side = small % 4; l.flags = small; l.reserved = [0; 6];
        prop_assert_eq!(l.is_valid(), l.check().is_none());
    }

    /// The scan stops exactly at the first record out of order.
    #[test]
    fn scan_stops_at_the_first_record_out_of_order(mut ts in proptest::collection::vec(0i64..1_000, 1..50)) {
        let first_bad = ts.windows(2).position(|w| w[1] < w[0]).map(|i| i + 1);
        let last = *ts.iter().max().unwrap();
        ts.iter_mut().for_each(|t| *t += T0);
        let recs: Vec<Trade> = ts.iter().map(|&t| Trade { ts: Stamp { exchange: t, local: t }, price: 1, qty: 1, ..Trade::default() }).collect();
        let mut seen = 0;
        let got = check::scan(&recs, 0, i64::MAX, T0 + last, |_| seen += 1);
        match first_bad {
            Some(i) => { prop_assert_eq!(got, Scan::Bad(i)); prop_assert_eq!(seen, i); }
            None => { prop_assert_eq!(got, Scan::End); prop_assert_eq!(seen, recs.len()); }
        }
    }
}

/// A value for word `w` of a record: mostly near the edges of the checks
/// (small codes, signs, the time bounds, UNDEF, 2^62), sometimes anything.
fn edge_value(pick: u8, any: u64) -> u64 {
    let edges: [u64; 16] = [
        0,
        1,
        2,
        3,
        0xff,
        0x0101,
        0x0102,
        0x0201,
        0x0801,
        1 << 16 | 1,
        u64::MAX,
        i64::MAX as u64,
        1 << 62,
        (check::TS_MIN - 1) as u64,
        (check::TS_MAX + 1) as u64,
        (check::TS_MIN + (1 << 61)) as u64,
    ];
    if pick < 16 { edges[pick as usize] } else { any }
}

/// `n` records of kind `R` built from a valid record, in time order with
/// small steps, then with the mutations applied (record index, word, value).
fn mutated<R: Record>(valid: R, steps: &[u8], muts: &[(usize, usize, u8, u64)]) -> Vec<R> {
    let words = size_of::<R>() / 8;
    let mut out = Vec::with_capacity(steps.len());
    let mut ts = T0;
    for &s in steps {
        ts += i64::from(s % 4);
        let mut w: Vec<u64> = bytemuck::cast_slice(std::slice::from_ref(&valid)).to_vec();
        (w[0], w[1]) = (ts as u64, ts as u64 + 7);
        out.push(bytemuck::pod_read_unaligned::<R>(bytemuck::cast_slice(&w)));
    }
    for &(i, word, pick, any) in muts {
        if out.is_empty() {
            break;
        }
        let i = i % out.len();
        let mut w: Vec<u64> = bytemuck::cast_slice(std::slice::from_ref(&out[i])).to_vec();
        let word = word % words;
        w[word] = match pick {
            // Time one step back, or equal to the record before.
            200..=219 if word == 0 => w[0].wrapping_sub(u64::from(pick - 199)),
            // A small value in the low byte only (codes).
            220..=255 => (w[word] & !0xff) | u64::from(pick - 220),
            _ => edge_value(pick % 32, any),
        };
        out[i] = bytemuck::pod_read_unaligned::<R>(bytemuck::cast_slice(&w));
    }
    out
}

/// The chunk check against the per-record scan over the same range.
fn chunk_agrees_with_scan<R: Record>(recs: &[R], from: usize, to: usize, last: i64) -> Result<(), TestCaseError> {
    let to = to.min(recs.len());
    let from = from.min(to);
    let want = match check::scan(&recs[..to], from, i64::MAX, last, |_| ()) {
        Scan::Bad(i) => Some(i),
        _ => None,
    };
    prop_assert_eq!(check::check_range(recs, from, to, last), want);
    Ok(())
}

/// Whether a record passes every rule of its kind.
fn passes_rules<R: Record>(r: &R) -> bool {
    let w: &[u64] = bytemuck::cast_slice(std::slice::from_ref(r));
    R::RULES.len() == w.len() && R::RULES.iter().zip(w).all(|(rule, &x)| rule.passes(x))
}

/// A record that passes its kind's rules passes `check` and the replay's
/// time bounds (rules may be stricter, never looser).
fn rules_imply_check<R: Record>(r: &R) -> Result<(), TestCaseError> {
    if passes_rules(r) {
        prop_assert!(r.check().is_none(), "{r:?} passes the rules but not check: {:?}", r.check());
        prop_assert!(check::ts_in_range(r.stamp().exchange) && check::ts_in_range(r.stamp().local), "{r:?}");
    }
    Ok(())
}

fn valid_trade() -> Trade {
    Trade { price: 5, qty: 1, side: side::SELL, ..Trade::default() }
}

fn valid_level() -> Level {
    Level { price: 5, qty: 1, side: side::BID, ..Level::default() }
}

fn valid_quote() -> ticktape_tape::Quote {
    ticktape_tape::Quote { bid_price: 5, bid_qty: 1, ask_price: 6, ask_qty: 1, ..Default::default() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The vectorised chunk check refuses exactly the records the
    /// per-record scan refuses, at the same index, for every kind with rules.
    #[test]
    fn chunk_check_agrees_with_the_per_record_scan(
        steps in proptest::collection::vec(any::<u8>(), 0..70),
        muts in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>(), any::<u64>()), 0..4),
        from in 0usize..70,
        len in 0usize..70,
        last_slack in 0i64..3,
    ) {
        let trades = mutated(valid_trade(), &steps, &muts);
        let last = trades.iter().map(|r| r.ts.exchange).max().unwrap_or(T0) - last_slack;
        chunk_agrees_with_scan(&trades, from, from + len, last)?;
        let levels = mutated(valid_level(), &steps, &muts);
        chunk_agrees_with_scan(&levels, from, from + len, last)?;
        let quotes = mutated(valid_quote(), &steps, &muts);
        chunk_agrees_with_scan(&quotes, from, from + len, last)?;
        let series = mutated(ticktape_tape::Series::default(), &steps, &muts);
        chunk_agrees_with_scan(&series, from, from + len, last)?;
        let funding = mutated(ticktape_tape::Funding::default(), &steps, &muts);
        chunk_agrees_with_scan(&funding, from, from + len, last)?;
    }

    /// Every kind's rules are never looser than its `check`.
    #[test]
    fn rules_are_never_looser_than_check(words in proptest::array::uniform6(any::<u64>()), picks in proptest::array::uniform6(any::<u8>())) {
        let mut w = words;
        for (x, &p) in w.iter_mut().zip(&picks) {
            if p < 128 { *x = edge_value(p % 32, *x); }
            if p >= 220 { *x = (*x & !0xff) | u64::from(p - 220); }
        }
        let b: &[u8] = bytemuck::cast_slice(&w);
        rules_imply_check(&bytemuck::pod_read_unaligned::<Trade>(&b[..48]))?;
        rules_imply_check(&bytemuck::pod_read_unaligned::<Level>(&b[..40]))?;
        rules_imply_check(&bytemuck::pod_read_unaligned::<ticktape_tape::Quote>(&b[..48]))?;
        rules_imply_check(&bytemuck::pod_read_unaligned::<ticktape_tape::Series>(&b[..32]))?;
    }
}

/// Exhaustive over the code word: Trade's and Level's side/flags/reserved
/// rules are exact (not merely safe) for every side and flags byte.
#[test]
fn code_word_rules_are_exact_for_every_side_and_flags() {
    for side in 0..=255u8 {
        for flags in 0..=255u8 {
            for reserved in [[0u8; 6], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0x80]] {
                let t = Trade { ts: Stamp { exchange: T0, local: T0 }, side, flags, reserved, ..valid_trade() };
                assert_eq!(passes_rules(&t), t.check().is_none(), "{t:?}");
                let l = Level { ts: Stamp { exchange: T0, local: T0 }, side, flags, reserved, ..valid_level() };
                assert_eq!(passes_rules(&l), l.check().is_none(), "{l:?}");
            }
        }
    }
}
