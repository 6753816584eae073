//! Embedding ndb in a host's own mio event loop.
//!
//! The host here runs its own service, a TCP line echo, and an ndb server
//! in the same `Poll` on the same thread. The host owns the `Poll`, the
//! clock and the `Waker`; ndb owns only the tokens of its `TokenRange` and
//! never blocks.
//!
//! Run it with `cargo run --example embed`, then:
//! - `nc 127.0.0.1 7000` and type lines: they come back;
//! - point a NemesisDB client at `ws://127.0.0.1:1987/`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use ndb::{Config, Server, TokenRange};
use slab::Slab;

/// Wakes the loop from another thread (to stop it).
const WAKER: Token = Token(0);
/// The host's echo listener.
const ECHO_LISTENER: Token = Token(1);
/// Echo connections use tokens from here up to ndb's range.
const ECHO_CONN_BASE: usize = 2;
/// ndb's listener; its connections follow.
const NDB_TOKENS: TokenRange = TokenRange { base: 1000, max_conns: 10_000 };

/// One echo connection: what it still has to send back.
struct Echo {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// The addresses the host listens on, once bound.
pub struct Bound {
    /// The echo service.
    pub echo: SocketAddr,
    /// ndb.
    pub ndb: SocketAddr,
    /// Wakes the loop so it notices `stop`.
    pub waker: Arc<Waker>,
}

/// Runs the host loop until `stop` is set (and the waker woken).
/// `on_bound` receives the bound addresses before the first turn.
pub fn run(
    echo_addr: SocketAddr,
    config: Config,
    stop: Arc<AtomicBool>,
    on_bound: impl FnOnce(Bound),
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut echo_listener = TcpListener::bind(echo_addr)?;
    poll.registry().register(&mut echo_listener, ECHO_LISTENER, Interest::READABLE)?;
    let mut server = Server::bind(config, NDB_TOKENS).map_err(io::Error::other)?;
    server.register(poll.registry())?;
    on_bound(Bound { echo: echo_listener.local_addr()?, ndb: server.local_addr(), waker });

    let mut echoes: Slab<Echo> = Slab::new();
    let mut events = Events::with_capacity(1024);
    while !stop.load(Ordering::SeqCst) {
        // The host's own timers would be combined here with min().
        let timeout = server.poll_timeout(Instant::now());
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let now = Instant::now();
        for event in events.iter() {
            match event.token() {
                token if server.owns(token) => server.handle_event(poll.registry(), event, now),
                WAKER => {}
                ECHO_LISTENER => accept_echoes(&poll, &mut echo_listener, &mut echoes)?,
                Token(t) => serve_echo(&poll, &mut echoes, t - ECHO_CONN_BASE),
            }
        }
        server.tick(poll.registry(), Instant::now());
    }
    server.shutdown(poll.registry());
    let deadline = Instant::now() + Duration::from_secs(2);
    while !server.is_drained() && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        let now = Instant::now();
        for event in events.iter() {
            if server.owns(event.token()) {
                server.handle_event(poll.registry(), event, now);
            }
        }
        server.tick(poll.registry(), now);
    }
    Ok(())
}

fn accept_echoes(poll: &Poll, listener: &mut TcpListener, echoes: &mut Slab<Echo>) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let entry = echoes.vacant_entry();
                let token = Token(ECHO_CONN_BASE + entry.key());
                if token.0 >= NDB_TOKENS.base {
                    continue; // the host's own connection limit
                }
                let echo = entry.insert(Echo { stream, pending: Vec::new() });
                poll.registry().register(&mut echo.stream, token, Interest::READABLE | Interest::WRITABLE)?;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn serve_echo(poll: &Poll, echoes: &mut Slab<Echo>, key: usize) {
    let Some(echo) = echoes.get_mut(key) else { return };
    let mut buf = [0u8; 4096];
    let mut closed = false;
    loop {
        match echo.stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => echo.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    while !echo.pending.is_empty() {
        match echo.stream.write(&echo.pending) {
            Ok(n) => {
                echo.pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    if closed {
        let mut echo = echoes.remove(key);
        let _ = poll.registry().deregister(&mut echo.stream);
    }
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let echo: SocketAddr = "127.0.0.1:7000".parse().map_err(io::Error::other)?;
    run(echo, Config::default(), Arc::new(AtomicBool::new(false)), |bound| {
        println!("echo on {}, ndb on ws://{}/", bound.echo, bound.ndb);
    })
}
