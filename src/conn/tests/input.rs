//! What partial input costs: buffers grow with the bytes that arrived, not
//! with what a frame header announces, and the mark the server times a
//! message by stays put until that message is complete.

use super::*;

fn big_limits() -> Limits {
    Limits { max_payload: 8 << 20, ..limits() }
}

#[test]
fn a_frame_header_reserves_nothing_ahead() {
    let mut h = Harness::open();
    h.limits = big_limits();
    let frame = frame(TEXT, true, &vec![b'a'; 8 << 20]);
    h.feed(&frame[..14 + 100]);
    assert_eq!(h.serve(), Served::Drained);
    assert!(h.conn.input_bytes() < 1024, "{} bytes held for 114 received", h.conn.input_bytes());
    // It grows as the payload arrives, to at most twice what arrived.
    let mut sent = 114;
    for chunk in frame[114..frame.len() - 1].chunks(300_000) {
        h.feed(chunk);
        h.serve();
        sent += chunk.len();
        assert!(h.conn.input_bytes() <= 2 * sent, "{} held for {sent}", h.conn.input_bytes());
        assert!(h.conn.input_bytes() <= frame.len(), "never more than the frame");
    }
    h.feed(&frame[frame.len() - 1..]);
    h.serve();
    assert_eq!(h.texts().len(), 1);
    assert_eq!(h.conn.input_bytes(), 0);
    assert_eq!(h.conn.heap_bytes(), 0);
}

#[test]
fn fragments_grow_no_further_than_the_message() {
    let mut h = Harness::open();
    h.limits = big_limits();
    let part = vec![b'a'; 1 << 20];
    h.feed(&frame(TEXT, false, &part));
    for _ in 0..4 {
        h.serve();
        h.feed(&frame(CONTINUATION, false, &part));
    }
    h.serve();
    let held = h.conn.input_bytes();
    assert!((5 << 20..=8 << 20).contains(&held), "{held}");
}

#[test]
fn the_unfinished_mark_moves_only_when_a_message_completes() {
    let mut h = Harness::open();
    let limits = h.limits.clone();
    assert_eq!(h.conn.unfinished(&limits), None, "nothing under way");
    let first = text("first message");
    h.feed(&first[..5]);
    h.serve();
    let mark = h.conn.unfinished(&limits).expect("a message under way");
    h.feed(&first[5..9]);
    h.serve();
    assert_eq!(h.conn.unfinished(&limits), Some(mark), "the same message");
    let mut rest = first[9..].to_vec();
    let second = text("second");
    rest.extend_from_slice(&second[..3]);
    h.feed(&rest);
    h.serve();
    let next = h.conn.unfinished(&limits).expect("the next one under way");
    assert_ne!(next, mark, "a new message");
    h.feed(&second[3..]);
    h.serve();
    assert_eq!(h.conn.unfinished(&limits), None);

    // A fragmented message stays one message across its fragments and a ping.
    h.feed(&frame(TEXT, false, b"a"));
    h.serve();
    let mark = h.conn.unfinished(&limits).expect("fragments under way");
    h.feed(&[frame(PING, true, b"p"), frame(CONTINUATION, false, b"b")].concat());
    h.serve();
    assert_eq!(h.conn.unfinished(&limits), Some(mark));
    h.feed(&frame(CONTINUATION, true, b"c"));
    h.serve();
    assert_eq!(h.conn.unfinished(&limits), None);
    assert_eq!(h.texts().last().map(String::as_str), Some("echo:abc"));
}

#[test]
fn closing_for_input_frees_it_and_sends_the_code() {
    let mut h = Harness::open();
    h.limits = big_limits();
    h.feed(&frame(TEXT, true, &vec![b'a'; 1 << 20])[..500_000]);
    h.serve();
    assert!(h.conn.input_bytes() >= 400_000);
    // The close frame is out: the connection is done, to be dropped.
    assert_eq!(h.conn.close_for_input(1008, "message timeout"), Served::Finished);
    assert_eq!(h.conn.input_bytes(), 0);
    assert_eq!(h.close_code(), Some(1008));
    // What the peer sends after it is not read at all.
    h.feed(&vec![0u8; 100_000]);
    assert_eq!(h.serve(), Served::Finished);
    assert_eq!(h.conn.input_bytes(), 0);
    assert_eq!(h.conn.stream.input.len(), 1, "the bytes are left unread");
}

#[test]
fn closing_for_input_reads_nothing_while_its_close_frame_waits() {
    let mut h = Harness::open();
    h.limits = big_limits();
    h.feed(&frame(TEXT, true, &vec![b'a'; 1 << 20])[..300_000]);
    h.serve();
    // The peer takes none of our bytes: the close frame waits, unsent.
    h.conn.stream.write_room = Some(0);
    assert_eq!(h.conn.close_for_input(1008, "too much unfinished input"), Served::Drained);
    assert_eq!(h.conn.input_bytes(), 0);
    h.feed(&vec![0u8; 100_000]);
    assert_eq!(h.serve(), Served::Drained);
    assert_eq!(h.conn.stream.input.len(), 1, "nothing is read while closing");
    assert_eq!(h.conn.input_bytes(), 0);
    // Once the peer takes it, the connection is done.
    h.conn.stream.write_room = None;
    assert_eq!(h.conn.flush(&h.limits), Served::Finished);
    assert_eq!(h.close_code(), Some(1008));
}

#[test]
fn a_large_frame_is_unmasked_and_checked_as_it_arrives() {
    let mut h = Harness::open();
    h.limits = big_limits();
    // Multi-byte characters cut by the chunks, at every offset from the
    // mask's start: the echo must give the text back exactly.
    let text: String = (0..200_000).map(|i| ['a', 'é', '€', '𝄞'][i % 4]).collect();
    let frame = frame(TEXT, true, text.as_bytes());
    for chunk in frame.chunks(65_537) {
        h.feed(chunk);
        h.serve();
    }
    assert_eq!(h.texts(), [format!("echo:{text}")]);
    // A bad byte closes the connection (1007) when it arrives, not once
    // the frame is complete.
    let mut bad = text.clone().into_bytes();
    bad[300_000] = 0xff;
    let frame = super::frame(TEXT, true, &bad);
    h.feed(&frame[..400_000]);
    h.serve();
    assert_eq!(h.close_code(), Some(1007));
}

#[test]
fn fragments_of_a_large_message_are_unmasked_as_they_arrive() {
    let mut h = Harness::open();
    h.limits = big_limits();
    let text: String = (0..150_000).map(|i| ['x', 'ü', '€'][i % 3]).collect();
    let (a, b) = text.as_bytes().split_at(100_001);
    let mut frames = frame(TEXT, false, a);
    frames.extend(frame(CONTINUATION, true, b));
    for chunk in frames.chunks(40_000) {
        h.feed(chunk);
        h.serve();
    }
    assert_eq!(h.texts(), [format!("echo:{text}")]);
}
