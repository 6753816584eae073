//! `SH_EXISTS` of many tokens: answered across turns, at most
//! [`EXISTS_TOKENS_PER_STEP`] tokens a turn, with exactly the text the
//! one-piece writer makes, each token as of its step; dropped with its
//! connection.

use std::time::{Duration, Instant};

use super::EXISTS_TOKENS_PER_STEP;
use crate::protocol::{Protocol, Reply, Status, Verb, decode};
use crate::store::{Executed, JobId, ServerInfo, Store};

fn store() -> Store {
    Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() })
}

/// Runs `request` at `now`: its reply text, or the id it is answered under.
fn run(store: &mut Store, request: &str, now: Instant) -> Result<String, JobId> {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    let command = decode(request).expect("a valid request");
    match store.execute(command, now, &mut reply) {
        Executed::Replied => Ok(String::from_utf8(out).expect("UTF-8")),
        Executed::Later(id) => Err(id),
    }
}

fn new_session(store: &mut Store, now: Instant) -> u64 {
    let reply = run(store, r#"{"SH_NEW":{}}"#, now).expect("answered at once");
    let json: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
    json["SH_NEW_RSP"]["tkn"].as_u64().expect("a token")
}

fn request(tokens: &[u64]) -> String {
    let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
    format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, list.join(","))
}

/// The reply the one-piece writer makes for `live`.
fn whole(live: &[u64]) -> String {
    let mut out = Vec::new();
    Reply::new(&mut out, Protocol::V07).object(Verb::ShExists, |o| {
        o.u64s("exist", live.iter().copied()).st(Status::Ok);
    });
    String::from_utf8(out).expect("UTF-8")
}

/// Turns of [`Store::work`] at `now` until the reply of `id` is ready
/// (returned with how many turns it took), its text drained in pieces.
fn answer(store: &mut Store, id: JobId, now: Instant) -> (String, usize) {
    for turn in 1..=1_000 {
        assert!(store.has_queued_jobs(), "the request is pending until answered");
        store.work(now);
        if let Some((ready, mut reply)) = store.next_reply(now) {
            assert_eq!(ready, id);
            assert_eq!(reply.status(), Status::Ok);
            let mut out = Vec::new();
            loop {
                let mut steps = usize::MAX;
                if reply.fill(&mut out, 4096, &mut steps) {
                    break;
                }
            }
            return (String::from_utf8(out).expect("UTF-8"), turn);
        }
    }
    panic!("never answered");
}

#[test]
fn at_most_a_step_of_tokens_is_answered_at_once() {
    let mut store = store();
    let now = Instant::now();
    let token = new_session(&mut store, now);
    let tokens = vec![token; EXISTS_TOKENS_PER_STEP];
    assert_eq!(run(&mut store, &request(&tokens), now), Ok(whole(&tokens)));
    let tokens = vec![token; EXISTS_TOKENS_PER_STEP + 1];
    assert!(run(&mut store, &request(&tokens), now).is_err(), "one more token is answered across turns");
}

#[test]
fn many_tokens_take_a_turn_a_step_with_the_one_piece_text() {
    let mut store = store();
    let now = Instant::now();
    let live: Vec<u64> = (0..300).map(|_| new_session(&mut store, now)).collect();
    let ended = live[7];
    assert!(run(&mut store, &format!(r#"{{"SH_END":{{"tkn":{ended}}}}}"#), now).is_ok());
    // Live tokens (some twice), an ended one, absent ones, in a mixed order.
    let tokens: Vec<u64> = (0..3 * EXISTS_TOKENS_PER_STEP as u64 + 5)
        .map(|i| match i % 4 {
            0 => live[(i as usize / 4) % live.len()],
            1 => ended,
            2 => i + 1,
            _ => live[(i as usize * 7) % live.len()],
        })
        .collect();
    let expected: Vec<u64> = tokens.iter().copied().filter(|&t| t != ended && live.contains(&t)).collect();
    let before = store.used_memory();
    let id = run(&mut store, &request(&tokens), now).expect_err("answered across turns");
    assert!(store.used_memory() > before + tokens.len() * 8, "the tokens count toward the memory cap");
    let (text, turns) = answer(&mut store, id, now);
    assert_eq!(text, whole(&expected));
    assert_eq!(turns, 4, "{} tokens, {EXISTS_TOKENS_PER_STEP} a turn", tokens.len());
    assert!(!store.has_queued_jobs());
    assert_eq!(store.used_memory(), before, "all of it is released");
}

#[test]
fn each_token_is_looked_up_at_its_step() {
    let mut store = store();
    let t0 = Instant::now();
    let token = new_session(&mut store, t0);
    let tokens = vec![token; 2 * EXISTS_TOKENS_PER_STEP];
    let id = run(&mut store, &request(&tokens), t0).expect_err("answered across turns");
    store.work(t0);
    assert!(store.next_reply(t0).is_none(), "half of it is looked up");
    // Ended by another connection between the two steps.
    let at = t0 + Duration::from_millis(1);
    assert!(run(&mut store, &format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#), at).is_ok());
    let (text, turns) = answer(&mut store, id, at);
    assert_eq!(text, whole(&tokens[..EXISTS_TOKENS_PER_STEP]));
    assert_eq!(turns, 1);
}

#[test]
fn requests_are_answered_in_arrival_order_and_dropped_with_their_connection() {
    let mut store = store();
    let now = Instant::now();
    let token = new_session(&mut store, now);
    let before = store.used_memory();
    let tokens = vec![token; EXISTS_TOKENS_PER_STEP + 1];
    let first = run(&mut store, &request(&tokens), now).expect_err("answered across turns");
    let gone = run(&mut store, &request(&tokens), now).expect_err("answered across turns");
    let last = run(&mut store, &request(&[5; EXISTS_TOKENS_PER_STEP + 2]), now).expect_err("answered across turns");
    assert!(store.drop_job(gone), "its connection closed");
    assert!(!store.drop_job(gone), "dropped once");
    let (text, turns) = answer(&mut store, first, now);
    assert_eq!((text, turns), (whole(&tokens), 2));
    let (text, turns) = answer(&mut store, last, now);
    assert_eq!((text, turns), (whole(&[]), 2));
    assert!(!store.has_queued_jobs());
    assert_eq!(store.used_memory(), before);
}
