//! Saves beside live traffic: the loop keeps serving other connections
//! while a save is written, the asking connection gets its replies in
//! order, and a save outlives the connection that asked for it.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::saves::{TempDir, without_duration};

/// A `KV_SET` of `n` keys of about 100 bytes.
fn bulk(n: usize) -> String {
    let value = "v".repeat(90);
    let keys: Vec<String> = (0..n).map(|i| format!(r#""key{i}":"{value}""#)).collect();
    format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(","))
}

fn server(dir: &TempDir) -> common::TestServer {
    common::start_with(common::config().persist(true, dir.path()).max_payload(64 << 20))
}

#[test]
fn other_connections_are_served_while_a_save_is_written() {
    let dir = TempDir::new("live-other");
    let server = server(&dir);
    let mut saver = server.client();
    saver.call(&bulk(300_000));
    saver.send(r#"{"KV_SAVE":{"name":"big"}}"#);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let reply = saver.recv();
        let _ = tx.send((reply, Instant::now()));
    });
    let mut other = server.client();
    let mut answered = Vec::new();
    let (reply, saved_at) = loop {
        assert!(other.call(r#"{"KV_GET":{"keys":["key7"]}}"#).contains(r#""st":1"#));
        answered.push(Instant::now());
        if let Ok(done) = rx.try_recv() {
            break done;
        }
        assert!(answered.len() < 1_000_000, "the save never finished");
    };
    assert!(reply.contains(r#""st":121"#), "{reply}");
    let before = answered.iter().filter(|t| **t < saved_at).count();
    assert!(before >= 2, "only {before} requests of another connection were answered during the save");
}

#[test]
fn pipelined_requests_around_a_save_are_answered_in_order() {
    let dir = TempDir::new("live-order");
    let server = server(&dir);
    let mut client = server.client();
    let requests = [
        r#"{"KV_SET":{"keys":{"a":1}}}"#,
        r#"{"KV_SAVE":{"name":"p"}}"#,
        r#"{"KV_SET":{"keys":{"a":2}}}"#,
        r#"{"KV_GET":{"keys":["a"]}}"#,
        r#"{"SH_SAVE":{"name":"q"}}"#,
        r#"{"KV_LOAD":{"name":"p"}}"#,
        r#"{"KV_GET":{"keys":["a"]}}"#,
        r#"{"KV_COUNT":{}}"#,
    ];
    for request in requests {
        client.send(request);
    }
    let replies: Vec<String> = requests.iter().map(|_| without_duration(&client.recv())).collect();
    assert_eq!(
        replies,
        [
            r#"{"KV_SET_RSP":{"st":1}}"#,
            r#"{"KV_SAVE_RSP":{"duration":0,"name":"p","st":121}}"#,
            r#"{"KV_SET_RSP":{"st":1}}"#,
            r#"{"KV_GET_RSP":{"keys":{"a":2},"st":1}}"#,
            r#"{"SH_SAVE_RSP":{"duration":0,"name":"q","st":121}}"#,
            r#"{"KV_LOAD_RSP":{"duration":0,"keys":1,"name":"p","sessions":0,"st":141}}"#,
            r#"{"KV_GET_RSP":{"keys":{"a":1},"st":1}}"#,
            r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#,
        ]
    );
}

#[test]
fn a_save_completes_when_its_connection_has_gone() {
    let dir = TempDir::new("live-gone");
    let server = server(&dir);
    let mut client = server.client();
    client.call(&bulk(50_000));
    client.send(r#"{"KV_SAVE":{"name":"orphan"}}"#);
    drop(client);
    let mut watcher = server.client();
    let deadline = Instant::now() + common::TIMEOUT;
    loop {
        let info = watcher.call_json(r#"{"SV_INFO":{}}"#);
        if info["SV_INFO_RSP"]["lastSave"]["name"] == "orphan" {
            assert_eq!(info["SV_INFO_RSP"]["lastSave"]["status"], 121);
            break;
        }
        assert!(Instant::now() < deadline, "the save was not recorded");
        std::thread::sleep(Duration::from_millis(5));
    }
    watcher.call(r#"{"KV_CLEAR":{}}"#);
    let loaded = watcher.call_json(r#"{"KV_LOAD":{"name":"orphan"}}"#);
    assert_eq!(loaded["KV_LOAD_RSP"]["keys"], 50_000);
}

/// The save thread cannot wake the host's `Poll`: while a snapshot is
/// being taken the loop runs turn after turn (timeout zero), and while the
/// thread writes, `poll_timeout` is at most a millisecond; back to the
/// usual deadlines once the reply is out.
#[test]
fn poll_timeout_is_short_while_a_save_is_in_flight() {
    use mio::{Events, Poll};
    use ndb::{Server, TokenRange};

    let dir = TempDir::new("live-timeout");
    let config = common::config().persist(true, dir.path()).max_payload(64 << 20);
    let mut server = Server::bind(config, TokenRange { base: 1, max_conns: 8 }).unwrap();
    let mut poll = Poll::new().unwrap();
    server.register(poll.registry()).unwrap();
    let addr = server.local_addr();
    let (tx, rx) = mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut client = common::Client::connect(addr);
        client.call(&bulk(200_000));
        let reply = client.call(r#"{"KV_SAVE":{"name":"t"}}"#);
        tx.send(()).unwrap();
        reply
    });
    let mut events = Events::with_capacity(64);
    let (mut zero, mut short) = (0, 0);
    let deadline = Instant::now() + common::TIMEOUT;
    while rx.try_recv().is_err() {
        assert!(Instant::now() < deadline, "no reply");
        let timeout = server.poll_timeout(Instant::now());
        match timeout {
            Some(Duration::ZERO) => zero += 1,
            Some(t) if t <= Duration::from_millis(1) => short += 1,
            _ => {}
        }
        poll.poll(&mut events, timeout.or(Some(Duration::from_millis(50)))).unwrap();
        for event in events.iter() {
            server.handle_event(poll.registry(), event, Instant::now());
        }
        server.tick(poll.registry(), Instant::now());
    }
    assert!(client.join().unwrap().contains(r#""st":121"#));
    assert!(
        zero >= 200_000 / ndb::internals::store::SNAPSHOT_KEYS_PER_STEP,
        "{zero} turns at once while the snapshot was taken"
    );
    assert!(short > 0, "no short timeout while the save was written");
    server.tick(poll.registry(), Instant::now());
    let after = server.poll_timeout(Instant::now());
    assert!(after.is_none_or(|t| t > Duration::from_secs(1)), "back to the connection's own deadlines: {after:?}");
}
