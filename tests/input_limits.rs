//! Input that cannot pin memory: unfinished messages over the server-wide
//! cap (`maxPartialBytes`) close the connections holding the most, with
//! 1008, while everyone else keeps being served; a message left unfinished
//! past `messageTimeout` closes its connection with 1008. Driven by a host
//! loop with a virtual clock over real sockets, so the server's own
//! accounting can be checked after every turn and 30 s pass in no time.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::clocked_host::{Host, frames, read_available};
use common::text_frame;

const COUNT: &str = r#"{"KV_COUNT":{}}"#;

/// A `KV_SET` of one key holding a string, `len` bytes of message in all.
fn set_message(key: &str, len: usize) -> String {
    let head = format!(r#"{{"KV_SET":{{"keys":{{"{key}":""#);
    let tail = r#""}}}"#;
    format!("{head}{}{tail}", "v".repeat(len - head.len() - tail.len()))
}

/// Everything the server sent on `stream` so far, as frames, and whether
/// the stream is still open.
fn received(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (Vec<(u8, Vec<u8>)>, bool) {
    let open = read_available(stream, buf);
    (frames(buf).0, open)
}

fn close_code(frames: &[(u8, Vec<u8>)]) -> Option<u16> {
    frames.iter().find(|f| f.0 == 8).map(|f| u16::from_be_bytes([f.1[0], f.1[1]]))
}

/// Sends `request` and runs turns until its reply (one text frame) came.
fn call(host: &mut Host, stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(&text_frame(request)).unwrap();
    let mut buf = Vec::new();
    let mut reply = None;
    host.until("a reply", |_| {
        read_available(stream, &mut buf);
        reply = frames(&buf).0.into_iter().find(|f| f.0 == 1);
        reply.is_some()
    });
    String::from_utf8(reply.unwrap().1).unwrap()
}

#[test]
fn unfinished_messages_past_the_server_cap_close_the_largest_holders() {
    const CAP: usize = 256 * 1024;
    const MESSAGE: usize = 60_000;
    const SENT: usize = 50_000;
    let config = common::config().max_payload(64 * 1024).max_partial_bytes(CAP).max_connections(64);
    let mut host = Host::new(config);
    let mut bystander = host.open();
    // Ten peers each send most of a 60 KB message, then nothing.
    let mut attackers: Vec<(TcpStream, Vec<u8>)> = Vec::new();
    for i in 0..10 {
        let mut stream = host.open();
        let frame = text_frame(&set_message(&format!("k{i}"), MESSAGE));
        stream.write_all(&frame[..SENT]).unwrap();
        attackers.push((stream, frame));
        for _ in 0..5 {
            host.turn();
            assert!(host.server.partial_input_bytes() <= CAP, "{} held", host.server.partial_input_bytes());
        }
    }
    host.until("every attacker's bytes are read or refused", |host| {
        host.turn();
        host.server.partial_input_bytes() >= 4 * SENT && host.server.connections() >= 5
    });
    for _ in 0..20 {
        host.turn();
        assert!(host.server.partial_input_bytes() <= CAP);
    }
    // The bystander was served all along.
    assert_eq!(call(&mut host, &mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    // The newest holders were closed with 1008 (all hold the same), the
    // oldest stay, up to the cap: 4 or 5 of 50–60 KB under 256 KiB.
    let mut outcomes = Vec::new();
    for (stream, _) in &mut attackers {
        let mut buf = Vec::new();
        let (frames, _) = received(stream, &mut buf);
        outcomes.push(close_code(&frames));
    }
    let kept = outcomes.iter().take_while(|o| o.is_none()).count();
    assert!((4..=5).contains(&kept), "{outcomes:?}");
    assert!(outcomes[kept..].iter().all(|o| *o == Some(1008)), "{outcomes:?}");
    // The ones kept finish their messages and are answered.
    for (stream, frame) in attackers.iter_mut().take(kept) {
        stream.write_all(&frame[SENT..]).unwrap();
        let mut buf = Vec::new();
        host.until("the KV_SET reply", |_| {
            read_available(stream, &mut buf);
            frames(&buf).0.iter().any(|f| f.0 == 1)
        });
        assert_eq!(frames(&buf).0[0].1, br#"{"KV_SET_RSP":{"st":1}}"#);
    }
    host.until("nothing left unfinished", |host| host.server.partial_input_bytes() == 0);
    assert_eq!(call(&mut host, &mut bystander, COUNT), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{kept},"st":1}}}}"#));
}

#[test]
fn a_message_left_unfinished_is_closed_at_the_message_timeout() {
    let mut host = Host::new(common::config());
    let mut bystander = host.open();
    let mut stalled = host.open();
    let mut slow = host.open();
    let stalled_frame = text_frame(&set_message("stalled", 5_000));
    stalled.write_all(&stalled_frame[..3_000]).unwrap();
    // A slow peer sends its message in three parts over 25 s: in time.
    let slow_frame = text_frame(&set_message("slow", 9_000));
    let mut slow_buf = Vec::new();
    for (i, part) in slow_frame.chunks(3_100).enumerate() {
        if i > 0 {
            host.advance(Duration::from_millis(12_500));
        }
        slow.write_all(part).unwrap();
        host.until("the part is read", |host| host.server.partial_input_bytes() >= 3_000 || i == 2);
        for _ in 0..5 {
            host.turn();
        }
    }
    host.until("the slow message's reply", |_| {
        read_available(&mut slow, &mut slow_buf);
        frames(&slow_buf).0.iter().any(|f| f.0 == 1)
    });
    assert_eq!(frames(&slow_buf).0[0].1, br#"{"KV_SET_RSP":{"st":1}}"#);
    // 29.9 s after it began, the stalled message still holds.
    host.advance(Duration::from_millis(29_900 - 25_000));
    for _ in 0..10 {
        host.turn();
    }
    let mut buf = Vec::new();
    let (got, open) = received(&mut stalled, &mut buf);
    assert!(got.is_empty() && open, "not closed before the timeout: {got:?}");
    assert_eq!(call(&mut host, &mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    // Past 30 s it is closed with 1008 and its bytes are given back.
    host.advance(Duration::from_millis(200));
    host.until("the stalled peer's close frame", |_| {
        received(&mut stalled, &mut buf);
        close_code(&frames(&buf).0).is_some()
    });
    assert_eq!(close_code(&frames(&buf).0), Some(1008));
    assert_eq!(host.server.partial_input_bytes(), 0);
    drop(stalled);
    host.until("the stalled connection is gone", |host| host.server.connections() == 2);
    assert_eq!(call(&mut host, &mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    assert_eq!(call(&mut host, &mut slow, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn without_a_message_timeout_an_unfinished_message_stays() {
    let mut host = Host::new(common::config().message_timeout(None));
    let mut stalled = host.open();
    stalled.write_all(&text_frame(&set_message("k", 5_000))[..3_000]).unwrap();
    host.until("the part is read", |host| host.server.partial_input_bytes() >= 3_000);
    host.advance(Duration::from_secs(3600));
    for _ in 0..10 {
        host.turn();
    }
    let mut buf = Vec::new();
    let (got, open) = received(&mut stalled, &mut buf);
    assert!(got.is_empty() && open, "{got:?}");
    assert!(host.server.partial_input_bytes() >= 3_000);
}
