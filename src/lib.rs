//! ndb: a small, fast in-memory JSON key-value and session store that speaks
//! the NemesisDB WebSocket protocol.
//!
//! Clients connect over WebSocket (default `ws://127.0.0.1:1987/`) and send
//! one JSON command per text message, e.g. `{"KV_SET":{"keys":{"a":1}}}`;
//! each gets exactly one reply, in order, e.g. `{"KV_SET_RSP":{"st":1}}`.
//! The protocol is described in `docs/protocol.md`.
//!
//! # Goals
//! - Wire compatibility with both generations of the NemesisDB Python client.
//! - Small: an idle connection costs a few dozen bytes, a key little more
//!   than its text.
//! - Fast: one thread, no locks, no allocation per request beyond what is
//!   stored, replies written straight into the outgoing frame.
//! - Embeddable: [`Server`] runs inside a host's own `mio::Poll`.
//! - Safe to expose: users with roles (HTTP Basic on the upgrade), TLS
//!   (feature `tls`), protected mode by default, `/healthz` and
//!   `/metrics` on the same port.
//! - Trimmable: JSONPath's `match()` and `search()` are the default feature
//!   `regex` (regex-automata), the arrays and lists of 0.9 the default
//!   feature `arrays`, SV_SLOWLOG, SV_CLIENTS, SV_CONFIG and the per-command
//!   latencies the default feature `introspection`; without one, what needs
//!   it answers 14 (CommandDisabled) and every other command works the same.
//!
//! # Non-goals
//! - Thread safety: one owner, one thread. Run one server per thread.
//! - Compression, client certificates, per-key permissions.
//! - A client, flags or a logger: those are the `ndb-client`, `ndb-server`
//!   and `ndb-cli` crates of the same workspace; this library logs through
//!   the `log` facade and leaves the choice of logger and levels to the
//!   host.
//!
//! # Embedding
//! The host owns the `Poll`, the clock and any `Waker`; the server owns the
//! tokens of its [`TokenRange`]. This is the whole loop (and exactly what
//! `ndb-server` runs):
//!
//! ```no_run
//! use std::time::Instant;
//! use mio::{Events, Poll};
//! use ndb::{Config, Server, TokenRange};
//!
//! let mut poll = Poll::new()?;
//! let mut server = Server::bind(Config::default(), TokenRange { base: 1, max_conns: 10_000 })?;
//! server.register(poll.registry())?;
//! let mut events = Events::with_capacity(1024);
//! loop {
//!     let timeout = server.poll_timeout(Instant::now());
//!     if let Err(e) = poll.poll(&mut events, timeout) {
//!         if e.kind() == std::io::ErrorKind::Interrupted { continue }
//!         return Err(e.into());
//!     }
//!     let now = Instant::now();
//!     for event in events.iter() {
//!         if server.owns(event.token()) {
//!             server.handle_event(poll.registry(), event, now);
//!         }
//!     }
//!     server.tick(poll.registry(), Instant::now());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Before serving, [`Server::load_at_start`] restores saves (on a thread
//! of their own; `/healthz` and upgrades answer 503 until it is done, and
//! [`Server::is_loading`] says so). With TLS configured,
//! [`Server::reload_certificates`] rereads the certificate and key
//! (`ndb-server` does on SIGHUP). To stop:
//! [`Server::shutdown`] (close frames with code 1001), keep turning until
//! [`Server::is_drained`] or a deadline of the host's, then
//! [`Server::wait_for_jobs`] and, if wanted, [`Server::save_all`]; that is
//! what `ndb-server` does on SIGTERM. `examples/embed.rs` shares one loop
//! between ndb and a service of the host's own.
//!
//! # What is public
//! - [`Server`] and [`TokenRange`]: the server and the tokens it may use in
//!   the host's `Poll`; [`Stats`], its counters; [`Health`], what
//!   `/healthz` reports.
//! - [`Config`] and its builders, with the limits and checks of its fields
//!   in [`config`]; the users who may connect ([`Users`], [`User`]) and
//!   their [`Role`]s.
//! - The errors: [`Error`] (what stops a server from starting, loading at
//!   start-up or saving on exit), [`ConfigError`] (which setting is wrong
//!   and why), [`PersistError`] (which step of a save or load failed, on
//!   which path, for which operating-system reason: [`PersistOp`],
//!   [`FileKind`], [`SaveKind`]). `Display` is one line without the cause;
//!   `source()` gives the cause, so print the chain once.
//! - [`ServerThread`]: a server on a thread of its own, for tests and for
//!   applications that want one beside them without writing a loop.
//! - [`Status`] and [`Protocol`]: the wire status numbers and the two
//!   numberings (the `ndb-status` crate, shared with `ndb-client`).
//! - [`VERSION`].
//!
//! Everything else (connections, the decoder, the store, saves on disk,
//! the timer wheel) is private and may change in any release. The
//! non-default feature `internals` exposes it under `ndb::internals` for
//! the workspace's own benches, fuzz targets and white-box tests; it is not
//! part of the stable interface.
//!
//! A client is the separate `ndb-client` crate, the command-line shell
//! `ndb-cli`, the load generator `ndb-bench`; none of them, nor the
//! `ndb-server` binary's flag parser and logger, is compiled into a host
//! that depends on this library.
//!
//! # Inside
//! - `server`: listener, connections, turns; the only user of mio.
//! - `conn`: one connection: upgrade, frames, close handshake.
//! - `http_upgrade`: the HTTP upgrade request and the `/healthz` and
//!   `/metrics` requests, as a pure parser.
//! - `auth`: users, roles, Basic credentials, the failed-login slow-down.
//! - `metrics`: requests by command and status, latency, saves, traffic;
//!   the Prometheus text.
//! - `protocol`: requests to commands, replies to bytes.
//! - `store`: the single owner of all data.
//! - `persist`: saves on disk, written and read on a thread of their own.
//! - `timer_wheel`: a generic hierarchical timer wheel in millisecond ticks.
//! - `config` (public) and `error` (its types at the root): settings and
//!   set-up errors.

