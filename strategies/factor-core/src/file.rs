//! The strategy file: which factors trade which symbols, with which
//! parameter sets and weights.
//!
//! **CSV**, like the seed's `df_final.csv`: a header row naming (any order,
//! any case) `strategy` (or `id`), `weight`, `sym` (or `symbol`), `dir` (or
//! `direction`: `M`/`R`), `m` (or `model`: `B`/`R`), `res` (or
//! `resolution`: `1h`, `4h`, `1d`, `15m`, ...; see [`parse_resolution`]),
//! `factor_id` (or
//! `factor`) and `p` (or `params`): `[short, long, threshold]`, or several
//! as `[[s, l, t], [s, l, t]]` (quote the field: it holds commas). An
//! optional `log` column (`true`/`1`) makes a B row use ln x.
//!
//! **TOML** (`.toml`): one `[[strategy]]` table per row with keys `id`,
//! `weight`, `symbol`, `direction`, `model`, `resolution`, `factor`,
//! `params = [[s, l, t], ...]` and optional `log`.
//!
//! Rows with one factor id and one symbol form one ensemble. Its rows must
//! carry the same weight (the seed repeats the factor's weight on each of
//! its rows) and the same resolution; the ensembles' weights are then
//! normalised to sum to 1.
//!
//! **Resolution**: a row's resolution must match the bars it runs on
//! ([`check_resolution`]): `1h` rows on daily bars are refused, by the
//! plugin at its first bar of the symbol and by `research factors weights`
//! when it loads the bars. A row without one (an empty field, or no column)
//! is not checked.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::signal::{Direction, Model, ParamSet, Params};

/// One row: one strategy id, one or more parameter sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Strategy id.
    pub id: String,
    /// Weight (normalised per ensemble when loaded).
    pub weight: f64,
    /// Symbol traded (the bar tape's symbol).
    pub symbol: String,
    /// Direction.
    pub direction: Direction,
    /// Model.
    pub model: Model,
    /// Bar resolution (`1h`, `1d`).
    pub resolution: String,
    /// Factor id: the series tape's symbol, optionally `SYMBOL#ID` for a
    /// series id other than 0.
    pub factor: String,
    /// ln x instead of x.
    pub log: bool,
    /// Parameter sets.
    pub params: Vec<Params>,
}

/// The rows of one factor on one symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleSpec {
    /// Factor id.
    pub factor: String,
    /// Symbol.
    pub symbol: String,
    /// Normalised weight (all ensembles sum to 1).
    pub weight: f64,
    /// Resolution of its rows.
    pub resolution: String,
    /// Line of its first row in the file (1-based; the `[[strategy]]` table's
    /// number in a TOML file).
    pub line: usize,
    /// Strategy ids of its rows.
    pub ids: Vec<String>,
    /// Its parameter sets, in file order.
    pub sets: Vec<ParamSet>,
}

/// A loaded strategy file.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyFile {
    /// The rows, in file order.
    pub rows: Vec<Row>,
    /// Ensembles, ordered by (factor, symbol).
    pub ensembles: Vec<EnsembleSpec>,
}

