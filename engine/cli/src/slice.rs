//! `--from/--to`: a half-open time slice `[from, to)` of the tapes, shared
//! by `run`, `replay` and `export`.

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate};

/// A time slice of the tapes.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub(crate) struct SliceArgs {
    /// Start of the time slice, inclusive: RFC 3339 (2024-05-01T12:00:00Z,
    /// 2024-05-01T14:00:00+02:00) or a date (2024-05-01, midnight UTC).
    /// Compared with records' exchange times. Default: the start of the tapes.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) from: Option<i64>,
    /// End of the time slice, exclusive (same forms as --from): a record at
    /// exactly this time is not included. Default: the end of the tapes.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(crate) to: Option<i64>,
}

impl SliceArgs {
    /// Refuses an empty or inverted slice.
    pub(crate) fn check(self) -> Result<Self> {
        if let (Some(f), Some(t)) = (self.from, self.to)
            && f >= t
        {
            bail!(
                "--from {} is not before --to {}: the slice [from, to) would be empty",
                ticktape_tape::check::iso8601(f),
                ticktape_tape::check::iso8601(t)
            );
        }
        Ok(self)
    }

    /// Whether a slice was asked for.
    pub(crate) fn is_set(self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// The slice as JSON for `summary.json` (`null` bounds are open).
    pub(crate) fn to_json(self) -> serde_json::Value {
        let t = |x: Option<i64>| x.map(ticktape_tape::check::iso8601);
        serde_json::json!({ "from": t(self.from), "to": t(self.to), "from_ns": self.from, "to_ns": self.to })
    }
}

/// Parses `2024-05-01T12:00:00Z` (RFC 3339, any offset, optional fraction)
/// or `2024-05-01` (midnight UTC) into ns since the Unix epoch.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let dt = if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).map(|x| x.and_utc())
    } else {
        DateTime::parse_from_rfc3339(t).ok().map(|x| x.to_utc())
    };
    let Some(dt) = dt else {
        return Err(format!(
            "{s:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T12:00:00.5+02:00) or a date (2024-05-01)"
        ));
    };
    dt.timestamp_nanos_opt().ok_or_else(|| format!("{s:?} is outside the representable range (1677..2262)"))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn dates_and_rfc3339_times_parse_to_ns() {
        assert_eq!(parse_time("2024-05-01"), Ok(1_714_521_600_000_000_000));
        assert_eq!(parse_time("2024-05-01T00:00:00Z"), Ok(1_714_521_600_000_000_000));
        assert_eq!(parse_time("2024-05-01T02:00:00.5+02:00"), Ok(1_714_521_600_500_000_000));
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(parse_time("2024-13-01").is_err());
    }
}
