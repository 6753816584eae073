//! Bad input never hurts anyone else: each malformed thing a peer can send
//! gets its documented status or close code, every other connection keeps
//! working, and nothing stored is lost. Every case runs twice: on a server
//! without users, and on one with users where every connection logs in.

mod common;

use common::{Raw, TestServer, frame, start_with, text_frame};
use ndb_client::Client;
use serde_json::json;

const CHECK: &str = r#"{"KV_GET":{"keys":["kept"]}}"#;
const KEPT: &str = r#"{"KV_GET_RSP":{"keys":{"kept":{"a":[1,2,3]}},"st":1}}"#;

/// How a case's connections reach the server.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// No users: connections upgrade at once.
    Open,
    /// Users configured: every connection logs in (its upgrade is held
    /// for the server's answer).
    LoggedIn,
}

const MODES: [Mode; 2] = [Mode::Open, Mode::LoggedIn];

const USER: (&str, &str) = ("app", "secret");

impl Mode {
    fn config(self, config: ndb::Config) -> ndb::Config {
        match self {
            Mode::Open => config,
            Mode::LoggedIn => config.users(
                ndb::Users::new(vec![ndb::User::with_password(USER.0, USER.1, ndb::Role::Admin).unwrap()]).unwrap(),
            ),
        }
    }

    fn start(self) -> TestServer {
        start_with(self.config(common::config()))
    }

    fn upgrade(self) -> String {
        match self {
            Mode::Open => common::UPGRADE.to_owned(),
            Mode::LoggedIn => common::upgrade_with(&common::basic(USER.0, USER.1)),
        }
    }

    fn open(self, addr: std::net::SocketAddr) -> Raw {
        Raw::open_with(addr, &self.upgrade())
    }

    fn ndb(self, server: &TestServer) -> Client {
        match self {
            Mode::Open => server.ndb(),
            Mode::LoggedIn => server.ndb_as(USER.0, USER.1),
        }
    }

    fn client(self, server: &TestServer) -> common::Client {
        match self {
            Mode::Open => server.client(),
            Mode::LoggedIn => common::Client::connect_as(server.addr, &common::basic(USER.0, USER.1)),
        }
    }
}

/// A server holding one key, with a bystander connection already open.
fn seeded(mode: Mode, config: ndb::Config) -> (TestServer, Client) {
    let server = start_with(mode.config(config));
    let mut bystander = mode.ndb(&server);
    bystander.kv_set(json!({"kept": {"a": [1, 2, 3]}})).expect("seed");
    (server, bystander)
}

/// The bystander still works and the key is intact.
fn unharmed(bystander: &mut Client) {
    assert_eq!(bystander.kv_get_one("kept").expect("bystander served"), Some(json!({"a": [1, 2, 3]})));
}

#[test]
fn statuses_for_malformed_messages_keep_the_connection() {
    for mode in MODES {
        statuses_for_malformed_messages_keep_the_connection_in(mode);
    }
}

fn statuses_for_malformed_messages_keep_the_connection_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config());
    let mut raw = mode.open(server.addr);
    let rows: [(&[u8], &str); 6] = [
        (b"", r#"{"ERR":{"m":"","st":3}}"#),
        (b"{\"KV_GET\":", r#"{"ERR":{"m":"","st":3}}"#),
        (b"[1,2]", r#"{"ERR":{"m":"","st":13}}"#),
        (br#"{"KV_GET":{"keys":"kept"}}"#, r#"{"KV_GET_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
        (br#"{"NOPE_X":{}}"#, r#"{"NOPE_X_RSP":{"m":"","st":10,"tkn":null}}"#),
        (CHECK.as_bytes(), KEPT),
    ];
    for (message, expected) in rows {
        raw.write(&frame(1, true, message));
        assert_eq!(raw.text(), expected, "{}", String::from_utf8_lossy(message));
    }
    raw.write(&frame(2, true, b"\x00\x01binary"));
    assert_eq!(raw.text(), r#"{"ERR":{"m":"","st":2}}"#);
    raw.write(&text_frame(CHECK));
    assert_eq!(raw.text(), KEPT);
    unharmed(&mut bystander);
}

#[test]
fn one_byte_over_max_payload_closes_with_1009() {
    for mode in MODES {
        one_byte_over_max_payload_closes_with_1009_in(mode);
    }
}

fn one_byte_over_max_payload_closes_with_1009_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config().max_payload(1024));
    let set_of = |key: &str, len: usize| {
        let envelope = format!(r#"{{"KV_SET":{{"keys":{{"{key}":""}}}}}}"#).len();
        format!(r#"{{"KV_SET":{{"keys":{{"{key}":"{}"}}}}}}"#, "a".repeat(len - envelope))
    };
    let exact = set_of("x", 1024);
    assert_eq!(exact.len(), 1024);
    let mut raw = mode.open(server.addr);
    raw.write(&text_frame(&exact));
    assert_eq!(raw.text(), r#"{"KV_SET_RSP":{"st":1}}"#);
    let over = set_of("y", 1025);
    raw.write(&text_frame(&over));
    assert_eq!(raw.close_code(), Some(1009));
    assert!(raw.ends());
    unharmed(&mut bystander);
    assert_eq!(bystander.kv_contains(["x", "y"]).unwrap(), ["x"]);
}

#[test]
fn a_fragmented_message_over_max_payload_closes_with_1009() {
    for mode in MODES {
        a_fragmented_message_over_max_payload_closes_with_1009_in(mode);
    }
}

fn a_fragmented_message_over_max_payload_closes_with_1009_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config().max_payload(1024));
    let mut raw = mode.open(server.addr);
    raw.write(&frame(1, false, &[b' '; 600]));
    raw.write(&frame(0, true, &[b' '; 425]));
    assert_eq!(raw.close_code(), Some(1009));
    unharmed(&mut bystander);
}

#[test]
fn fragmented_messages_are_reassembled() {
    for mode in MODES {
        fragmented_messages_are_reassembled_in(mode);
    }
}

fn fragmented_messages_are_reassembled_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config());
    let mut raw = mode.open(server.addr);
    let message = CHECK.as_bytes();
    raw.write(&frame(1, false, &message[..5]));
    raw.write(&frame(9, true, b"ping!"));
    raw.write(&frame(0, false, &message[5..10]));
    raw.write(&frame(0, true, &message[10..]));
    assert_eq!(raw.frame(), Some((10, b"ping!".to_vec())));
    assert_eq!(raw.text(), KEPT);
    unharmed(&mut bystander);
}

#[test]
fn invalid_utf8_closes_with_1007() {
    for mode in MODES {
        invalid_utf8_closes_with_1007_in(mode);
    }
}

fn invalid_utf8_closes_with_1007_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config());
    let mut raw = mode.open(server.addr);
    raw.write(&frame(1, true, b"{\"KV_GET\":{\"keys\":[\"\xff\"]}}"));
    assert_eq!(raw.close_code(), Some(1007));
    assert!(raw.ends());
    unharmed(&mut bystander);
}