impl StrategyFile {
    /// Reads a `.csv` or `.toml` strategy file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let rows = if toml { parse_toml(path, &text)? } else { parse_csv(path, &text)? };
        Self::from_rows(path, rows)
    }

    /// Groups rows into ensembles and normalises their weights.
    pub fn from_rows(path: &Path, rows: Vec<(usize, Row)>) -> Result<Self> {
        let bad = |line: usize, why: String| Error::Strategy { path: path.to_path_buf(), line, why };
        if rows.is_empty() {
            return Err(bad(0, "no strategy rows; add at least one".into()));
        }
        let mut groups: BTreeMap<(String, String), (usize, EnsembleSpec)> = BTreeMap::new();
        for (line, r) in &rows {
            if !(r.weight.is_finite() && r.weight >= 0.0) {
                return Err(bad(*line, format!("weight {} is not a non-negative number", r.weight)));
            }
            for p in &r.params {
                p.check(r.model).map_err(|e| bad(*line, e.to_string()))?;
            }
            let key = (r.factor.clone(), r.symbol.clone());
            let (first, g) = groups.entry(key).or_insert_with(|| {
                (
                    *line,
                    EnsembleSpec {
                        factor: r.factor.clone(),
                        symbol: r.symbol.clone(),
                        weight: r.weight,
                        resolution: r.resolution.clone(),
                        line: *line,
                        ids: Vec::new(),
                        sets: Vec::new(),
                    },
                )
            });
            if (g.weight - r.weight).abs() > 1e-12 * g.weight.abs().max(1.0) {
                return Err(bad(
                    *line,
                    format!(
                        "weight {} differs from {} on line {first} for the same factor {} and symbol {}; \
                         rows of one ensemble carry one weight",
                        r.weight, g.weight, r.factor, r.symbol
                    ),
                ));
            }
            if !g.resolution.eq_ignore_ascii_case(&r.resolution) {
                return Err(bad(
                    *line,
                    format!(
                        "resolution {:?} differs from {:?} on line {first} for the same factor {} and symbol {}; \
                         rows of one ensemble run on one bar interval",
                        r.resolution, g.resolution, r.factor, r.symbol
                    ),
                ));
            }
            if !r.resolution.is_empty() && parse_resolution(&r.resolution).is_none() {
                return Err(bad(
                    *line,
                    format!(
                        "resolution {:?}: expected a bar interval such as 1m, 15m, 1h, 4h, 1d or 1w (or leave it empty)",
                        r.resolution
                    ),
                ));
            }
            g.ids.push(r.id.clone());
            g.sets.extend(r.params.iter().map(|&params| ParamSet {
                model: r.model,
                direction: r.direction,
                log: r.log,
                params,
            }));
        }
        let mut ensembles: Vec<EnsembleSpec> = groups.into_values().map(|(_, g)| g).collect();
        let total: f64 = ensembles.iter().map(|e| e.weight).sum();
        if total <= 0.0 {
            return Err(bad(0, "the weights sum to 0; give at least one ensemble a positive weight".into()));
        }
        for e in &mut ensembles {
            e.weight /= total;
        }
        Ok(StrategyFile { rows: rows.into_iter().map(|(_, r)| r).collect(), ensembles })
    }
}

/// A resolution (`30s`, `1m`, `15m`, `1h`, `4h`, `1d`, `1w`; any case for
/// the unit letter except `m`/`M`, where `M` is refused as ambiguous) in
/// ns; `None` if it is not one.
pub fn parse_resolution(text: &str) -> Option<i64> {
    const S: i64 = 1_000_000_000;
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let unit_ns = match unit {
        "s" | "S" => S,
        "m" | "min" => 60 * S,
        "h" | "H" => 3_600 * S,
        "d" | "D" => 86_400 * S,
        "w" | "W" => 7 * 86_400 * S,
        _ => return None,
    };
    n.checked_mul(unit_ns)
}

/// The interval of a bar from its open and close stamps, ns: close − open
/// rounded to the nearest second (converters stamp a bar at open +
/// interval − 1 ms, as Binance does).
pub fn bar_interval(open_ts: i64, close_ts: i64) -> i64 {
    const S: i64 = 1_000_000_000;
    (close_ts.saturating_sub(open_ts).saturating_add(S / 2)).div_euclid(S) * S
}

/// Whether an ensemble's resolution fits bars of `interval_ns`: `Ok` when
/// the resolution is empty (not checked) or names the same interval
/// (to the second); otherwise the reason, in words, for an error line.
pub fn check_resolution(e: &EnsembleSpec, interval_ns: i64) -> std::result::Result<(), String> {
    if e.resolution.is_empty() {
        return Ok(());
    }
    let Some(want) = parse_resolution(&e.resolution) else {
        return Err(format!("resolution {:?} is not a bar interval (1h, 1d, ...)", e.resolution));
    };
    const S: i64 = 1_000_000_000;
    if (want + S / 2).div_euclid(S) == (interval_ns + S / 2).div_euclid(S) {
        return Ok(());
    }
    Err(format!(
        "line {}: factor {} on {} has resolution {} but the bars of {} are {}; give {} bars of {} or change the row's res column",
        e.line,
        e.factor,
        e.symbol,
        e.resolution,
        e.symbol,
        interval_words(interval_ns),
        e.symbol,
        e.resolution
    ))
}

