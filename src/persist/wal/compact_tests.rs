//! Compaction tests on the store, the log thread and the save thread
//! together (no server): a compaction per crash point, each stopped dead
//! there as `kill -9` would stop it, the directory reopened and the whole
//! store (keys, sessions with their deadlines, arrays, lists) compared
//! with what was acknowledged; a failing base write; the layout before
//! compaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{LogFsync, LogSettings};
use crate::persist::Worker;
use crate::protocol::Protocol;
use crate::store::{Executed, ServerInfo, Store};

const WALL0: u64 = 1_800_000_000_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ndb-compact-{tag}-{}", std::process::id()));
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
    LogSettings { enabled: true, fsync: LogFsync::Always, ..LogSettings::default() }
}

/// Everything the store holds, comparable: keys, sessions (settings, keys,
/// deadline), and the arrays and lists the workload uses, read back.
type Full = (Vec<(String, String)>, Vec<crate::store::sessions::SessionDump>, Vec<String>);

fn request(store: &mut Store, text: &str, now: Instant) -> String {
    let mut out = Vec::new();
    let executed = crate::server::dispatch(store, Protocol::V09, crate::conn::Message::Text(text), now, &mut out);
    assert_eq!(executed, Executed::Replied, "{text}");
    store.seal_journal();
    String::from_utf8(out).unwrap()
}

fn full(store: &mut Store, now: Instant) -> Full {
    let mut kv: Vec<(String, String)> = store
        .kv()
        .entries()
        .map(|e| (e.key().into_owned(), String::from_utf8_lossy(e.value_json()).into_owned()))
        .collect();
    kv.sort();
    let sessions = store.sessions().dump();
    let reads = [
        r#"{"IARR_GET_RNG":{"name":"a","rng":[0,64]}}"#,
        r#"{"OLST_GET_RNG":{"name":"l","rng":[0,1000]}}"#,
        r#"{"STRARR_GET_RNG":{"name":"s","rng":[0,8]}}"#,
    ];
    let containers = reads.iter().map(|r| request(store, r, now)).collect();
    (kv, sessions, containers)
}

/// A store, its log, the save thread and the compactor, driven turn by
/// turn as the server drives them.
struct Rig {
    store: Store,
    wal: Option<LogWriter>,
    worker: Worker,
    compactor: Compactor,
    now: Instant,
    /// The store after each batch, by the batch's sequence number.
    states: Vec<(u64, Full)>,
    tokens: Vec<u64>,
    n: u64,
}

