//! A tape truncated while mapped ends the process with one error line and
//! exit status 1, not a SIGBUS death (Linux).
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::process::Command;

use ticktape_tape::{Stamp, Tape, TapeMeta, TapeWriter, Trade, side};

const CHILD_ENV: &str = "TICKTAPE_TRUNCATE_CHILD";

/// Not a test on its own: the body of the child process started by
/// `regression_tape_truncated_while_mapped_gives_an_error_line_not_sigbus`.
/// Maps the tape, truncates it under the map, then reads past the new end.
#[test]
fn child_maps_truncates_and_reads() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let tape = Tape::open(&path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
    let bytes = tape.record_bytes();
    let sum: u64 = bytes.iter().step_by(4096).map(|&b| u64::from(b)).sum();
    println!("read {sum} without a fault");
    std::process::exit(0);
}

#[test]
fn regression_tape_truncated_while_mapped_gives_an_error_line_not_sigbus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.trades.tape");
    let meta = TapeMeta { symbol: "X".into(), venue: "v".into(), ..TapeMeta::default() };
    let mut w = TapeWriter::<Trade>::create(&path, &meta).unwrap();
    let t0 = 1_714_521_600_000_000_000i64;
    for i in 0..20_000 {
        let ts = t0 + i;
        w.push(&Trade { ts: Stamp { exchange: ts, local: ts }, price: 1, qty: 1, side: side::BUY, ..Trade::default() })
            .unwrap();
    }
    w.finish().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_maps_truncates_and_reads", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status {:?}; stderr: {err}", out.status);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(
        line.contains(&format!("tape {} was truncated while mapped (fault at byte offset ", path.display())),
        "{line}"
    );
    // The first byte read past the new 4096-byte end: record bytes start at 128.
    assert!(line.contains("byte offset 4224)"), "{line}");
}
