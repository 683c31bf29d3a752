//! `ticktape convert postgres` against a real PostgreSQL server (`.ci/pg-up`
//! starts one and prints its URL; `.ci/run` exports it as
//! `TICKTAPE_TEST_PG_URL`). Without that variable every test says it skips.
//!
//! The round trip: the real Hyperliquid fills samples (or the committed
//! fixture when `../shared` is absent) and a fills file written here with
//! TWAP, builder and liquidation fields are loaded into a table with the
//! seed's column types, converted back with `convert postgres`, and the tapes
//! must be byte-identical to what `convert hyperliquid` makes of the JSON.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_one_error_line, real_data, root, run, skip, stderr};
use serde_json::Value;
use ticktape_tape::{Fill, Tape, UNDEF};

/// The server, or `None` (and a skip line) without one.
fn pg_url() -> Option<String> {
    match std::env::var("TICKTAPE_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            skip("TICKTAPE_TEST_PG_URL not set (run .ci/pg-up)");
            None
        }
    }
}

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect to the test server")
}

/// A table name of this test process.
fn table(name: &str) -> String {
    format!("tt_{name}_{}", std::process::id())
}

/// The fills table with the seed's column types (TimescaleDB keeps `time` as
/// ms in a bigint, prices and sizes as numeric, `liquidation` as jsonb), plus
/// the optional `tid`, `oid` and a `seq` giving the file order.
fn create_fills(c: &mut postgres::Client, t: &str) {
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t};
         CREATE TABLE {t} (
           time bigint NOT NULL, user_address text NOT NULL, coin text NOT NULL,
           px numeric NOT NULL, sz numeric NOT NULL, side text NOT NULL, dir text,
           start_position numeric, closed_pnl numeric, fee numeric, crossed boolean,
           twap_id bigint, builder text, liquidation jsonb,
           tid bigint, oid bigint, seq bigint NOT NULL)"
    ))
    .unwrap();
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "\\N".into(),
        Some(Value::String(s)) => s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n"),
        Some(Value::Bool(b)) => if *b { "t" } else { "f" }.into(),
        Some(x) => x.to_string().replace('\\', "\\\\"),
    }
}

/// The fills of a userFills response or a ws `user` message.
fn fills_of(json: &Path) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    match doc {
        Value::Array(a) => a,
        Value::Object(o) => o["data"]["fills"].as_array().unwrap().clone(),
        _ => panic!("not fills"),
    }
}

/// Appends the fills of `json` as `address`'s rows (COPY FROM STDIN, text).
fn load(c: &mut postgres::Client, t: &str, json: &Path, address: &str, seq0: &mut u64) {
    use std::io::Write;
    let mut w = c
        .copy_in(&format!(
            "COPY {t} (time, user_address, coin, px, sz, side, dir, start_position, closed_pnl, fee, crossed, twap_id, builder, liquidation, tid, oid, seq) FROM STDIN"
        ))
        .unwrap();
    for f in fills_of(json) {
        let builder = f.get("builder").filter(|b| !b.is_null()).or_else(|| f.get("builderFee"));
        let liq = f.get("liquidation").filter(|l| !l.is_null()).map(|l| Value::String(l.to_string()));
        let row = [
            cell(f.get("time")),
            address.to_owned(),
            cell(f.get("coin")),
            cell(f.get("px")),
            cell(f.get("sz")),
            cell(f.get("side")),
            cell(f.get("dir")),
            cell(f.get("startPosition")),
            cell(f.get("closedPnl")),
            cell(f.get("fee")),
            cell(f.get("crossed")),
            cell(f.get("twapId")),
            cell(builder),
            cell(liq.as_ref()),
            cell(f.get("tid")),
            cell(f.get("oid")),
            seq0.to_string(),
        ];
        *seq0 += 1;
        writeln!(w, "{}", row.join("\t")).unwrap();
    }
    w.finish().unwrap();
}

