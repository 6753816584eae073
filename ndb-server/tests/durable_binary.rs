//! The durable log through the `ndb-server` binary: `kill -9` at random
//! moments under a mixed write load (KV, sessions, lists) with
//! `--log-fsync always` loses
//! nothing acknowledged and leaves no command half applied; a torn tail is
//! dropped with a warning, damage elsewhere refuses to start until
//! `--log-truncate-at`; `kill -9` while the log compacts, again and again,
//! loses nothing acknowledged either.

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::saves::TempDir;
use tungstenite::{Message, Utf8Bytes};

fn ndb_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ndb-server"));
    command.env("RUST_LOG", "info").env("RUST_LOG_STYLE", "never");
    command
}

fn persist_args(dir: &TempDir) -> Vec<String> {
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("ndb.json");
    let saves = dir.path().join("saves");
    std::fs::write(&file, format!(r#"{{"version":5,"persist":{{"enabled":true,"path":{saves:?}}}}}"#)).unwrap();
    vec!["--config".into(), file.to_str().unwrap().into(), "--log".into()]
}

/// A server process, killed when dropped (a failed assertion included),
/// so no test leaves one behind.
struct Server(Child);

impl Server {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a server; returns it, its address and the log lines before the
/// start-up line.
fn spawn(args: &[String]) -> (Server, SocketAddr, Vec<String>) {
    let mut child = ndb_server().args(["--port", "0"]).args(args).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines.next().unwrap_or_else(|| panic!("no start-up line; before: {before:?}")).unwrap();
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        before.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr, before)
}

/// One request and its reply, or `None` once the server is gone.
fn try_call(ws: &mut tungstenite::WebSocket<std::net::TcpStream>, text: &str) -> Option<String> {
    ws.send(Message::Text(Utf8Bytes::from(text))).ok()?;
    loop {
        match ws.read().ok()? {
            Message::Text(t) => return Some(t.as_str().to_owned()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// What one client had acknowledged when the server was killed.
#[derive(Debug, Default, Clone)]
struct Acked {
    /// The last `n` of its two-key `KV_SET`s.
    pair: Option<u64>,
    /// Keys whose removal was acknowledged.
    removed: Vec<String>,
    /// Its sessions and the last `n` of their two-key `SH_SET`s.
    sessions: Vec<(u64, Option<u64>)>,
    /// Items its `OLST_ADD`s had put in its list.
    list_items: Option<u64>,
    /// The last `n` its `IARR_SET_RNG`s wrote to both slots of its array.
    array: Option<u64>,
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Writes until the server dies, recording what was acknowledged.
fn load(addr: SocketAddr, client: usize, acked: &Mutex<Acked>, started: &AtomicBool) {
    let Ok(mut c) = std::panic::catch_unwind(|| common::Client::connect(addr)) else { return };
    started.store(true, Ordering::Relaxed);
    let ws = &mut c.ws;
    let create = format!(r#"{{"OLST_CREATE":{{"name":"l{client}"}}}}"#);
    let Some(reply) = try_call(ws, &create) else { return };
    // 160: it exists, replayed from an earlier round.
    assert!(reply == r#"{"OLST_CREATE_RSP":{"st":1}}"# || reply == r#"{"OLST_CREATE_RSP":{"st":160}}"#, "{reply}");
    let create = format!(r#"{{"IARR_CREATE":{{"name":"a{client}","len":2}}}}"#);
    let Some(reply) = try_call(ws, &create) else { return };
    assert!(reply == r#"{"IARR_CREATE_RSP":{"st":1}}"# || reply == r#"{"IARR_CREATE_RSP":{"st":160}}"#, "{reply}");
    for n in 1u64.. {
        let set = format!(r#"{{"IARR_SET_RNG":{{"name":"a{client}","items":[{n},{n}],"pos":0}}}}"#);
        let Some(reply) = try_call(ws, &set) else { return };
        assert_eq!(reply, r#"{"IARR_SET_RNG_RSP":{"st":1}}"#);
        acked.lock().unwrap().array = Some(n);
        let add = format!(r#"{{"OLST_ADD":{{"name":"l{client}","items":[{{"n":{n}}}]}}}}"#);
        let Some(reply) = try_call(ws, &add) else { return };
        let size = json(&reply)["OLST_ADD_RSP"]["size"].as_u64().unwrap_or_else(|| panic!("{reply}"));
        acked.lock().unwrap().list_items = Some(size);
        let set = format!(r#"{{"KV_SET":{{"keys":{{"c{client}a":{n},"c{client}b":{n},"c{client}r{n}":true}}}}}}"#);
        let Some(reply) = try_call(ws, &set) else { return };
        assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
        acked.lock().unwrap().pair = Some(n);
        if n % 2 == 0 {
            let key = format!("c{client}r{}", n - 1);
            let Some(reply) = try_call(ws, &format!(r#"{{"KV_RMV":{{"keys":["{key}"]}}}}"#)) else { return };
            assert_eq!(reply, r#"{"KV_RMV_RSP":{"st":1}}"#);
            acked.lock().unwrap().removed.push(key);
        }
        if n % 7 == 1 {
            let new = r#"{"SH_NEW":{"expiry":{"duration":600,"deleteSession":true,"extendOnSetAdd":true}}}"#;
            let Some(reply) = try_call(ws, new) else { return };
            let token = json(&reply)["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
            acked.lock().unwrap().sessions.push((token, None));
        }
        let token = acked.lock().unwrap().sessions.last().map(|s| s.0);
        if let Some(token) = token {
            let set = format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"n":{n},"m":{n}}}}}}}"#);
            let Some(reply) = try_call(ws, &set) else { return };
            assert_eq!(reply, r#"{"SH_SET_RSP":{"st":1}}"#);
            if let Some(last) = acked.lock().unwrap().sessions.last_mut() {
                last.1 = Some(n);
            }
        }
    }
}

/// Kills the server `after` into a load of `clients`, restarts it, and
/// checks everything acknowledged is there and nothing is half applied.
fn kill_round(dir: &TempDir, clients: usize, after: Duration, extra: &[&str]) -> usize {
    let mut args = [persist_args(dir), vec!["--log-fsync".into(), "always".into()]].concat();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let (mut child, addr, _) = spawn(&args);
    let acked: Vec<Arc<Mutex<Acked>>> = (0..clients).map(|_| Arc::default()).collect();
    let started = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = acked
        .iter()
        .enumerate()
        .map(|(i, acked)| {
            let (acked, started) = (Arc::clone(acked), Arc::clone(&started));
            std::thread::spawn(move || load(addr, i, &acked, &started))
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(10);
    while !started.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(after);
    child.kill();
    for thread in threads {
        thread.join().unwrap();
    }

    let (mut child, addr, lines) = spawn(&persist_args(dir));
    assert!(lines.iter().any(|l| l.contains("replayed the log")), "{lines:?}");
    let mut c = common::Client::connect(addr);
    let mut checked = 0;
    for (i, acked) in acked.iter().enumerate() {
        let acked = acked.lock().unwrap().clone();
        let got = c.call_json(&format!(r#"{{"KV_GET":{{"keys":["c{i}a","c{i}b"]}}}}"#));
        let keys = &got["KV_GET_RSP"]["keys"];
        assert_eq!(keys[format!("c{i}a")], keys[format!("c{i}b")], "half of a KV_SET: {got}");
        if let Some(n) = acked.pair {
            let have = keys[format!("c{i}a")].as_u64().unwrap_or(0);
            assert!(have == n || have == n + 1, "client {i}: acknowledged {n}, found {have}");
            checked += 1;
        }
        if let Some(items) = acked.list_items {
            let got = c.call_json(&format!(r#"{{"OLST_GET_RNG":{{"name":"l{i}","rng":[0,100000]}}}}"#));
            let have = got["OLST_GET_RNG_RSP"]["items"].as_array().map_or(0, Vec::len) as u64;
            assert!(have == items || have == items + 1, "list of client {i}: acknowledged {items} items, found {have}");
            checked += 1;
        }
        if let Some(n) = acked.array {
            let got = c.call_json(&format!(r#"{{"IARR_GET_RNG":{{"name":"a{i}","rng":[0]}}}}"#));
            let items = &got["IARR_GET_RNG_RSP"]["items"];
            assert_eq!(items[0], items[1], "half of an IARR_SET_RNG: {got}");
            let have = items[0].as_u64().unwrap_or(0);
            assert!(have == n || have == n + 1, "array of client {i}: acknowledged {n}, found {have}");
            checked += 1;
        }
        for key in &acked.removed {
            let got = c.call(&format!(r#"{{"KV_CONTAINS":{{"keys":["{key}"]}}}}"#));
            assert_eq!(got, r#"{"KV_CONTAINS_RSP":{"contains":[],"st":1}}"#, "{key} came back");
        }
        for (token, n) in acked.sessions {
            let got = c.call_json(&format!(r#"{{"SH_GET":{{"tkn":{token},"keys":["n","m"]}}}}"#));
            assert_eq!(got["SH_GET_RSP"]["st"], 1, "session {token} lost: {got}");
            let keys = &got["SH_GET_RSP"]["keys"];
            assert_eq!(keys["n"], keys["m"], "half of an SH_SET: {got}");
            if let Some(n) = n {
                let have = keys["n"].as_u64().unwrap_or(0);
                assert!(have >= n, "session {token}: acknowledged {n}, found {have}");
            }
            checked += 1;
        }
    }
    child.kill();
    checked
}

/// A few pseudo-random kill moments (no clock-seeded randomness: the
/// rounds are the same on every run, and varied by the load's own timing).
fn moments(rounds: usize) -> impl Iterator<Item = Duration> {
    (0..rounds).map(|i| Duration::from_millis(20 + (i as u64 * 7_919) % 400))
}

#[test]
fn kill_9_under_a_mixed_write_load_loses_nothing_acknowledged() {
    let dir = TempDir::new("log-kill");
    let mut checked = 0;
    for after in moments(3) {
        checked += kill_round(&dir, 6, after, &[]);
    }
    assert!(checked > 0, "no write was acknowledged before the kills");
}

#[test]
#[ignore = "stress: many rounds of kill -9; run with --ignored"]
fn kill_9_stress() {
    let dir = TempDir::new("log-kill-stress");
    for after in moments(40) {
        kill_round(&dir, 16, after, &[]);
    }
}

/// The first segment after the base the manifest of `dir` names, and the
/// number of segments it lists.
fn manifest(dir: &TempDir) -> (u32, usize) {
    let text = std::fs::read_to_string(dir.path().join("saves").join("log").join("MANIFEST")).unwrap();
    let base = text
        .lines()
        .find_map(|l| l.strip_prefix("base "))
        .and_then(|b| b.strip_suffix(".base"))
        .map_or(1, |n| n.parse().unwrap());
    (base, text.lines().filter(|l| l.starts_with("segment ")).count())
}

/// Thresholds small enough that the load compacts the log every few
/// hundred milliseconds.
const COMPACT_OFTEN: [&str; 4] = ["--log-rewrite-min-size", "24kb", "--log-rewrite-percent", "25"];

#[test]
fn kill_9_while_the_log_compacts_again_and_again_loses_nothing_acknowledged() {
    let dir = TempDir::new("log-kill-compact");
    let mut checked = 0;
    let mut bases = Vec::new();
    for after in [700, 1_300, 1_900] {
        checked += kill_round(&dir, 12, Duration::from_millis(after), &COMPACT_OFTEN);
        bases.push(manifest(&dir).0);
    }
    assert!(checked > 0, "no write was acknowledged before the kills");
    // Several compactions were put in force (the base's number is the
    // first segment after it: one more segment per compaction).
    let (base, segments) = manifest(&dir);
    assert!(base >= 4, "bases after each round: {bases:?}");
    assert!(segments >= 1);
    assert!(!dir.path().join("saves").join("log").join("00000001.log").exists(), "the first segment was retired");

    // SV_INFO reports the base in force and, once one runs, the compaction.
    let args = [persist_args(&dir), COMPACT_OFTEN.iter().map(|s| (*s).to_owned()).collect()].concat();
    let (mut child, addr, _) = spawn(&args);
    let mut c = common::Client::connect(addr);
    let info = c.call_json(r#"{"SV_INFO":{}}"#);
    let log = &info["SV_INFO_RSP"]["log"];
    assert!(log["baseBytes"].as_u64().unwrap() > 0, "{log}");
    assert!(log["segments"].as_u64().unwrap() >= 1, "{log}");
    assert_eq!(log["compactions"], 0, "{log}");
    // The log must outgrow 25 % of a base whose size depends on how much
    // the kill rounds wrote: write until a compaction starts and is done.
    let value = "x".repeat(1_000);
    let until = Instant::now() + Duration::from_secs(30);
    let mut written = 0;
    let log = loop {
        for _ in 0..50 {
            c.call(&format!(r#"{{"KV_SET":{{"keys":{{"big{written}":"{value}"}}}}}}"#));
            written += 1;
        }
        let info = c.call_json(r#"{"SV_INFO":{}}"#);
        let log = info["SV_INFO_RSP"]["log"].clone();
        if log["compactions"].as_u64().unwrap() >= 1 || Instant::now() > until {
            break log;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(log["compactions"].as_u64().unwrap() >= 1, "{log}");
    assert!(log["lastCompaction"].as_u64().unwrap() > 1_700_000_000_000, "{log}");
    assert!(log["lastCompactionMs"].as_u64().is_some(), "{log}");
    child.kill();
}

fn segment(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("saves").join("log").join("00000001.log")
}

/// Runs the server on `dir` with `extra` flags until it exits; returns its
/// exit code and what it printed.
fn run(dir: &TempDir, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = persist_args(dir);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = ndb_server().args(["--port", "0"]).args(&args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write_some(dir: &TempDir) -> u64 {
    let (mut child, addr, _) = spawn(&persist_args(dir));
    let mut c = common::Client::connect(addr);
    for i in 0..3 {
        assert_eq!(c.call(&format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#)), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    // SIGTERM: the log thread syncs what it holds before the exit.
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    std::fs::metadata(segment(dir)).unwrap().len()
}

#[test]
fn a_torn_tail_is_dropped_with_a_warning_naming_its_offset() {
    let dir = TempDir::new("log-torn-bin");
    let len = write_some(&dir);
    let mut bytes = std::fs::read(segment(&dir)).unwrap();
    bytes.extend_from_within(16..30);
    std::fs::write(segment(&dir), &bytes).unwrap();
    let (mut child, addr, lines) = spawn(&persist_args(&dir));
    let warning = format!("torn record at byte {len}");
    assert!(lines.iter().any(|l| l.contains("WARN") && l.contains(&warning)), "{lines:?}");
    let mut c = common::Client::connect(addr);
    assert_eq!(c.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":3,"st":1}}"#);
    child.kill();
}

#[test]
fn damage_before_the_end_refuses_to_start_and_names_the_way_out() {
    let dir = TempDir::new("log-damage-bin");
    write_some(&dir);
    let mut bytes = std::fs::read(segment(&dir)).unwrap();
    bytes[16 + 12 + 2] ^= 0x40;
    std::fs::write(segment(&dir), &bytes).unwrap();
    let (code, stderr) = run(&dir, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("damaged at byte 16") && stderr.contains("--log-truncate-at 16"), "{stderr}");

    let (mut child, addr, lines) = spawn(&[persist_args(&dir), vec!["--log-truncate-at".into(), "16".into()]].concat());
    assert!(lines.iter().any(|l| l.contains("cutting the log")), "{lines:?}");
    let mut c = common::Client::connect(addr);
    assert_eq!(c.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    child.kill();
}

#[test]
fn a_log_from_a_newer_version_refuses_to_start() {
    let dir = TempDir::new("log-newer-bin");
    write_some(&dir);
    let path = segment(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 9;
    // Header checksum recomputed: it is a well-formed header of version 9.
    let crc = crc32c(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let (code, stderr) = run(&dir, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("version 9, written by a newer ndb"), "{stderr}");
    assert!(Path::new(&path).exists());
}

/// CRC-32C, bit by bit (the server's is table-driven).
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// How long before a `kill -9` an acknowledged write may be lost under
/// `everysec`, at most, as the test asserts it: the log thread writes
/// each turn's frames as soon as it receives them (at the end of the turn
/// that acknowledged them) and syncs at the first wake at least 1 s
/// (`EVERYSEC_INTERVAL`) after the previous sync, so a frame is in the
/// file (which a process crash does not lose) once the write or fsync in
/// flight ahead of it is done, and on disk within 1 s plus one fsync.
/// 2 s leaves a whole second for that fsync and the turn on a loaded
/// machine (docs/persistence.md, "fsync policies").
const EVERYSEC_LOSS_BOUND: Duration = Duration::from_secs(2);

/// A client's acknowledged writes: each one's number and send time.
type Timed = Arc<Mutex<Vec<(u64, Instant)>>>;

/// Writes unique keys until the server dies, recording the send time of
/// each acknowledged one.
fn timed_writes(addr: SocketAddr, client: usize, acked: &Mutex<Vec<(u64, Instant)>>) {
    let Ok(mut c) = std::panic::catch_unwind(|| common::Client::connect(addr)) else { return };
    for n in 0u64.. {
        let set = format!(r#"{{"KV_SET":{{"keys":{{"e{client}n{n}":{n}}}}}}}"#);
        let sent = Instant::now();
        let Some(reply) = try_call(&mut c.ws, &set) else { return };
        assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
        acked.lock().unwrap().push((n, sent));
    }
}

#[test]
fn kill_9_under_everysec_loses_no_write_acknowledged_more_than_the_bound_before() {
    let dir = TempDir::new("log-everysec-kill");
    let args = [persist_args(&dir), vec!["--log-fsync".into(), "everysec".into()]].concat();
    let (mut child, addr, _) = spawn(&args);
    let clients = 4;
    let acked: Vec<Timed> = (0..clients).map(|_| Arc::default()).collect();
    let threads: Vec<_> = acked
        .iter()
        .enumerate()
        .map(|(i, acked)| {
            let acked = Arc::clone(acked);
            std::thread::spawn(move || timed_writes(addr, i, &acked))
        })
        .collect();
    // Long enough for several everysec syncs, and for writes to be
    // acknowledged well before the bound.
    std::thread::sleep(Duration::from_millis(3_500));
    let killed = Instant::now();
    child.kill();
    for thread in threads {
        thread.join().unwrap();
    }

    let (mut child, addr, lines) = spawn(&persist_args(&dir));
    assert!(lines.iter().any(|l| l.contains("replayed the log")), "{lines:?}");
    let mut c = common::Client::connect(addr);
    let (mut old, mut recent_lost, mut recent) = (0, 0, 0);
    for (i, acked) in acked.iter().enumerate() {
        let acked = acked.lock().unwrap().clone();
        for chunk in acked.chunks(1_000) {
            let names: Vec<String> = chunk.iter().map(|(n, _)| format!(r#""e{i}n{n}""#)).collect();
            let got = c.call_json(&format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(",")));
            let keys = &got["KV_GET_RSP"]["keys"];
            for (n, sent) in chunk {
                let present = keys[format!("e{i}n{n}")] == *n;
                if killed.duration_since(*sent) > EVERYSEC_LOSS_BOUND {
                    assert!(present, "client {i}: write {n}, acknowledged {:?} before the kill, lost", killed - *sent);
                    old += 1;
                } else {
                    recent += 1;
                    recent_lost += usize::from(!present);
                }
            }
        }
    }
    assert!(old > 0, "no write was acknowledged more than {EVERYSEC_LOSS_BOUND:?} before the kill");
    eprintln!("everysec, kill -9: {old} writes older than the bound all present; {recent_lost} of {recent} newer lost");
    child.kill();
}

/// Starts a server whose files may grow to `limit` bytes at most
/// (`RLIMIT_FSIZE`, as `ulimit -f` sets it): a write past it fails with
/// `EFBIG`, as on a full disk, instead of killing the server with SIGXFSZ,
/// which it ignores.
fn spawn_limited(args: &[String], limit: u64) -> (Server, SocketAddr) {
    use std::os::unix::process::CommandExt;
    let mut command = ndb_server();
    command.args(["--port", "0"]).args(args).stderr(Stdio::piped());
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: libc::RLIM_INFINITY };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr)
}

/// Sets the file size limit of the running process `pid`.
fn set_file_size_limit(pid: u32, limit: libc::rlim_t) {
    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: prlimit on our own child, with a valid new limit and no old
    // one asked for.
    let r = unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_FSIZE, &rlimit, std::ptr::null_mut()) };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Sets `k0`, `k1`, ... to `value` from a new client until a reply does
/// not come within 1.5 s (its write is held, not acknowledged, while the
/// log cannot be written); returns the client and how many were
/// acknowledged (more than 10, fewer than `most`).
fn write_until_held(addr: SocketAddr, value: &str, most: u64) -> (common::Client, u64) {
    let mut writer = common::Client::connect(addr);
    writer.ws.get_ref().set_read_timeout(Some(Duration::from_millis(1_500))).unwrap();
    let mut acked = 0u64;
    loop {
        let set = format!(r#"{{"KV_SET":{{"keys":{{"k{acked}":"{value}"}}}}}}"#);
        match try_call(&mut writer.ws, &set) {
            Some(reply) => {
                assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#, "write {acked}");
                acked += 1;
                assert!(acked < most, "the log never ran out of room");
            }
            None => break,
        }
    }
    assert!(acked > 10, "only {acked} writes fitted");
    (writer, acked)
}

#[test]
fn a_file_size_limit_makes_writes_fail_with_206_until_it_is_raised_and_nothing_acknowledged_is_lost() {
    let dir = TempDir::new("log-fsize");
    let args = [persist_args(&dir), vec!["--log-fsync".into(), "always".into()]].concat();
    let (mut child, addr) = spawn_limited(&args, 32 * 1024);
    let value = "x".repeat(200);
    // The writer writes until a reply does not come: its write is held,
    // not acknowledged, while the log cannot be written.
    let (mut writer, mut acked) = write_until_held(addr, &value, 1_000);
    let held = acked;
    // Another client: writes get 206 and change nothing, reads work, and
    // SV_INFO says why.
    let mut other = common::Client::connect(addr);
    let refused = other.call(r#"{"KV_SET":{"keys":{"refused":1}}}"#);
    assert_eq!(
        refused,
        r#"{"KV_SET_RSP":{"m":"The durable log cannot be written; nothing changed","st":206,"tkn":null}}"#
    );
    assert_eq!(
        other.call(r#"{"KV_GET":{"keys":["k0"]}}"#),
        format!(r#"{{"KV_GET_RSP":{{"keys":{{"k0":"{value}"}},"st":1}}}}"#)
    );
    let info = other.call_json(r#"{"SV_INFO":{}}"#);
    let error = info["SV_INFO_RSP"]["log"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("File too large"), "{info}");
    assert_eq!(other.call(r#"{"KV_CONTAINS":{"keys":["refused"]}}"#), r#"{"KV_CONTAINS_RSP":{"contains":[],"st":1}}"#);

    // Room again (the limit raised in the running process): within the
    // retry interval the held reply comes and writes are accepted again.
    set_file_size_limit(child.0.id(), libc::RLIM_INFINITY);
    writer.ws.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(writer.recv(), r#"{"KV_SET_RSP":{"st":1}}"#, "the held write {held}");
    acked += 1;
    let resumed = format!(r#"{{"KV_SET":{{"keys":{{"k{acked}":"{value}"}}}}}}"#);
    assert_eq!(other.call(&resumed), r#"{"KV_SET_RSP":{"st":1}}"#);
    acked += 1;
    child.kill();

    // Restarted without the limit: everything acknowledged is there, the
    // refused write is not.
    let (mut child, addr, lines) = spawn(&persist_args(&dir));
    assert!(lines.iter().any(|l| l.contains("replayed the log")), "{lines:?}");
    let mut c = common::Client::connect(addr);
    assert_eq!(c.call(r#"{"KV_COUNT":{}}"#), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{acked},"st":1}}}}"#));
    let last = format!(r#"{{"KV_GET":{{"keys":["k{}"]}}}}"#, acked - 1);
    assert!(c.call(&last).contains(&value));
    child.kill();
}

/// A tmpfs of `bytes` mounted at a directory of its own, unmounted when
/// dropped (a failed assertion included). `None` when this process may not
/// mount one (not root, or no `CAP_SYS_ADMIN` in a container).
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let dir = TempDir::new("small-disk");
        std::fs::create_dir_all(dir.path()).unwrap();
        let target = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
        let options = std::ffi::CString::new(format!("size={bytes},mode=0700")).unwrap();
        // SAFETY: NUL-terminated strings that outlive the call.
        let r =
            unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) };
        if r != 0 {
            eprintln!("cannot mount a tmpfs: {}", std::io::Error::last_os_error());
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free on it.
    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.path().to_str().unwrap()).unwrap();
        // SAFETY: a zeroed statvfs filled in by the call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a live statvfs.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
        st.f_bavail as u64 * st.f_frsize as u64
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.path().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path; MNT_DETACH so a process still
        // holding a file there cannot keep it mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// A full disk for real: the persist path on a 1 MiB tmpfs, filled up to
/// the last few KiB by a file of the test's. The log's writes fail with
/// `ENOSPC`; writes get 206, reads work, `SV_INFO` says why; once the file
/// is deleted the held reply comes and writes resume; a restart on the
/// same disk finds every acknowledged write. Runs where a tmpfs can be
/// mounted (root); `.ci/run` sets `NDB_REQUIRE_MOUNT=1` where it can, so
/// that it never passes there without running.
#[test]
fn a_full_disk_makes_writes_fail_with_206_until_space_is_freed_and_nothing_acknowledged_is_lost() {
    let Some(disk) = SmallDisk::mount(1 << 20) else {
        assert!(
            std::env::var_os("NDB_REQUIRE_MOUNT").is_none(),
            "NDB_REQUIRE_MOUNT is set but no tmpfs could be mounted"
        );
        eprintln!("skipped: this process cannot mount a tmpfs (run as root to include it)");
        return;
    };
    let config = disk.path().join("ndb.json");
    let saves = disk.path().join("saves");
    std::fs::write(&config, format!(r#"{{"version":5,"persist":{{"enabled":true,"path":{saves:?}}}}}"#)).unwrap();
    let args: Vec<String> =
        ["--config", config.to_str().unwrap(), "--log", "--log-fsync", "always"].map(String::from).to_vec();
    let (mut child, addr, _) = spawn(&args);
    // Fill the disk but for 16 KiB.
    let filler = disk.path().join("filler");
    let room = disk.free().saturating_sub(16 * 1024);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();
    let value = "x".repeat(200);
    let (mut writer, mut acked) = write_until_held(addr, &value, 1_000);
    let held = acked;
    let mut other = common::Client::connect(addr);
    assert_eq!(
        other.call(r#"{"KV_SET":{"keys":{"refused":1}}}"#),
        r#"{"KV_SET_RSP":{"m":"The durable log cannot be written; nothing changed","st":206,"tkn":null}}"#
    );
    assert_eq!(
        other.call(r#"{"KV_GET":{"keys":["k0"]}}"#),
        format!(r#"{{"KV_GET_RSP":{{"keys":{{"k0":"{value}"}},"st":1}}}}"#)
    );
    let info = other.call_json(r#"{"SV_INFO":{}}"#);
    let error = info["SV_INFO_RSP"]["log"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("No space left"), "{info}");

    // Space again: the held reply comes within the retry interval and
    // writes are accepted.
    std::fs::remove_file(&filler).unwrap();
    writer.ws.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(writer.recv(), r#"{"KV_SET_RSP":{"st":1}}"#, "the held write {held}");
    acked += 1;
    let resumed = format!(r#"{{"KV_SET":{{"keys":{{"k{acked}":"{value}"}}}}}}"#);
    assert_eq!(other.call(&resumed), r#"{"KV_SET_RSP":{"st":1}}"#);
    acked += 1;
    child.kill();

    // Restarted on the same disk: everything acknowledged is there, the
    // refused write is not.
    let (mut child, addr, lines) = spawn(&args);
    assert!(lines.iter().any(|l| l.contains("replayed the log")), "{lines:?}");
    let mut c = common::Client::connect(addr);
    assert_eq!(c.call(r#"{"KV_COUNT":{}}"#), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{acked},"st":1}}}}"#));
    assert_eq!(c.call(r#"{"KV_CONTAINS":{"keys":["refused"]}}"#), r#"{"KV_CONTAINS_RSP":{"contains":[],"st":1}}"#);
    child.kill();
}