#[test]
fn protocol_violations_close_with_1002() {
    for mode in MODES {
        protocol_violations_close_with_1002_in(mode);
    }
}

fn protocol_violations_close_with_1002_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config());
    let mut unmasked = vec![0x81, 0x02];
    unmasked.extend_from_slice(b"{}");
    let mut reserved_bit = text_frame(CHECK);
    reserved_bit[0] |= 0x40;
    let violations = [unmasked, reserved_bit, frame(0x3, true, b""), frame(0x0, true, b"x"), frame(0x9, false, b"")];
    for violation in violations {
        let mut raw = mode.open(server.addr);
        raw.write(&violation);
        assert_eq!(raw.close_code(), Some(1002), "{violation:02x?}");
        assert!(raw.ends());
    }
    unharmed(&mut bystander);
}

#[test]
fn close_handshake_is_completed() {
    for mode in MODES {
        close_handshake_is_completed_in(mode);
    }
}

fn close_handshake_is_completed_in(mode: Mode) {
    let server = mode.start();
    let mut raw = mode.open(server.addr);
    raw.write(&frame(8, true, &1000u16.to_be_bytes()));
    assert_eq!(raw.close_code(), Some(1000));
    assert!(raw.ends());
    let mut client = mode.client(&server);
    client.ws.close(None).unwrap();
    assert_eq!(client.close_code(), None, "tungstenite reports the echoed close as the end");
}

#[test]
fn abrupt_disconnects_mid_frame_and_mid_handshake() {
    for mode in MODES {
        abrupt_disconnects_mid_frame_and_mid_handshake_in(mode);
    }
}

fn abrupt_disconnects_mid_frame_and_mid_handshake_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config());
    for cut in [1, 3, 7, 20] {
        let mut raw = mode.open(server.addr);
        let f = text_frame(r#"{"KV_SET":{"keys":{"kept":"overwritten"}}}"#);
        raw.write(&f[..cut]);
        drop(raw);
    }
    for cut in [5, 40] {
        let mut raw = Raw::connect(server.addr);
        raw.write(&mode.upgrade().as_bytes()[..cut]);
        drop(raw);
    }
    unharmed(&mut bystander);
    common::eventually("the cut connections are freed", || server.connections() == 1);
}

#[test]
fn a_peer_that_stops_reading_does_not_stop_others() {
    for mode in MODES {
        a_peer_that_stops_reading_does_not_stop_others_in(mode);
    }
}

fn a_peer_that_stops_reading_does_not_stop_others_in(mode: Mode) {
    let (server, mut bystander) = seeded(mode, common::config().output_limits(64 * 1024, 1024 * 1024));
    let mut greedy = mode.open(server.addr);
    let big = format!(r#"{{"KV_SET":{{"keys":{{"big":"{}"}}}}}}"#, "b".repeat(100_000));
    greedy.write(&text_frame(&big));
    let get = text_frame(r#"{"KV_GET":{"keys":["big","kept"]}}"#);
    // Thousands of 100 KB replies that are never read.
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..2000 {
                if std::io::Write::write_all(&mut greedy.stream, &get).is_err() {
                    break;
                }
            }
        });
        for _ in 0..20 {
            unharmed(&mut bystander);
        }
    });
    unharmed(&mut bystander);
}
