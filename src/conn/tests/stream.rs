//! Replies produced in pieces: a large late reply, or a body, goes out as
//! one fragmented message whose pieces put together are the payload; it is
//! made only as the output drains; later messages wait for its last piece;
//! a cut in the middle leaves a well-formed stream.

use super::*;

/// Echoes, but answers `big…` messages later.
fn later_for_big(message: Message<'_>, out: &mut Vec<u8>) -> ReplyKind {
    match message {
        Message::Text(t) if t.starts_with("big") => ReplyKind::Later,
        other => {
            echo(other, out);
            ReplyKind::Text
        }
    }
}

/// A body of `total` bytes `'a' + i % 26`, handing out at most `per_fill`
/// per call and spending one step per call.
struct Letters {
    total: usize,
    written: usize,
    per_fill: usize,
}

impl Body for Letters {
    fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool {
        let n = max.min(self.per_fill).min(self.total - self.written);
        out.extend((self.written..self.written + n).map(|i| b'a' + (i % 26) as u8));
        self.written += n;
        *steps = steps.saturating_sub(1);
        self.written == self.total
    }

    fn heap_bytes(&self) -> usize {
        0
    }
}

fn letters(total: usize) -> Vec<u8> {
    (0..total).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The messages in what the server wrote: fragments joined, each with the
/// number of frames it came in; control frames as themselves.
fn messages(h: &Harness) -> Vec<(u8, Vec<u8>, usize)> {
    let start = h.conn.stream.written.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let mut rest = &h.conn.stream.written[start..];
    let mut out: Vec<(u8, Vec<u8>, usize)> = Vec::new();
    let mut open = false;
    while !rest.is_empty() {
        let (fin, opcode) = (rest[0] & 0x80 != 0, rest[0] & 0x0f);
        let (len, head) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let payload = rest[head..head + len].to_vec();
        rest = &rest[head + len..];
        match opcode {
            CONTINUATION => {
                assert!(open, "a continuation frame continues a message");
                let last = out.last_mut().unwrap();
                last.1.extend(payload);
                last.2 += 1;
            }
            TEXT => {
                assert!(!open, "no new message inside a fragmented one");
                out.push((TEXT, payload, 1));
            }
            _ => {
                assert!(fin, "control frames are never fragmented");
                out.push((opcode, payload, 1));
                continue;
            }
        }
        open = !fin;
    }
    assert!(!open, "the last message is complete");
    out
}

impl Harness {
    fn serve_big(&mut self) -> Served {
        self.conn.serve(&mut self.scratch, &self.limits, &mut later_for_big)
    }

    fn resume_big(&mut self, late: Late) -> Served {
        self.conn.resume(late, &mut self.scratch, &self.limits, &mut later_for_big)
    }
}

#[test]
fn a_large_late_reply_goes_out_in_pieces_before_what_waited() {
    let mut h = Harness::open();
    h.feed(&[text("a"), text("big"), text("b"), text("c")].concat());
    assert_eq!(h.serve_big(), Served::Drained);
    let payload = letters(2 * STREAM_BYTES_PER_TURN + 17);
    let mut served = h.resume_big(Late::Reply(payload.clone()));
    let mut turns = 0;
    while served == Served::MoreReady {
        h.scratch.new_turn();
        served = h.serve_big();
        turns += 1;
        assert!(turns < 100);
    }
    assert_eq!(served, Served::Drained);
    let got = messages(&h);
    let texts: Vec<&[u8]> = got.iter().map(|m| &m.1[..]).collect();
    assert_eq!(texts, [&b"echo:a"[..], &payload, b"echo:b", b"echo:c"]);
    assert!(got[1].2 > 1, "sent as several frames");
    assert!(got[1].1.len() / got[1].2 <= FRAGMENT_BYTES);
    assert_eq!(turns, 2, "{STREAM_BYTES_PER_TURN} bytes per turn");
    assert_eq!(h.conn.heap_bytes(), 0);
}

#[test]
fn a_small_late_reply_and_a_body_done_at_once_are_one_frame() {
    let mut h = Harness::open();
    h.feed(&text("big1"));
    h.serve_big();
    h.resume_big(Late::Reply(b"small".to_vec()));
    h.feed(&text("big2"));
    h.serve_big();
    h.resume_big(Late::Stream(Box::new(Letters { total: 10, written: 0, per_fill: 100 })));
    let got = messages(&h);
    assert_eq!(got, [(TEXT, b"small".to_vec(), 1), (TEXT, letters(10), 1)]);
}

#[test]
fn pieces_are_made_only_as_the_output_drains() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = 10_000;
    h.feed(&[text("big"), text("after")].concat());
    h.serve_big();
    h.conn.stream.write_room = Some(25_000);
    let total = 200_000;
    let mut served = h.resume_big(Late::Stream(Box::new(Letters { total, written: 0, per_fill: 3_000 })));
    let mut rounds = 0;
    loop {
        while served == Served::MoreReady {
            served = h.serve_big();
            // Never more than the pause threshold held, nor made ahead.
            assert!(h.conn.pending_output() <= 10_000, "{}", h.conn.pending_output());
        }
        if !h.conn.is_waiting() {
            break;
        }
        assert_eq!(served, Served::Paused, "waits for the peer");
        assert!(h.conn.stream.written.len() < 200_000, "nothing is made beyond what the socket took");
        rounds += 1;
        assert!(rounds < 1000);
        h.conn.stream.write_room = Some(7_000);
        served = h.conn.flush(&h.limits);
    }
    assert!(rounds > 20, "{rounds} rounds of the peer reading");
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    let got = messages(&h);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, letters(total));
    assert_eq!(got[1].1, b"echo:after");
}