impl Rig {
    fn open(root: &Path, t0: Instant) -> Rig {
        let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: root.to_owned() });
        let (wal, _) = open(root, &settings(), &mut store, t0, WALL0).unwrap();
        store.seal_journal();
        let mut rig = Rig {
            store,
            wal: Some(wal),
            worker: Worker::new(root.to_owned()),
            compactor: Compactor::new(&LogSettings { rewrite_percent: 0, ..settings() }),
            now: t0,
            states: Vec::new(),
            tokens: Vec::new(),
            n: 0,
        };
        let state = full(&mut rig.store, t0);
        rig.states.push((0, state));
        rig
    }

    fn wal(&mut self) -> &mut LogWriter {
        self.wal.as_mut().unwrap()
    }

    /// Some writes of every kind: keys, sessions with expiry, an array, a
    /// list, a string array.
    fn writes(&mut self, count: u64) {
        let now = self.now;
        for _ in 0..count {
            let n = self.n;
            self.n += 1;
            let texts = [
                format!(r#"{{"KV_SET":{{"keys":{{"k{}":{{"n":{n}}},"w{}":"v{n}"}}}}}}"#, n % 3000, n % 7),
                format!(r#"{{"KV_RMV":{{"keys":["k{}"]}}}}"#, (n * 7) % 3000),
                format!(r#"{{"IARR_SET":{{"name":"a","pos":{},"item":{n}}}}}"#, n % 64),
                format!(r#"{{"OLST_ADD":{{"name":"l","items":[{{"n":{n}}}]}}}}"#),
                format!(r#"{{"STRARR_SET":{{"name":"s","pos":{},"item":"t{n}"}}}}"#, n % 8),
            ];
            for text in &texts {
                request(&mut self.store, text, now);
            }
            if n.is_multiple_of(5) {
                let made = request(
                    &mut self.store,
                    &format!(
                        r#"{{"SH_NEW":{{"expiry":{{"duration":{},"deleteSession":{}}}}}}}"#,
                        60 + n % 5,
                        n.is_multiple_of(2)
                    ),
                    now,
                );
                let json: serde_json::Value = serde_json::from_str(&made).unwrap();
                if let Some(token) = json["SH_NEW_RSP"]["tkn"].as_u64() {
                    self.tokens.push(token);
                }
            }
            if let Some(&token) = self.tokens.get((n as usize * 13) % self.tokens.len().max(1)) {
                request(
                    &mut self.store,
                    &format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"s{}":{n}}}}}}}"#, n % 4),
                    now,
                );
            }
            if n.is_multiple_of(17)
                && let Some(&token) = self.tokens.first()
            {
                request(&mut self.store, &format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#), now);
                self.tokens.remove(0);
            }
        }
    }

    /// The end of a turn: the batch to the log thread, the compactor's
    /// turn, the save thread's result.
    fn turn(&mut self) {
        self.store.seal_journal();
        let frames = self.store.take_journal_chunks();
        let now = self.now;
        let wal = self.wal.as_mut().unwrap();
        if !frames.is_empty() {
            let seq = wal.submit_chunks(frames);
            let state = full(&mut self.store, now);
            self.states.push((seq, state));
        }
        let wal = self.wal.as_mut().unwrap();
        self.compactor.turn(&mut self.store, wal, &mut self.worker, now);
        while let Some((ticket, done)) = self.worker.try_finished() {
            assert_eq!(ticket, COMPACTION_TICKET);
            let wal = self.wal.as_mut().unwrap();
            self.compactor.finished(done, &mut self.store, wal, now);
        }
    }

    fn dead(&mut self) -> bool {
        self.wal().state().dead.load(Ordering::Acquire)
    }

    /// Writes and turns until `until` holds (at most about 20 s).
    fn run_until(&mut self, mut until: impl FnMut(&mut Rig) -> bool) {
        for _ in 0..20_000 {
            if until(self) {
                return;
            }
            self.writes(3);
            self.turn();
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("not reached in time");
    }

    /// Stops as `kill -9` would (the log thread already stopped dead, or
    /// is stopped now without writing what is queued), then returns the
    /// states from the last durable batch on: what a reopen may give.
    fn kill(mut self) -> Vec<Full> {
        let wal = self.wal.take().unwrap();
        let state = wal.shared_state();
        state.dead.store(true, Ordering::Release);
        drop(wal);
        let durable = state.durable.load(Ordering::Acquire);
        drop(self.worker);
        self.states.into_iter().filter(|(seq, _)| *seq >= durable).map(|(_, s)| s).collect()
    }
}

