//! Order-book update cost (ns per update) on realistic update streams.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticktape_engine::book::Book;
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_tape::{Level, Tape};

/// The L2 updates of a synthetic BTCUSDT market (mostly near the touch, with
/// sweeps, refills deep in the book and spread improvements).
fn synthetic_levels(n: u64) -> (Vec<Level>, i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = generate(&SynthConfig::new(n), dir.path()).expect("generate");
    let l2 = written.iter().find(|s| s.path.to_string_lossy().ends_with(".l2.tape")).expect("l2 tape");
    let tape = Tape::open(&l2.path).expect("open");
    let tick = tape.header().price_tick;
    (tape.records::<Level>().expect("levels").to_vec(), tick)
}

fn book_updates(c: &mut Criterion) {
    let (levels, tick) = synthetic_levels(1_000_000);
    let mut g = c.benchmark_group("book");
    g.throughput(Throughput::Elements(levels.len() as u64));
    g.bench_function("apply synthetic L2 stream", |b| {
        let mut book = Book::with_tick(tick);
        b.iter(|| {
            for l in &levels {
                book.apply(black_box(l));
            }
            black_box(book.best_bid())
        })
    });
    // The same stream on a book that does not know the tick (slot = 1 price
    // unit): still exact, the window just covers a narrower price range.
    g.bench_function("apply synthetic L2 stream, tick unknown", |b| {
        let mut book = Book::with_tick(0);
        b.iter(|| {
            for l in &levels {
                book.apply(black_box(l));
            }
            black_box(book.best_bid())
        })
    });
    g.finish();

    let mut book = Book::with_tick(tick);
    for l in &levels {
        book.apply(l);
    }
    let mut g = c.benchmark_group("book query");
    g.bench_function("best bid + best ask", |b| b.iter(|| (black_box(&book).best_bid(), black_box(&book).best_ask())));
    g.bench_function("micro-price", |b| b.iter(|| black_box(&book).micro_price()));
    g.bench_function("top-10 depth both sides", |b| {
        b.iter(|| black_box(&book).bid_depth(10) + black_box(&book).ask_depth(10))
    });
    g.finish();
}

criterion_group!(benches, book_updates);
criterion_main!(benches);