#[test]
fn the_turn_budget_is_shared_and_renewed_each_turn() {
    let mut h = Harness::open();
    h.feed(&text("big"));
    h.serve_big();
    let total = 3 * STREAM_BYTES_PER_TURN;
    let mut served = h.resume_big(Late::Stream(Box::new(Letters { total, written: 0, per_fill: usize::MAX })));
    let mut turns = 1;
    while served == Served::MoreReady {
        // Not renewed: nothing more this turn.
        let before = h.conn.stream.written.len();
        assert_eq!(h.serve_big(), Served::MoreReady);
        assert_eq!(h.conn.stream.written.len(), before);
        h.scratch.new_turn();
        served = h.serve_big();
        turns += 1;
    }
    assert_eq!(turns, 3, "{STREAM_BYTES_PER_TURN} bytes per turn");
    assert_eq!(messages(&h)[0].1, letters(total));
}

#[test]
fn a_cut_in_the_middle_leaves_whole_frames_and_a_close() {
    let mut h = Harness::open();
    h.limits.output_pause_bytes = 50_000;
    h.feed(&text("big"));
    h.serve_big();
    h.conn.stream.write_room = Some(70_001);
    let mut served = h.resume_big(Late::Stream(Box::new(Letters { total: 1_000_000, written: 0, per_fill: 6_000 })));
    while served == Served::MoreReady {
        served = h.serve_big();
    }
    assert_eq!(served, Served::Paused, "the peer stopped reading");
    h.conn.close_overloaded("send timeout");
    h.conn.stream.write_room = None;
    h.conn.flush(&h.limits);
    // The message is left unfinished, but every frame is whole and the
    // close frame comes last.
    let frames = h.replies();
    assert_eq!(frames.last().map(|f| f.0), Some(CLOSE));
    assert_eq!(h.close_code(), Some(1008));
    let sent: Vec<u8> = frames.iter().filter(|f| f.0 != CLOSE).flat_map(|f| f.1.clone()).collect();
    assert_eq!(sent, letters(sent.len()));
    assert!(sent.len() < 1_000_000);
    assert!(!h.conn.is_streaming());
}
