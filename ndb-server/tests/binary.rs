//! The `ndb-server` binary itself: flags, errors, start-up line, signals.

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

fn ndb_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ndb-server"));
    command.env("RUST_LOG", "info").env("RUST_LOG_STYLE", "never");
    command
}

/// Runs to completion; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = ndb_server().args(args).output().expect("run ndb-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Starts a server on a free port; returns it and its address, read from
/// the start-up log line.
fn spawn(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = ndb_server().args(["--port", "0"]).args(args).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("a start-up line").unwrap();
    let addr = line.split("ws://").nth(1).and_then(|rest| rest.split('/').next()).expect(&line).parse().unwrap();
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: ndb-server [OPTIONS]") && out.contains("--max-payload"));
    let (code, out, _) = run(&["--version"]);
    assert_eq!((code, out.trim()), (0, format!("ndb-server {}", ndb::VERSION).as_str()));
}

#[test]
fn bad_flags_and_files_exit_1_with_one_line() {
    let dir = std::env::temp_dir().join(format!("ndb-binary-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let v4 = dir.join("v4.json");
    std::fs::write(&v4, r#"{"version":4,"mode":"kv"}"#).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"version\":5,\n\"port\":}").unwrap();
    let bad_arrays = dir.join("arrays.json");
    std::fs::write(&bad_arrays, r#"{"version":6,"arrays":{"maxCapacity":-1}}"#).unwrap();
    let bad_lists = dir.join("lists.json");
    std::fs::write(&bad_lists, r#"{"version":6,"lists":[]}"#).unwrap();
    let cases = [
        (vec!["--port", "abc"], "--port: must be a port number"),
        (vec!["--nope"], "invalid option '--nope'"),
        (vec!["--config", v4.to_str().unwrap()], "version: must be 5 or 6 (got 4)"),
        (vec!["--config", broken.to_str().unwrap()], "not valid JSON"),
        (vec!["--config", "/no/such/file.json"], "cannot read config file /no/such/file.json"),
        (vec!["--config", bad_arrays.to_str().unwrap()], "arrays.maxCapacity: must be a non-negative integer (got -1)"),
        (vec!["--config", bad_lists.to_str().unwrap()], "lists: must be an object (got [])"),
    ];
    for (args, expected) in cases {
        let (code, out, err) = run(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("ndb-server: ") && err.contains(expected), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, _, err) = run(&["--port", &port]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}: the address is already in use")), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn serves_then_sigterm_closes_clients_with_1001_and_exits_0() {
    let (mut child, addr) = spawn(&[]);
    let mut client = common::Client::connect(addr);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"a":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(client.close_code(), Some(1001));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_on_an_idle_server_exits_0() {
    let (mut child, _) = spawn(&["--max-payload", "4096", "--protocol", "0.9"]);
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The CPUs in a `Cpus_allowed_list` line of `/proc/.../status` (`0-3,6`).
fn cpus_allowed(status_path: &str) -> Vec<usize> {
    let status = std::fs::read_to_string(status_path).expect(status_path);
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).expect("Cpus_allowed_list").trim();
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => cpus.extend(from.parse::<usize>().unwrap()..=to.parse::<usize>().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

#[test]
fn with_a_core_set_the_helper_threads_run_on_the_other_cores() {
    let allowed = cpus_allowed("/proc/self/status");
    if allowed.len() < 2 {
        eprintln!("skipped: this process may use one CPU only");
        return;
    }
    let core = allowed[0];
    let dir = common::saves::TempDir::new("core-pin");
    std::fs::create_dir_all(dir.path()).unwrap();
    let config = dir.path().join("ndb.json");
    let saves = dir.path().join("saves");
    std::fs::write(
        &config,
        format!(
            r#"{{"version":5,"core":{core},"persist":{{"enabled":true,"path":{:?},"log":{{"enabled":true}}}}}}"#,
            saves.display().to_string()
        ),
    )
    .unwrap();
    let mut child = ndb_server()
        .args(["--port", "0", "--config", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        if let Some(rest) = line.split("ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        log.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    assert!(log.iter().any(|l| l.contains(&format!("pinned to core {core}"))), "{log:?}");
    assert!(log.iter().any(|l| l.contains("helper threads (save, search, freeing, log) run on cores")), "{log:?}");
    let mut client = common::Client::connect(addr);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"a":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert!(client.call(r#"{"KV_SAVE":{"name":"pinned"}}"#).ends_with(r#""st":121}}"#));
    let pid = child.id();
    let (mut save_thread, mut log_thread) = (None, None);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim() == "ndb-save" {
            save_thread = Some(cpus_allowed(task.join("status").to_str().unwrap()));
        }
        if comm.trim() == "ndb-log" {
            // The scheduling policy is field 41 of `stat`, the 39th after
            // the parenthesised name.
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            let policy: u32 = stat.rsplit(')').next().unwrap().split_whitespace().nth(38).unwrap().parse().unwrap();
            log_thread = Some((cpus_allowed(task.join("status").to_str().unwrap()), policy));
        }
    }
    let main_thread = cpus_allowed(&format!("/proc/{pid}/task/{pid}/status"));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(main_thread, [core], "the loop's thread is pinned");
    let expected: Vec<usize> = allowed.iter().copied().filter(|&cpu| cpu != core).collect();
    assert_eq!(
        save_thread.expect("an ndb-save thread after a save"),
        expected,
        "the save thread avoids the loop's core"
    );
    let (log_cpus, policy) = log_thread.expect("an ndb-log thread with the log on");
    assert_eq!(log_cpus, expected, "the log thread avoids the loop's core");
    assert_eq!(policy, libc::SCHED_BATCH as u32, "under everysec the log thread is in SCHED_BATCH");
}

/// A line of `/proc/PID/status` (or `limits`) as the number after `key`.
fn proc_number(path: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {path}"));
    line[key.len()..].split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn the_descriptor_table_is_grown_for_max_connections_at_start() {
    let (mut child, addr) = spawn(&["--max-connections", "5000"]);
    let mut client = common::Client::connect(addr);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    let pid = child.id();
    // What the table holds, and what the open-file limit (which the
    // server raises toward maxConnections) allows.
    let table = proc_number(&format!("/proc/{pid}/status"), "FDSize:");
    let allowed = proc_number(&format!("/proc/{pid}/limits"), "Max open files");
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // With one connection open, a table grown only as descriptors came
    // would hold 64.
    assert!(table >= allowed.min(5000), "a table of {table} descriptors (open-file limit {allowed})");
}
