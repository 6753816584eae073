//! Replies that come later: a message answered `ReplyKind::Later` holds back
//! every message after it until `Conn::resume` delivers its reply, and all
//! replies leave in request order, one per request.

use super::*;

/// Echoes like `echo`, but answers `save…` messages later.
fn saving(message: Message<'_>, out: &mut Vec<u8>) -> ReplyKind {
    match message {
        Message::Text(t) if t.starts_with("save") => ReplyKind::Later,
        other => {
            echo(other, out);
            ReplyKind::Text
        }
    }
}

impl Harness {
    fn serve_saving(&mut self) -> Served {
        self.conn.serve(&mut self.scratch, &self.limits, &mut saving)
    }

    fn resume(&mut self, reply: &str) -> Served {
        self.conn.resume(Late::Reply(reply.as_bytes().to_vec()), &mut self.scratch, &self.limits, &mut saving)
    }
}

fn frames_of(messages: &[&str]) -> Vec<u8> {
    messages.iter().flat_map(|m| text(m)).collect()
}

#[test]
fn messages_after_a_later_reply_wait_for_it() {
    let mut h = Harness::open();
    h.feed(&frames_of(&["a", "save1", "b", "c"]));
    assert_eq!(h.serve_saving(), Served::Drained);
    assert_eq!(h.texts(), ["echo:a"]);
    assert!(h.conn.is_waiting());
    // More input while waiting is not read, let alone answered.
    h.feed(&frames_of(&["d"]));
    assert_eq!(h.serve_saving(), Served::Drained);
    assert_eq!(h.texts(), ["echo:a"]);
    assert_eq!(h.conn.stream.input.len(), 1, "left in the socket");

    assert_eq!(h.resume("saved1"), Served::Drained);
    assert!(!h.conn.is_waiting());
    assert_eq!(h.texts(), ["echo:a", "saved1", "echo:b", "echo:c", "echo:d"]);
}

#[test]
fn a_second_later_reply_after_resuming_waits_again() {
    let mut h = Harness::open();
    h.feed(&frames_of(&["save1", "x", "save2", "y"]));
    h.serve_saving();
    assert_eq!(h.texts(), Vec::<String>::new());
    h.resume("saved1");
    assert_eq!(h.texts(), ["saved1", "echo:x"]);
    assert!(h.conn.is_waiting());
    h.resume("saved2");
    assert_eq!(h.texts(), ["saved1", "echo:x", "saved2", "echo:y"]);
}

#[test]
fn a_partial_frame_behind_a_later_reply_is_completed_after_it() {
    let mut h = Harness::open();
    let mut bytes = frames_of(&["save1"]);
    let next = text("after");
    bytes.extend_from_slice(&next[..3]);
    h.feed(&bytes);
    h.serve_saving();
    h.feed(&next[3..]);
    h.resume("saved1");
    assert_eq!(h.texts(), ["saved1", "echo:after"]);
}

#[test]
fn a_later_reply_to_a_closing_connection_is_dropped() {
    let mut h = Harness::open();
    h.feed(&frames_of(&["save1", "b"]));
    h.serve_saving();
    h.conn.close_with(1001, "going away");
    assert_eq!(h.resume("saved1"), Served::Drained);
    assert_eq!(h.texts(), Vec::<String>::new());
    assert_eq!(h.close_code(), Some(1001));
    assert!(!h.conn.is_waiting());
}

#[test]
fn resuming_a_connection_that_waits_for_nothing_sends_nothing() {
    let mut h = Harness::open();
    assert_eq!(h.resume("stray"), Served::Drained);
    assert!(h.texts().is_empty());
}

#[test]
fn a_late_reply_goes_out_behind_pending_output() {
    let mut h = Harness::open();
    h.conn.stream.write_room = Some(0);
    h.feed(&frames_of(&["a", "save1", "b"]));
    h.serve_saving();
    assert!(h.conn.pending_output() > 0);
    h.resume("saved1");
    h.conn.stream.write_room = None;
    assert_eq!(h.conn.flush(&h.limits), Served::Drained);
    assert_eq!(h.texts(), ["echo:a", "saved1", "echo:b"]);
}

#[test]
fn a_large_message_answered_later_is_kept_whole_for_the_server() {
    let mut h = Harness::open();
    h.limits.lend_text_over = 8;
    // Small ones are never kept; nor a large one answered at once.
    h.feed(&frames_of(&["save", "a long message echoed at once"]));
    h.serve_saving();
    assert_eq!(h.conn.take_message(), None);
    h.resume("saved");
    assert_eq!(h.conn.take_message(), None);
    // One frame, with the start of the next message read behind it.
    let mut bytes = frames_of(&["save a long message", "after"]);
    let next = text("next");
    bytes.extend_from_slice(&next[..3]);
    h.feed(&bytes);
    h.serve_saving();
    let (buf, start) = h.conn.take_message().expect("kept");
    assert_eq!(&buf[start..], b"save a long message");
    assert_eq!(h.conn.take_message(), None, "taken once");
    h.feed(&next[3..]);
    h.resume("saved");
    assert_eq!(h.texts()[2..], ["saved", "echo:after", "echo:next"]);
    // Fragments: the reassembled message.
    let mut fragments = frame(TEXT, false, b"save in ");
    fragments.extend(frame(CONTINUATION, false, b"three "));
    fragments.extend(frame(CONTINUATION, true, b"fragments"));
    h.feed(&fragments);
    h.serve_saving();
    let (buf, start) = h.conn.take_message().expect("kept");
    assert_eq!(&buf[start..], b"save in three fragments");
    h.resume("saved");
    // Longer than a read: kept in the input buffer it was gathered in.
    h.limits.max_payload = 1 << 20;
    let long = format!("save {}", "x".repeat(200_000));
    h.feed(&frames_of(&[&long, "behind"]));
    h.serve_saving();
    let (buf, start) = h.conn.take_message().expect("kept");
    assert_eq!(&buf[start..], long.as_bytes());
    // Past `MAPPED_BYTES`: a mapping of its own, grown without copies.
    assert_eq!(buf.is_mapped(), cfg!(target_os = "linux"), "{buf:?}");
    h.resume("saved");
    assert_eq!(h.texts()[h.texts().len() - 2..], ["saved", "echo:behind"]);
}

#[test]
#[cfg(target_os = "linux")]
fn the_next_large_message_of_a_size_is_read_into_the_mapping_the_last_one_left() {
    let mut h = Harness::open();
    h.limits.lend_text_over = 8;
    h.limits.max_payload = 1 << 20;
    let long = format!("save {}", "x".repeat(600_000));
    h.feed(&frames_of(&[&long]));
    h.serve_saving();
    let (buf, _) = h.conn.take_message().expect("kept");
    let at = buf.as_ptr();
    // Freed on the thread that grew it: kept for the next one.
    drop(buf);
    h.resume("saved");
    h.feed(&frames_of(&[&long]));
    h.serve_saving();
    let (buf, start) = h.conn.take_message().expect("kept");
    assert_eq!(&buf[start..], long.as_bytes());
    assert_eq!(buf.as_ptr(), at, "read into a fresh mapping, not the kept one");
    h.resume("saved");
    assert_eq!(h.texts()[h.texts().len() - 1..], ["saved"]);
}