fn files(root: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(root.join(LOG_DIR)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Reopens `root` and checks the store is one of `allowed` (the first is
/// the last durable one: everything acknowledged); returns the rig.
fn reopen_and_check(root: &Path, allowed: &[Full], what: &str) -> Rig {
    let t0 = Instant::now();
    let mut rig = Rig::open(root, t0);
    let got = full(&mut rig.store, t0);
    assert!(
        allowed.contains(&got),
        "{what}: the reopened store is none of the {} states from the last durable batch on; files {:?}; keys {} \
         (expected {}), sessions {} (expected {})",
        allowed.len(),
        files(root),
        got.0.len(),
        allowed[0].0.len(),
        got.1.len(),
        allowed[0].1.len(),
    );
    rig
}

fn begin(rig: &mut Rig) {
    let now = rig.now;
    for text in [
        r#"{"IARR_CREATE":{"name":"a","len":64}}"#,
        r#"{"OLST_CREATE":{"name":"l"}}"#,
        r#"{"STRARR_CREATE":{"name":"s","len":8}}"#,
    ] {
        request(&mut rig.store, text, now);
    }
    // Enough keys that the snapshot takes several steps.
    rig.writes(1200);
    rig.turn();
}

/// A compaction stopped dead at `point` (after one that ran through),
/// with writes before, during and after: the directory reopens to exactly
/// what was acknowledged, keeps nothing unlisted, and compacts again.
fn crash_at(point: CrashPoint) {
    let dir = TempDir::new(&format!("crash{}", point as u8));
    let mut rig = Rig::open(&dir.0, Instant::now());
    begin(&mut rig);
    // A first compaction runs through, so the crash is of one that
    // replaces a base as well as segments.
    rig.compactor.force();
    rig.run_until(|r| r.compactor.completed() == 1);
    rig.writes(100);
    rig.turn();
    rig.wal().state().crash_at.store(point as u8, Ordering::Release);
    rig.compactor.force();
    rig.run_until(Rig::dead);
    // Writes after the crash point are never acknowledged.
    rig.writes(20);
    rig.turn();
    let allowed = rig.kill();
    let mut again = reopen_and_check(&dir.0, &allowed, &format!("{point:?}"));
    // Nothing the manifest does not list is left, and the log goes on
    // and compacts again.
    let names = files(&dir.0);
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{point:?}: {names:?}");
    again.writes(50);
    again.turn();
    again.compactor.force();
    again.run_until(|r| r.compactor.completed() == 1);
    again.writes(10);
    again.turn();
    let allowed = again.kill();
    reopen_and_check(&dir.0, &allowed, &format!("{point:?}, compacted again"));
    let names = files(&dir.0);
    assert_eq!(names.iter().filter(|n| n.ends_with(".base")).count(), 1, "{point:?}: {names:?}");
}

#[test]
fn a_crash_once_the_new_segment_is_created_but_not_listed() {
    crash_at(CrashPoint::SegmentCreated);
}

#[test]
fn a_crash_once_the_manifest_lists_the_new_segment() {
    crash_at(CrashPoint::Switched);
}

#[test]
fn a_crash_once_the_base_is_written_but_not_renamed() {
    crash_at(CrashPoint::BaseWritten);
}

#[test]
fn a_crash_once_the_base_is_renamed_but_not_in_the_manifest() {
    crash_at(CrashPoint::BaseRenamed);
}

#[test]
fn a_crash_once_the_new_manifest_is_written_but_not_renamed() {
    crash_at(CrashPoint::ManifestWritten);
}

#[test]
fn a_crash_once_the_new_manifest_is_renamed_but_its_directory_not_synced() {
    crash_at(CrashPoint::ManifestRenamed);
}

#[test]
fn a_crash_while_the_old_files_are_deleted() {
    crash_at(CrashPoint::Deleting);
}

#[test]
fn a_compaction_replaces_the_old_files_and_reports_its_sizes() {
    let dir = TempDir::new("through");
    let mut rig = Rig::open(&dir.0, Instant::now());
    begin(&mut rig);
    // The log thread writes asynchronously: the size to compare with is
    // the one once every batch is durable (`fsync always`).
    let last = rig.wal().next_seq() - 1;
    for _ in 0..10_000 {
        if rig.wal().durable() >= last {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(rig.wal().durable() >= last, "the first batches are durable");
    let before = rig.wal().state().size.load(Ordering::Relaxed);
    let used = rig.store.used_memory();
    rig.compactor.force();
    rig.turn();
    assert!(rig.compactor.busy());
    // The snapshot counts toward maxMemory while it is taken and written,
    // as a save's does: at least a pointer per key.
    assert!(rig.store.used_memory() > used, "the snapshot being taken is counted");
    // No writes meanwhile: what changes is the compaction's.
    let mut peak = 0;
    for _ in 0..20_000 {
        peak = peak.max(rig.store.used_memory());
        if rig.compactor.completed() == 1 {
            break;
        }
        rig.turn();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rig.compactor.completed(), 1);
    let keys = rig.store.kv().len();
    assert!(peak >= used + keys * crate::store::memory::SNAPSHOT_BYTES_PER_ENTRY, "{peak} against {used}");
    assert_eq!(rig.store.used_memory(), used, "and no longer once the base is written");
    let state = rig.wal().shared_state();
    assert!(state.base_bytes.load(Ordering::Relaxed) > 0);
    assert!(state.size.load(Ordering::Relaxed) < before, "the segments after the base are smaller");
    assert_eq!(state.segments.load(Ordering::Relaxed), 1);
    assert!(state.last_compaction_ms.load(Ordering::Relaxed) > 0);
    assert_eq!(files(&dir.0), ["00000002.base", "00000002.log", "MANIFEST"]);
    rig.writes(10);
    rig.turn();
    let allowed = rig.kill();
    reopen_and_check(&dir.0, &allowed, "after a compaction");
}

#[test]
fn a_failing_base_write_keeps_the_old_manifest_and_writes_go_on() {
    let dir = TempDir::new("fail");
    let mut rig = Rig::open(&dir.0, Instant::now());
    begin(&mut rig);
    // The base's temporary name is taken by a directory: it cannot be
    // created, as on a full disk.
    std::fs::create_dir(dir.0.join(LOG_DIR).join("00000002.base.tmp")).unwrap();
    std::fs::write(dir.0.join(LOG_DIR).join("00000002.base.tmp").join("x"), b"x").unwrap();
    rig.compactor.force();
    rig.turn();
    assert!(rig.compactor.busy());
    rig.run_until(|r| !r.compactor.busy());
    assert_eq!(rig.compactor.completed(), 0);
    assert!(!rig.wal().failing(), "writes go on");
    let manifest = manifest::read(&dir.0.join(LOG_DIR)).unwrap().unwrap();
    assert_eq!(manifest, Manifest { base: None, segments: vec![1, 2] }, "the old base (none) stays in force");
    rig.writes(30);
    rig.turn();
    std::fs::remove_dir_all(dir.0.join(LOG_DIR).join("00000002.base.tmp")).unwrap();
    // Retried later (forced here rather than waiting RETRY_AFTER).
    rig.compactor.force();
    rig.run_until(|r| r.compactor.completed() == 1);
    assert_eq!(manifest::read(&dir.0.join(LOG_DIR)).unwrap().unwrap().base, Some(3));
    let allowed = rig.kill();
    reopen_and_check(&dir.0, &allowed, "after a failed then a good compaction");
}

#[test]
fn a_log_of_the_layout_before_compaction_loads_and_then_compacts() {
    let dir = TempDir::new("legacy");
    // One segment and no manifest, as ndb wrote it before compaction.
    let t0 = Instant::now();
    let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: dir.0.clone() });
    store.set_wall_clock(t0, WALL0);
    store.enable_journal();
    request(&mut store, r#"{"KV_SET":{"keys":{"old":1,"two":[2]}}}"#, t0);
    request(&mut store, r#"{"OLST_CREATE":{"name":"l"}}"#, t0);
    request(&mut store, r#"{"OLST_ADD":{"name":"l","items":[{"x":1}]}}"#, t0);
    let mut file = header().to_vec();
    file.extend(store.take_journal_chunks().concat());
    std::fs::create_dir_all(dir.0.join(LOG_DIR)).unwrap();
    std::fs::write(segment_path(&dir.0), &file).unwrap();
    let expected = full(&mut store, t0);
    let mut rig = reopen_and_check(&dir.0, &[expected], "the layout before compaction");
    assert_eq!(manifest::read(&dir.0.join(LOG_DIR)).unwrap(), Some(Manifest::legacy()), "a manifest is written");
    rig.writes(20);
    rig.turn();
    rig.compactor.force();
    rig.run_until(|r| r.compactor.completed() == 1);
    let allowed = rig.kill();
    let mut again = reopen_and_check(&dir.0, &allowed, "compacted");
    let got = full(&mut again.store, Instant::now());
    assert!(got.0.iter().any(|(k, _)| k == "old"));
    assert!(got.2[1].contains(r#"{"x":1}"#), "{}", got.2[1]);
}

#[test]
fn the_trigger_follows_the_percentage_and_the_minimum_size() {
    let c = Compactor::new(&LogSettings { rewrite_percent: 100, rewrite_min_size: 1000, ..settings() });
    let h = HEADER_BYTES as u64;
    assert!(!c.due(999, 1, 0), "under the minimum");
    assert!(c.due(1000, 1, 0), "no base yet");
    assert!(!c.due(2000 + h - 1, 1, 2000 + h), "under twice the base");
    assert!(c.due(2000 + h, 1, 2000 + h));
    assert!(!c.due(2000 + 2 * h, 2, 4000 + h), "headers do not count");
    let never = Compactor::new(&LogSettings { rewrite_percent: 0, rewrite_min_size: 0, ..settings() });
    assert!(!never.due(u64::MAX, 1, 0));
    let empty = Compactor::new(&LogSettings { rewrite_percent: 100, rewrite_min_size: 0, ..settings() });
    assert!(!empty.due(h, 1, h), "nothing recorded since the base");
    assert!(empty.due(h + 30, 1, h + 20));
}

/// Array and list commands in the base written of `dir`'s log: its
/// container commands, counted from the file.
fn base_containers(dir: &Path) -> usize {
    let base = files(dir).into_iter().find(|name| name.ends_with(".base")).expect("a base");
    let mut count = 0;
    compact::containers_of(&dir.join(LOG_DIR).join(base), |_| {
        count += 1;
        Ok(())
    })
    .unwrap();
    count
}

#[test]
fn a_base_carries_no_array_or_list_history_when_none_exists_at_the_switch() {
    let dir = TempDir::new("nocontainers");
    let mut rig = Rig::open(&dir.0, Instant::now());
    let now = rig.now;
    // Arrays and lists that come and go before the compaction: the log
    // holds their commands, the store none of them.
    for text in [
        r#"{"IARR_CREATE":{"name":"gone","len":4}}"#,
        r#"{"IARR_SET":{"name":"gone","pos":1,"item":7}}"#,
        r#"{"OLST_CREATE":{"name":"l2"}}"#,
        r#"{"OLST_ADD":{"name":"l2","items":[{"n":1}]}}"#,
        r#"{"IARR_DELETE":{"name":"gone"}}"#,
        r#"{"OLST_DELETE":{"name":"l2"}}"#,
    ] {
        let reply = request(&mut rig.store, text, now);
        assert!(reply.contains(r#""st":1"#) || reply.contains(r#""st":20"#), "{text}: {reply}");
    }
    assert!(!rig.store.has_containers());
    for n in 0..500 {
        request(&mut rig.store, &format!(r#"{{"KV_SET":{{"keys":{{"x{n}":{n}}}}}}}"#), now);
    }
    rig.turn();
    rig.compactor.force();
    rig.run_until(|r| r.compactor.completed() == 1);
    assert_eq!(base_containers(&dir.0), 0, "no array or list command in the base");
    let allowed = rig.kill();
    let mut again = reopen_and_check(&dir.0, &allowed, "a base without containers");
    assert!(!again.store.has_containers(), "none comes back");
    assert!((0..500).all(|n| again.store.kv().get(&format!("x{n}")).is_some()), "the keys are there");

    // With one that exists at the switch, the base carries the commands
    // that made it (and those of the ones deleted before).
    let now = again.now;
    request(&mut again.store, r#"{"OLST_CREATE":{"name":"kept"}}"#, now);
    request(&mut again.store, r#"{"OLST_ADD":{"name":"kept","items":[{"n":5}]}}"#, now);
    again.turn();
    again.compactor.force();
    again.run_until(|r| r.compactor.completed() == 1);
    assert!(base_containers(&dir.0) >= 2, "the kept list's commands are in the base");
    let allowed = again.kill();
    let mut third = reopen_and_check(&dir.0, &allowed, "a base with a container");
    let now = third.now;
    let got = request(&mut third.store, r#"{"OLST_GET_RNG":{"name":"kept","rng":[0,10]}}"#, now);
    assert!(got.contains(r#"[{"n":5}]"#), "{got}");
}