/// A fills file of the modern format with the fields the samples lack: a
/// TWAP fill, a builder fill (`builder` object and `builderFee`), and a
/// liquidation where this account is the liquidated user. Written for this
/// test (the project's licence).
const SYNTHETIC: &str = r#"[
 {"coin":"ETH","px":"3120.5","sz":"0.25","side":"B","time":1735689601000,"startPosition":"0.0","dir":"Open Long","closedPnl":"0.0","hash":"0x01","oid":9001,"crossed":true,"fee":"0.35106","tid":77001,"feeToken":"USDC","twapId":4242},
 {"coin":"ETH","px":"3121.25","sz":"0.1","side":"A","time":1735689602500,"startPosition":"0.25","dir":"Close Long","closedPnl":"0.075","hash":"0x02","oid":9002,"crossed":false,"fee":"-0.0031","tid":77002,"feeToken":"USDC","twapId":null,"builderFee":"0.0125","builder":{"b":"0x9999999999999999999999999999999999999999","f":10}},
 {"coin":"ETH","px":"3050.0","sz":"0.15","side":"A","time":1735689603000,"startPosition":"0.15","dir":"Close Long","closedPnl":"-10.6875","hash":"0x03","oid":9003,"crossed":true,"fee":"0.2","tid":77003,"feeToken":"USDC","liquidation":{"liquidatedUser":"0x3333333333333333333333333333333333333333","markPx":"3049.1","method":"market"}},
 {"coin":"kPEPE","px":"0.012345","sz":"1000","side":"B","time":1735689603000,"startPosition":"-2000","dir":"Close Short","closedPnl":"1.5","hash":"0x04","oid":9004,"crossed":false,"fee":"0.0","tid":77004,"feeToken":"USDC"}
]"#;
const SYNTHETIC_ADDR: &str = "0x3333333333333333333333333333333333333333";

/// The fills files and the address each is converted as.
fn inputs(dir: &Path) -> Vec<(PathBuf, String)> {
    let synthetic = dir.join("synthetic_userFills.json");
    std::fs::write(&synthetic, SYNTHETIC).unwrap();
    let mut v = vec![(synthetic, SYNTHETIC_ADDR.to_owned())];
    match real_data() {
        Some(real) => {
            let hl = real.join("hyperliquid");
            v.push((hl.join("hl_sdk_userFills_0xb7b6f3ce.json"), "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2".into()));
            // The liquidation fill twice: as the account that received it,
            // and as the liquidated user named in it.
            v.push((
                hl.join("hl_nautilus_ws_user_fill_liquidation.json"),
                "0x1111111111111111111111111111111111111111".into(),
            ));
            v.push((
                hl.join("hl_nautilus_ws_user_fill_liquidation.json"),
                "0x360878d351f05975e25f1807a27895e1e5e004fb".into(),
            ));
            v.push((
                hl.join("hl_nautilus_http_user_fills_dust_conversion.json"),
                "0x2222222222222222222222222222222222222222".into(),
            ));
        }
        None => {
            skip("../shared/data/real not found: the committed 40-fill fixture and the synthetic fills only");
            v.push((
                root().join("data-tools/tests/data/hl_sdk_userFills_0xb7b6f3ce_first40.json"),
                "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2".into(),
            ));
        }
    }
    v
}

fn tapes_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tape"))
        .collect();
    v.sort();
    v
}

fn convert_pg(url: &str, what: &[&str], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["convert", "postgres", "--url", url];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", out.to_str().unwrap(), "-q"]);
    args.extend_from_slice(extra);
    run(&args)
}

/// Loads every input into `t` and converts each JSON with `convert hyperliquid`
/// into its own folder; returns those folders.
fn setup(c: &mut postgres::Client, t: &str, dir: &Path) -> Vec<PathBuf> {
    create_fills(c, t);
    let mut seq = 0;
    let mut json_dirs = Vec::new();
    for (i, (json, addr)) in inputs(dir).iter().enumerate() {
        load(c, t, json, addr, &mut seq);
        let out = dir.join(format!("json{i}"));
        let o = run(&[
            "convert",
            "hyperliquid",
            json.to_str().unwrap(),
            "--account",
            addr,
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]);
        assert!(o.status.success(), "convert hyperliquid {}: {}", json.display(), stderr(&o));
        json_dirs.push(out);
    }
    json_dirs
}

/// Asserts the tape at `db` equals the one at `json`: header fields, then every byte.
fn assert_same_tape(json: &Path, db: &Path) {
    let (a, b) = (Tape::open(json).unwrap(), Tape::open(db).unwrap());
    let (ha, hb) = (a.header(), b.header());
    let what = json.file_name().unwrap().to_string_lossy();
    assert_eq!((ha.venue(), ha.symbol()), (hb.venue(), hb.symbol()), "{what}: venue, symbol");
    assert_eq!(
        (ha.price_exponent, ha.qty_exponent, ha.value_exponent),
        (hb.price_exponent, hb.qty_exponent, hb.value_exponent),
        "{what}: exponents"
    );
    assert_eq!(ha.record_count, hb.record_count, "{what}: records");
    let (ra, rb) = (a.records::<Fill>().unwrap(), b.records::<Fill>().unwrap());
    for (i, (x, y)) in ra.iter().zip(rb).enumerate() {
        assert_eq!(x, y, "{what}: record {i}");
    }
    assert_eq!(std::fs::read(json).unwrap(), std::fs::read(db).unwrap(), "{what}: the files differ");
}

