//! Output the peer does not take: kept and sent once, reading paused above
//! the threshold, replies stopped mid-batch, and cuts (1008) that leave the
//! stream well formed.

use super::*;

#[test]
fn output_the_peer_refuses_is_kept_and_sent_once() {
    let mut h = Harness::open();
    h.conn.stream.write_room = Some(7);
    let batch: Vec<u8> = (0..30).flat_map(|i| text(&format!("m{i}"))).collect();
    h.feed(&batch);
    assert_eq!(h.serve(), Served::Drained);
    assert!(h.conn.pending_output() > 0);
    for _ in 0..100 {
        h.conn.stream.write_room = Some(5);
        h.conn.flush(&h.limits);
    }
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    assert_eq!(h.conn.pending_output(), 0);
    let expected: Vec<String> = (0..30).map(|i| format!("echo:m{i}")).collect();
    assert_eq!(h.texts(), expected);
    assert_eq!(h.conn.heap_bytes(), 0);
}

#[test]
fn reading_pauses_while_output_is_backed_up() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = 100;
    h.conn.stream.write_room = Some(0);
    let batch: Vec<u8> = (0..20).flat_map(|i| text(&format!("message number {i}"))).collect();
    h.feed(&batch);
    h.feed(&text("later"));
    assert_eq!(h.serve(), Served::Paused);
    assert!(!h.conn.stream.input.is_empty(), "unread input stays in the socket");
    h.conn.stream.write_room = None;
    assert_eq!(h.conn.flush(&h.limits), Served::MoreReady);
    let mut turns = 0;
    while h.serve() == Served::MoreReady {
        turns += 1;
        assert!(turns < 100);
    }
    assert_eq!(h.texts().last().map(String::as_str), Some("echo:later"));
    assert_eq!(h.texts().len(), 21);
}

#[test]
fn replies_stop_at_the_pause_threshold_within_a_turn() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = 100;
    h.conn.stream.write_room = Some(0);
    let batch: Vec<u8> = (0..50).flat_map(|i| text(&format!("message number {i}"))).collect();
    h.feed(&batch);
    assert_eq!(h.serve(), Served::Paused);
    // One reply may cross the threshold; no more are made while it is over.
    let pending = h.conn.pending_output();
    assert!(pending > 100 && pending < 100 + 30, "{pending}");
    assert_eq!(h.serve(), Served::Paused, "still paused: nothing more is served");
    assert_eq!(h.conn.pending_output(), pending);
    h.conn.stream.write_room = None;
    assert_eq!(h.conn.flush(&h.limits), Served::MoreReady);
    while h.serve() == Served::MoreReady {}
    let expected: Vec<String> = (0..50).map(|i| format!("echo:message number {i}")).collect();
    assert_eq!(h.texts(), expected);
}

#[test]
fn an_overloaded_close_keeps_the_partly_sent_frame_whole() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = usize::MAX;
    h.limits.max_output_bytes = 300;
    let sent_before = h.conn.stream.written.len();
    // The peer takes 5 bytes into the first reply, then nothing.
    h.conn.stream.write_room = Some(5);
    let batch: Vec<u8> = (0..40).flat_map(|i| text(&format!("a longer message number {i}"))).collect();
    h.feed(&batch);
    h.serve();
    assert!(matches!(h.conn.reason(), Some(CloseReason::Closed(1008))));
    assert_eq!(h.conn.stream.written.len() - sent_before, 5);
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    // The stream parses: the first reply whole, then the close frame.
    assert_eq!(h.texts(), ["echo:a longer message number 0"]);
    assert_eq!(h.close_code(), Some(1008));
}

#[test]
fn the_frame_boundary_is_tracked_across_partial_writes() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = usize::MAX;
    h.conn.stream.write_room = Some(0);
    let batch: Vec<u8> = (0..30).flat_map(|i| text(&format!("reply {i}"))).collect();
    h.feed(&batch);
    h.serve();
    // Drain in odd-sized steps, then cut: whatever was started is finished.
    for room in [3, 17, 1, 40, 9] {
        h.conn.stream.write_room = Some(room);
        h.conn.flush(&h.limits);
    }
    h.conn.close_overloaded("test");
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    let texts = h.texts();
    assert!(!texts.is_empty() && texts.len() < 30, "{}", texts.len());
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(t, &format!("echo:reply {i}"));
    }
    assert_eq!(h.close_code(), Some(1008));
}

#[test]
fn paused_is_not_reported_when_everything_was_sent() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = 10;
    h.feed(&text("a reply longer than ten bytes"));
    h.feed(&text("next"));
    // The pause check sees this turn's unsent replies; once they are all
    // written, the connection must be served again rather than wait for a
    // writable event that will never come.
    let served = h.serve();
    assert_ne!(served, Served::Paused);
    if served == Served::MoreReady {
        h.serve();
    }
    assert_eq!(h.texts().len(), 2);
}

#[test]
fn a_peer_that_never_reads_is_closed_with_1008() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = usize::MAX;
    h.limits.max_output_bytes = 1000;
    h.conn.stream.write_room = Some(0);
    let batch: Vec<u8> = (0..100).flat_map(|i| text(&format!("message number {i}"))).collect();
    h.feed(&batch);
    h.serve();
    assert!(h.conn.is_closing());
    assert!(matches!(h.conn.reason(), Some(CloseReason::Closed(1008))));
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    assert_eq!(h.close_code(), Some(1008));
    assert!(h.conn.pending_output() == 0);
}
