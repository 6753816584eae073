//! Saves beside live traffic: the loop keeps serving other connections
//! while a save is written, the asking connection gets its replies in
//! order, and a save outlives the connection that asked for it.

mod common;

use std::time::Duration;

use common::VirtualHost;
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

fn host(dir: &TempDir) -> VirtualHost {
    VirtualHost::start(common::config().persist(true, dir.path()).max_payload(64 << 20))
}

#[test]
fn other_connections_are_served_while_a_save_is_written() {
    let dir = TempDir::new("live-other");
    let mut host = host(&dir);
    let mut saver = host.open();
    assert_eq!(host.call(&mut saver, &bulk(300_000)), r#"{"KV_SET_RSP":{"st":1}}"#);
    saver.send(r#"{"KV_SAVE":{"name":"big"}}"#);
    let mut other = host.open();
    // Counted only when the save's reply had not come yet when the other
    // connection's reply was read.
    let mut before = 0;
    let reply = loop {
        let reply = host.call(&mut other, r#"{"KV_GET":{"keys":["key7"]}}"#);
        assert!(reply.contains(r#""st":1"#), "{reply}");
        saver.pump();
        if let Some((1, reply)) = saver.take_frame() {
            break String::from_utf8(reply).unwrap();
        }
        before += 1;
        // A turn that may wait (a millisecond while the save thread
        // writes), so this loop leaves the save thread a core.
        host.turn(common::host::TURN_WAIT);
    };
    assert!(reply.contains(r#""st":121"#), "{reply}");
    // The snapshot alone takes a turn per SNAPSHOT_KEYS_PER_STEP keys, and
    // the other connection is served in those turns (a request and the
    // extra turn of this loop take two or three of them).
    let snapshot_turns = 300_000 / ndb::internals::store::SNAPSHOT_KEYS_PER_STEP;
    assert!(before >= snapshot_turns / 4, "only {before} requests of another connection were answered during the save");
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
    let mut host = host(&dir);
    let mut client = host.open();
    host.call(&mut client, &bulk(50_000));
    client.send(r#"{"KV_SAVE":{"name":"orphan"}}"#);
    drop(client);
    // Done when the request was read and nothing is in flight any more:
    // the server no longer asks for turns at once or every millisecond.
    host.run_until("the save to finish", |h| {
        h.server().stats().requests == 2 && h.poll_timeout().is_none_or(|t| t > Duration::from_millis(1))
    });
    let mut watcher = host.open();
    let info = host.call_json(&mut watcher, r#"{"SV_INFO":{}}"#);
    assert_eq!(info["SV_INFO_RSP"]["lastSave"]["name"], "orphan", "{info}");
    assert_eq!(info["SV_INFO_RSP"]["lastSave"]["status"], 121);
    host.call(&mut watcher, r#"{"KV_CLEAR":{}}"#);
    let loaded = host.call_json(&mut watcher, r#"{"KV_LOAD":{"name":"orphan"}}"#);
    assert_eq!(loaded["KV_LOAD_RSP"]["keys"], 50_000);
}

/// The save thread cannot wake the host's `Poll`: while a snapshot is
/// being taken the loop runs turn after turn (timeout zero), and while the
/// thread writes, `poll_timeout` is at most a millisecond; back to the
/// usual deadlines once the reply is out.
#[test]
fn poll_timeout_is_short_while_a_save_is_in_flight() {
    let dir = TempDir::new("live-timeout");
    let mut host = host(&dir);
    let mut client = host.open();
    host.call(&mut client, &bulk(200_000));
    client.send(r#"{"KV_SAVE":{"name":"t"}}"#);
    let (mut zero, mut short) = (0, 0);
    let reply = host.drive("the save's reply", |host| {
        match host.poll_timeout() {
            Some(Duration::ZERO) => zero += 1,
            Some(t) if t <= Duration::from_millis(1) => short += 1,
            _ => {}
        }
        client.pump();
        client.take_frame()
    });
    assert_eq!(reply.0, 1);
    assert!(String::from_utf8(reply.1).unwrap().contains(r#""st":121"#));
    assert!(
        zero >= 200_000 / ndb::internals::store::SNAPSHOT_KEYS_PER_STEP,
        "{zero} turns at once while the snapshot was taken"
    );
    assert!(short > 0, "no short timeout while the save was written");
    host.turn(Duration::ZERO);
    let after = host.poll_timeout();
    assert!(after.is_none_or(|t| t > Duration::from_secs(1)), "back to the connection's own deadlines: {after:?}");
}