#[test]
fn fills_from_postgres_equal_the_json_converters_tapes() {
    let Some(url) = pg_url() else { return };
    let mut c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let t = table("roundtrip");
    let json_dirs = setup(&mut c, &t, dir.path());

    // Per account, in the file order (the JSON converter keeps it for equal times).
    let db = dir.path().join("db");
    let q = format!("SELECT * FROM {t} ORDER BY time, seq");
    let o = convert_pg(&url, &["--query", &q], &db, &["--split", "account"]);
    assert!(o.status.success(), "convert postgres: {}", stderr(&o));
    let mut n = 0;
    let mut flags = 0u8;
    for jd in &json_dirs {
        for tape in tapes_in(jd) {
            let other = db.join(tape.file_name().unwrap());
            assert!(other.exists(), "{} has no counterpart from the database", tape.display());
            assert_same_tape(&tape, &other);
            flags |= Tape::open(&tape).unwrap().records::<Fill>().unwrap().iter().fold(0, |f, r| f | r.flags);
            n += 1;
        }
    }
    assert_eq!(tapes_in(&db).len(), n, "the database gave other tapes than the JSON");
    assert_eq!(n, json_dirs.len());
    // The inputs exercise every flag the converter sets.
    use ticktape_tape::fill_flags as ff;
    let want = ff::CROSSED | ff::LIQUIDATION | ff::TWAP | ff::BUILDER | ff::LIQUIDATED;
    assert_eq!(flags & want, want, "flags seen: {flags:#b}");

    // The accounts table names every address.
    let csv = std::fs::read_to_string(db.join("hyperliquid.accounts.csv")).unwrap();
    for (_, addr) in inputs(dir.path()) {
        assert!(csv.contains(&format!(",{addr}\n")), "{addr} missing from {csv}");
    }

    // The same fills through other column types: timestamptz time, text px,
    // float8 sz, json/text liquidation, integer twap_id as text.
    let t2 = table("roundtrip_types");
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t2};
         CREATE TABLE {t2} AS SELECT
           'epoch'::timestamptz + time * interval '1 millisecond' AS time, user_address::varchar(42) AS user_address,
           coin, px::text AS px, sz::float8 AS sz, side::char(1) AS side, dir, start_position::text AS start_position,
           closed_pnl, fee::float8 AS fee, crossed, twap_id::text AS twap_id, builder, liquidation::text AS liquidation,
           tid, oid::numeric AS oid, seq FROM {t}"
    ))
    .unwrap();
    let db2 = dir.path().join("db2");
    let q2 = format!("SELECT * FROM {t2} ORDER BY time, seq");
    let o = convert_pg(&url, &["--query", &q2], &db2, &["--split", "account"]);
    assert!(o.status.success(), "convert postgres (other types): {}", stderr(&o));
    for jd in &json_dirs {
        for tape in tapes_in(jd) {
            assert_same_tape(&tape, &db2.join(tape.file_name().unwrap()));
        }
    }
    c.batch_execute(&format!("DROP TABLE {t}; DROP TABLE {t2}")).unwrap();
}

/// A fill's values at 18 decimals, for comparing tapes of other exponents.
fn norm(r: &Fill, t: &Tape) -> (i64, u64, [u8; 16], u8, u8, u8, u64, u64, [i128; 5]) {
    let h = t.header();
    let at =
        |v: i64, e: i8| if v == UNDEF { i128::MIN } else { i128::from(v) * 10i128.pow((18 + i32::from(e)) as u32) };
    (
        r.ts.exchange,
        r.account,
        r.symbol,
        r.side,
        r.dir,
        r.flags,
        r.order_id,
        r.trade_id,
        [
            at(r.price, h.price_exponent),
            at(r.qty, h.qty_exponent),
            at(r.start_position, h.qty_exponent),
            at(r.closed_pnl, h.value_exponent),
            at(r.fee, h.value_exponent),
        ],
    )
}

