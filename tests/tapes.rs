//! End-to-end tests of tape checks through the `ticktape` binary.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_one_error_line, run, stderr, ticktape};
use ticktape_tape::{Stamp, TapeMeta, TapeWriter, Trade, side};

/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000_000_000;

fn trades(dir: &Path, name: &str, symbol: &str, start: i64, n: i64) -> PathBuf {
    let path = dir.join(name);
    let meta = TapeMeta { symbol: symbol.into(), venue: "v".into(), price_exponent: -2, ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    for i in 0..n {
        let ts = start + i * 1_000;
        w.push(&Trade {
            ts: Stamp { exchange: ts, local: ts },
            price: 100 + i % 7,
            qty: 1,
            side: side::BUY,
            ..Trade::default()
        })
        .unwrap();
    }
    w.finish().unwrap();
    path
}

#[test]
fn regression_replay_of_a_sorted_tape_with_backwards_time_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let p = trades(dir.path(), "b.tape", "X", T0, 10);
    let mut bytes = std::fs::read(&p).unwrap();
    let at = 128 + 48 * 5;
    bytes[at..at + 8].copy_from_slice(&T0.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let o = run(&["replay", p.to_str().unwrap()]);
    assert_one_error_line(&o, &["b.tape", &format!("byte offset {at}"), "earlier than the previous record"]);
    let o = run(&["inspect", "--verify", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("byte offset {at}")), "{}", stderr(&o));
}

#[test]
fn regression_replay_refuses_the_same_stream_twice_and_tapes_years_apart() {
    let dir = tempfile::tempdir().unwrap();
    let a = trades(dir.path(), "a.tape", "A", T0, 10);
    let a = a.to_str().unwrap();
    assert_one_error_line(&run(&["replay", a, a]), &["same stream", "a.tape"]);
    let b = trades(dir.path(), "b.tape", "B", T0 + 3 * 365 * 86_400_000_000_000, 10);
    let b = b.to_str().unwrap();
    assert_one_error_line(&run(&["replay", a, b]), &["do not overlap", "--allow-gaps"]);
    let o = run(&["replay", a, b, "--allow-gaps"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn regression_tape_truncated_during_replay_gives_one_error_line_not_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough that the (debug) replay is still running when the test
    // truncates the file, which it does as soon as the tape is mapped.
    let p = trades(dir.path(), "big.trades.tape", "X", T0, 8_000_000);
    let child = ticktape()
        .args(["replay", p.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let maps = format!("/proc/{}/maps", child.id());
    let t0 = Instant::now();
    let needle = p.file_name().unwrap().to_str().unwrap().to_owned();
    while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains(&needle)) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the replay never mapped the tape");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(4096).unwrap();
    let o = child.wait_with_output().unwrap();
    if o.status.success() {
        panic!("the replay finished before the truncation took effect; make the tape larger");
    }
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "status {:?} (a signal death has no code); stderr: {err}", o.status);
    assert!(
        err.contains(&format!("error: tape {} was truncated while mapped (fault at byte offset", p.display())),
        "{err}"
    );
}
