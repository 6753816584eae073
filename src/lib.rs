//! ndb
