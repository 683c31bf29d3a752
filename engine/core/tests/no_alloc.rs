//! Replay allocates nothing per event: the number of allocations made by a
//! replay does not grow with the number of events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use ticktape_engine::replay::Replay;
use ticktape_engine::synth::{SymbolSpec, SynthConfig, generate};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator and only
// counts allocations on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_for(events: u64) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SynthConfig::new(events);
    cfg.symbols = vec![SymbolSpec::preset("BTCUSDT"), SymbolSpec::preset("ETHUSDT")];
    let paths: Vec<_> = generate(&cfg, dir.path()).unwrap().into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&paths).unwrap();
    let before = ALLOCS.load(Ordering::Relaxed);
    let out = replay.run(&mut ()).unwrap();
    let after = ALLOCS.load(Ordering::Relaxed);
    (out.events, after - before)
}

#[test]
fn replay_allocations_do_not_grow_with_events() {
    let (small_events, small) = allocations_for(20_000);
    let (big_events, big) = allocations_for(400_000);
    assert!(big_events > small_events * 15);
    // Setup allocates a handful of vectors; nothing may scale with events.
    assert!(big <= small + 4, "{small} allocations for {small_events} events, {big} for {big_events}");
    assert!(big < 64, "{big} allocations in one replay");
}
