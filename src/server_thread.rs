//! A [`Server`] running on a thread of its own, for tests, examples and
//! applications that want an ndb server beside them without writing a loop.
//!
//! Owns: one thread, its `Poll` and `Waker`, and the server inside. It is the
//! host here, so it is the one that reads the clock. Must not touch the
//! server's internals: it drives the public embedding API exactly as
//! `ndb-server` does. Dropping the handle shuts the server down cleanly
//! (close frames with code 1001) and joins the thread.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::warn;
use mio::{Events, Poll, Token, Waker};

use crate::config::Config;
use crate::error::Error;
use crate::server::{Server, TokenRange};

/// The waker's token; the server's range starts after it.
const WAKE: Token = Token(0);

/// How long a stop waits for clients to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A server running on its own thread; stopped when dropped.
///
/// ```
/// let server = ndb::ServerThread::spawn(ndb::Config::default().port(0))?;
/// let mut client = ndb_client::Client::connect(&server.url())?;
/// assert_eq!(client.kv_count()?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerThread {
    addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds a server with `config` (port 0 picks a free port) and starts
    /// serving it on a new thread.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address cannot be bound, [`Error::Io`] when
    /// the poll or thread cannot be created.
    pub fn spawn(config: Config) -> Result<ServerThread, Error> {
        let tokens = TokenRange { base: WAKE.0 + 1, max_conns: config.max_connections };
        let mut server = Server::bind(config, tokens)?;
        let addr = server.local_addr();
        let mut poll = Poll::new()?;
        server.register(poll.registry())?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let connections_seen = connections.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ndb {addr}"))
            .spawn(move || run(&mut poll, &mut server, &stop_flag, &connections_seen))?;
        Ok(ServerThread { addr, waker, stop, connections, thread: Some(thread) })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:40123/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Open connections (upgraded or not) as of the server's last turn.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Shuts the server down and waits for its thread.
    ///
    /// # Errors
    /// The thread's panic, if it panicked.
    pub fn stop(mut self) -> std::thread::Result<()> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> std::thread::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        self.thread.take().map_or(Ok(()), JoinHandle::join)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if self.stop_now().is_err() {
            warn!("ndb server thread {} panicked", self.addr);
        }
    }
}

/// The host loop: serve until `stop`, then drain for at most the grace time
/// and let saves and loads in flight finish.
fn run(poll: &mut Poll, server: &mut Server, stop: &AtomicBool, connections: &AtomicUsize) {
    let mut events = Events::with_capacity(256);
    let mut stopping_by: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let mut timeout = server.poll_timeout(now);
        if let Some(by) = stopping_by {
            let left = by.saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            warn!("ndb server thread: poll failed, stopping: {e}");
            return;
        }
        let now = Instant::now();
        for event in events.iter() {
            if server.owns(event.token()) {
                server.handle_event(poll.registry(), event, now);
            }
        }
        server.tick(poll.registry(), Instant::now());
        connections.store(server.connections(), Ordering::SeqCst);
        if stopping_by.is_none() && stop.load(Ordering::SeqCst) {
            server.shutdown(poll.registry());
            stopping_by = Some(Instant::now() + SHUTDOWN_GRACE);
        }
        if let Some(by) = stopping_by
            && (server.is_drained() || Instant::now() >= by)
        {
            // Saves already asked for are finished, not cut off.
            server.wait_for_jobs(Instant::now());
            return;
        }
    }
}
