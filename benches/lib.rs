//! Criterion benchmarks of whole ticktape pipelines; run them with
//! `cargo bench -p ticktape-benches`. This library is empty.
