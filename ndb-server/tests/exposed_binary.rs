//! Running exposed, through the real `ndb-server` binary: protected mode
//! refusing a non-loopback address without users (and the explicit
//! opt-outs), users from flags and config files, the warning about a
//! plaintext password, and failed logins slowed down and logged, with
//! timings measured from outside (only lower bounds are asserted: a
//! delayed answer cannot come early, however busy the machine).

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::saves::TempDir;
use common::{Raw, basic, upgrade_with};

/// `printf %s secret | sha256sum`
const SECRET_SHA256: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

fn ndb_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ndb-server"));
    command.env("RUST_LOG", "info").env("RUST_LOG_STYLE", "never");
    command
}

/// Runs to completion; returns (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let out = ndb_server().args(["--port", "0"]).args(args).output().expect("run ndb-server");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into())
}

/// Starts a server; returns it, its port, the lines before the start-up
/// line, and the lines after it as they come.
fn spawn(args: &[&str]) -> (Child, u16, Vec<String>, mpsc::Receiver<String>) {
    let mut child = ndb_server().args(["--port", "0"]).args(args).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let port = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            let addr: SocketAddr = rest.split('/').next().unwrap().parse().unwrap();
            break addr.port();
        }
        before.push(line);
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, port, before, rx)
}

fn stop(mut child: Child) {
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn protected_mode_refuses_every_interface_without_users_and_says_how_to_proceed() {
    for ip in ["0.0.0.0", "::"] {
        let (code, err) = run(&["--ip", ip]);
        assert_eq!(code, 1, "{err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("ndb-server: protectedMode: refusing to listen on "), "{err}");
        assert!(last.contains("with no users configured (protected mode)"), "{last}");
        for how in ["--user NAME:ROLE:SHA256HEX", "\"users\"", "--protected-mode no", "\"protectedMode\": false"] {
            assert!(last.contains(how), "the message says {how}: {last}");
        }
    }
}

#[test]
fn protected_mode_can_be_turned_off_explicitly_by_flag_or_config() {
    let dir = TempDir::new("protected-off");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("ndb.json");
    std::fs::write(&file, r#"{"version":5,"ip":"0.0.0.0","protectedMode":false}"#).unwrap();
    for args in [vec!["--ip", "0.0.0.0", "--protected-mode", "no"], vec!["--config", file.to_str().unwrap()]] {
        let (child, port, _, _) = spawn(&args);
        let mut raw = Raw::open(local(port));
        raw.write(&common::text_frame(r#"{"KV_COUNT":{}}"#));
        assert_eq!(raw.text(), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
        stop(child);
    }
}

#[test]
fn with_a_user_every_interface_is_served_to_those_who_log_in() {
    let user = format!("app:write:{SECRET_SHA256}");
    let (child, port, _, _) = spawn(&["--ip", "0.0.0.0", "--user", &user]);
    let mut raw = Raw::connect(local(port));
    raw.write(common::UPGRADE.as_bytes());
    assert!(raw.http_response().starts_with("HTTP/1.1 401 "));
    let mut app = Raw::open_with(local(port), &upgrade_with(&basic("app", "secret")));
    app.write(&common::text_frame(r#"{"KV_SET":{"keys":{"a":1}}}"#));
    assert_eq!(app.text(), r#"{"KV_SET_RSP":{"st":1}}"#);
    app.write(&common::text_frame(r#"{"KV_CLEAR":{}}"#));
    assert!(app.text().contains(r#""st":205"#), "write may not clear");
    stop(child);
}

#[test]
fn a_plaintext_password_in_the_config_is_warned_about() {
    let dir = TempDir::new("plaintext");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("ndb.json");
    std::fs::write(&file, r#"{"version":5,"users":[{"name":"dev","password":"secret","role":"admin"}]}"#).unwrap();
    let (child, port, before, _) = spawn(&["--config", file.to_str().unwrap()]);
    assert!(
        before.iter().any(|l| l.contains("WARN") && l.contains("user \"dev\" has a plaintext \"password\"")),
        "{before:?}"
    );
    Raw::open_with(local(port), &upgrade_with(&basic("dev", "secret")));
    stop(child);
}

/// Sends a login; returns how long the answer took and its status line.
fn timed_login(port: u16, authorization: &str) -> (Duration, String) {
    let started = Instant::now();
    let mut raw = Raw::connect(local(port));
    raw.write(upgrade_with(authorization).as_bytes());
    let response = raw.http_response();
    (started.elapsed(), response.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn failed_logins_from_one_address_are_slowed_down_and_logged() {
    let user = format!("app:read:{SECRET_SHA256}");
    let (child, port, _, lines) = spawn(&["--user", &user]);
    let wrong = basic("app", "guess");
    for _ in 0..ndb::internals::auth::FREE_FAILURES {
        assert_eq!(timed_login(port, &wrong).1, "HTTP/1.1 401 Unauthorized");
    }
    // From the fourth failure on, each answer waits longer than the last.
    for n in ndb::internals::auth::FREE_FAILURES + 1..=ndb::internals::auth::FREE_FAILURES + 3 {
        let (took, status) = timed_login(port, &wrong);
        assert_eq!(status, "HTTP/1.1 401 Unauthorized");
        let delay = ndb::internals::auth::delay(n);
        assert!(took >= delay, "failure {n} answered after {took:?}, before its {delay:?}");
    }
    // The right password waits its turn too, then gets in.
    let (took, status) = timed_login(port, &basic("app", "secret"));
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols", "after {took:?}");
    // Logged: the first, second and fourth failures at warn.
    let mut warned = 0;
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
        if line.contains("WARN") && line.contains("authentication failed from 127.0.0.1") {
            assert!(line.contains("a wrong password or unknown user \"app\""), "{line}");
            warned += 1;
        }
    }
    assert_eq!(warned, 3, "failures 1, 2 and 4 are logged at warn");
    stop(child);
}
