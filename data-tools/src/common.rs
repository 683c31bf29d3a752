//! Small pieces the source modules share.

use crate::convert::Ctx;
use crate::sink::{Rec, StreamId};
use crate::{Error, Result};

/// Remembers the stream of the last (venue, symbol) seen, so a file of one
/// symbol looks its stream up once, not once per row.
#[derive(Debug, Default)]
pub(crate) struct StreamCache {
    venue: Vec<u8>,
    symbol: Vec<u8>,
    id: Option<StreamId>,
    variant: &'static str,
    /// The token of the last lookup by [`StreamCache::get_by`].
    token: Option<(u64, u32)>,
}

impl StreamCache {
    /// A cache for streams of one variant (see `StreamKey::variant`).
    pub(crate) fn variant(variant: &'static str) -> Self {
        StreamCache { variant, ..StreamCache::default() }
    }

    /// The stream of `R` for (venue, symbol).
    #[inline]
    pub(crate) fn get<R: Rec>(
        &mut self,
        ctx: &mut Ctx<'_>,
        venue: &[u8],
        symbol: &[u8],
        has_local_ts: bool,
    ) -> Result<StreamId> {
        if let Some(id) = self.id
            && self.symbol == symbol
            && self.venue == venue
        {
            return Ok(id);
        }
        self.slow::<R>(ctx, venue, symbol, has_local_ts)
    }

    /// Like [`StreamCache::get`], but a lookup with the same `token` as the
    /// last one (a chunk and a key number within it, see
    /// [`crate::chunked::Keys`]) returns its stream without comparing names.
    #[inline]
    pub(crate) fn get_by<R: Rec>(
        &mut self,
        ctx: &mut Ctx<'_>,
        token: (u64, u32),
        venue: &[u8],
        symbol: &[u8],
        has_local_ts: bool,
    ) -> Result<StreamId> {
        if let Some(id) = self.id
            && self.token == Some(token)
        {
            return Ok(id);
        }
        let id = self.get::<R>(ctx, venue, symbol, has_local_ts)?;
        self.token = Some(token);
        Ok(id)
    }

    #[cold]
    fn slow<R: Rec>(&mut self, ctx: &mut Ctx<'_>, venue: &[u8], symbol: &[u8], has_local_ts: bool) -> Result<StreamId> {
        let v = std::str::from_utf8(venue).ok().filter(|v| !v.is_empty() && v.len() <= 16);
        let s = std::str::from_utf8(symbol).ok().filter(|s| !s.is_empty() && s.len() <= 32 && !s.contains('\0'));
        let (Some(v), Some(s)) = (v, s) else {
            return Err(Error::Format {
                path: ctx.path.clone(),
                why: format!(
                    "venue {:?} or symbol {:?} is empty, not UTF-8, or too long for a tape header (16 and 32 bytes); pass --venue/--symbol",
                    String::from_utf8_lossy(venue),
                    String::from_utf8_lossy(symbol)
                ),
            });
        };
        let id = ctx.sink.stream_variant::<R>(v, s, self.variant, has_local_ts);
        self.venue.clear();
        self.venue.extend_from_slice(venue);
        self.symbol.clear();
        self.symbol.extend_from_slice(symbol);
        self.id = Some(id);
        Ok(id)
    }
}

/// The bar stream of (venue, symbol) at `interval`, with the header's length limits checked.
pub(crate) fn bar_stream(ctx: &mut Ctx<'_>, venue: &str, symbol: &str, interval: &str) -> Result<StreamId> {
    if venue.is_empty() || venue.len() > 16 || symbol.is_empty() || symbol.len() > 32 || symbol.contains('\0') {
        return Err(Error::Format {
            path: ctx.path.clone(),
            why: format!(
                "venue {venue:?} or symbol {symbol:?} is empty or too long for a tape header (16 and 32 bytes); pass --venue/--symbol"
            ),
        });
    }
    Ok(ctx.sink.stream_bars(venue, symbol, interval))
}

/// Column positions found by name in a header row.
pub(crate) fn find_col(header: &[Vec<u8>], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| {
        let h = trim(h);
        names.iter().any(|n| h.eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// Removes ASCII spaces and a UTF-8 byte-order mark around a field.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    if s.starts_with(b"\xEF\xBB\xBF") {
        s = &s[3..];
    }
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `true`/`false` in any letter case (Binance writes both).
#[inline]
pub(crate) fn parse_bool(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Whether a CSV row looks like a header: its first field does not start with a digit or sign.
pub(crate) fn is_header(first_field: &[u8]) -> bool {
    let f = trim(first_field);
    !f.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-' || *b == b'.')
}

/// Parses a decimal field, `None` for an empty one.
#[inline]
pub(crate) fn opt_dec(s: &[u8]) -> std::result::Result<Option<crate::decimal::Dec>, crate::decimal::DecError> {
    if s.is_empty() { Ok(None) } else { crate::decimal::Dec::parse(s).map(Some) }
}

/// Writes L2 levels so that the last record of each batch carries `BATCH_END`:
/// holds one level back until it knows whether the batch goes on. The held
/// level remembers the exponents it was scaled to, and is rescaled if its
/// stream widened meanwhile.
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    pending: Option<(StreamId, ticktape_tape::Level, u64, crate::sink::Exps)>,
}

impl Batcher {
    /// Adds a level (scaled to the stream's current exponents) to the current batch.
    #[inline]
    pub(crate) fn add(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: StreamId,
        level: ticktape_tape::Level,
        line: u64,
    ) -> Result<()> {
        // Checked here, so that a level dropped with --skip-bad never holds the batch end.
        if !ctx.check(id, &level, line)? {
            return Ok(());
        }
        let exps = ctx.sink.exps(id);
        if let Some((pid, p, pline, pexps)) = self.pending.replace((id, level, line, exps)) {
            Self::push(ctx, pid, p, pline, pexps)?;
        }
        Ok(())
    }

    /// Ends the current batch (no-op if it is empty).
    #[inline]
    pub(crate) fn end(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        if let Some((pid, mut p, pline, pexps)) = self.pending.take() {
            p.flags |= ticktape_tape::level_flags::BATCH_END;
            Self::push(ctx, pid, p, pline, pexps)?;
        }
        Ok(())
    }

    fn push(
        ctx: &mut Ctx<'_>,
        id: StreamId,
        mut l: ticktape_tape::Level,
        line: u64,
        then: crate::sink::Exps,
    ) -> Result<()> {
        let now = ctx.sink.exps(id);
        if now != then {
            use crate::sink::Rec;
            let d = crate::sink::Exps { price: now.price - then.price, qty: now.qty - then.qty, value: 0 };
            if !l.rescale(d) {
                return Err(Error::Format {
                    path: ctx.path.clone(),
                    why: format!(
                        "line {line}: a level overflows a 64-bit integer at {} price / {} qty decimals",
                        now.price, now.qty
                    ),
                });
            }
        }
        ctx.push(id, l, line)
    }
}
