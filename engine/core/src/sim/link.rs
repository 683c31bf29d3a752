//! FIFO channels with latency, and timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::latency::Latency;

/// A one-way channel (orders to the exchange, answers back to the
/// strategy): a message sent at `t` arrives at `t + latency`, but never
/// before the message sent before it (FIFO, as over one connection).
#[derive(Debug)]
pub(super) struct Link<T> {
    queue: VecDeque<(i64, T)>,
    last: i64,
    latency: Latency,
}

impl<T> Link<T> {
    pub(super) fn new(latency: Latency) -> Self {
        Link { queue: VecDeque::with_capacity(256), last: i64::MIN, latency }
    }

    /// Sends, at time `at`, what `make` builds given the arrival time;
    /// returns the arrival time.
    pub(super) fn send(&mut self, at: i64, make: impl FnOnce(i64) -> T) -> i64 {
        let t = (at + self.latency.sample()).max(self.last);
        self.last = t;
        self.queue.push_back((t, make(t)));
        t
    }

    /// Arrival time of the next message (`i64::MAX` when empty).
    #[inline]
    pub(super) fn next_time(&self) -> i64 {
        self.queue.front().map_or(i64::MAX, |m| m.0)
    }

    /// The next message and its arrival time.
    pub(super) fn pop(&mut self) -> Option<(i64, T)> {
        self.queue.pop_front()
    }

    /// The next message if it arrives exactly at `t`.
    pub(super) fn pop_at(&mut self, t: i64) -> Option<T> {
        if self.next_time() == t { self.queue.pop_front().map(|m| m.1) } else { None }
    }
}

/// The strategy's timers in time order; equal times fire in the order they
/// were set.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(i64, u64, u64)>>,
    seq: u64,
}

impl Timers {
    pub(super) fn set(&mut self, at: i64, token: u64) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, token)));
    }

    /// Time of the next timer (`i64::MAX` when none).
    #[inline]
    pub(super) fn next_time(&self) -> i64 {
        self.heap.peek().map_or(i64::MAX, |t| t.0.0)
    }

    /// The next timer's time and token.
    pub(super) fn pop(&mut self) -> Option<(i64, u64)> {
        self.heap.pop().map(|Reverse((at, _, token))| (at, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::LatencySpec;

    #[test]
    fn link_is_fifo_whatever_the_latency() {
        let mut l = Link::new(Latency::new(&LatencySpec::Series(vec![10, 1, 5]), 0));
        assert_eq!(l.send(0, |t| t), 10);
        assert_eq!(l.send(2, |t| t), 10, "2 + 1 would overtake the first message");
        assert_eq!(l.send(20, |t| t), 25);
        assert_eq!(l.next_time(), 10);
        assert_eq!(l.pop_at(9), None);
        assert_eq!(l.pop_at(10), Some(10));
        assert_eq!(l.pop(), Some((10, 10)));
        assert_eq!(l.pop(), Some((25, 25)));
        assert_eq!(l.next_time(), i64::MAX);
    }

    #[test]
    fn timers_fire_in_time_then_set_order() {
        let mut t = Timers::default();
        t.set(5, 1);
        t.set(3, 2);
        t.set(5, 3);
        assert_eq!(t.next_time(), 3);
        assert_eq!([t.pop(), t.pop(), t.pop(), t.pop()], [Some((3, 2)), Some((5, 1)), Some((5, 3)), None]);
    }
}
