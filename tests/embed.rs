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

use mio::{Events, Interest, Poll, Token};
use ndb::{Server, TokenRange};

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
    let mut server = Server::bind(common::config(), tokens).unwrap();
    assert!(!server.owns(Token(0)));
    assert!(!server.owns(Token(999)));
    assert!(server.owns(Token(1000)));
    assert!(server.owns(Token(1100)));
    assert!(!server.owns(Token(1101)));

    let mut poll = Poll::new().unwrap();
    server.register(poll.registry()).unwrap();
    // Idle: nothing to wake up for.
    assert_eq!(server.poll_timeout(Instant::now()), None);

    // A connection that has not upgraded brings a deadline (handshake).
    let addr = server.local_addr();
    let _pending = TcpStream::connect(addr).unwrap();
    let mut events = Events::with_capacity(16);
    let deadline = Instant::now() + common::TIMEOUT;
    while server.connections() == 0 {
        assert!(Instant::now() < deadline);
        poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
        for event in events.iter() {
            assert!(server.owns(event.token()), "every event here is the server's");
            assert!(event.token().0 >= 1000 && event.token().0 <= 1100);
            server.handle_event(poll.registry(), event, Instant::now());
        }
        server.tick(poll.registry(), Instant::now());
    }
    let timeout = server.poll_timeout(Instant::now()).expect("a handshake deadline");
    assert!(timeout > Duration::from_secs(5) && timeout <= Duration::from_secs(10), "{timeout:?}");

    // The host's own sources can use any other token in the same Poll.
    let mut own = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    poll.registry().register(&mut own, Token(7), Interest::READABLE).unwrap();
    server.shutdown(poll.registry());
    server.tick(poll.registry(), Instant::now());
    assert!(server.is_drained());
}
