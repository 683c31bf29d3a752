//! `ticktape convert`: the converters of `ticktape-data` with the
//! binary's progress display (a bar over the input bytes on a terminal,
//! plain periodic lines otherwise) and its global `-q`/`-v`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;

/// Runs `ticktape convert` with `quiet` from the global `-q`.
pub(crate) fn run(mut a: ticktape_data::cli::ConvertArgs, quiet: bool) -> Result<()> {
    a.quiet = quiet;
    if let Some(ticktape_data::cli::DbSource::Postgres(p)) = &mut a.db {
        return postgres(p, quiet);
    }
    if a.list || a.source.is_none() {
        ticktape_data::cli::run(&a)?;
        return Ok(());
    }
    let inputs: Vec<_> = a.inputs.iter().filter(|p| !p.to_string_lossy().ends_with(".CHECKSUM")).collect();
    let total: u64 = inputs.iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    crate::progress::debug(&format!(
        "convert: {} input(s), {}, into {}",
        inputs.len(),
        crate::fmt::bytes(total),
        a.out.display()
    ));
    let read = Arc::new(AtomicU64::new(0));
    a.progress = Some(read.clone());
    let bar = crate::progress::Bar::bytes(total);
    let stop = AtomicBool::new(false);
    let poll = crate::progress::interval().min(Duration::from_millis(100));
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                bar.set(read.load(Ordering::Relaxed).min(total));
                std::thread::sleep(poll);
            }
        });
        let r = ticktape_data::cli::run(&a);
        stop.store(true, Ordering::Relaxed);
        r
    });
    match &r {
        Ok(_) => bar.finish(),
        Err(_) => bar.stop(),
    }
    r?;
    Ok(())
}

/// `convert postgres`: a counter of the rows read (a query has no known
/// total), polled like the byte count of the file converters.
fn postgres(p: &mut ticktape_data::postgres::PostgresArgs, quiet: bool) -> Result<()> {
    p.quiet |= quiet;
    let rows = Arc::new(AtomicU64::new(0));
    p.progress = Some(rows.clone());
    let bar = crate::progress::Bar::counter("rows");
    let stop = AtomicBool::new(false);
    let poll = crate::progress::interval().min(Duration::from_millis(100));
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                bar.set(rows.load(Ordering::Relaxed));
                std::thread::sleep(poll);
            }
        });
        let r = ticktape_data::postgres::run(p);
        stop.store(true, Ordering::Relaxed);
        r
    });
    bar.set(rows.load(Ordering::Relaxed));
    bar.finish();
    r?;
    Ok(())
}
