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