#[test]
fn a_table_becomes_one_venue_wide_tape_in_time_order() {
    let Some(url) = pg_url() else { return };
    let mut c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let t = table("venue");
    let json_dirs = setup(&mut c, &t, dir.path());
    let db = dir.path().join("db");
    let o = convert_pg(&url, &["--table", &t], &db, &[]);
    assert!(o.status.success(), "convert postgres --table: {}", stderr(&o));
    let tapes = tapes_in(&db);
    assert_eq!(tapes, vec![db.join("hyperliquid.all.fills.tape")]);
    let all = Tape::open(&tapes[0]).unwrap();
    assert_eq!((all.header().venue(), all.header().symbol()), ("hyperliquid", "all"));
    let got: Vec<_> = all.records::<Fill>().unwrap().iter().map(|r| norm(r, &all)).collect();
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "not in time order");
    let mut want = Vec::new();
    for jd in &json_dirs {
        for p in tapes_in(jd) {
            let tape = Tape::open(&p).unwrap();
            want.extend(tape.records::<Fill>().unwrap().iter().map(|r| norm(r, &tape)));
        }
    }
    let (mut a, mut b) = (got.clone(), want);
    a.sort();
    b.sort();
    assert_eq!(a, b, "the venue-wide tape holds other fills than the per-account JSON tapes");

    // Deterministic: a second conversion is byte-identical, and --split coin
    // spreads the same fills over one tape per coin.
    let db2 = dir.path().join("db2");
    assert!(convert_pg(&url, &["--table", &t], &db2, &[]).status.success());
    assert_eq!(std::fs::read(&tapes[0]).unwrap(), std::fs::read(db2.join("hyperliquid.all.fills.tape")).unwrap());
    let db3 = dir.path().join("db3");
    let o = convert_pg(&url, &["--table", &t], &db3, &["--split", "coin"]);
    assert!(o.status.success(), "--split coin: {}", stderr(&o));
    let mut by_coin = 0;
    for p in tapes_in(&db3) {
        let tape = Tape::open(&p).unwrap();
        let sym = tape.header().symbol().to_owned();
        let recs = tape.records::<Fill>().unwrap();
        assert!(recs.iter().all(|r| r.symbol() == sym), "{sym}: a fill of another coin");
        by_coin += recs.len();
    }
    assert_eq!(by_coin, got.len());
    assert!(tapes_in(&db3).iter().any(|p| p.ends_with("hyperliquid.ETH.fills.tape")));
    c.batch_execute(&format!("DROP TABLE {t}")).unwrap();
}

fn no_tapes_left(dir: &Path) {
    if dir.exists() {
        let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "files left behind after an error: {left:?}");
    }
}

#[test]
fn bad_credentials_are_one_clear_error() {
    let Some(url) = pg_url() else { return };
    let cfg: postgres::Config = url.parse().unwrap();
    let pw = String::from_utf8(cfg.get_password().expect("the test URL has a password").to_vec()).unwrap();
    let bad = url.replacen(&format!(":{pw}@"), ":not-the-password@", 1);
    assert_ne!(bad, url);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_pg(&bad, &["--table", "fills"], &out, &[]);
    assert_one_error_line(&o, &["password authentication failed", "check the user and password in --url", "28P01"]);
    assert!(!stderr(&o).contains("not-the-password"), "the password is printed: {}", stderr(&o));
    no_tapes_left(&out);

    // Nothing listening: one line too.
    let o = convert_pg("postgres://u:p@127.0.0.1:1/db", &["--table", "fills"], &out, &[]);
    assert_one_error_line(&o, &["cannot connect", "is the server running"]);
}

#[test]
fn a_missing_table_is_one_clear_error() {
    let Some(url) = pg_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = convert_pg(&url, &["--table", "no_such_fills_table"], &out, &[]);
    assert_one_error_line(&o, &["table no_such_fills_table", "does not exist", "check --table"]);
    no_tapes_left(&out);
    let o = convert_pg(&url, &["--table", "fills; DROP TABLE x"], &out, &[]);
    assert_one_error_line(&o, &["is not a table name"]);
}

