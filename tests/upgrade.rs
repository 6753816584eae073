//! The HTTP/1.1 upgrade over real sockets: what is accepted, what is
//! refused with which status, and that refusals close the connection.

mod common;

use std::io::Read;

use common::{Raw, UPGRADE, start, start_with, text_frame};
use tungstenite::Message;

fn response_to(server: &common::TestServer, request: &[u8]) -> (String, Raw) {
    let mut raw = Raw::connect(server.addr);
    raw.write(request);
    let response = raw.http_response();
    (response, raw)
}

fn with(replace: &str, by: &str) -> Vec<u8> {
    UPGRADE.replace(replace, by).into_bytes()
}

#[test]
fn any_path_is_served() {
    let server = start();
    for path in ["/", "/ndb", "/a/b?c=d"] {
        let stream = std::net::TcpStream::connect(server.addr).unwrap();
        let (mut ws, _) = tungstenite::client(format!("ws://{}{path}", server.addr), stream).unwrap();
        ws.send(Message::text(r#"{"KV_COUNT":{}}"#)).unwrap();
        assert_eq!(ws.read().unwrap().into_text().unwrap().as_str(), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    }
}

#[test]
fn compression_offers_are_declined() {
    let server = start();
    let request = with(
        "Sec-WebSocket-Version: 13\r\n",
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    let (response, _) = response_to(&server, &request);
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
    assert!(!response.to_ascii_lowercase().contains("sec-websocket-extensions"), "{response}");
}

#[test]
fn a_request_sent_one_byte_at_a_time_with_a_first_frame_attached() {
    let server = start();
    let mut raw = Raw::connect(server.addr);
    let mut bytes = UPGRADE.as_bytes().to_vec();
    bytes.extend(text_frame(r#"{"KV_COUNT":{}}"#));
    for b in bytes {
        raw.write(&[b]);
    }
    assert!(raw.http_response().starts_with("HTTP/1.1 101 "));
    assert_eq!(raw.text(), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
}

#[test]
fn bad_requests_get_400_and_are_closed() {
    let server = start();
    let requests: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        with("Connection: Upgrade", "Connection: keep-alive"),
        with("Upgrade: websocket\r\n", ""),
        with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        with("GET /", "POST /"),
        with("HTTP/1.1\r\n", "HTTP/1.0\r\n"),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage".to_vec(),
        b"hello\r\n\r\n".to_vec(),
    ];
    for request in requests {
        let (response, mut raw) = response_to(&server, &request);
        assert!(response.starts_with("HTTP/1.1 400 "), "{}: {response}", String::from_utf8_lossy(&request));
        assert!(raw.ends(), "closed after the reply");
    }
    // The server is still fine.
    assert_eq!(server.ndb().kv_count().unwrap(), 0);
}

#[test]
fn a_wrong_version_gets_426_naming_13() {
    let server = start();
    let (response, mut raw) = response_to(&server, &with("Version: 13", "Version: 8"));
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{response}");
    assert!(raw.ends());
}

#[test]
fn a_head_over_8_kib_gets_431() {
    let server = start();
    let filler = format!("X-Filler: {}\r\n", "a".repeat(9000));
    let (response, mut raw) = response_to(&server, &with("Host:", &format!("{filler}Host:")));
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    assert!(raw.ends());
}

#[test]
fn browser_origins_need_to_be_allowed() {
    let server = start();
    let browser = with("Host:", "Origin: https://evil.example\r\nHost:");
    let (response, _) = response_to(&server, &browser);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");

    let allowing = start_with(common::config().allowed_origins(vec!["https://app.example".to_owned()]));
    let (response, _) = response_to(&allowing, &with("Host:", "Origin: https://app.example\r\nHost:"));
    assert!(response.starts_with("HTTP/1.1 101 "), "{response}");
    let (response, _) = response_to(&allowing, &browser);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
}

#[test]
fn past_the_connection_limit_new_connections_get_503() {
    let server = start_with(common::config().max_connections(2));
    let mut first = server.ndb();
    let mut second = server.client();
    let (response, mut raw) = response_to(&server, UPGRADE.as_bytes());
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(raw.ends());
    // Existing connections are unaffected, and a freed slot is reused.
    assert_eq!(first.kv_count().unwrap(), 0);
    second.ws.close(None).unwrap();
    while second.ws.read().is_ok() {}
    common::eventually("a freed slot accepts again", || {
        let mut raw = Raw::connect(server.addr);
        raw.write(UPGRADE.as_bytes());
        raw.http_response().starts_with("HTTP/1.1 101 ")
    });
    assert_eq!(first.kv_count().unwrap(), 0);
}

#[test]
fn a_peer_that_connects_and_leaves_costs_nothing() {
    let server = start();
    for _ in 0..50 {
        drop(std::net::TcpStream::connect(server.addr).unwrap());
        let mut half = std::net::TcpStream::connect(server.addr).unwrap();
        std::io::Write::write_all(&mut half, &UPGRADE.as_bytes()[..20]).unwrap();
    }
    assert_eq!(server.ndb().kv_count().unwrap(), 0);
    let mut raw = Raw::open(server.addr);
    raw.write(&text_frame(r#"{"KV_KEYS":{}}"#));
    assert_eq!(raw.text(), r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#);
    let mut rest = [0u8; 1];
    raw.stream.set_nonblocking(true).unwrap();
    assert!(raw.stream.read(&mut rest).is_err(), "nothing unsolicited");
    // Every one of the hundred is let go: only this connection is left.
    common::eventually("the leavers are freed", || server.connections() == 1);
}
