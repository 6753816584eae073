//! ndb

pub mod timer_wheel;
