//! ndb embedded in a foreign mio loop: the host in `examples/embed.rs`
//! (included here as a module, so the example is what is tested) serves a
//! TCP line echo and ndb from one `Poll`, on one thread.

mod common;
#[path = "../examples/embed.rs"]
mod embed;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::host::{Host, VirtualClock};
use mio::{Interest, Token};
use ndb::TokenRange;

#[test]
fn host_echo_and_ndb_share_one_loop() {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let host_stop = stop.clone();
    let host = std::thread::spawn(move || {
        embed::run("127.0.0.1:0".parse().unwrap(), common::config(), host_stop, |bound| tx.send(bound).unwrap())
    });
    let bound = rx.recv_timeout(common::TIMEOUT).expect("host bound");

    let mut echo = TcpStream::connect(bound.echo).unwrap();
    echo.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    let mut echo_lines = BufReader::new(echo.try_clone().unwrap());
    let mut ndb = ndb_client::Client::connect(&format!("ws://{}/", bound.ndb)).unwrap();
    for i in 0..20 {
        writeln!(echo, "line {i}").unwrap();
        ndb.kv_set(serde_json::json!({format!("k{i}"): i})).unwrap();
        let mut line = String::new();
        echo_lines.read_line(&mut line).unwrap();
        assert_eq!(line, format!("line {i}\n"));
    }
    assert_eq!(ndb.kv_count().unwrap(), 20);
    ndb.close().unwrap();

    // A plain WebSocket client to see the close frame itself.
    let mut watcher = common::Client::connect(bound.ndb);
    stop.store(true, Ordering::SeqCst);
    bound.waker.wake().unwrap();
    assert_eq!(watcher.close_code(), Some(1001), "shutdown says going away");
    host.join().unwrap().unwrap();
}

#[test]
fn the_server_keeps_to_its_token_range() {
    let tokens = TokenRange { base: 1000, max_conns: 100 };
    let config = common::config();
    let handshake_timeout = config.handshake_timeout;
    let mut host = Host::with_clock(config, tokens, VirtualClock::new());
    let server = host.server();
    assert!(!server.owns(Token(0)));
    assert!(!server.owns(Token(999)));
    assert!(server.owns(Token(1000)));
    assert!(server.owns(Token(1100)));
    assert!(!server.owns(Token(1101)));
    // Idle: nothing to wake up for.
    assert_eq!(host.poll_timeout(), None);

    // A connection that has not upgraded brings a deadline (handshake),
    // and every event it causes carries one of the server's tokens.
    let _pending = TcpStream::connect(host.addr()).unwrap();
    let deadline = Instant::now() + common::TIMEOUT;
    while host.server().connections() == 0 {
        assert!(Instant::now() < deadline, "not accepted");
        host.turn(Duration::from_millis(50));
        for token in host.last_tokens() {
            assert!(host.server().owns(*token), "every event here is the server's: {token:?}");
            assert!((1000..=1100).contains(&token.0));
        }
    }
    assert_eq!(host.poll_timeout(), Some(handshake_timeout), "the clock has not moved: the whole timeout is left");

    // The host's own sources can use any other token in the same Poll: the
    // host gets their events, the server leaves them alone.
    let mut own = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    host.registry().register(&mut own, Token(7), Interest::READABLE).unwrap();
    let _visitor = TcpStream::connect(own.local_addr().unwrap()).unwrap();
    host.run_until("the host's own event", |h| h.last_tokens().contains(&Token(7)));
    assert_eq!(host.server().connections(), 1);
    assert_eq!(host.server().stats().connections_total, 1);

    host.shutdown();
    host.turn(Duration::ZERO);
    assert!(host.server().is_drained());
}