#[test]
fn wrong_or_missing_columns_are_one_clear_error() {
    let Some(url) = pg_url() else { return };
    let mut c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let t = table("wrongtype");
    create_fills(&mut c, &t);
    c.batch_execute(&format!(
        "INSERT INTO {t} VALUES (1735689601000, '0xab', 'BTC', 1, 1, 'B', 'Open Long', 0, 0, 0, true, NULL, NULL, NULL, 1, 1, 0);
         ALTER TABLE {t} ALTER COLUMN crossed TYPE text;"
    ))
    .unwrap();
    let out = dir.path().join("out");
    let o = convert_pg(&url, &["--table", &t], &out, &[]);
    assert_one_error_line(
        &o,
        &[&format!("table {t}"), "column crossed is of type text", "must be boolean", "crossed::boolean"],
    );
    no_tapes_left(&out);

    c.batch_execute(&format!(
        "ALTER TABLE {t} DROP COLUMN crossed; ALTER TABLE {t} ALTER COLUMN px TYPE jsonb USING to_jsonb(px)"
    ))
    .unwrap();
    let o = convert_pg(&url, &["--table", &t], &out, &[]);
    assert_one_error_line(&o, &["has no column \"crossed\"", "NULL::text AS crossed"]);
    let q = format!("SELECT *, true AS crossed FROM {t} ORDER BY time");
    let o = convert_pg(&url, &["--query", &q], &out, &[]);
    assert_one_error_line(&o, &["column px is of type jsonb", "numeric"]);
    let q = format!(
        "SELECT time, user_address, coin, (px #>> '{{}}')::numeric AS px, sz, side, dir, start_position, closed_pnl, fee, true AS crossed, twap_id, builder, liquidation FROM {t} ORDER BY time"
    );
    let o = convert_pg(&url, &["--query", &q], &out, &[]);
    assert!(o.status.success(), "a cast in --query fixes it: {}", stderr(&o));
    c.batch_execute(&format!("DROP TABLE {t}")).unwrap();
}

#[test]
fn a_query_out_of_time_order_is_one_clear_error() {
    let Some(url) = pg_url() else { return };
    let mut c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let t = table("unsorted");
    create_fills(&mut c, &t);
    let json = root().join("data-tools/tests/data/hl_sdk_userFills_0xb7b6f3ce_first40.json");
    load(&mut c, &t, &json, "0xb7b6f3cea3f66bf525f5d8f965f6dbf6d9b017b2", &mut 0);
    let out = dir.path().join("out");
    let q = format!("SELECT * FROM {t} ORDER BY time DESC");
    let o = convert_pg(&url, &["--query", &q], &out, &[]);
    assert_one_error_line(&o, &["not in time order", "add ORDER BY time"]);
    no_tapes_left(&out);
    // --skip-bad does not hide it either.
    let o = convert_pg(&url, &["--query", &q], &out, &["--skip-bad"]);
    assert_one_error_line(&o, &["not in time order"]);
    no_tapes_left(&out);
    c.batch_execute(&format!("DROP TABLE {t}")).unwrap();
}

/// Progress off a terminal (TICKTAPE_PROGRESS_INTERVAL tiny): plain lines
/// counting the rows read (a query has no known total, so no share or ETA),
/// the last one with every row; nothing with -q.
#[test]
fn progress_counts_the_rows_off_a_terminal_and_nothing_with_q() {
    let Some(url) = pg_url() else { return };
    let mut c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    let t = table("progress");
    create_fills(&mut c, &t);
    let rows = 60_000;
    c.batch_execute(&format!(
        "INSERT INTO {t} (time, user_address, coin, px, sz, side, dir, closed_pnl, fee, crossed, tid, oid, seq)
         SELECT 1735689600000 + g, '0x' || lpad(to_hex(g % 7 + 1), 16, '0') || repeat('ab', 12), 'ETH', 3000 + g % 50, 0.01,
                CASE WHEN g % 2 = 0 THEN 'B' ELSE 'A' END, 'Open Long', 0, 0.0001, g % 3 = 0, g, g, g
         FROM generate_series(1, {rows}) g"
    ))
    .unwrap();
    let convert = |out: &str, quiet: bool| {
        let out = dir.path().join(out);
        let mut cmd = common::ticktape();
        if quiet {
            cmd.arg("-q");
        }
        let o = cmd
            .args(["convert", "postgres", "--url", &url, "--table", &t, "-o", out.to_str().unwrap()])
            .env("TICKTAPE_PROGRESS_INTERVAL", "0.001")
            .output()
            .unwrap();
        assert!(o.status.success(), "convert postgres: {}", stderr(&o));
        o
    };
    let o = convert("p", false);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("progress: ")).collect();
    assert!(!lines.is_empty(), "no progress lines: {err}");
    for l in &lines {
        assert!(l.contains(" rows, ") && l.contains("/s, ") && l.ends_with(" elapsed"), "{l}");
        assert!(!l.contains('%') && !l.contains("eta"), "a share or an ETA without a total: {l}");
    }
    assert!(lines.last().unwrap().starts_with("progress: 60.0 k rows, "), "the last line counts every row: {lines:?}");
    let o = convert("q", true);
    assert_eq!(stderr(&o), "", "-q: nothing on stderr");
    c.batch_execute(&format!("DROP TABLE {t}")).unwrap();
}
