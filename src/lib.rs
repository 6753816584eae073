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
//!
//! - Safe to expose: users with roles (HTTP Basic on the upgrade), TLS
//!   (feature `tls`), protected mode by default, `/healthz` and
//!   `/metrics` on the same port.
//!
//! # Non-goals
//! - Thread safety: one owner, one thread. Run one server per thread.
//! - Compression, client certificates, per-key permissions.
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
//! # Modules
//! - [`server`]: listener, connections, turns; the only user of mio.
//! - [`conn`]: one connection: upgrade, frames, close handshake.
//! - [`http_upgrade`]: the HTTP upgrade request and the `/healthz` and
//!   `/metrics` requests, as a pure parser.
//! - [`auth`]: users, roles, Basic credentials, the failed-login slow-down.
//! - [`metrics`]: requests by command and status, latency, saves, traffic;
//!   the Prometheus text.
//! - [`protocol`]: requests to commands, replies to bytes, status numbers.
//! - [`store`]: the single owner of all data.
//! - [`persist`]: saves on disk, written and read on a thread of their own.
//! - [`timer_wheel`]: a generic hierarchical timer wheel in millisecond ticks.
//! - [`config`], [`cli`]: settings, config files and flags.
//! - [`client`]: a blocking client, one method per command (what `ndb-cli`
//!   uses); [`ServerThread`] runs a server on a thread of its own.
//! - [`error`]: set-up errors.

#![warn(missing_docs)]

pub mod auth;
mod background;
pub mod cli;
pub mod client;
pub mod config;
pub mod conn;
pub mod error;
pub mod http_upgrade;
pub mod metrics;
pub mod persist;
pub mod protocol;
pub mod server;
mod server_thread;
pub mod store;
pub mod timer_wheel;

pub use config::Config;
pub use error::{ConfigError, Error};
pub use server::{Server, TokenRange};
pub use server_thread::ServerThread;

/// ndb's version, as `SV_INFO` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