#![warn(missing_docs)]

// Without `internals`, items (and re-exports) only the benches and white-box
// tests use look unused to the compiler; with it (as in every workspace
// build) they are exported and the lints are as strict as for any public
// item.
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod auth;
mod background;
pub mod config;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod conn;
mod error;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod http_upgrade;
mod input_buf;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod metrics;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod persist;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod protocol;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod server;
mod server_thread;
mod sort;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod store;
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
mod timer_wheel;

pub use auth::{Role, User, Users};
pub use background::set_helper_cpus;
pub use config::Config;
pub use error::{ConfigError, Error, FileKind, PersistError, PersistOp};
pub use ndb_status::{Protocol, Status};
#[cfg(feature = "introspection")]
pub use persist::{CheckOutcome, CheckReport, CheckVerdict, SaveCheck, check_saves};
pub use server::{Health, Server, TokenRange};
pub use server_thread::ServerThread;
pub use store::{SaveKind, Stats, WRITE_KEYS_PER_STEP};

/// ndb's version, as `SV_INFO` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The library's insides, for the workspace's benches, fuzz targets and
/// white-box tests (feature `internals`, off by default). Not a stable
/// interface: anything here may change in any release.
#[cfg(feature = "internals")]
pub mod internals {
    /// Users, roles, Basic credentials, the failed-login slow-down
    /// (`src/auth.rs`).
    pub mod auth {
        pub use crate::auth::*;
    }
    /// One connection: upgrade, frames, close handshake (`src/conn.rs`).
    pub mod conn {
        pub use crate::conn::*;
    }
    /// The HTTP upgrade request, as a pure parser (`src/http_upgrade.rs`).
    pub mod http_upgrade {
        pub use crate::http_upgrade::*;
    }
    /// Requests by command and status, latency, saves, traffic; the
    /// Prometheus text (`src/metrics.rs`).
    pub mod metrics {
        pub use crate::metrics::*;
    }
    /// Saves on disk (`src/persist/`).
    pub mod persist {
        pub use crate::persist::*;
    }
    /// Requests to commands, replies to bytes (`src/protocol/`).
    pub mod protocol {
        pub use crate::protocol::*;
    }
    /// The server and `dispatch`, the path from one message to its reply
    /// (`src/server.rs`).
    pub mod server {
        pub use crate::server::*;
    }
    /// The single owner of all data (`src/store/`).
    pub mod store {
        pub use crate::store::*;
    }
    /// The hierarchical timer wheel (`src/timer_wheel/`).
    pub mod timer_wheel {
        pub use crate::timer_wheel::*;
    }
}
