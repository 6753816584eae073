//! Log tests on the store itself: replay equivalence (a property test over
//! random command sequences on a virtual clock), sessions expiring while
//! the server was down, and the files `open` refuses or repairs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::config::{LogFsync, LogSettings};
use crate::protocol::{Protocol, Reply, decode};
use crate::store::sessions::Budget;
use crate::store::{Executed, ServerInfo, Store};

/// Wall-clock milliseconds of the virtual start (any fixed time will do).
const WALL0: u64 = 1_800_000_000_000;

fn store() -> Store {
    Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() })
}

/// A store recording from virtual time `t0` (wall clock [`WALL0`]).
fn recording(t0: Instant) -> Store {
    let mut store = store();
    store.set_wall_clock(t0, WALL0);
    store.enable_journal();
    store
}

fn run(store: &mut Store, request: &str, now: Instant) -> String {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    match decode(request) {
        Ok(cmd) => {
            if let Executed::Later(id) = store.execute(cmd, now, &mut reply) {
                panic!("{request}: unexpected job {id}");
            }
        }
        Err(rejection) => reply.rejection(&rejection),
    }
    store.seal_journal();
    String::from_utf8(out).unwrap()
}

fn token_of(reply: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(reply).unwrap();
    json["SH_NEW_RSP"]["tkn"].as_u64().unwrap()
}

type Dump = (Vec<(String, String)>, Vec<crate::store::sessions::SessionDump>);

fn dump(store: &Store) -> Dump {
    let mut kv: Vec<(String, String)> = store
        .kv()
        .entries()
        .map(|e| (e.key().into_owned(), String::from_utf8_lossy(e.value_json()).into_owned()))
        .collect();
    kv.sort();
    (kv, store.sessions().dump())
}

/// A file holding the header and `frames`.
fn segment(frames: &[u8]) -> Vec<u8> {
    let mut file = header().to_vec();
    file.extend_from_slice(frames);
    file
}

/// Replays `frames` into a fresh store whose virtual clock starts at
/// `t1`, that being wall-clock `wall_ms`.
fn replayed(frames: &[u8], t1: Instant, wall_ms: u64) -> Store {
    let mut fresh = store();
    fresh.set_wall_clock(t1, wall_ms);
    let found = replay(&segment(frames), &mut fresh).unwrap();
    assert_eq!(found.torn_at, None);
    fresh
}

#[derive(Debug, Clone)]
enum Step {
    Kv(u8, u8, u8),
    NewSession { duration: u8, flags: u8 },
    Session(u8, u8, u8, u8),
    End(u8),
    EndAll,
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..5, 0u8..6, 0u8..100).prop_map(|(op, key, value)| Step::Kv(op, key, value)),
        2 => (0u8..4, 0u8..8).prop_map(|(duration, flags)| Step::NewSession { duration, flags }),
        6 => (0u8..8, 0u8..6, 0u8..4, 0u8..100).prop_map(|(pick, op, key, value)| Step::Session(pick, op, key, value)),
        1 => (0u8..8).prop_map(Step::End),
        1 => Just(Step::EndAll),
        3 => (0u16..2_500).prop_map(Step::Wait),
    ]
}

