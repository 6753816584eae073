//! Held request heads: the connection reads nothing more until the server
//! answers, then serves what followed the head with the role it was given.

use super::*;
use crate::auth::{Access, Denied, Role, User, Users};
use crate::http_upgrade::Endpoint;

fn holding() -> Harness {
    let mut h = Harness::new();
    h.limits.users = Users::new(vec![User::with_password("app", "secret", Role::Read).unwrap()]).unwrap();
    h.limits.hold_upgrades = true;
    h
}

fn with_auth(value: &str) -> Vec<u8> {
    let head = String::from_utf8(UPGRADE.to_vec()).unwrap();
    head.replace("Host: x\r\n", &format!("Host: x\r\nAuthorization: {value}\r\n")).into_bytes()
}

#[test]
fn a_held_upgrade_waits_then_serves_the_frames_that_came_with_it() {
    let mut h = holding();
    let mut bytes = with_auth("Basic YXBwOnNlY3JldA==");
    bytes.extend(text("first"));
    h.feed(&bytes);
    h.feed(&text("second"));
    assert_eq!(h.serve(), Served::Drained);
    assert!(h.conn.is_held() && !h.conn.is_handshaking() && !h.conn.is_open());
    assert!(h.conn.stream.written.is_empty(), "nothing is answered before the server decides");
    assert!(!h.conn.stream.input.is_empty(), "and nothing more is read");
    let Some(Held::Upgrade(upgrade)) = h.conn.take_held() else { panic!("an upgrade is held") };
    assert_eq!(upgrade.access, Access::Granted(Role::Read));
    assert_eq!(h.conn.take_held(), None, "taken once");
    assert_eq!(h.serve(), Served::Drained, "still held");
    assert!(h.conn.stream.written.is_empty());
    h.conn.accept_held(&upgrade, Role::Read);
    assert_eq!(h.conn.role(), Role::Read);
    assert_eq!(h.serve(), Served::Drained);
    assert!(String::from_utf8_lossy(&h.conn.stream.written).starts_with("HTTP/1.1 101 "));
    assert_eq!(h.texts(), ["echo:first", "echo:second"]);
}

#[test]
fn a_refused_login_is_answered_with_what_the_server_says_and_closed() {
    let mut h = holding();
    h.feed(&with_auth("Basic YXBwOndyb25n"));
    h.serve();
    let held = h.conn.take_held().unwrap();
    assert_eq!(held.access(), &Access::Denied(Denied::Wrong("app".into())));
    let served = h.conn.answer_held(Reject::Unauthorized.response(), CloseReason::Rejected(Reject::Unauthorized));
    assert_eq!(served, Served::Drained);
    let written = String::from_utf8_lossy(&h.conn.stream.written).into_owned();
    assert!(written.starts_with("HTTP/1.1 401 Unauthorized\r\n") && written.contains("WWW-Authenticate: Basic"));
    assert!(h.conn.is_closing() && h.conn.stream.shut.get());
    h.conn.stream.input.push_back(Chunk::Eof);
    assert_eq!(h.serve(), Served::Finished);
}

#[test]
fn endpoints_are_held_even_without_users() {
    let mut h = Harness::new();
    h.feed(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /more");
    assert_eq!(h.serve(), Served::Drained);
    assert_eq!(h.conn.take_held(), Some(Held::Endpoint(Endpoint::Metrics, Access::Granted(Role::Admin))));
    h.conn.answer_held(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", CloseReason::Answered);
    assert_eq!(h.conn.stream.written, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.conn.heap_bytes(), 0, "nothing kept after the answer went out");
}

#[test]
fn without_holding_an_upgrade_completes_at_once_as_admin() {
    let mut h = Harness::open();
    assert_eq!(h.conn.role(), Role::Admin);
    assert_eq!(h.conn.take_held(), None);
}
