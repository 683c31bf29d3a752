//! The engine's error type.

use std::path::PathBuf;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tape could not be opened, read or written.
    #[error(transparent)]
    Tape(#[from] ticktape_tape::Error),
    /// A tape's records are not in time order, so it cannot be merged.
    #[error(
        "{path}: the tape is not sorted by exchange time (header SORTED flag is clear); run `ticktape inspect --verify` on it and re-convert it"
    )]
    NotSorted {
        /// The tape.
        path: PathBuf,
    },
    /// Nothing to replay.
    #[error("no tapes given; pass one or more .tape files (make some with `ticktape gen --out DIR`)")]
    NoTapes,
    /// The same stream (record kind, venue and symbol) was given twice: the
    /// same file, or two tapes whose time ranges overlap.
    #[error(
        "{first} and {second} are the same stream ({kind} of {symbol} @ {venue}){why}; a replay would deliver its events twice: give each stream once (tapes of one stream that follow each other in time, e.g. one per day, are fine)"
    )]
    DuplicateStream {
        /// The tape given first.
        first: PathBuf,
        /// The tape given second.
        second: PathBuf,
        /// Their record kind.
        kind: ticktape_tape::RecordKind,
        /// Their symbol.
        symbol: String,
        /// Their venue.
        venue: String,
        /// Why they are the same (" given twice", " with overlapping time ranges ...").
        why: String,
    },
    /// Streams whose time ranges do not overlap (unless gaps are allowed).
    #[error(
        "{early} ({early_range}) ends {gap} before {late} ({late_range}) starts: the tapes do not overlap in time, so a replay would run through that gap with one of them silent; pass tapes of the same period, or --allow-gaps to replay them anyway"
    )]
    NoOverlap {
        /// The tape of the stream that ends first.
        early: PathBuf,
        /// Its stream's time range.
        early_range: String,
        /// The tape of the stream that starts last.
        late: PathBuf,
        /// Its stream's time range.
        late_range: String,
        /// How far apart they are.
        gap: String,
    },
    /// A configuration value is out of range.
    #[error("invalid {what}: {why}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why it is refused and what is allowed.
        why: String,
    },
    /// An operating-system error outside tape I/O.
    #[error("{path}: cannot {action}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The output folder holds files from before and `--force` was not given.
    #[error(
        "{path}: the output folder is not empty (it holds earlier results); pass --force to replace it when the run completes, or choose another --out"
    )]
    OutNotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// The account cannot book a fill: a position beyond the `i64` range
    /// of quantity units, or cash, fees or PnL that are no longer finite.
    #[error(
        "accounting overflow at {at}: order {order_id} (tag {tag}, {symbol} {side} {qty} @ {price}, in quantity and price units) would make the {what} overflow; the run stops here. Bound the strategy's order sizes, or set [limits] max_position / max_notional"
    )]
    AccountingOverflow {
        /// What would overflow (position, cash, ...).
        what: &'static str,
        /// The order.
        order_id: u64,
        /// Its strategy tag.
        tag: u64,
        /// Its instrument.
        symbol: String,
        /// `buy` or `sell`.
        side: &'static str,
        /// Price of the execution, price units.
        price: i64,
        /// Quantity of the execution, quantity units.
        qty: i64,
        /// Exchange time, RFC 3339.
        at: String,
    },
    /// The strategy set timers at or before the current time too many times
    /// at one instant (a timer re-arming itself at `now()` in a loop).
    #[error(
        "the strategy set more than {limit} timers at or before now() at {at} without time advancing (the last with token {token}): an endless timer loop; the run stops here. Set the next timer strictly after ctx.now()"
    )]
    TimerLoop {
        /// Token of the timer that crossed the limit.
        token: u64,
        /// The instant, RFC 3339.
        at: String,
        /// The limit ([`MAX_TIMERS_AT_NOW`](ticktape_sdk::abi::MAX_TIMERS_AT_NOW)).
        limit: u32,
    },
}