/// Runs one random step on `store` at `now` (moved on by waits).
fn apply(store: &mut Store, tokens: &mut Vec<u64>, now: &mut Instant, step: Step) {
    let store = &mut *store;
    match step {
        Step::Kv(op, key, value) => {
            let request = match op {
                0 => format!(r#"{{"KV_SET":{{"keys":{{"k{key}":{value},"k{}":"v{value}"}}}}}}"#, (key + 1) % 6),
                1 => format!(r#"{{"KV_ADD":{{"keys":{{"k{key}":[{value}]}}}}}}"#),
                2 => format!(r#"{{"KV_RMV":{{"keys":["k{key}","nope"]}}}}"#),
                3 if value < 10 => r#"{"KV_CLEAR":{}}"#.to_owned(),
                3 => format!(r#"{{"KV_CLEAR_SET":{{"keys":{{"q\"{key}":{value}}}}}}}"#),
                _ => format!(r#"{{"KV_GET":{{"keys":["k{key}"]}}}}"#),
            };
            run(store, &request, *now);
        }
        Step::NewSession { duration, flags } => {
            let request = format!(
                r#"{{"SH_NEW":{{"expiry":{{"duration":{duration},"deleteSession":{},"extendOnGet":{},"extendOnSetAdd":{}}}}}}}"#,
                flags & 1 != 0,
                flags & 2 != 0,
                flags & 4 != 0
            );
            tokens.push(token_of(&run(store, &request, *now)));
        }
        Step::Session(pick, op, key, value) => {
            let Some(&token) = tokens.get(pick as usize % tokens.len().max(1)) else { return };
            let request = match op {
                0 => format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"s{key}":{value}}}}}}}"#),
                1 => format!(r#"{{"SH_ADD":{{"tkn":{token},"keys":{{"s{key}":"a{value}"}}}}}}"#),
                2 => format!(r#"{{"SH_RMV":{{"tkn":{token},"keys":["s{key}"]}}}}"#),
                3 => format!(r#"{{"SH_CLEAR":{{"tkn":{token}}}}}"#),
                4 => format!(r#"{{"SH_CLEAR_SET":{{"tkn":{token},"keys":{{"s{key}":{value}}}}}}}"#),
                _ => format!(r#"{{"SH_GET":{{"tkn":{token},"keys":["s{key}"]}}}}"#),
            };
            run(store, &request, *now);
        }
        Step::End(pick) => {
            if let Some(&token) = tokens.get(pick as usize % tokens.len().max(1)) {
                run(store, &format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#), *now);
            }
        }
        Step::EndAll => {
            run(store, r#"{"SH_END_ALL":{}}"#, *now);
        }
        Step::Wait(ms) => {
            *now += Duration::from_millis(u64::from(ms));
            store.expire(*now);
            store.seal_journal();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever commands ran (and whatever expired meanwhile), replaying
    /// the log gives every key, every session with its settings, keys and
    /// deadline, exactly as the store holds them.
    #[test]
    fn replay_gives_the_same_store(steps in proptest::collection::vec(step(), 1..120)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut store = recording(t0);
        let mut tokens: Vec<u64> = Vec::new();
        for step in steps {
            apply(&mut store, &mut tokens, &mut now, step);
        }
        let frames = store.take_journal();
        let elapsed = u64::try_from(now.duration_since(t0).as_millis()).unwrap();
        // A later start, at the same wall-clock time as the end.
        let fresh = replayed(&frames, now + Duration::from_secs(3_600), WALL0 + elapsed);
        prop_assert_eq!(dump(&fresh), dump(&store));
    }

    /// A compaction at any point (its snapshot begun at the switch and
    /// taken while commands go on, as the server does) gives a base that,
    /// followed by the records after the switch, replays to the same store
    /// as every record from the start does.
    #[test]
    fn a_compaction_replays_to_the_same_store(
        steps in proptest::collection::vec(step(), 1..120),
        switch_at in 0usize..120,
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut store = recording(t0);
        let mut tokens: Vec<u64> = Vec::new();
        let mut before = Vec::new();
        let mut snapshot = None;
        let mut switched = false;
        for (i, step) in steps.into_iter().enumerate() {
            if i == switch_at && !switched {
                before = store.take_journal();
                prop_assert!(store.begin_compaction());
                switched = true;
            }
            apply(&mut store, &mut tokens, &mut now, step);
            if switched && snapshot.is_none() {
                snapshot = store.compaction_step();
            }
        }
        if !switched {
            before = store.take_journal();
            prop_assert!(store.begin_compaction());
        }
        let snapshot = match snapshot {
            Some(snapshot) => snapshot,
            None => store.compaction_step().expect("a snapshot completes"),
        };
        let after = store.take_journal();
        let mut encoder = compact::BaseEncoder::new(Vec::new(), store.wall_origin_ms()).unwrap();
        encoder.snapshot(&snapshot).unwrap();
        let (base, bytes) = encoder.finish().unwrap();
        prop_assert_eq!(bytes as usize, base.len());
        let elapsed = u64::try_from(now.duration_since(t0).as_millis()).unwrap();
        let later = now + Duration::from_secs(3_600);
        let mut fresh = self::store();
        fresh.set_wall_clock(later, WALL0 + elapsed);
        prop_assert_eq!(replay(&base, &mut fresh).unwrap().torn_at, None);
        prop_assert_eq!(replay(&segment(&after), &mut fresh).unwrap().torn_at, None);
        prop_assert_eq!(dump(&fresh), dump(&store));
        let mut all = before;
        all.extend(after);
        let whole = replayed(&all, later, WALL0 + elapsed);
        prop_assert_eq!(dump(&whole), dump(&store));
    }
}

#[test]
fn extensions_replay_to_the_same_deadline_and_expiry_while_down_is_applied() {
    let t0 = Instant::now();
    let mut store = recording(t0);
    let a = token_of(&run(
        &mut store,
        r#"{"SH_NEW":{"expiry":{"duration":10,"extendOnGet":true,"deleteSession":true}}}"#,
        t0,
    ));
    let b = token_of(&run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":100,"deleteSession":true}}}"#, t0));
    let c = token_of(&run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":5,"deleteSession":false}}}"#, t0));
    let forever = token_of(&run(&mut store, r#"{"SH_NEW":{}}"#, t0));
    run(&mut store, &format!(r#"{{"SH_SET":{{"tkn":{c},"keys":{{"x":1}}}}}}"#), t0);
    // An extension 4 s in: a's deadline moves from 10 s to 14 s.
    run(&mut store, &format!(r#"{{"SH_GET":{{"tkn":{a},"keys":["k"]}}}}"#), t0 + Duration::from_secs(4));
    let frames = store.take_journal();
    let deadline = |store: &Store, token: u64| store.sessions().dump().into_iter().find(|s| s.0 == token).unwrap().2;
    assert_eq!(deadline(&store, a), Some(WALL0 + 14_000));

    // Restarted 12 s after t0 by the wall clock: a has 2 s left.
    let t1 = Instant::now();
    let mut fresh = replayed(&frames, t1, WALL0 + 12_000);
    assert_eq!(deadline(&fresh, a), Some(WALL0 + 14_000));
    assert_eq!(deadline(&fresh, b), Some(WALL0 + 100_000));
    assert_eq!(deadline(&fresh, forever), None);
    let info = run(&mut fresh, &format!(r#"{{"SH_INFO":{{"tkn":{a}}}}}"#), t1);
    assert!(info.contains(r#""remaining":2"#), "{info}");

    // Restarted 20 s after: a is gone, c was cleared and restarted, b lives.
    let t2 = Instant::now();
    let mut later = replayed(&frames, t2, WALL0 + 20_000);
    later.expire_within(t2, &mut Budget::UNLIMITED.clone());
    let tokens: Vec<u64> = later.sessions().dump().iter().map(|s| s.0).collect();
    assert!(!tokens.contains(&a) && tokens.contains(&b) && tokens.contains(&c), "{tokens:?}");
    let c_now = later.sessions().dump().into_iter().find(|s| s.0 == c).unwrap();
    assert!(c_now.3.is_empty(), "{c_now:?}");
    assert!(c_now.2.unwrap() > WALL0 + 20_000, "{c_now:?}");
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ndb-wal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn settings() -> LogSettings {
    LogSettings { enabled: true, fsync: LogFsync::Always, truncate_at: None, ..LogSettings::default() }
}

/// Writes a segment of three KV_SET frames under `dir`; returns the
/// offsets where each frame starts and the file's length.
fn three_frames(dir: &std::path::Path) -> (Vec<usize>, usize) {
    let t0 = Instant::now();
    let mut store = recording(t0);
    let mut starts = Vec::new();
    let mut frames = Vec::new();
    for i in 0..3 {
        starts.push(HEADER_BYTES + frames.len());
        run(&mut store, &format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#), t0);
        frames.extend(store.take_journal());
    }
    std::fs::create_dir_all(dir.join(LOG_DIR)).unwrap();
    let file = segment(&frames);
    std::fs::write(segment_path(dir), &file).unwrap();
    (starts, file.len())
}

fn open_at(dir: &std::path::Path, settings: &LogSettings) -> Result<(Store, Replayed), crate::Error> {
    let mut store = store();
    let (writer, replayed) = open(dir, settings, &mut store, Instant::now(), WALL0)?;
    drop(writer);
    Ok((store, replayed))
}

#[test]
fn a_torn_last_record_is_dropped_and_the_file_cut_there() {
    let dir = TempDir::new("torn");
    let (starts, len) = three_frames(&dir.0);
    let file = segment_path(&dir.0);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..len - 3]).unwrap();
    let (store, replayed) = open_at(&dir.0, &settings()).unwrap();
    assert_eq!(replayed.torn_at, Some(starts[2] as u64));
    assert_eq!(replayed.frames, 2);
    assert_eq!(store.kv().len(), 2);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), starts[2] as u64);
    // Zeros after the last whole frame (space allocated, never written).
    let mut zeroed = std::fs::read(&file).unwrap();
    zeroed.extend([0u8; 100]);
    std::fs::write(&file, &zeroed).unwrap();
    let (_, replayed) = open_at(&dir.0, &settings()).unwrap();
    assert_eq!(replayed.torn_at, Some(starts[2] as u64));
}

#[test]
fn a_flipped_byte_before_the_end_refuses_to_start_until_truncated_there() {
    let dir = TempDir::new("flipped");
    let (starts, _) = three_frames(&dir.0);
    let file = segment_path(&dir.0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[starts[1] + FRAME_HEADER_BYTES + 3] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let err = open_at(&dir.0, &settings()).expect_err("refused").to_string();
    assert!(err.contains(&format!("damaged at byte {}", starts[1])), "{err}");
    assert!(err.contains(&format!("--log-truncate-at {}", starts[1])), "{err}");
    // The file is left as it was.
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    let cut = LogSettings { truncate_at: Some(starts[1] as u64), ..settings() };
    let (store, replayed) = open_at(&dir.0, &cut).unwrap();
    assert_eq!((replayed.frames, store.kv().len()), (1, 1));
    // A flipped byte in a frame's length is caught by the length's checksum.
    let (starts, _) = three_frames(&dir.0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[starts[0]] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let err = open_at(&dir.0, &settings()).expect_err("refused").to_string();
    assert!(err.contains(&format!("damaged at byte {}", starts[0])), "{err}");
}

#[test]
fn a_log_of_a_newer_version_or_not_a_log_is_refused() {
    let dir = TempDir::new("newer");
    three_frames(&dir.0);
    let file = segment_path(&dir.0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let crc = crc32c(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let err = open_at(&dir.0, &settings()).expect_err("refused").to_string();
    assert!(err.contains(&format!("version {}", VERSION + 1)) && err.contains("newer ndb"), "{err}");
    std::fs::write(&file, b"{\"keys\":{}}").unwrap();
    let err = open_at(&dir.0, &settings()).expect_err("refused").to_string();
    assert!(err.contains("not an ndb log") || err.contains("shorter than"), "{err}");
}

#[test]
fn a_new_log_is_created_with_its_header_and_appended_to() {
    let dir = TempDir::new("new");
    let t0 = Instant::now();
    let mut store = store();
    let (mut writer, replayed) = open(&dir.0, &settings(), &mut store, t0, WALL0).unwrap();
    assert_eq!(replayed.bytes, HEADER_BYTES as u64);
    run(&mut store, r#"{"KV_SET":{"keys":{"a":[1,2]}}}"#, t0);
    let seq = writer.submit(store.take_journal());
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.durable() < seq {
        assert!(Instant::now() < deadline, "never durable");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(writer.state().last_fsync_ms.load(std::sync::atomic::Ordering::Relaxed) > 0);
    drop(writer);
    let (again, replayed) = open_at(&dir.0, &settings()).unwrap();
    assert_eq!(replayed.frames, 1);
    assert_eq!(again.kv().get("a").map(|e| e.value_json().to_vec()), Some(b"[1,2]".to_vec()));
}

#[test]
fn a_failing_disk_keeps_the_batches_and_writes_them_once_it_recovers() {
    let dir = TempDir::new("failing");
    let t0 = Instant::now();
    let mut store = store();
    let (mut writer, _) = open(&dir.0, &settings(), &mut store, t0, WALL0).unwrap();
    writer.state().inject_failure.store(true, std::sync::atomic::Ordering::Relaxed);
    run(&mut store, r#"{"KV_SET":{"keys":{"a":1}}}"#, t0);
    let seq = writer.submit(store.take_journal());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !writer.failing() {
        assert!(Instant::now() < deadline, "never failing");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(writer.durable() < seq);
    assert!(writer.state().error.lock().unwrap().as_deref().unwrap_or("").contains("injected"));
    writer.state().inject_failure.store(false, std::sync::atomic::Ordering::Relaxed);
    while writer.durable() < seq || writer.failing() {
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(writer);
    let (again, replayed) = open_at(&dir.0, &settings()).unwrap();
    assert_eq!((replayed.frames, again.kv().len()), (1, 1));
}

/// Runs `request` as the server does (recording array and list commands).
fn dispatched(store: &mut Store, request: &str, now: Instant) -> String {
    let mut out = Vec::new();
    let executed = crate::server::dispatch(store, Protocol::V09, crate::conn::Message::Text(request), now, &mut out);
    assert_eq!(executed, Executed::Replied, "{request}");
    store.seal_journal();
    String::from_utf8(out).unwrap()
}

#[test]
fn arrays_and_lists_replay_to_the_same_contents() {
    let t0 = Instant::now();
    let mut store = recording(t0);
    let writes = [
        r#"{"IARR_CREATE":{"name":"a","len":5}}"#,
        r#"{"IARR_SET":{"name":"a","item":7}}"#,
        r#"{"IARR_SET":{"name":"a","item":8}}"#,
        r#"{"IARR_SET":{"name":"a","pos":0,"item":-2}}"#,
        r#"{"IARR_CREATE":{"name":"gone","len":2}}"#,
        r#"{"IARR_DELETE":{"name":"gone"}}"#,
        r#"{"IARR_SET":{"name":"missing","item":1}}"#,
        r#"{"OLST_CREATE":{"name":"l"}}"#,
        r#"{"OLST_ADD":{"name":"l","items":[{"one":1},{"three":3}]}}"#,
        r#"{"OLST_ADD":{"name":"l","items":[{"two":null}],"pos":1}}"#,
    ];
    for request in writes {
        dispatched(&mut store, request, t0);
    }
    let reads = [
        r#"{"IARR_GET_RNG":{"name":"a","rng":[0,5]}}"#,
        r#"{"IARR_GET":{"name":"gone","pos":0}}"#,
        r#"{"IARR_GET":{"name":"missing","pos":0}}"#,
        r#"{"OLST_GET_RNG":{"name":"l","rng":[0,10]}}"#,
    ];
    let before: Vec<String> = reads.iter().map(|r| dispatched(&mut store, r, t0)).collect();
    assert_eq!(before[0], r#"{"IARR_GET_RNG_RSP":{"items":[-2,8],"st":1}}"#, "{before:?}");
    assert!(before[3].contains(r#"{"one":1},{"two":null},{"three":3}"#), "{before:?}");
    let frames = store.take_journal();
    let mut fresh = replayed(&frames, Instant::now(), WALL0);
    let after: Vec<String> = reads.iter().map(|r| dispatched(&mut fresh, r, t0)).collect();
    assert_eq!(after, before);
}

/// The frame offsets of `file` (a segment) from the first frame on.
fn frame_offsets(file: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = HEADER_BYTES;
    while let Frame::Whole { end, .. } = next_frame(file, at) {
        offsets.push(at);
        at = end;
    }
    offsets
}

#[test]
fn a_load_in_many_frames_replays_whole_or_not_at_all() {
    let t0 = Instant::now();
    let mut store = recording(t0);
    run(&mut store, r#"{"KV_SET":{"keys":{"before":1}}}"#, t0);
    let mut frames = store.take_journal();
    let mut loaded = crate::store::KeyMap::new();
    for i in 0..500 {
        assert!(loaded.set(&format!("k{i}"), &format!(r#"{{"n":{i}}}"#)));
    }
    // About 1 KiB a frame: dozens of frames bound by one group frame.
    let load = encode_load(loaded.entries(), 1024);
    let group_at = HEADER_BYTES + frames.len();
    frames.extend_from_slice(&load);
    run(&mut store, r#"{"KV_SET":{"keys":{"after":2,"k7":"later"}}}"#, t0);
    frames.extend(store.take_journal());

    let file = segment(&frames);
    let offsets = frame_offsets(&file);
    // before, the group, its frames, after.
    let group_frames = offsets.len() - 3;
    assert!(group_frames > 5, "{group_frames} frames");
    match next_frame(&file, group_at) {
        Frame::Whole { payload, .. } => {
            let mut ops = Vec::new();
            record::decode(payload, |op| ops.push(format!("{op:?}"))).unwrap();
            assert_eq!(ops, [format!("Group {{ frames: {group_frames} }}")]);
        }
        other => panic!("no group frame at {group_at}: {other:?}"),
    }

    let whole = replayed(&frames, t0, WALL0);
    assert_eq!(whole.kv().len(), 502);
    assert_eq!(whole.kv().get("k7").map(|e| e.value_json().to_vec()), Some(br#""later""#.to_vec()));

    // Cut inside the group's last frame: nothing of the load is replayed,
    // and the tail is torn from the group frame on.
    let last_of_group = offsets[offsets.len() - 2];
    for cut in [last_of_group + 5, offsets[2] + 20, group_at + FRAME_HEADER_BYTES + 2] {
        let mut fresh = self::store();
        let found = replay(&file[..cut], &mut fresh).unwrap();
        assert_eq!(found.torn_at, Some(group_at as u64), "cut at {cut}");
        assert_eq!(found.bytes, group_at as u64);
        assert_eq!(fresh.kv().len(), 1, "cut at {cut}");
        assert!(fresh.kv().get("before").is_some());
    }
}

#[test]
fn a_load_merged_in_steps_is_recorded_from_frames_made_off_the_loop() {
    use crate::store::{Done, Finished, Loaded, Outcome};
    let t0 = Instant::now();
    let mut store = recording(t0);
    run(&mut store, r#"{"KV_SET":{"keys":{"old":1,"k3":"before"}}}"#, t0);
    let mut all = store.take_journal();
    assert!(!all.is_empty());
    let mut loaded = crate::store::KeyMap::new();
    for i in 0..5_000 {
        assert!(loaded.set(&format!("k{i}"), &i.to_string()));
    }
    // What the save thread does for a KV_LOAD while the log is on.
    let frames = encode_load(loaded.entries(), LOAD_FRAME_BYTES);
    let encoded = frames.len();
    let outcome = Outcome::Loaded(Ok((Loaded::Kv { map: loaded, read: 5_000, frames }, Duration::ZERO)));
    let done = Done { verb: crate::protocol::Verb::KvLoad, name: "s".into(), outcome, unix_ms: WALL0 };
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    // Recorded in the turn it takes effect (at once, or after steps of
    // the merge), the frames handed on whole.
    let mut answered = match store.finish(1, done, t0, &mut reply) {
        Finished::Replied => true,
        Finished::Merging => false,
        other => panic!("{other:?}"),
    };
    let mut recorded = store.take_journal_chunks();
    for _ in 0..100 {
        if answered && !store.has_queued_jobs() {
            break;
        }
        store.work(t0);
        if store.take_applied(&mut reply).is_some() {
            answered = true;
        }
        recorded.extend(store.take_journal_chunks());
    }
    assert!(answered);
    assert!(recorded.iter().any(|chunk| chunk.len() == encoded), "the frames went on as one piece");
    run(&mut store, r#"{"KV_SET":{"keys":{"k3":"after"}}}"#, t0);
    all.extend(recorded.concat());
    all.extend(store.take_journal_chunks().concat());
    let fresh = replayed(&all, t0, WALL0);
    assert_eq!(dump(&fresh), dump(&store));
    assert!(fresh.kv().get("old").is_some());
    assert_eq!(fresh.kv().len(), 5_001);
    assert_eq!(fresh.kv().get("k3").map(|e| e.value_json().to_vec()), Some(br#""after""#.to_vec()));
}

#[test]
fn everysec_gathers_turns_for_the_hand_over_interval_and_always_hands_each_over() {
    use std::sync::atomic::Ordering::Relaxed;
    let size = |w: &LogWriter| w.state().size.load(Relaxed);
    let wait_size = |w: &LogWriter, at_least: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while size(w) < at_least {
            assert!(Instant::now() < deadline, "never written: {} of {at_least}", size(w));
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let dir = TempDir::new("gather");
    let t0 = Instant::now();
    let mut kv = store();
    let everysec = LogSettings { fsync: LogFsync::EverySec, ..settings() };
    let (mut writer, _) = open(&dir.0, &everysec, &mut kv, t0, WALL0).unwrap();
    let empty = size(&writer);
    run(&mut kv, r#"{"KV_SET":{"keys":{"a":1}}}"#, t0);
    writer.gather(kv.take_journal_chunks(), t0);
    assert_eq!(writer.hand_over_at(), Some(t0 + super::writer::HAND_OVER_INTERVAL));
    // A later turn within the interval: still gathered, nothing sent.
    let t1 = t0 + super::writer::HAND_OVER_INTERVAL / 2;
    run(&mut kv, r#"{"KV_SET":{"keys":{"b":2}}}"#, t1);
    writer.gather(kv.take_journal_chunks(), t1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(size(&writer), empty, "nothing reached the log thread");
    // A turn with nothing new at the interval's end hands both over.
    writer.gather(Vec::new(), t0 + super::writer::HAND_OVER_INTERVAL);
    assert_eq!(writer.hand_over_at(), None);
    wait_size(&writer, empty + 1);
    let two = size(&writer);
    // Past HAND_OVER_BYTES they go at once.
    let big = format!(r#"{{"KV_SET":{{"keys":{{"c":"{}"}}}}}}"#, "x".repeat(super::writer::HAND_OVER_BYTES));
    run(&mut kv, &big, t1);
    writer.gather(kv.take_journal_chunks(), t1 + super::writer::HAND_OVER_INTERVAL);
    assert_eq!(writer.hand_over_at(), None);
    wait_size(&writer, two + super::writer::HAND_OVER_BYTES as u64);
    // Dropping the writer hands over what is gathered.
    run(&mut kv, r#"{"KV_SET":{"keys":{"d":4}}}"#, t1);
    writer.gather(kv.take_journal_chunks(), t1 + super::writer::HAND_OVER_INTERVAL);
    assert!(writer.hand_over_at().is_some());
    drop(writer);
    let (again, replayed) = open_at(&dir.0, &everysec).unwrap();
    assert_eq!(replayed.frames, 4);
    assert_eq!(again.kv().len(), 4);

    // Under always, each turn goes at once.
    let dir = TempDir::new("gather-always");
    let mut kv = store();
    let (mut writer, _) = open(&dir.0, &settings(), &mut kv, t0, WALL0).unwrap();
    let empty = size(&writer);
    run(&mut kv, r#"{"KV_SET":{"keys":{"a":1}}}"#, t0);
    let seq = writer.next_seq();
    writer.gather(kv.take_journal_chunks(), t0);
    assert_eq!(writer.hand_over_at(), None);
    assert_eq!(writer.next_seq(), seq + 1, "one batch");
    wait_size(&writer, empty + 1);
}
