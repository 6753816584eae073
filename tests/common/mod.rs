//! Shared support for the library's integration tests: everything of the
//! `testkit` crate (servers on port 0, clients, raw frames, save
//! directories), plus the turn-timing host loop and the pinger of the stall
//! tests, which are the library's own.
#![allow(dead_code, unused_imports)]

pub mod pinger;
pub mod timed_host;

pub use testkit::*;
