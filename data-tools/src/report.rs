//! What a conversion did: per input and per tape.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ticktape_tape::RecordKind;

/// Statistics of one input file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputReport {
    /// The input path.
    pub path: PathBuf,
    /// The dataset it was read as (e.g. `trades`, `depth`).
    pub dataset: String,
    /// Bytes of the file as stored (compressed size for .gz/.zip).
    pub bytes_in: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Data rows (lines, JSON elements, array rows) read, headers excluded.
    pub rows: u64,
    /// Records produced (before merging).
    pub records: u64,
    /// Rows skipped with `--skip-bad`, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// First skipped row: (line, reason).
    pub first_skipped: Option<(u64, String)>,
    /// Rows deliberately not converted (not bad), by reason, e.g. non-MARKET trades.
    pub filtered: BTreeMap<String, u64>,
    /// Records that arrived later than the reorder tolerance.
    pub out_of_order: u64,
    /// Line of the first such record.
    pub first_out_of_order: Option<u64>,
    /// Sequence gaps found in L2 update streams.
    pub gaps: u64,
    /// L2 updates dropped (before the first snapshot, or after a gap until the next one).
    pub dropped_updates: u64,
    /// Snapshots applied (book resyncs included).
    pub snapshots: u64,
    /// Median of local − exchange time over records that have both, ns.
    pub median_local_offset_ns: Option<i64>,
    /// Unit of the local receive timestamps, if the input has them.
    pub local_ts_unit: Option<&'static str>,
    /// Other remarks.
    pub notes: Vec<String>,
    /// The decimal grids values were snapped to and how they were chosen,
    /// for inputs of binary floating-point values (hftbacktest arrays).
    pub grids: Option<String>,
}

/// One tape written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapeReport {
    /// Where.
    pub path: PathBuf,
    /// Record kind.
    pub kind: RecordKind,
    /// Venue.
    pub venue: String,
    /// Symbol.
    pub symbol: String,
    /// Records written.
    pub records: u64,
    /// Price exponent.
    pub price_exponent: i8,
    /// Quantity exponent.
    pub qty_exponent: i8,
    /// Value exponent.
    pub value_exponent: i8,
    /// First exchange time, ns.
    pub first_ts: i64,
    /// Last exchange time, ns.
    pub last_ts: i64,
    /// File size.
    pub bytes: u64,
    /// Inputs that contributed.
    pub inputs: usize,
}

/// Everything a conversion did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvertReport {
    /// Per input, in the order given.
    pub inputs: Vec<InputReport>,
    /// Per tape, sorted by file name.
    pub tapes: Vec<TapeReport>,
    /// Side files written (account tables).
    pub side_files: Vec<PathBuf>,
    /// Wall time.
    pub elapsed: Duration,
}

impl ConvertReport {
    /// Total stored input bytes.
    pub fn bytes_in(&self) -> u64 {
        self.inputs.iter().map(|i| i.bytes_in).sum()
    }
    /// Total decoded input bytes.
    pub fn bytes_decoded(&self) -> u64 {
        self.inputs.iter().map(|i| i.bytes_decoded).sum()
    }
    /// Total rows read.
    pub fn rows(&self) -> u64 {
        self.inputs.iter().map(|i| i.rows).sum()
    }
    /// Total records written.
    pub fn records(&self) -> u64 {
        self.tapes.iter().map(|t| t.records).sum()
    }
    /// Total skipped rows.
    pub fn skipped(&self) -> u64 {
        self.inputs.iter().flat_map(|i| i.skipped.values()).sum()
    }
    /// Decoded MB (10^6 bytes) per second of wall time.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes_decoded() as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Warnings worth printing even when all went well.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for i in &self.inputs {
            let p = i.path.display();
            for (why, n) in &i.skipped {
                w.push(format!("{p}: skipped {n} rows: {why}"));
            }
            if let Some((line, why)) = &i.first_skipped {
                w.push(format!("{p}:{line}: first skipped row ({why})"));
            }
            if i.out_of_order > 0 {
                w.push(format!(
                    "{p}: {} rows out of order beyond the tolerance (first at line {})",
                    i.out_of_order,
                    i.first_out_of_order.unwrap_or(0)
                ));
            }
            if i.gaps > 0 {
                w.push(format!("{p}: {} sequence gaps; the book was resynced from the next snapshot", i.gaps));
            }
            for n in &i.notes {
                w.push(format!("{p}: {n}"));
            }
        }
        w
    }
}

fn fmt_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", sod / 3600, sod / 60 % 60, sod % 60, nanos / 1_000_000)
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for ConvertReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tapes {
            writeln!(
                f,
                "wrote {}  {} records  {} → {}  (price 1e{}, qty 1e{}, value 1e{})",
                t.path.display(),
                t.records,
                fmt_ns(t.first_ts),
                fmt_ns(t.last_ts),
                t.price_exponent,
                t.qty_exponent,
                t.value_exponent
            )?;
        }
        for p in &self.side_files {
            writeln!(f, "wrote {}", p.display())?;
        }
        for i in &self.inputs {
            write!(f, "read  {}  [{}]  {} rows", i.path.display(), i.dataset, i.rows)?;
            if i.snapshots > 0 || i.gaps > 0 || i.dropped_updates > 0 {
                write!(f, ", {} snapshots, {} gaps, {} updates dropped", i.snapshots, i.gaps, i.dropped_updates)?;
            }
            if let Some(o) = i.median_local_offset_ns {
                write!(f, ", median local−exchange {:+.3} ms", o as f64 / 1e6)?;
            }
            for (why, n) in &i.filtered {
                write!(f, ", {n} {why}")?;
            }
            if let Some(g) = &i.grids {
                write!(f, "; {g}")?;
            }
            writeln!(f)?;
        }
        write!(
            f,
            "{} rows → {} records in {} tapes; {:.1} MB in ({:.1} MB decoded) in {:.2} s = {:.1} MB/s decoded",
            self.rows(),
            self.records(),
            self.tapes.len(),
            self.bytes_in() as f64 / 1e6,
            self.bytes_decoded() as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.mb_per_s()
        )
    }
}

/// A bounded, deterministic sample of local − exchange offsets for a median.
#[derive(Clone, Debug, Default)]
pub(crate) struct OffsetSampler {
    samples: Vec<i64>,
    stride: u64,
    seen: u64,
}

impl OffsetSampler {
    const MAX: usize = 1 << 18;

    #[inline]
    pub(crate) fn add(&mut self, offset: i64) {
        if self.stride == 0 {
            self.stride = 1;
        }
        if self.seen.is_multiple_of(self.stride) {
            if self.samples.len() == Self::MAX {
                // Keep every other sample and halve the rate: still evenly spread.
                let mut i = 0;
                self.samples.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
            if self.seen.is_multiple_of(self.stride) {
                self.samples.push(offset);
            }
        }
        self.seen += 1;
    }

    pub(crate) fn median(&mut self) -> Option<i64> {
        if self.samples.is_empty() {
            return None;
        }
        let mid = self.samples.len() / 2;
        let (_, m, _) = self.samples.select_nth_unstable(mid);
        Some(*m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(fmt_ns(1_723_161_255_030_314_667), "2024-08-08T23:54:15.030Z");
        assert_eq!(fmt_ns(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn median_of_sample() {
        let mut s = OffsetSampler::default();
        for i in 0..1_000_001 {
            s.add(i);
        }
        let m = s.median().unwrap();
        assert!((m - 500_000).abs() < 5_000, "{m}");
    }
}
