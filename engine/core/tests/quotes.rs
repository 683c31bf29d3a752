//! Quote-driven books: the synthetic quotes feed and its replay.

use std::path::PathBuf;

use ticktape_engine::book::Book;
use ticktape_engine::replay::{Event, Handler, Replay};
use ticktape_engine::synth::{SynthConfig, generate};
use ticktape_tape::{Level, Quote, RecordKind, Tape, Trade, level_flags};

fn make(dir: &std::path::Path, events: u64, quotes: bool) -> Vec<PathBuf> {
    let mut cfg = SynthConfig::new(events);
    cfg.quotes = quotes;
    generate(&cfg, dir).unwrap().into_iter().map(|s| s.path).collect()
}

/// The quotes feed publishes the touch of the very market the L2 feed
/// describes (same seed): after each L2 message, the book rebuilt from the
/// L2 tape has the next quote's best bid and ask, and the trades agree.
#[test]
fn synthetic_quotes_are_the_touch_of_the_same_l2_market() {
    let (qd, ld) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let q = make(qd.path(), 20_000, true);
    let l = make(ld.path(), 200_000, false);
    let (qt, qq) = (Tape::open(&q[0]).unwrap(), Tape::open(&q[1]).unwrap());
    let (lt, ll) = (Tape::open(&l[0]).unwrap(), Tape::open(&l[1]).unwrap());
    assert_eq!(qq.kind(), RecordKind::Quote);
    assert_eq!(ll.kind(), RecordKind::Level);
    qq.verify().unwrap();
    let quotes = qq.records::<Quote>().unwrap();
    let (qtrades, ltrades) = (qt.records::<Trade>().unwrap(), lt.records::<Trade>().unwrap());
    assert!(qtrades.len() + quotes.len() >= 20_000);
    assert_eq!(qtrades, &ltrades[..qtrades.len()], "the trades are the same market's");
    let mut book = Book::with_tick(ll.header().price_tick);
    let mut next = quotes.iter();
    let mut compared = 0;
    for lv in ll.records::<Level>().unwrap() {
        book.apply(lv);
        if lv.flags & level_flags::BATCH_END != 0 {
            let Some(quote) = next.next() else { break };
            assert_eq!(quote.ts, lv.ts);
            assert_eq!(book.best_bid(), Some((quote.bid_price, quote.bid_qty)), "quote {compared}");
            assert_eq!(book.best_ask(), Some((quote.ask_price, quote.ask_qty)), "quote {compared}");
            compared += 1;
        }
    }
    assert_eq!(compared, quotes.len(), "every quote matched an L2 message");
}

/// Replaying trades + quotes keeps a book holding exactly the last quote.
#[derive(Default)]
struct LastQuote {
    quotes: u64,
    wrong: u64,
}

impl Handler<'_> for LastQuote {
    fn on_event(&mut self, inst: usize, event: Event<'_>, books: &[Book]) {
        if let Event::Quote(q) = event {
            self.quotes += 1;
            let b = &books[inst];
            let ok = b.best_bid() == Some((q.bid_price, q.bid_qty))
                && b.best_ask() == Some((q.ask_price, q.ask_qty))
                && b.bid_count() == 1
                && b.ask_count() == 1;
            self.wrong += u64::from(!ok);
        }
    }
}

#[test]
fn quote_replay_book_holds_the_last_quote() {
    let dir = tempfile::tempdir().unwrap();
    let replay = Replay::open(&make(dir.path(), 100_000, true)).unwrap();
    assert!(!replay.instruments()[0].has_l2);
    let mut h = LastQuote::default();
    replay.run(&mut h).unwrap();
    assert!(h.quotes > 50_000, "{}", h.quotes);
    assert_eq!(h.wrong, 0);
}
