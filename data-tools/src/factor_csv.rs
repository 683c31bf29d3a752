//! Factor series CSV → series tapes.
//!
//! A header row is required. The time column is `--time-column`, else the first
//! of `t`, `ts`, `time`, `timestamp`, `date`, `datetime`; it holds epoch
//! seconds, ms, µs or ns (by digit count; a fraction means seconds) or ISO 8601
//! text (`2024-01-01`, `2024-01-01T00:00:00Z`, with offsets). Values come from
//! `--value-column` (repeatable; the n-th becomes series id n), else `value`
//! (id 0, or the integer in an `id`/`series` column); without
//! `--value-column` any other column is an error (unknown column), with it
//! the columns not named are ignored. A `symbol` column splits
//! the file into one tape per symbol; otherwise the symbol is `--symbol` or the
//! file stem. Venue: `--venue`, default `series`. Empty and `NaN` values are
//! left out and counted. Values with more than `--decimals N` (default 12)
//! decimals are rounded half away from zero, and the summary says how many. Rows are sorted by time in full (up to the reorder
//! buffer's cap, 4 M records per symbol).

use ticktape_tape::{Series, Stamp};

use crate::common::{StreamCache, find_col, trim};
use crate::convert::Ctx;
use crate::decimal::{Dec, parse_u64};
use crate::input::{Fields, Lines, Member};
use crate::sink::Class::V;
use crate::{Error, Result};

/// Converts one series CSV; returns decoded bytes.
pub(crate) fn convert(ctx: &mut Ctx<'_>, m: &mut Member<'_>) -> Result<u64> {
    ctx.stats.dataset = "series".into();
    if ctx.opts.tolerance_ms.is_none() {
        ctx.sink.set_tolerance(i64::MAX, ctx.opts.max_buffered);
    }
    let stem = m.name.split('.').next().unwrap_or_default().to_owned();
    let mut lines = Lines::new(m);
    let header = lines.header(&ctx.path)?;
    let mut f = Fields::default();
    let missing = |what: String| Error::Format { path: ctx.path.clone(), why: what };
    let tc = match &ctx.opts.time_column {
        Some(c) => find_col(&header, &[c]).ok_or_else(|| missing(format!("no time column {c:?} in the header")))?,
        None => find_col(&header, &["t", "ts", "time", "timestamp", "date", "datetime"]).ok_or_else(|| {
            missing("no time column (t, ts, time, timestamp, date or datetime); pass --time-column".into())
        })?,
    };
    let mut vcs: Vec<usize> = Vec::new();
    if ctx.opts.value_columns.is_empty() {
        vcs.push(
            find_col(&header, &["value"]).ok_or_else(|| missing("no `value` column; pass --value-column".into()))?,
        );
    } else {
        for c in &ctx.opts.value_columns {
            vcs.push(find_col(&header, &[c]).ok_or_else(|| missing(format!("no value column {c:?} in the header")))?);
        }
    }
    let idc = if ctx.opts.value_columns.is_empty() { find_col(&header, &["id", "series"]) } else { None };
    let sc = if ctx.opts.symbol.is_some() { None } else { find_col(&header, &["symbol"]) };
    if ctx.opts.value_columns.is_empty() {
        // Without --value-column the file must hold only the columns read:
        // any other is unknown (altered file, or a wide file whose value
        // columns must be named).
        let used = [Some(tc), vcs.first().copied(), idc, find_col(&header, &["symbol"])];
        if let Some((i, c)) = header.iter().enumerate().find(|(i, c)| !trim(c).is_empty() && !used.contains(&Some(*i)))
        {
            return Err(Error::Format {
                path: ctx.path.clone(),
                why: format!(
                    "line 1: unknown column {:?} (column {}): a series CSV without --value-column holds a time column, `value` and optionally `id`/`series` and `symbol`; name the value columns to convert with --value-column (the others are then ignored), or remove it",
                    String::from_utf8_lossy(c),
                    i + 1
                ),
            });
        }
    }
    let fixed_symbol = ctx.opts.symbol.clone().unwrap_or(stem);
    let venue = ctx.opts.venue.clone().unwrap_or_else(|| "series".into());
    let mut cache = StreamCache::default();
    let decimals = ctx.opts.series_decimals.unwrap_or(crate::convert::DEFAULT_SERIES_DECIMALS);
    let mut rounded = 0u64;
    while let Some((line, row)) = lines.next_line()? {
        if row.is_empty() {
            continue;
        }
        ctx.stats.rows += 1;
        f.split(row);
        let Some(ts) = crate::time::any_ns(trim(f.get(row, tc))) else {
            ctx.bad(line, row, "bad time")?;
            continue;
        };
        let symbol = match sc {
            Some(c) => trim(f.get(row, c)),
            None => fixed_symbol.as_bytes(),
        };
        let base_id = match idc {
            Some(c) => match parse_u64(trim(f.get(row, c))) {
                Some(v) => v,
                None => {
                    ctx.bad(line, row, "bad series id")?;
                    continue;
                }
            },
            None => 0,
        };
        let sid = cache.get::<Series>(ctx, venue.as_bytes(), symbol, false)?;
        for (n, &c) in vcs.iter().enumerate() {
            let t = trim(f.get(row, c));
            if t.is_empty() || t.eq_ignore_ascii_case(b"nan") || t.eq_ignore_ascii_case(b"null") {
                ctx.filtered("missing values (empty or NaN) left out");
                continue;
            }
            let v = match Dec::parse_rounded(t, decimals) {
                Ok((v, r)) => {
                    rounded += u64::from(r);
                    v
                }
                Err(e) => {
                    ctx.bad(line, row, e.why())?;
                    continue;
                }
            };
            let [value] = match ctx.sink.fit::<Series, 1>(sid, [(Some(v), V)]) {
                Ok(x) => x,
                Err(mf) => {
                    ctx.misfit(mf, line, &[t])?;
                    continue;
                }
            };
            ctx.push(sid, Series { ts: Stamp { exchange: ts, local: ts }, id: base_id + n as u64, value }, line)?;
        }
    }
    if rounded > 0 {
        ctx.stats.notes.push(format!(
            "{rounded} values had more than {decimals} decimals and were rounded to {decimals} (--decimals)"
        ));
    }
    Ok(lines.decoded_bytes())
}
