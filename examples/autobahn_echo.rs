//! An echo server over ndb's own upgrade and connection code ([`Conn`]), for
//! the Autobahn|Testsuite `fuzzingclient` (`scripts/autobahn.sh`): text is
//! echoed as text, binary as binary, with ndb's framing, fragmentation,
//! UTF-8, ping and close handling exactly as `ndb-server` runs them.
//!
//! ```text
//! cargo run --release --features internals --example autobahn_echo -- [PORT]   # default 9001
//! ```

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use ndb::internals::conn::{Conn, Limits, Message, ReplyKind, Scratch, Served};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9001);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut listener = TcpListener::bind(addr)?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("echo on ws://{addr}/");

    // The suite sends messages of up to 16 MiB and echoes of that size must
    // not count as a slow reader.
    let limits = Limits { max_payload: 64 * 1024 * 1024, max_output_bytes: 256 * 1024 * 1024, ..Limits::default() };
    let mut scratch = Scratch::default();
    let mut conns: Slab<Conn<TcpStream>> = Slab::new();
    let mut ready: VecDeque<usize> = VecDeque::new();
    let mut events = Events::with_capacity(1024);
    let mut echo = |message: Message<'_>, out: &mut Vec<u8>| match message {
        Message::Text(text) => {
            out.extend_from_slice(text.as_bytes());
            ReplyKind::Text
        }
        Message::Binary(bytes) => {
            out.extend_from_slice(bytes);
            ReplyKind::Binary
        }
    };

    loop {
        let timeout = if ready.is_empty() { None } else { Some(Duration::ZERO) };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut outcomes = Vec::new();
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let entry = conns.vacant_entry();
                            let key = entry.key();
                            let conn = entry.insert(Conn::new(stream));
                            poll.registry().register(
                                conn.stream_mut(),
                                Token(key),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else { continue };
            if event.is_writable() {
                outcomes.push((key, conn.flush(&limits)));
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                outcomes.push((key, conn.serve(&mut scratch, &limits, &mut echo)));
            }
        }
        for _ in 0..ready.len() {
            let Some(key) = ready.pop_front() else { break };
            if let Some(conn) = conns.get_mut(key) {
                outcomes.push((key, conn.serve(&mut scratch, &limits, &mut echo)));
            }
        }
        for (key, served) in outcomes {
            match served {
                Served::Finished => {
                    if let Some(mut conn) = conns.try_remove(key) {
                        let _ = poll.registry().deregister(conn.stream_mut());
                    }
                }
                Served::MoreReady if !ready.contains(&key) => ready.push_back(key),
                Served::MoreReady | Served::Drained | Served::Paused => {}
            }
        }
    }
}