/// `1h`, `1d`, `15m`, `30s` for whole units; seconds otherwise.
fn interval_words(ns: i64) -> String {
    const S: i64 = 1_000_000_000;
    for (unit, name) in [(7 * 86_400 * S, "w"), (86_400 * S, "d"), (3_600 * S, "h"), (60 * S, "m"), (S, "s")] {
        if ns >= unit && ns % unit == 0 {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{:.3} s", ns as f64 / 1e9)
}

/// Splits one CSV line, honouring double quotes (`""` inside quotes is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses `[s, l, t]` or `[[s, l, t], ...]`.
pub fn parse_params(text: &str) -> std::result::Result<Vec<Params>, String> {
    let nums: Vec<&str> =
        text.split(|c: char| c == '[' || c == ']' || c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).collect();
    if nums.is_empty() || !nums.len().is_multiple_of(3) {
        return Err(format!("parameters {text:?}: expected [short, long, threshold] (or a list of them)"));
    }
    nums.chunks(3)
        .map(|c| {
            let w = |s: &str| s.parse::<f64>().ok().filter(|x| x.fract() == 0.0 && *x >= 1.0).map(|x| x as usize);
            match (w(c[0]), w(c[1]), c[2].parse::<f64>()) {
                (Some(short), Some(long), Ok(threshold)) => Ok(Params { short, long, threshold }),
                _ => Err(format!("parameters {text:?}: windows must be whole numbers >= 1 and the threshold a number")),
            }
        })
        .collect()
}

fn parse_csv(path: &Path, text: &str) -> Result<Vec<(usize, Row)>> {
    let bad = |line: usize, why: String| Error::Strategy { path: path.to_path_buf(), line, why };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(bad(0, "empty file; expected a header row".into())) };
    let header: Vec<String> =
        split_csv(header.trim_start_matches('\u{feff}')).iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let need = |names: &[&str]| {
        col(names).ok_or_else(|| bad(1, format!("no {} column in the header {:?}", names.join(" or "), header)))
    };
    let c_id = need(&["strategy", "id", "strategy_id"])?;
    let c_w = need(&["weight"])?;
    let c_sym = need(&["sym", "symbol"])?;
    let c_dir = need(&["dir", "direction"])?;
    let c_m = need(&["m", "model"])?;
    let c_res = col(&["res", "resolution"]);
    let c_f = need(&["factor_id", "factor"])?;
    let c_p = need(&["p", "params", "parameters"])?;
    let c_log = col(&["log"]);
    let mut rows = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        let f = split_csv(l);
        let get = |c: usize| f.get(c).map(|s| s.trim()).unwrap_or("");
        let weight: f64 = get(c_w).parse().map_err(|_| bad(line, format!("weight {:?} is not a number", get(c_w))))?;
        let direction = Direction::parse(get(c_dir))
            .ok_or_else(|| bad(line, format!("direction {:?}: expected M (momentum) or R (reversion)", get(c_dir))))?;
        let model = Model::parse(get(c_m))
            .ok_or_else(|| bad(line, format!("model {:?}: expected B (z-score) or R (rank)", get(c_m))))?;
        let params = parse_params(get(c_p)).map_err(|w| bad(line, w))?;
        let log = c_log.is_some_and(|c| matches!(get(c).to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "log"));
        let (symbol, factor) = (get(c_sym).to_owned(), get(c_f).to_owned());
        if symbol.is_empty() || factor.is_empty() {
            return Err(bad(line, "empty symbol or factor id".into()));
        }
        rows.push((
            line,
            Row {
                id: get(c_id).to_owned(),
                weight,
                symbol,
                direction,
                model,
                resolution: c_res.map(|c| get(c).to_owned()).unwrap_or_default(),
                factor,
                log,
                params,
            },
        ));
    }
    Ok(rows)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    strategy: Vec<TomlRow>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlRow {
    id: String,
    weight: f64,
    symbol: String,
    direction: String,
    model: String,
    #[serde(default)]
    resolution: String,
    factor: String,
    params: Vec<(f64, f64, f64)>,
    #[serde(default)]
    log: bool,
}

fn parse_toml(path: &Path, text: &str) -> Result<Vec<(usize, Row)>> {
    let f: TomlFile = toml::from_str(text).map_err(|e| Error::Strategy {
        path: path.to_path_buf(),
        line: 0,
        why: e.to_string().replace('\n', " "),
    })?;
    f.strategy
        .into_iter()
        .enumerate()
        .map(|(k, r)| {
            let bad = |why: String| Error::Strategy {
                path: path.to_path_buf(),
                line: 0,
                why: format!("[[strategy]] #{}: {why}", k + 1),
            };
            let direction = Direction::parse(&r.direction)
                .ok_or_else(|| bad(format!("direction {:?}: expected M or R", r.direction)))?;
            let model = Model::parse(&r.model).ok_or_else(|| bad(format!("model {:?}: expected B or R", r.model)))?;
            let text: Vec<String> = r.params.iter().map(|(a, b, c)| format!("[{a},{b},{c}]")).collect();
            let params = parse_params(&text.join(",")).map_err(bad)?;
            Ok((
                k + 1,
                Row {
                    id: r.id,
                    weight: r.weight,
                    symbol: r.symbol,
                    direction,
                    model,
                    resolution: r.resolution,
                    factor: r.factor,
                    log: r.log,
                    params,
                },
            ))
        })
        .collect()
}

/// Writes rows as a strategy CSV (the format [`StrategyFile::load`] reads).
pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from("strategy,weight,sym,dir,m,res,factor_id,p,log\n");
    for r in rows {
        let p: Vec<String> = r.params.iter().map(|p| format!("[{}, {}, {}]", p.short, p.long, p.threshold)).collect();
        let p = if p.len() == 1 { p[0].clone() } else { format!("[{}]", p.join(", ")) };
        let q = |x: &str| if x.contains([',', '"']) { format!("\"{}\"", x.replace('"', "\"\"")) } else { x.to_owned() };
        s.push_str(&format!(
            "{},{},{},{},{},{},{},\"{p}\",{}\n",
            q(&r.id),
            r.weight,
            q(&r.symbol),
            r.direction.code(),
            r.model.code(),
            q(&r.resolution),
            q(&r.factor),
            r.log
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_style_csv_groups_by_factor_and_normalises() {
        let dir = std::env::temp_dir().join(format!("ticktape-factors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("df_final.csv");
        std::fs::write(
            &p,
            "strategy,weight,sym,dir,m,res,factor_id,p\n\
             oi_btc_001,0.3,BTC,R,B,1h,oi_btc,\"[24, 168, 1.5]\"\n\
             oi_btc_002,0.3,BTC,R,B,1h,oi_btc,\"[12, 72, 2.0]\"\n\
             ls_bnb_001,0.1,BNB,M,R,1h,ls_bnb,\"[1, 48, 0.1]\"\n",
        )
        .unwrap();
        let f = StrategyFile::load(&p).unwrap();
        assert_eq!(f.rows.len(), 3);
        assert_eq!(f.ensembles.len(), 2);
        let ls = &f.ensembles[0];
        assert_eq!((ls.factor.as_str(), ls.symbol.as_str(), ls.sets.len()), ("ls_bnb", "BNB", 1));
        assert!((ls.weight - 0.25).abs() < 1e-12, "0.1 / (0.3 + 0.1)");
        let oi = &f.ensembles[1];
        assert_eq!(oi.sets.len(), 2);
        assert!((oi.weight - 0.75).abs() < 1e-12);
        assert_eq!(oi.sets[1].params, Params { short: 12, long: 72, threshold: 2.0 });
        assert_eq!((oi.sets[0].model, oi.sets[0].direction), (Model::B, Direction::R));
        // Round trip through to_csv.
        std::fs::write(&p, to_csv(&f.rows)).unwrap();
        assert_eq!(StrategyFile::load(&p).unwrap(), f);
        // Different weights within one ensemble: refused with the line.
        std::fs::write(
            &p,
            "strategy,weight,sym,dir,m,res,factor_id,p\na,0.3,BTC,R,B,1h,oi,\"[1,2,1]\"\nb,0.2,BTC,R,B,1h,oi,\"[1,2,1]\"\n",
        )
        .unwrap();
        let e = StrategyFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("df_final.csv:3:") && e.contains("line 2"), "{e}");
        std::fs::write(&p, "strategy,weight,sym,dir,m,res,factor_id,p\na,0.3,BTC,X,B,1h,oi,\"[1,2,1]\"\n").unwrap();
        assert!(StrategyFile::load(&p).unwrap_err().to_string().contains(":2: direction \"X\""));
        let t = dir.join("s.toml");
        std::fs::write(
            &t,
            "[[strategy]]\nid = \"a\"\nweight = 2\nsymbol = \"BTC\"\ndirection = \"M\"\nmodel = \"B\"\nresolution = \"1d\"\nfactor = \"oi\"\nparams = [[2, 10, 1.0], [5, 20, 0.5]]\nlog = true\n",
        )
        .unwrap();
        let f = StrategyFile::load(&t).unwrap();
        assert_eq!(f.ensembles[0].weight, 1.0);
        assert_eq!(f.ensembles[0].sets.len(), 2);
        assert!(f.ensembles[0].sets[0].log);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn resolution_is_parsed_and_checked_against_the_bar_interval() {
        const H: i64 = 3_600_000_000_000;
        assert_eq!(parse_resolution("1h"), Some(H));
        assert_eq!(parse_resolution("4h"), Some(4 * H));
        assert_eq!(parse_resolution("1d"), Some(24 * H));
        assert_eq!(parse_resolution("15m"), Some(H / 4));
        assert_eq!(parse_resolution("1w"), Some(7 * 24 * H));
        for bad in ["", "h", "1M", "1x", "0h", "-1h", "1.5h"] {
            assert_eq!(parse_resolution(bad), None, "{bad}");
        }
        // Bars stamped open + interval − 1 ms.
        assert_eq!(bar_interval(0, H - 1_000_000), H);
        assert_eq!(bar_interval(0, 24 * H - 1_000_000), 24 * H);
        let e = |res: &str| EnsembleSpec {
            factor: "oi".into(),
            symbol: "BTC".into(),
            weight: 1.0,
            resolution: res.into(),
            line: 2,
            ids: vec![],
            sets: vec![],
        };
        assert_eq!(check_resolution(&e("1h"), H), Ok(()));
        assert_eq!(check_resolution(&e(""), 24 * H), Ok(()), "no resolution: not checked");
        let err = check_resolution(&e("1h"), 24 * H).unwrap_err();
        assert!(err.contains("line 2") && err.contains("resolution 1h") && err.contains("are 1d"), "{err}");
        // One ensemble, two resolutions; an unknown resolution.
        let dir = std::env::temp_dir().join(format!("ticktape-factors-res-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.csv");
        std::fs::write(
            &p,
            "strategy,weight,sym,dir,m,res,factor_id,p\na,1,BTC,R,B,1h,oi,\"[1,2,1]\"\nb,1,BTC,R,B,1d,oi,\"[1,2,1]\"\n",
        )
        .unwrap();
        let err = StrategyFile::load(&p).unwrap_err().to_string();
        assert!(err.contains("s.csv:3: resolution \"1d\" differs from \"1h\" on line 2"), "{err}");
        std::fs::write(&p, "strategy,weight,sym,dir,m,res,factor_id,p\na,1,BTC,R,B,1hour,oi,\"[1,2,1]\"\n").unwrap();
        let err = StrategyFile::load(&p).unwrap_err().to_string();
        assert!(err.contains("s.csv:2: resolution \"1hour\""), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
