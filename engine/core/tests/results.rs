//! Results read back from the Parquet files match the run, column by column.

use std::fs::File;
use std::path::PathBuf;

use arrow_array::{Array, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ticktape_engine::plugin::Native;
use ticktape_engine::replay::Replay;
use ticktape_engine::results;
use ticktape_engine::sim::metrics::summarize;
use ticktape_engine::sim::{self, SimConfig};
use ticktape_engine::synth::{SynthConfig, generate};

fn read(path: &std::path::Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow_select_concat(&batches)
}

fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1, "small tables are written as one batch");
    batches[0].clone()
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_any().downcast_ref::<T>().unwrap()
}

#[test]
fn parquet_results_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tapes: Vec<PathBuf> =
        generate(&SynthConfig::new(100_000), &dir.path().join("t")).unwrap().into_iter().map(|s| s.path).collect();
    let replay = Replay::open(&tapes).unwrap();
    let cfg = SimConfig::default();
    let template = <ticktape_template::Template as ticktape_sdk::Strategy>::new(ticktape_template::Config::default());
    let mut strategy = Native(template.unwrap());
    let out = sim::run(&replay, &cfg, &mut strategy).unwrap();
    assert!(!out.fills.is_empty());
    let summary = summarize(&out, "template");
    let d = dir.path().join("out");
    results::write(&d, &out, &summary).unwrap();

    let fills = read(&d.join("fills.parquet"));
    assert_eq!(fills.num_rows(), out.fills.len());
    let price: &Float64Array = col(&fills, "price");
    let ts: &TimestampNanosecondArray = col(&fills, "ts");
    let side: &StringArray = col(&fills, "side");
    let liq: &StringArray = col(&fills, "liquidity");
    for (i, f) in out.fills.iter().enumerate() {
        assert_eq!(ts.value(i), f.ts_exchange);
        assert!((price.value(i) - f.price as f64 * 0.01).abs() < 1e-9, "BTCUSDT prices have exponent -2");
        assert_eq!(side.value(i), if f.side > 0 { "buy" } else { "sell" });
        assert_eq!(liq.value(i), if f.maker { "maker" } else { "taker" });
    }
    assert_eq!(ts.timezone(), Some("UTC"));

    let orders = read(&d.join("orders.parquet"));
    assert_eq!(orders.num_rows(), out.orders.len());
    let ids: &UInt64Array = col(&orders, "order_id");
    assert_eq!(ids.values().to_vec(), (1..=out.orders.len() as u64).collect::<Vec<_>>());
    let status: &StringArray = col(&orders, "status");
    let filled = out.orders.iter().filter(|o| o.status.name() == "filled").count();
    assert_eq!((0..status.len()).filter(|&i| status.value(i) == "filled").count(), filled);

    let equity = read(&d.join("equity.parquet"));
    assert_eq!(equity.num_rows(), out.samples.len());
    let eq: &Float64Array = col(&equity, "equity");
    assert_eq!(eq.value(eq.len() - 1), out.samples.last().unwrap().equity);

    let inventory = read(&d.join("inventory.parquet"));
    assert_eq!(inventory.num_rows(), out.samples.len() * out.instruments.len());

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["fills"], out.fills.len());
    assert_eq!(json["net_pnl"].as_f64().unwrap(), summary.net_pnl);
}
