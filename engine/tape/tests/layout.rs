//! Pins the byte layout of format version 1. A failure here means a record's
//! layout changed: bump `FORMAT_VERSION` and update the crate docs' table.

use std::mem::{align_of, offset_of, size_of};

use ticktape_tape::{Bar, FORMAT_VERSION, Fill, Funding, Header, Level, Quote, RecordKind, Series, Stamp, Trade};

#[test]
fn format_version_is_one() {
    assert_eq!(FORMAT_VERSION, 1);
}

#[test]
fn header_layout() {
    assert_eq!(size_of::<Header>(), 128);
    assert_eq!(offset_of!(Header, magic), 0);
    assert_eq!(offset_of!(Header, version), 8);
    assert_eq!(offset_of!(Header, kind), 10);
    assert_eq!(offset_of!(Header, record_size), 12);
    assert_eq!(offset_of!(Header, header_size), 16);
    assert_eq!(offset_of!(Header, flags), 20);
    assert_eq!(offset_of!(Header, record_count), 24);
    assert_eq!(offset_of!(Header, first_ts), 32);
    assert_eq!(offset_of!(Header, last_ts), 40);
    assert_eq!(offset_of!(Header, price_exponent), 48);
    assert_eq!(offset_of!(Header, qty_exponent), 49);
    assert_eq!(offset_of!(Header, value_exponent), 50);
    assert_eq!(offset_of!(Header, reserved0), 51);
    assert_eq!(offset_of!(Header, price_tick), 56);
    assert_eq!(offset_of!(Header, symbol), 64);
    assert_eq!(offset_of!(Header, venue), 96);
    assert_eq!(offset_of!(Header, qty_lot), 112);
    assert_eq!(offset_of!(Header, reserved1), 120);
}

#[test]
fn stamp_layout() {
    assert_eq!(size_of::<Stamp>(), 16);
    assert_eq!(offset_of!(Stamp, exchange), 0);
    assert_eq!(offset_of!(Stamp, local), 8);
}

#[test]
fn trade_layout() {
    assert_eq!(size_of::<Trade>(), 48);
    assert_eq!(offset_of!(Trade, ts), 0);
    assert_eq!(offset_of!(Trade, price), 16);
    assert_eq!(offset_of!(Trade, qty), 24);
    assert_eq!(offset_of!(Trade, trade_id), 32);
    assert_eq!(offset_of!(Trade, side), 40);
    assert_eq!(offset_of!(Trade, flags), 41);
    assert_eq!(offset_of!(Trade, reserved), 42);
}

#[test]
fn level_layout() {
    assert_eq!(size_of::<Level>(), 40);
    assert_eq!(offset_of!(Level, ts), 0);
    assert_eq!(offset_of!(Level, price), 16);
    assert_eq!(offset_of!(Level, qty), 24);
    assert_eq!(offset_of!(Level, side), 32);
    assert_eq!(offset_of!(Level, flags), 33);
    assert_eq!(offset_of!(Level, reserved), 34);
}

#[test]
fn quote_layout() {
    assert_eq!(size_of::<Quote>(), 48);
    assert_eq!(offset_of!(Quote, bid_price), 16);
    assert_eq!(offset_of!(Quote, bid_qty), 24);
    assert_eq!(offset_of!(Quote, ask_price), 32);
    assert_eq!(offset_of!(Quote, ask_qty), 40);
}

#[test]
fn funding_layout() {
    assert_eq!(size_of::<Funding>(), 56);
    assert_eq!(offset_of!(Funding, funding_rate), 16);
    assert_eq!(offset_of!(Funding, mark_price), 24);
    assert_eq!(offset_of!(Funding, index_price), 32);
    assert_eq!(offset_of!(Funding, next_funding_ts), 40);
    assert_eq!(offset_of!(Funding, flags), 48);
    assert_eq!(offset_of!(Funding, reserved), 49);
}

#[test]
fn bar_layout() {
    assert_eq!(size_of::<Bar>(), 80);
    assert_eq!(offset_of!(Bar, open_ts), 16);
    assert_eq!(offset_of!(Bar, open), 24);
    assert_eq!(offset_of!(Bar, high), 32);
    assert_eq!(offset_of!(Bar, low), 40);
    assert_eq!(offset_of!(Bar, close), 48);
    assert_eq!(offset_of!(Bar, volume), 56);
    assert_eq!(offset_of!(Bar, taker_buy_volume), 64);
    assert_eq!(offset_of!(Bar, trade_count), 72);
}

#[test]
fn series_layout() {
    assert_eq!(size_of::<Series>(), 32);
    assert_eq!(offset_of!(Series, id), 16);
    assert_eq!(offset_of!(Series, value), 24);
}

#[test]
fn fill_layout() {
    assert_eq!(size_of::<Fill>(), 104);
    assert_eq!(offset_of!(Fill, account), 16);
    assert_eq!(offset_of!(Fill, price), 24);
    assert_eq!(offset_of!(Fill, qty), 32);
    assert_eq!(offset_of!(Fill, start_position), 40);
    assert_eq!(offset_of!(Fill, closed_pnl), 48);
    assert_eq!(offset_of!(Fill, fee), 56);
    assert_eq!(offset_of!(Fill, order_id), 64);
    assert_eq!(offset_of!(Fill, trade_id), 72);
    assert_eq!(offset_of!(Fill, symbol), 80);
    assert_eq!(offset_of!(Fill, side), 96);
    assert_eq!(offset_of!(Fill, dir), 97);
    assert_eq!(offset_of!(Fill, flags), 98);
    assert_eq!(offset_of!(Fill, reserved), 99);
}

#[test]
fn every_record_is_8_aligned_and_kind_sizes_agree() {
    assert_eq!(align_of::<Trade>(), 8);
    assert_eq!(align_of::<Level>(), 8);
    assert_eq!(align_of::<Fill>(), 8);
    let expected = [48, 40, 48, 56, 80, 32, 104];
    for (kind, size) in RecordKind::ALL.into_iter().zip(expected) {
        assert_eq!(kind.record_size(), size, "{kind}");
        assert_eq!(RecordKind::from_code(kind.code()), Some(kind));
        assert_eq!(RecordKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(RecordKind::from_code(0), None);
    assert_eq!(RecordKind::from_code(8), None);
}
