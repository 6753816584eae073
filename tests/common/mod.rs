//! Shared support for the library's integration tests: everything of the
//! `testkit` crate (servers on port 0, the host loop on a virtual clock,
//! clients, raw frames, save directories), plus the pinger of the stall
//! tests, which is the library's own.
#![allow(dead_code, unused_imports)]

pub mod pinger;
pub mod python;

pub use testkit::*;
