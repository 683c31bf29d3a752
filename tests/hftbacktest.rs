//! The hftbacktest migration path: a backtest on tapes converted from
//! hftbacktest's own `.npz` (the committed fixture, made by hftbacktest's
//! documented converter from the real capture) gives the same fills as one on
//! tapes converted by `ticktape convert binance-ws` from that raw capture.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ticktape_engine::plugin::Plugin;
use ticktape_engine::replay::Replay;
use ticktape_engine::sim::{self, FillRow, LatencySpec, SimConfig};
use ticktape_tape::{Level, Record, RecordKind, Tape, TapeMeta, TapeWriter, Trade};

fn fixture_npz() -> PathBuf {
    root().join("data-tools/tests/data/hftbacktest/usdm_btcusdt_20240808_head.npz")
}

fn convert(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "convert failed: {}", stderr(&o));
    stdout(&o)
}

fn tape(dir: &Path, kind: RecordKind) -> Tape {
    Tape::open(dir.join(format!("binance-futures.BTCUSDT.{kind}.tape"))).unwrap()
}

/// Copies the records of `src` with exchange time in `[from, to]` to `dst`,
/// with the given tick and lot in the header.
fn cut<R: Record + Copy>(src: &Tape, dst: &Path, from: i64, to: i64, tick_lot: (i64, i64)) -> Vec<R> {
    let mut meta = TapeMeta::from_header(src.header());
    (meta.price_tick, meta.qty_lot) = tick_lot;
    let recs: Vec<R> =
        src.records::<R>().unwrap().iter().filter(|r| (from..=to).contains(&r.stamp().exchange)).copied().collect();
    let mut w = TapeWriter::<R>::create(dst, &meta).unwrap();
    for r in &recs {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
    recs
}

fn fills(tapes: &[PathBuf]) -> Vec<FillRow> {
    let replay = Replay::open(tapes).unwrap();
    // A fixed feed latency: hftbacktest rewrites the local receive times
    // (`correct_local_timestamp` shifts them by the capture's clock offset),
    // so the tapes' local times legitimately differ between the two paths.
    let cfg = SimConfig { feed: LatencySpec::Constant(1_000_000), ..SimConfig::default() };
    let plugin = Plugin::load(&plugin("ticktape_template")).unwrap();
    let mut inst = plugin.create("half_spread_ticks = 1\nrequote_ms = 100\n").unwrap();
    let out = sim::run(&replay, &cfg, &mut inst).unwrap();
    assert!(out.error.is_none(), "{:?}", out.error);
    out.fills
}

#[test]
fn npz_from_hftbacktest_gives_the_fills_of_the_raw_capture() {
    let Some(real) = real_data() else {
        return skip("../shared/data/real is absent");
    };
    let raw = real.join("hftbacktest/usdm_btcusdt_20240808.gz");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("raw"), dir.path().join("npz"));
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    convert(&["convert", "binance-ws", raw.to_str().unwrap(), "-o", a_s, "-q"]);
    let summary = convert(&[
        "convert",
        "hftbacktest",
        fixture_npz().to_str().unwrap(),
        "--symbol",
        "BTCUSDT",
        "--venue",
        "binance-futures",
        "-o",
        b_s,
    ]);
    assert!(summary.contains("grids: price 0.1 (inferred), qty 0.001 (inferred)"), "{summary}");
    let (al, at) = (tape(&a, RecordKind::Level), tape(&a, RecordKind::Trade));
    let (bl, bt) = (tape(&b, RecordKind::Level), tape(&b, RecordKind::Trade));
    for h in [bl.header(), bt.header()] {
        assert_eq!((h.price_exponent, h.qty_exponent, h.price_tick, h.qty_lot), (-1, -3, 1, 1));
    }
    for h in [al.header(), at.header()] {
        assert_eq!((h.price_exponent, h.qty_exponent), (-1, -3));
    }

    // The common window: from the REST snapshot both books start from, to the
    // end of the (30 s) fixture. hftbacktest keeps the depth diffs that
    // arrived before the snapshot; the snapshot clears them, so the copy
    // starts at the snapshot. The raw conversion has no tick or lot (the
    // capture does not state them): its copy states BTCUSDT's, as the npz
    // tapes do, so the strategy sees the same instrument.
    let snap = |t: &Tape| t.records::<Level>().unwrap().iter().find(|l| l.is_snapshot_start()).unwrap().ts.exchange;
    let from = snap(&al);
    assert_eq!(snap(&bl), from, "both paths start from the same snapshot");
    let to = bl.header().last_ts.min(bt.header().last_ts);
    let w = dir.path().join("window");
    std::fs::create_dir_all(w.join("a")).unwrap();
    std::fs::create_dir_all(w.join("b")).unwrap();
    let name = |k: RecordKind| format!("binance-futures.BTCUSDT.{k}.tape");
    let ta = vec![w.join("a").join(name(RecordKind::Level)), w.join("a").join(name(RecordKind::Trade))];
    let tb = vec![w.join("b").join(name(RecordKind::Level)), w.join("b").join(name(RecordKind::Trade))];
    let la = cut::<Level>(&al, &ta[0], from, to, (1, 1));
    let lb = cut::<Level>(&bl, &tb[0], from, to, (1, 1));
    let xa = cut::<Trade>(&at, &ta[1], from, to, (1, 1));
    let xb = cut::<Trade>(&bt, &tb[1], from, to, (1, 1));

    // Trades: the same prints. hftbacktest drops the trade id (its
    // `order_id` is 0 for trades), so ids are not compared.
    let key = |t: &Trade| (t.ts.exchange, t.price, t.qty, t.side);
    assert!(xa.len() > 500, "{}", xa.len());
    assert_eq!(xa.iter().map(key).collect::<Vec<_>>(), xb.iter().map(key).collect::<Vec<_>>());
    // Depth: the same snapshot and level updates. Batch flags are not
    // compared: binance-ws ends a batch per websocket message, hftbacktest's
    // arrays only group rows by exchange time.
    let lkey = |l: &Level| (l.ts.exchange, l.price, l.qty, l.side, l.is_snapshot_start());
    assert!(la.len() > 10_000, "{}", la.len());
    let first_diff = la.iter().zip(&lb).position(|(x, y)| lkey(x) != lkey(y));
    assert!(
        first_diff.is_none() && la.len() == lb.len(),
        "the level updates differ at {first_diff:?}: {:?} vs {:?}",
        first_diff.map(|i| la[i]),
        first_diff.map(|i| lb[i])
    );
    eprintln!("window: {} raw / {} npz level updates, {} trades", la.len(), lb.len(), xa.len());

    let fa = fills(&ta);
    let fb = fills(&tb);
    assert!(fa.len() > 5, "the market maker should trade: {} fills", fa.len());
    let fkey = |f: &FillRow| (f.ts_exchange, f.side, f.price, f.qty, f.maker);
    eprintln!("fills: {} raw, {} npz", fa.len(), fb.len());
    assert_eq!(fa.iter().map(fkey).collect::<Vec<_>>(), fb.iter().map(fkey).collect::<Vec<_>>());
}
