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
