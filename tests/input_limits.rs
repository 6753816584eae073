//! Input that cannot pin memory: unfinished messages over the server-wide
//! cap (`maxPartialBytes`) close the connections holding the most, with
//! 1008, while everyone else keeps being served; a message left unfinished
//! past `messageTimeout` closes its connection with 1008. Driven by
//! testkit's host loop on a virtual clock over real sockets, so the
//! server's own accounting can be checked after every turn and 30 s pass in
//! no time.

mod common;

use std::time::Duration;

use common::host::{Peer, TURN_WAIT};
use common::{VirtualHost, text_frame};

const COUNT: &str = r#"{"KV_COUNT":{}}"#;

/// A `KV_SET` of one key holding a string, `len` bytes of message in all.
fn set_message(key: &str, len: usize) -> String {
    let head = format!(r#"{{"KV_SET":{{"keys":{{"{key}":""#);
    let tail = r#""}}}"#;
    format!("{head}{}{tail}", "v".repeat(len - head.len() - tail.len()))
}

/// The frames that reached `peer` so far (without waiting).
fn arrived(peer: &mut Peer) -> Vec<(u8, Vec<u8>)> {
    peer.pump();
    std::iter::from_fn(|| peer.take_frame()).collect()
}

fn close_code(frames: &[(u8, Vec<u8>)]) -> Option<u16> {
    frames.iter().find(|f| f.0 == 8).map(|f| u16::from_be_bytes([f.1[0], f.1[1]]))
}

#[test]
fn unfinished_messages_past_the_server_cap_close_the_largest_holders() {
    const CAP: usize = 256 * 1024;
    const MESSAGE: usize = 60_000;
    const SENT: usize = 50_000;
    let config = common::config().max_payload(64 * 1024).max_partial_bytes(CAP).max_connections(64);
    let mut host = VirtualHost::start(config);
    let mut bystander = host.open();
    // Ten peers each send most of a 60 KB message, then nothing.
    let mut attackers: Vec<(Peer, Vec<u8>)> = Vec::new();
    for i in 0..10 {
        let mut peer = host.open();
        let frame = text_frame(&set_message(&format!("k{i}"), MESSAGE));
        peer.write(&frame[..SENT]);
        for _ in 0..20 {
            peer.flush();
            host.turn(Duration::ZERO);
            let held = host.server().partial_input_bytes();
            assert!(held <= CAP, "{held} bytes held over a cap of {CAP}");
        }
        assert_eq!(peer.unsent(), 0);
        attackers.push((peer, frame));
    }
    host.settle();
    assert!(host.server().partial_input_bytes() >= 4 * SENT);
    // The bystander is served.
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    // The newest holders were closed with 1008 (all hold the same), the
    // oldest stay, up to the cap: 4 or 5 of 50–60 KB under 256 KiB.
    let outcomes: Vec<Option<u16>> = attackers.iter_mut().map(|(peer, _)| close_code(&arrived(peer))).collect();
    let kept = outcomes.iter().take_while(|o| o.is_none()).count();
    assert!((4..=5).contains(&kept), "{outcomes:?}");
    assert!(outcomes[kept..].iter().all(|o| *o == Some(1008)), "{outcomes:?}");
    // The ones kept finish their messages and are answered.
    for (peer, frame) in attackers.iter_mut().take(kept) {
        peer.write(&frame[SENT..]);
        assert_eq!(host.text(peer), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    host.run_until("nothing left unfinished", |host| host.server().partial_input_bytes() == 0);
    assert_eq!(host.call(&mut bystander, COUNT), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{kept},"st":1}}}}"#));
}

#[test]
fn a_message_left_unfinished_is_closed_at_the_message_timeout() {
    let mut host = VirtualHost::start(common::config());
    let mut bystander = host.open();
    let mut stalled = host.open();
    let mut slow = host.open();
    let stalled_frame = text_frame(&set_message("stalled", 5_000));
    stalled.write(&stalled_frame[..3_000]);
    host.run_until("the part is read", |host| host.server().partial_input_bytes() >= 3_000);
    // A slow peer sends its message in three parts over 25 s: in time.
    let slow_frame = text_frame(&set_message("slow", 9_000));
    for (i, part) in slow_frame.chunks(3_100).enumerate() {
        if i > 0 {
            host.advance(Duration::from_millis(12_500));
        }
        slow.write(part);
        host.settle();
    }
    assert_eq!(host.text(&mut slow), r#"{"KV_SET_RSP":{"st":1}}"#);
    // 29.9 s after it began, the stalled message still holds.
    host.advance(Duration::from_millis(29_900 - 25_000));
    assert!(host.nothing_for(&mut stalled), "not closed before the timeout");
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    // Past 30 s it is closed with 1008 and its bytes are given back.
    host.advance(Duration::from_millis(200));
    assert_eq!(host.close_code(&mut stalled), Some(1008));
    assert_eq!(host.server().partial_input_bytes(), 0);
    // The server drops it at once, reading nothing more: no wait for the
    // peer's close frame or end of stream, however much it still sends.
    stalled.write(&stalled_frame[3_000..4_000]);
    host.settle();
    assert_eq!(host.server().connections(), 2);
    drop(stalled);
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    assert_eq!(host.call(&mut slow, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn fragments_and_pings_do_not_restart_the_timeout() {
    let mut host = VirtualHost::start(common::config().message_timeout(Some(Duration::from_secs(10))));
    let mut peer = host.open();
    peer.write(&common::frame(1, false, br#"{"KV_COUNT""#));
    host.settle();
    for _ in 0..3 {
        host.advance(Duration::from_secs(3));
        peer.write(&common::frame(9, true, b"still here"));
        peer.write(&common::frame(0, false, b" "));
        host.settle();
    }
    assert!(arrived(&mut peer).iter().all(|f| f.0 == 10), "only pongs so far");
    host.advance(Duration::from_millis(1_100));
    assert_eq!(host.close_code(&mut peer), Some(1008));
}

#[test]
fn without_a_message_timeout_an_unfinished_message_stays() {
    let mut host = VirtualHost::start(common::config().message_timeout(None));
    let mut stalled = host.open();
    stalled.write(&text_frame(&set_message("k", 5_000))[..3_000]);
    host.run_until("the part is read", |host| host.server().partial_input_bytes() >= 3_000);
    host.advance(Duration::from_secs(3600));
    for _ in 0..10 {
        host.turn(TURN_WAIT);
    }
    assert!(host.nothing_for(&mut stalled));
    assert!(host.server().partial_input_bytes() >= 3_000);
}
