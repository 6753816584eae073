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

/// The array short forms against a real server: the requests they write
/// are checked by what the server then holds, and its `st`-only errors
/// are named.
#[test]
fn array_short_forms() {
    let server = common::start();
    let rows: &[(&[&str], &str)] = &[
        (&["iarr", "create", "scores", "100"], "{\"IARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "set", "scores", "5"], "{\"IARR_SET_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "set", "scores", "-7", "--pos", "3"], "{\"IARR_SET_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "set-rng", "scores", "1", "2"], "{\"IARR_SET_RNG_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "get", "scores", "3"], "{\"IARR_GET_RSP\": {\"item\": -7, \"st\": 1}}\n"),
        (&["iarr", "get-rng", "scores", "0", "10"], "{\"IARR_GET_RNG_RSP\": {\"items\": [5, 1, 2], \"st\": 1}}\n"),
        (&["iarr", "swap", "scores", "0", "3"], "{\"IARR_SWAP_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "get-rng", "scores", "0"], "{\"IARR_GET_RNG_RSP\": {\"items\": [-7, 1, 2], \"st\": 1}}\n"),
        (&["iarr", "clear", "scores", "1", "2"], "{\"IARR_CLEAR_RSP\": {\"st\": 1}}\n"),
        (&["iarr", "used", "scores"], "{\"IARR_USED_RSP\": {\"st\": 1, \"used\": 2}}\n"),
        (&["iarr", "len", "scores"], "{\"IARR_LEN_RSP\": {\"len\": 100, \"st\": 1}}\n"),
        (&["strarr", "create", "names", "3"], "{\"STRARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["strarr", "set-rng", "names", "007", "ann lee"], "{\"STRARR_SET_RNG_RSP\": {\"st\": 1}}\n"),
        (&["strarr", "get", "names", "0"], "{\"STRARR_GET_RSP\": {\"item\": \"007\", \"st\": 1}}\n"),
        (&["oarr", "create", "docs", "2"], "{\"OARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["oarr", "set", "docs", r#"{"a": [1]}"#, "--pos", "1"], "{\"OARR_SET_RSP\": {\"st\": 1}}\n"),
        (&["oarr", "get", "docs", "1"], "{\"OARR_GET_RSP\": {\"item\": {\"a\": [1]}, \"st\": 1}}\n"),
        (&["siarr", "create", "a", "10"], "{\"SIARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "set-rng", "a", "5", "1", "3", "3"], "{\"SIARR_SET_RNG_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "set", "a", "4"], "{\"SIARR_SET_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "min", "a", "2"], "{\"SIARR_MIN_RSP\": {\"items\": [1, 3], \"st\": 1}}\n"),
        (&["siarr", "max", "a", "2"], "{\"SIARR_MAX_RSP\": {\"items\": [5, 4], \"st\": 1}}\n"),
        (&["siarr", "create", "b", "10"], "{\"SIARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "set-rng", "b", "3", "5", "3", "9"], "{\"SIARR_SET_RNG_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "intersect", "a", "b"], "{\"SIARR_INTERSECT_RSP\": {\"items\": [3, 3, 5], \"st\": 1}}\n"),
        (&["sstrarr", "create", "w", "4"], "{\"SSTRARR_CREATE_RSP\": {\"st\": 1}}\n"),
        (&["sstrarr", "set-rng", "w", "pear", "10", "apple"], "{\"SSTRARR_SET_RNG_RSP\": {\"st\": 1}}\n"),
        (
            &["sstrarr", "min", "w", "3"],
            "{\"SSTRARR_MIN_RSP\": {\"items\": [\"10\", \"apple\", \"pear\"], \"st\": 1}}\n",
        ),
        (&["--json", "iarr", "get-rng", "scores", "0"], "[-7,2]\n"),
        (&["iarr", "delete", "scores"], "{\"IARR_DELETE_RSP\": {\"st\": 1}}\n"),
        (&["siarr", "delete-all"], "{\"SIARR_DELETE_ALL_RSP\": {\"st\": 1}}\n"),
    ];
    for (args, expected) in rows {
        assert_eq!(ok(&server, args), *expected, "{args:?}");
    }
    for (args, expected) in [
        (&["iarr", "exist", "scores"][..], "(error) 22 KeyNotExist\n{\"IARR_EXIST_RSP\": {\"st\": 22}}\n"),
        (&["strarr", "create", "names", "3"], "(error) 160 Duplicate\n{\"STRARR_CREATE_RSP\": {\"st\": 160}}\n"),
        (&["oarr", "get", "docs", "2"], "(error) 161 Bounds\n{\"OARR_GET_RSP\": {\"st\": 161}}\n"),
        // The item's type is checked before the lookup: a string is 41.
        (&["iarr", "set", "names", "x"], "(error) 41 ValueTypeInvalid\n{\"IARR_SET_RSP\": {\"st\": 41}}\n"),
    ] {
        assert_eq!(run(&server, args), (1, expected.to_owned(), String::new()), "{args:?}");
    }
    let (code, out, err) = run(&server, &["siarr", "min", "a"]);
    assert_eq!((code, out.as_str(), err.as_str()), (2, "", "ndb-cli: usage: siarr min NAME N\n"));
    let mut client = server.client();
    let info = client.call_json(r#"{"SV_INFO":{}}"#);
    assert_eq!(
        info["SV_INFO_RSP"]["containers"],
        serde_json::json!({"IARR":0,"OARR":1,"OLST":0,"SIARR":0,"SSTRARR":1,"STRARR":1})
    );
}

/// The list short forms against a real server, from a pipe as a script
/// would send them.
#[test]
fn list_short_forms() {
    let server = common::start();
    let input = "olst create tasks\n\
                 olst add tasks {\"n\":1} {\"n\":2} {\"n\":3}\n\
                 olst add tasks {\"n\":0} --pos 0\n\
                 olst get tasks\n\
                 olst get tasks 1\n\
                 olst set-rng tasks 2 {\"n\":20}\n\
                 olst get-rng tasks 1 3\n\
                 olst rmv tasks --head\n\
                 olst splice tasks 0 2 done --pos 0\n\
                 olst len tasks\n\
                 olst get-rng done 0\n\
                 olst rmv done 5 --tail\n\
                 olst exist done\n";
    let (code, out, err) = run_with_input(&server, &[], input);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let expected = [
        "{\"OLST_CREATE_RSP\": {\"st\": 1}}",
        "{\"OLST_ADD_RSP\": {\"pos\": 0, \"size\": 3, \"st\": 1}}",
        "{\"OLST_ADD_RSP\": {\"pos\": 0, \"size\": 4, \"st\": 1}}",
        "{\"OLST_GET_RSP\": {\"item\": {\"n\": 3}, \"st\": 1}}",
        "{\"OLST_GET_RSP\": {\"item\": {\"n\": 1}, \"st\": 1}}",
        "{\"OLST_SET_RNG_RSP\": {\"st\": 1}}",
        "{\"OLST_GET_RNG_RSP\": {\"items\": [{\"n\": 1}, {\"n\": 20}], \"st\": 1}}",
        "{\"OLST_RMV_RSP\": {\"size\": 3, \"st\": 1}}",
        "{\"OLST_SPLICE_RSP\": {\"st\": 1}}",
        "{\"OLST_LEN_RSP\": {\"len\": 1, \"st\": 1}}",
        "{\"OLST_GET_RNG_RSP\": {\"items\": [{\"n\": 1}, {\"n\": 20}], \"st\": 1}}",
        "{\"OLST_RMV_RSP\": {\"size\": 1, \"st\": 1}}",
        "{\"OLST_EXIST_RSP\": {\"st\": 1}}",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    let mut client = server.client();
    assert_eq!(
        client.call(r#"{"OLST_GET_RNG":{"name":"tasks","rng":[0]}}"#),
        r#"{"OLST_GET_RNG_RSP":{"items":[{"n":3}],"st":1}}"#
    );
    let (code, out, _) = run(&server, &["olst", "delete", "nope"]);
    assert_eq!((code, out.as_str()), (1, "(error) 22 KeyNotExist\n{\"OLST_DELETE_RSP\": {\"st\": 22}}\n"));
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
    for part in [
        "-H, --host <HOST>",
        "-p, --port <PORT>",
        "--protocol <0.7|0.9>",
        "-h, --help",
        "Examples:",
        "ndb-cli -p 1987 get",
    ] {
        assert!(out.contains(part), "{part}");
    }
    assert_eq!(ok(&server, &["--version"]), format!("ndb-cli {}\n", ndb::VERSION));
    let shell_help = ok(&server, &["help"]);
    assert!(shell_help.contains("sh set TKN KEY VALUE [KEY VALUE ...]") && shell_help.contains("SH_SET"));
}

/// Long options may follow the command (`get a --raw`); after `--` every
/// word is the command's; `-h` is help, and a redis-cli habit (`-h HOST`)
/// is pointed at `-H`.
#[test]
fn options_after_the_command_and_the_double_dash() {
    let server = common::start();
    ok(&server, &["set", "a", "1"]);
    assert_eq!(ok(&server, &["get", "a", "--raw"]), "{\"KV_GET_RSP\":{\"keys\":{\"a\":1},\"st\":1}}\n");
    assert_eq!(ok(&server, &["set", "flag", "--", "--raw"]), "{\"KV_SET_RSP\": {\"st\": 1}}\n");
    assert_eq!(ok(&server, &["--json", "get", "--", "--raw", "flag"]), "{\"flag\":\"--raw\"}\n");
    let (code, out, err) = run(&server, &["-h"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(out.starts_with("ndb-cli: a shell for ndb"), "{out}");
    let (code, out, err) = run(&server, &["-h", "10.0.0.5", "info"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err, "ndb-cli: -h is help; give the host with -H or --host (ndb-cli -H 10.0.0.5)\n");
    let port = server.addr.port().to_string();
    let out = ndb_cli().args(["-H", "127.0.0.1", "-p", &port, "count", "--json"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
}

/// A save against a server with the 0.9 numbering (success 120) is a
/// success: the numbering is asked of the server with SV_INFO, and only
/// when a reply's status depends on it.
#[test]
fn the_status_numbering_is_learned_from_the_server() {
    let dir = common::saves::TempDir::new("cli-saves-09");
    let server = common::start_with(common::config().persist(true, dir.path()).protocol(ndb::Protocol::V09));
    ok(&server, &["set", "a", "1"]);
    let requests = || server.ndb().sv_info().unwrap().u64("requests").unwrap();
    let before = requests();
    ok(&server, &["count"]);
    assert_eq!(requests(), before + 2, "one count and the next SV_INFO: nothing asked for a count");
    let out = ok(&server, &["save", "nightly"]);
    assert!(out.contains("\"st\": 120") && !out.contains("(error)"), "{out}");
    let (code, out, _) = run(&server, &["sh", "save", "s"]);
    assert_eq!(code, 0, "{out}");
    // Told the wrong numbering, the same reply is an error, as before.
    let (code, out, _) = run(&server, &["--protocol", "0.7", "save", "nightly"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("(error) 120 unknown status\n"), "{out}");
    // And a 0.7 server's 121 is a success without being told.
    let dir = common::saves::TempDir::new("cli-saves-07");
    let server = common::start_with(common::config().persist(true, dir.path()));
    assert!(ok(&server, &["--raw", "save", "n"]).contains("\"st\":121"));
}

#[test]
fn jsonpath_short_forms() {
    let server = common::start();
    ok(&server, &["set", "u1", r#"{"n":1,"tags":["a","x"]}"#, "u2", r#"{"n":5,"tags":["b","a"]}"#, "team", "[]"]);
    let rows: &[(&[&str], &str)] = &[
        (&["find", "$.tags[?@ == 'a']"], "{\"KV_FIND_RSP\": {\"keys\": [\"u1\", \"u2\"], \"st\": 1}}\n"),
        (
            &["find", "$.tags[0]", "--paths"],
            "{\"KV_FIND_RSP\": {\"paths\": [\"$['tags'][0]\", \"$['tags'][0]\"], \"st\": 1}}\n",
        ),
        (
            &["find", "--kv", "$[?@ > 1]", "u2", "u1"],
            "{\"KV_FIND_RSP\": {\"keys\": {\"u2\": {\"n\": 5, \"tags\": [\"b\", \"a\"]}}, \"st\": 1}}\n",
        ),
        (&["update", "u1", "$.n", "[1, 2]"], "{\"KV_UPDATE_RSP\": {\"cnt\": 1, \"st\": 1}}\n"),
        (&["append", "u1", "--name", "tags", "y", "{\"z\":0}"], "{\"KV_ARR_APPEND_RSP\": {\"st\": 1}}\n"),
        (&["append", "team", "ann"], "{\"KV_ARR_APPEND_RSP\": {\"st\": 1}}\n"),
        (
            &["--raw", "get", "u1", "team"],
            "{\"KV_GET_RSP\":{\"keys\":{\"u1\":{\"n\":[1, 2],\"tags\":[\"a\",\"x\",\"y\",{\"z\":0}]},\"team\":[\"ann\"]},\"st\":1}}\n",
        ),
    ];
    for (args, expected) in rows {
        assert_eq!(ok(&server, args), *expected, "{args:?}");
    }
    let (code, out, _) = run(&server, &["append", "u1", "--name", "n2", "1"]);
    assert_eq!((code, out.as_str()), (1, "(error) 1000 Unknown\n{\"KV_ARR_APPEND_RSP\": {\"st\": 1000}}\n"));
    let (code, _, err) = run(&server, &["update", "u1"]);
    assert_eq!((code, err.as_str()), (2, "ndb-cli: usage: update KEY PATH VALUE\n"));
}

/// `--json` prints each reply's result as one line of JSON (errors as
/// `{"error":…}`), `--csv` its rows; in a pipe, one line per reply.
#[test]
fn json_and_csv_output() {
    let server = common::start();
    let input = "set a 1e3 b \"x,y\" c [1,2]\nget a b c zz\nkeys\ncount\nrmv\nKV_RMV {\"keys\":[]}\nsh new\n";
    let (code, out, err) = run_with_input(&server, &["--json"], input);
    assert_eq!(code, 1, "a bad line and an error reply");
    assert_eq!(err, "ndb-cli: line 5: usage: rmv KEY [KEY ...]\n");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(
        &lines[..5],
        [
            "null",
            "{\"a\":1e3,\"b\":\"x,y\",\"c\":[1,2]}",
            "[\"a\",\"b\",\"c\"]",
            "3",
            "{\"error\":{\"m\":\"keys\",\"name\":\"ValueSize\",\"st\":42}}",
        ]
    );
    let token: u64 = lines[5].parse().unwrap_or_else(|_| panic!("a token: {}", lines[5]));
    assert!(token > 0);

    let (code, out, err) = run(&server, &["--csv", "get", "a", "b", "c"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "a,1e3\nb,\"x,y\"\nc,\"[1,2]\"\n");
    assert_eq!(ok(&server, &["keys", "--csv"]), "a\nb\nc\n");
    let (code, out, err) = run(&server, &["--csv", "KV_RMV", "{\"keys\":[]}"]);
    assert_eq!((code, out.as_str(), err.as_str()), (1, "", "(error) 42 ValueSize: keys\n"));
    let info = ok(&server, &["info", "--csv"]);
    assert!(info.lines().any(|l| l == "keys,3") && info.lines().any(|l| l.starts_with("serverVersion,")), "{info}");
}

#[test]
fn help_for_one_command() {
    let server = common::start();
    assert_eq!(
        ok(&server, &["help", "set"]),
        "  set KEY VALUE [KEY VALUE ...]\n      KV_SET: store keys, replacing their values\n"
    );
    let out = ok(&server, &["help", "KV_ARR_APPEND"]);
    assert!(out.starts_with("  append KEY ITEM [ITEM ...] [--name MEMBER]\n      KV_ARR_APPEND: "), "{out}");
    assert!(ok(&server, &["help", "sh", "get"]).starts_with("  sh get TKN [KEY ...]\n"));
    let (code, out, err) = run(&server, &["help", "frob"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (2, "", "ndb-cli: no short form named \"frob\"; type help for the list\n")
    );
    let (_, out, _) = run_with_input(&server, &[], "help update\n");
    assert!(out.starts_with("  update KEY PATH VALUE\n"), "{out}");
}

/// A reply over tungstenite's 16 MiB default frame limit, through the
/// binary, pretty and raw.
#[test]
fn replies_over_16_mib_are_printed() {
    let server = common::start();
    let mut client = server.ndb();
    let mut names = Vec::new();
    for i in 0..18u8 {
        let name = format!("big{i:02}");
        client.kv_set(serde_json::json!({ name.clone(): char::from(b'a' + i).to_string().repeat(1_000_000) })).unwrap();
        names.push(name);
    }
    let mut args = vec!["--raw", "get"];
    args.extend(names.iter().map(String::as_str));
    let raw = ok(&server, &args);
    assert!(raw.len() > 16 << 20, "{}", raw.len());
    let reply: serde_json::Value = serde_json::from_str(&raw).expect("one JSON reply");
    for (i, name) in names.iter().enumerate() {
        let value = reply["KV_GET_RSP"]["keys"][name].as_str().unwrap();
        assert_eq!(value, char::from(b'a' + i as u8).to_string().repeat(1_000_000), "{name}");
    }
    args[0] = "--no-color";
    let pretty = ok(&server, &args);
    assert_eq!(pretty.lines().count(), 18 + 7, "one line per key, and the reply's braces");
    let (code, _, err) = run(&server, &["--max-reply-bytes", "1000000", "get", "big00", "big01"]);
    assert_eq!(code, 1);
    // A reply over 1 MiB comes in fragments: the size named is what had
    // arrived when it passed the limit, between the limit and the reply's.
    let size: usize = err
        .strip_prefix("ndb-cli: a reply of ")
        .and_then(|rest| rest.strip_suffix(" bytes is over this client's limit of 1000000 bytes\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!((1_000_001..=2_000_040).contains(&size), "{err}");
}

/// `keys` of a million keys (a 19 MB reply), through the binary.
#[test]
#[ignore = "sets a million keys; run with --ignored (about a minute in a debug build)"]
fn keys_of_a_million_keys() {
    let server = common::start();
    let mut client = server.ndb();
    for batch in 0..100 {
        let keys: serde_json::Map<String, serde_json::Value> =
            (0..10_000).map(|i| (format!("key:{:012}", batch * 10_000 + i), serde_json::Value::from(i))).collect();
        client.kv_set(&keys).unwrap();
    }
    assert_eq!(client.kv_count().unwrap(), 1_000_000);
    let raw = ok(&server, &["--raw", "keys"]);
    assert!(raw.len() > 19_000_000, "{}", raw.len());
    let reply: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let keys = reply["KV_KEYS_RSP"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1_000_000);
    assert_eq!((keys[0].as_str(), keys[999_999].as_str()), (Some("key:000000000000"), Some("key:000000999999")));
    let pretty = ok(&server, &["keys"]);
    assert_eq!(pretty.lines().count(), 1_000_000 + 7);
    assert_eq!(ok(&server, &["--csv", "keys"]).lines().count(), 1_000_000);
}

/// `--latency` in a pipe: one line at the end (and one a second before
/// that), `min: … max: … avg: … ms (N samples)`, the samples each a real
/// round trip (the server's request counter moves by as many).
#[test]
fn latency_mode_lines() {
    let server = common::start();
    let requests = || server.ndb().sv_info().unwrap().u64("requests").unwrap();
    let before = requests();
    let out = ok(&server, &["--latency", "--count", "25", "-i", "0.002"]);
    let last = out.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split(['(', ')', ' ', ',']).filter(|f| !f.is_empty()).collect();
    assert_eq!(
        (fields.len(), fields[0], fields[2], fields[4], fields[6], fields[7], fields[8]),
        (9, "min:", "max:", "avg:", "ms", "25", "samples"),
        "{out}"
    );
    let number = |i: usize| fields[i].parse::<f64>().unwrap_or_else(|_| panic!("{last}"));
    let (min, max, avg) = (number(1), number(3), number(5));
    assert!(0.0 < min && min <= avg && avg <= max, "{last}");
    assert_eq!(requests(), before + 25 + 1, "25 samples, and this SV_INFO");
    let json = ok(&server, &["--latency", "--count", "3", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(doc["samples"], 3);
    assert!(doc["min_ms"].as_f64().unwrap() <= doc["max_ms"].as_f64().unwrap());
    let csv = ok(&server, &["--latency", "--count", "2", "--csv"]);
    assert!(csv.starts_with("min_ms,max_ms,avg_ms,samples\n") && csv.trim_end().ends_with(",2"), "{csv}");
}

/// `--latency` on a terminal redraws one line in place.
#[test]
fn latency_mode_on_a_terminal() {
    let server = common::start();
    let Some(term) = Terminal::start(&["-u", &server.url(), "--latency", "--count", "30", "-i", "0.005"], None) else {
        return;
    };
    term.wait_for("(30 samples)");
    let raw = term.raw();
    assert!(raw.contains("\r\x1b[Kmin: "), "redrawn in place: {raw:?}");
    assert!(term.seen().contains("(1 samples)") || term.seen().contains("(2 samples)"), "every sample is shown");
    assert!(term.exit_status().success());
}

/// `--stat`: a header, then a line per interval from SV_INFO.
#[test]
fn stat_mode_lines() {
    let server = common::start();
    server.ndb().kv_set(serde_json::json!({"a": 1, "b": 2})).unwrap();
    let out = ok(&server, &["--stat", "--count", "3", "-i", "0.1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["keys", "sessions", "connections", "requests", "requests/s", "rss"]
    );
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&first[..3], ["2", "0", "1"], "{out}");
    assert_eq!(first[4], "-", "no rate before a second sample");
    let second: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(second[3].parse::<u64>().unwrap(), first[3].parse::<u64>().unwrap() + 1, "{out}");
    assert_eq!(second[4], "0", "nobody else sent a request: {out}");

    let out = ok(&server, &["--stat", "--count", "2", "-i", "0.2", "--json"]);
    let docs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((docs[0]["keys"].as_u64(), docs[0]["connections"].as_u64()), (Some(2), Some(1)));
    assert!(docs[0]["requests_per_sec"].is_null() && docs[1]["requests_per_sec"].as_f64() == Some(0.0), "{out}");
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

/// `ndb-cli` in a pseudo-terminal (through `script`), as a person at a
/// keyboard runs it: keys are typed on its standard input, the screen is
/// read back with the terminal's escape codes stripped.
struct Terminal {
    child: std::process::Child,
    keyboard: std::process::ChildStdin,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    /// Starts `ndb-cli ARGS` in a terminal, or `None` when `script` is missing.
    fn start(args: &[&str], history: Option<&std::path::Path>) -> Option<Terminal> {
        if Command::new("script").arg("--version").output().is_err() {
            eprintln!("SKIPPED: `script` (util-linux) not found");
            return None;
        }
        let command = format!("{} {}", env!("CARGO_BIN_EXE_ndb-cli"), args.join(" "));
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .env("NDB_CLI_HISTFILE", history.map_or_else(Default::default, |p| p.as_os_str().to_owned()))
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
        let keyboard = child.stdin.take().unwrap();
        Some(Terminal { child, keyboard, screen, reader: Some(reader) })
    }

    /// Everything shown so far, escape codes and carriage returns removed.
    fn seen(&self) -> String {
        strip_terminal_codes(&self.raw())
    }

    /// Everything shown so far, as written.
    fn raw(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Bytes written since `mark` (a length of [`Terminal::raw`]), stripped.
    fn seen_since(&self, mark: usize) -> String {
        let screen = self.screen.lock().unwrap();
        strip_terminal_codes(&String::from_utf8_lossy(&screen[mark.min(screen.len())..]))
    }

    fn mark(&self) -> usize {
        self.screen.lock().unwrap().len()
    }

    /// Waits until `what` has been shown after `mark`.
    fn wait_for_since(&self, mark: usize, what: &str) {
        let deadline = Instant::now() + common::TIMEOUT;
        while !self.seen_since(mark).contains(what) {
            assert!(Instant::now() < deadline, "waited for {what:?}; the screen shows:\n{}", self.seen());
            // The shell is a child process behind a terminal: its screen is
            // polled, with a deadline.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_for(&self, what: &str) {
        self.wait_for_since(0, what);
    }

    fn type_keys(&mut self, keys: &str) {
        self.keyboard.write_all(keys.as_bytes()).unwrap();
        self.keyboard.flush().unwrap();
    }

    /// Waits for the program to exit; returns its status.
    fn exit_status(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + common::TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the shell did not exit; the screen shows:\n{}", self.seen());
            // A child process: its exit is polled, with a deadline.
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }
}

#[test]
fn interactive_shell_through_a_pseudo_terminal() {
    let server = common::start();
    let history = std::env::temp_dir().join(format!("ndb-cli-history-{}", std::process::id()));
    let _ = std::fs::remove_file(&history);
    let Some(mut term) = Terminal::start(&["-u", &server.url()], Some(&history)) else { return };
    let prompt = format!("{}> ", server.addr);
    term.wait_for(&prompt);
    term.type_keys("set k 42\r");
    term.wait_for("{\"KV_SET_RSP\": {\"st\": 1}}");
    term.type_keys("get k\r");
    term.wait_for("{\"KV_GET_RSP\": {\"keys\": {\"k\": 42}, \"st\": 1}}");
    term.type_keys("rmv\r");
    term.wait_for("(error) usage: rmv KEY [KEY ...]");
    term.type_keys("KV_RMV {\"keys\":[]}\r");
    term.wait_for("(error) 42 ValueSize: keys");
    assert!(term.raw().contains("\x1b[1;31m(error) 42 ValueSize: keys\x1b[0m"), "errors in red on a terminal");
    term.type_keys("quit\r");
    let status = term.exit_status();
    assert!(status.success(), "{status:?}");
    let saved = std::fs::read_to_string(&history).expect("history saved");
    assert!(saved.contains("get k") && saved.contains("set k 42"), "{saved}");
    let _ = std::fs::remove_file(&history);
    assert_eq!(server.ndb().kv_get_one("k").unwrap(), Some(serde_json::json!(42)));
}

/// Tab completes command words from the short-form table, and the
/// arguments still to come are hinted, dimmed, after the cursor.
#[test]
fn tab_completion_and_hints_in_the_shell() {
    let server = common::start();
    let Some(mut term) = Terminal::start(&["-u", &server.url()], None) else { return };
    term.wait_for(&format!("{}> ", server.addr));

    // `cou` + Tab becomes `count `; Enter sends it.
    let mark = term.mark();
    term.type_keys("cou\t");
    term.wait_for_since(mark, "count");
    term.type_keys("\r");
    term.wait_for_since(mark, "{\"KV_COUNT_RSP\": {\"cnt\": 0, \"st\": 1}}");

    // A two-word form: `sh se` + Tab is `sh set `, and its synopsis is hinted.
    let mark = term.mark();
    term.type_keys("sh se\t");
    term.wait_for_since(mark, "sh set TKN KEY VALUE [KEY VALUE ...]");
    assert!(term.raw().contains("\x1b[2mTKN KEY VALUE [KEY VALUE ...]\x1b[0m"), "the hint is dimmed");
    term.type_keys("\x15"); // Ctrl-U clears the line.

    // The hint shrinks as arguments are typed.
    let mark = term.mark();
    term.type_keys("set k ");
    term.wait_for_since(mark, "set k VALUE [KEY VALUE ...]");
    term.type_keys("7\r");
    term.wait_for_since(mark, "{\"KV_SET_RSP\": {\"st\": 1}}");

    // Tab twice on an ambiguous word lists the candidates.
    let mark = term.mark();
    term.type_keys("co\t\t");
    term.wait_for_since(mark, "contains  count");
    term.type_keys("\x15help find\r");
    term.wait_for_since(mark, "find PATH [KEY ...] [--paths | --kv]");
    term.wait_for_since(mark, "KV_FIND: keys whose value the JSONPath matches");
    term.type_keys("quit\r");
    assert!(term.exit_status().success());
    assert_eq!(server.ndb().kv_get_one("k").unwrap(), Some(serde_json::json!(7)));
}

/// The shell answers the server's close frame while it waits for a line,
/// so a shutdown completes without waiting out its grace period (3 s, the
/// time the server gives clients to answer). A silent client, for
/// comparison, holds the shutdown for the whole grace period: the time
/// measured tells the two apart.
#[test]
fn an_idle_shell_lets_a_shutdown_finish_at_once() {
    const GRACE: Duration = Duration::from_secs(3);
    let silent = common::start();
    let mut quiet = silent.client();
    assert!(quiet.call("{\"KV_COUNT\":{}}").contains("\"cnt\":0"));
    let started = Instant::now();
    silent.stop();
    let held = started.elapsed();
    assert!(held >= GRACE, "a client that never answers holds the shutdown for the grace period ({held:?})");
    drop(quiet);

    let server = common::start();
    let url = server.url();
    let Some(mut term) = Terminal::start(&["-u", &url], None) else { return };
    term.wait_for(&format!("{}> ", server.addr));
    term.type_keys("count\r");
    term.wait_for("{\"KV_COUNT_RSP\": {\"cnt\": 0, \"st\": 1}}");
    common::eventually("the shell is idle at its prompt", || term.seen().matches("> ").count() >= 2);
    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(took < GRACE / 2, "the shutdown waited {took:?}: the shell did not answer the close frame");
    term.wait_for("(closed) the server closed the connection (code 1001)");
    // The next command tries to reconnect, and says the server is gone.
    let mark = term.mark();
    term.type_keys("count\r");
    term.wait_for_since(mark, &format!("(error) cannot connect to {url}"));
    term.type_keys("quit\r");
    assert!(term.exit_status().success());
}
