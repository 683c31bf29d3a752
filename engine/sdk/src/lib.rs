//! The ticktape strategy SDK: the one crate a strategy plugin depends on.
//!
//! It gives strategies the building blocks they need on the per-event hot
//! path. So far that is [`signal`]: streaming statistics (decayed
//! accumulators, EWMAs, rolling mean / std / z-score, min / max, rank and
//! correlation) whose `update` costs O(1) and allocates nothing.
#![deny(missing_docs)]

pub mod signal;
