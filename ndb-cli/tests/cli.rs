//! `ndb-cli` as a user runs it: each short form on the command line with
//! its exact output, raw requests, commands from a pipe, exit statuses, and
//! once through a pseudo-terminal (`script`) for the interactive shell.

use testkit as common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;

fn ndb_cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ndb-cli"));
    command.env_remove("NO_COLOR").env("NDB_CLI_HISTFILE", "");
    command
}

/// Runs `ndb-cli -u <server> ARGS` with `input` on standard input; returns
/// (exit code, stdout, stderr).
fn run_with_input(server: &TestServer, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = ndb_cli()
        .arg("-u")
        .arg(server.url())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndb-cli");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn run(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    run_with_input(server, args, "")
}

/// Runs a command that must succeed and returns its output.
fn ok(server: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = run(server, args);
    assert_eq!((code, err.as_str()), (0, ""), "{args:?}: {out}");
    out
}

#[test]
fn kv_short_forms_print_pretty_replies() {
    let server = common::start();
    let rows: &[(&[&str], &str)] = &[
        (&["set", "a", "1"], "{\"KV_SET_RSP\": {\"st\": 1}}\n"),
        (&["set", "b", r#"{"x": [1,2]}"#, "c", "hello world"], "{\"KV_SET_RSP\": {\"st\": 1}}\n"),
        (&["add", "a", "2", "d", "null"], "{\"KV_ADD_RSP\": {\"st\": 1}}\n"),
        (
            &["get", "a", "b", "c", "d", "zz"],
            "{\n  \"KV_GET_RSP\": {\n    \"keys\": {\"a\": 1, \"b\": {\"x\": [1, 2]}, \"c\": \"hello world\", \"d\": null},\n    \"st\": 1\n  }\n}\n",
        ),
        (&["contains", "a", "zz", "c"], "{\"KV_CONTAINS_RSP\": {\"contains\": [\"a\", \"c\"], \"st\": 1}}\n"),
        (&["keys"], "{\"KV_KEYS_RSP\": {\"keys\": [\"a\", \"b\", \"c\", \"d\"], \"st\": 1}}\n"),
        (&["count"], "{\"KV_COUNT_RSP\": {\"cnt\": 4, \"st\": 1}}\n"),
        (&["rmv", "b", "d"], "{\"KV_RMV_RSP\": {\"st\": 1}}\n"),
        (&["clearset", "x", "1", "y", "[true]"], "{\"KV_CLEAR_SET_RSP\": {\"cnt\": 2, \"st\": 1}}\n"),
        (&["get", "y"], "{\"KV_GET_RSP\": {\"keys\": {\"y\": [true]}, \"st\": 1}}\n"),
        (&["clear"], "{\"KV_CLEAR_RSP\": {\"cnt\": 2, \"st\": 1}}\n"),
        (&["KV_SET", r#"{"keys":{"raw":1e3}}"#], "{\"KV_SET_RSP\": {\"st\": 1}}\n"),
        (&[r#"{"KV_GET":{"keys":["raw"]}}"#], "{\"KV_GET_RSP\": {\"keys\": {\"raw\": 1e3}, \"st\": 1}}\n"),
        (&["--raw", "count"], "{\"KV_COUNT_RSP\":{\"cnt\":1,\"st\":1}}\n"),
    ];
    for (args, expected) in rows {
        assert_eq!(ok(&server, args), *expected, "{args:?}");
    }
}

#[test]
fn long_replies_are_broken_over_lines() {
    let server = common::start();
    let mut client = server.ndb();
    client
        .kv_set(serde_json::json!({"profile": {"name": "Ann Lee", "langs": ["en", "fr"], "bio": "x".repeat(60)}}))
        .unwrap();
    let expected = concat!(
        "{\n",
        "  \"KV_GET_RSP\": {\n",
        "    \"keys\": {\n",
        "      \"profile\": {\n",
        "        \"bio\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\n",
        "        \"langs\": [\"en\", \"fr\"],\n",
        "        \"name\": \"Ann Lee\"\n",
        "      }\n",
        "    },\n",
        "    \"st\": 1\n",
        "  }\n",
        "}\n",
    );
    assert_eq!(ok(&server, &["get", "profile"]), expected);
}

#[test]
fn info_prints_every_statistic() {
    let server = common::start();
    let out = ok(&server, &["info"]);
    let info: serde_json::Value = serde_json::from_str(&out).expect("pretty output is still JSON");
    let body = &info["SV_INFO_RSP"];
    assert_eq!(body["serverVersion"], ndb::VERSION);
    assert_eq!(body["connections"], 1);
    for member in ["connectionsTotal", "keys", "requests", "rssBytes", "sessions", "sessionExpiries", "uptimeSecs"] {
        assert!(body[member].is_u64() || body[member].is_null(), "{member}: {out}");
    }
    assert!(out.starts_with("{\n  \"SV_INFO_RSP\": {\n    \"connections\": 1,\n"), "{out}");
}

/// Saves and loads through the short forms: success exits 0 with the
/// reply, a failed load exits 1 naming the status.
#[test]
fn save_and_load_short_forms() {
    let dir = common::saves::TempDir::new("cli-saves");
    let server = common::start_with(common::config().persist(true, dir.path()));
    ok(&server, &["set", "a", "1"]);
    let rows: &[(&[&str], &str, serde_json::Value)] = &[
        (&["save", "nightly"], "KV_SAVE_RSP", serde_json::json!({"name": "nightly", "st": 121})),
        (
            &["load", "nightly"],
            "KV_LOAD_RSP",
            serde_json::json!({"keys": 1, "name": "nightly", "sessions": 0, "st": 141}),
        ),
        (&["sh", "save", "s", "5"], "SH_SAVE_RSP", serde_json::json!({"name": "s", "st": 121})),
        (&["sh", "load", "s"], "SH_LOAD_RSP", serde_json::json!({"keys": 0, "name": "s", "sessions": 0, "st": 141})),
    ];
    for (args, rsp, expected) in rows {
        let out = ok(&server, args);
        let mut body: serde_json::Value = serde_json::from_str(&out).expect("pretty output is JSON");
        let body = body[rsp].as_object_mut().expect(rsp);
        if body.remove("duration").is_some_and(|d| !d.is_u64()) {
            panic!("{args:?}: {out}");
        }
        assert_eq!(&serde_json::Value::Object(body.clone()), expected, "{args:?}");
    }
    let (code, out, _) = run(&server, &["load", "nope"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "(error) 142 LoadError\n{\"KV_LOAD_RSP\": {\"name\": \"nope\", \"st\": 142}}\n")
    );
}

#[test]
fn session_short_forms() {
    let server = common::start();
    let out = ok(&server, &["sh", "new", "30", "--delete", "--extend-get"]);
    let tkn = out
        .strip_prefix("{\"SH_NEW_RSP\": {\"st\": 1, \"tkn\": ")
        .and_then(|rest| rest.strip_suffix("}}\n"))
        .unwrap_or_else(|| panic!("{out}"));
    let info = ok(&server, &["sh", "info", tkn]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let expiry = &info["SH_INFO_RSP"]["expiry"];
    assert_eq!(
        (expiry["duration"].as_u64(), &expiry["deleteSession"], &expiry["extendOnGet"]),
        (Some(30), &true.into(), &true.into())
    );
    let rows: Vec<(Vec<&str>, String)> = vec![
        (vec!["sh", "set", tkn, "a", "1", "b", "x y"], "{\"SH_SET_RSP\": {\"st\": 1}}\n".to_owned()),
        (
            vec!["sh", "get", tkn, "a", "b", "zz"],
            "{\"SH_GET_RSP\": {\"keys\": {\"a\": 1, \"b\": \"x y\"}, \"st\": 1}}\n".to_owned(),
        ),
        (vec!["sh", "count", tkn], "{\"SH_COUNT_RSP\": {\"cnt\": 2, \"st\": 1}}\n".to_owned()),
        (vec!["sh", "exists", tkn, "5"], format!("{{\"SH_EXISTS_RSP\": {{\"exist\": [{tkn}], \"st\": 1}}}}\n")),
        (vec!["sh", "end", tkn], format!("{{\"SH_END_RSP\": {{\"st\": 1, \"tkn\": {tkn}}}}}\n")),
    ];
    for (args, expected) in &rows {
        assert_eq!(&ok(&server, args), expected, "{args:?}");
    }
    let (code, out, _) = run(&server, &["sh", "count", tkn]);
    assert_eq!(code, 1);
    assert!(out.starts_with("(error) 100 "), "{out}");
}

#[test]
fn error_replies_exit_1_and_name_the_status() {
    let server = common::start();
    let (code, out, err) = run(&server, &["KV_RMV", r#"{"keys":[]}"#]);
    assert_eq!(code, 1);
    assert_eq!(out, "(error) 42 ValueSize: keys\n{\"KV_RMV_RSP\": {\"m\": \"keys\", \"st\": 42, \"tkn\": null}}\n");
    assert_eq!(err, "");
    let (code, out, _) = run(&server, &["--raw", "KV_GET", "nope"]);
    assert_eq!((code, out.as_str()), (1, "{\"ERR\":{\"m\":\"\",\"st\":3}}\n"));
}

#[test]
fn usage_mistakes_exit_2_without_sending() {
    let server = common::start();
    for (args, message) in [
        (&["rmv"][..], "ndb-cli: usage: rmv KEY [KEY ...]\n"),
        (&["set", "a"], "ndb-cli: keys and values must come in pairs; usage: set KEY VALUE [KEY VALUE ...]\n"),
        (&["sh", "end", "x"], "ndb-cli: TKN must be an unsigned integer (got \"x\"); usage: sh end TKN\n"),
        (&["--port", "x"], "ndb-cli: --port: must be a port number (got \"x\")\n"),
    ] {
        let (code, out, err) = run(&server, args);
        assert_eq!((code, out.as_str(), err.as_str()), (2, "", message), "{args:?}");
    }
    assert_eq!(server.ndb().sv_info().unwrap().u64("requests"), Some(1), "nothing was sent");
}

#[test]
fn an_unreachable_server_is_one_line_and_exit_1() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let out = ndb_cli().args(["-p", &port, "count"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("ndb-cli: cannot connect to ws://127.0.0.1:{port}/: ")), "{err}");
}

#[test]
fn commands_from_a_pipe() {
    let server = common::start();
    let input = "set a 1\n# a comment\n\nKV_SET {\"keys\":{\"b\":2}}\ncount\nbogus\nget a\nquit\ncount\n";
    let (code, out, err) = run_with_input(&server, &[], input);
    assert_eq!(
        out,
        "{\"KV_SET_RSP\": {\"st\": 1}}\n{\"KV_SET_RSP\": {\"st\": 1}}\n{\"KV_COUNT_RSP\": {\"cnt\": 2, \"st\": 1}}\n\
         {\"KV_GET_RSP\": {\"keys\": {\"a\": 1}, \"st\": 1}}\n"
    );
    assert_eq!(
        err,
        "ndb-cli: line 6: unknown command \"bogus\"; type help (raw requests look like KV_SET {\"keys\":{}})\n"
    );
    assert_eq!(code, 1, "a bad line makes the run fail");
    let (code, out, err) = run_with_input(&server, &["--raw"], "count\nrmv a\n");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "{\"KV_COUNT_RSP\":{\"cnt\":2,\"st\":1}}\n{\"KV_RMV_RSP\":{\"st\":1}}\n");
}

#[test]
fn help_and_version() {
    let server = common::start();
    let out = ok(&server, &["--help"]);
    assert!(out.starts_with("ndb-cli: a shell for ndb"), "{out}");
    for part in ["-h, --host <HOST>", "-p, --port <PORT>", "--protocol <0.7|0.9>", "Examples:", "ndb-cli -p 1987 get"] {
        assert!(out.contains(part), "{part}");
    }
    assert_eq!(ok(&server, &["--version"]), format!("ndb-cli {}\n", ndb::VERSION));
    let shell_help = ok(&server, &["help"]);
    assert!(shell_help.contains("sh set TKN KEY VALUE [KEY VALUE ...]") && shell_help.contains("SH_SET"));
}

/// Removes ANSI escape sequences and carriage returns.
fn strip_terminal_codes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn interactive_shell_through_a_pseudo_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: `script` (util-linux) not found");
        return;
    }
    let server = common::start();
    let history = std::env::temp_dir().join(format!("ndb-cli-history-{}", std::process::id()));
    let _ = std::fs::remove_file(&history);
    let command = format!("{} -u {}", env!("CARGO_BIN_EXE_ndb-cli"), server.url());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env("NDB_CLI_HISTFILE", &history)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = screen.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    let seen = || strip_terminal_codes(&String::from_utf8_lossy(&screen.lock().unwrap()));
    let wait_for = |what: &str| {
        let deadline = Instant::now() + common::TIMEOUT;
        while !seen().contains(what) {
            assert!(Instant::now() < deadline, "waited for {what:?}; the screen shows:\n{}", seen());
            // The shell is a child process behind a terminal: its screen is
            // polled, with a deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let prompt = format!("{}> ", server.addr);
    wait_for(&prompt);
    let mut keyboard = child.stdin.take().unwrap();
    keyboard.write_all(b"set k 42\r").unwrap();
    wait_for("{\"KV_SET_RSP\": {\"st\": 1}}");
    keyboard.write_all(b"get k\r").unwrap();
    wait_for("{\"KV_GET_RSP\": {\"keys\": {\"k\": 42}, \"st\": 1}}");
    keyboard.write_all(b"rmv\r").unwrap();
    wait_for("(error) usage: rmv KEY [KEY ...]");
    keyboard.write_all(b"KV_RMV {\"keys\":[]}\r").unwrap();
    wait_for("(error) 42 ValueSize: keys");
    let raw_screen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    assert!(raw_screen.contains("\x1b[1;31m(error) 42 ValueSize: keys\x1b[0m"), "errors in red on a terminal");
    keyboard.write_all(b"quit\r").unwrap();
    let deadline = Instant::now() + common::TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the shell did not exit; the screen shows:\n{}", seen());
        // A child process: its exit is polled, with a deadline.
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();
    let saved = std::fs::read_to_string(&history).expect("history saved");
    assert!(saved.contains("get k") && saved.contains("set k 42"), "{saved}");
    let _ = std::fs::remove_file(&history);
    assert_eq!(server.ndb().kv_get_one("k").unwrap(), Some(serde_json::json!(42)));
}
