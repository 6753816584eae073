//! `ndb-bench` as scripts use it: exit status and the `--json` document,
//! against a real ndb server for a second, and against a minimal WebSocket
//! responder on 127.0.0.1:0 (blocking tungstenite, one thread per
//! connection) that answers every request with `<CMD>_RSP` and the status
//! the test chooses.

use testkit as common;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread;

use tungstenite::Message;

/// Starts a responder; `status(cmd)` picks each reply's `st`. Returns its port.
fn responder(status: fn(&str) -> u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test port");
    let port = listener.local_addr().expect("local address").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else { return };
                while let Ok(message) = ws.read() {
                    let Message::Text(text) = message else { continue };
                    let command = text.split('"').nth(1).unwrap_or("ERR").to_string();
                    let st = status(&command);
                    let reply = match command.as_str() {
                        "SH_NEW" => format!(r#"{{"SH_NEW_RSP":{{"st":{st},"tkn":18446744073709551557}}}}"#),
                        _ => format!(r#"{{"{command}_RSP":{{"st":{st}}}}}"#),
                    };
                    if ws.send(Message::text(reply)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ndb-bench")).args(args).output().expect("run ndb-bench")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn every_test_runs_against_a_real_server() {
    let server = common::start();
    let port = server.addr.port().to_string();
    let output = bench(&["-p", &port, "-c", "8", "-P", "4", "-n", "4000", "-r", "1000", "--preload", "1000", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report = json(&output);
    assert_eq!(report["ok"], true, "{report}");
    let tests = report["tests"].as_array().expect("tests");
    assert!(tests.len() >= 10, "every test ran: {report}");
    for test in tests {
        assert_eq!(test["errors"], 0, "{test}");
        assert!(test["requests"].as_u64().unwrap_or(0) > 0, "{test}");
        assert!(test["latency_us"]["p99"].as_f64().unwrap_or(0.0) > 0.0, "{test}");
    }
}

#[test]
fn idle_mode_holds_upgraded_connections() {
    let server = common::start();
    let port = server.addr.port().to_string();
    let output = bench(&["-p", &port, "-c", "20", "-I", "--duration", "0.3"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), format!("20 idle connections open to ws://127.0.0.1:{port}/"));
    // The server saw them: twenty accepted, and this one.
    let info = server.ndb().sv_info().unwrap();
    assert_eq!(info.u64("connectionsTotal"), Some(21), "{:?}", info.members);
}

#[test]
fn successful_run_exits_zero_with_every_test_in_the_json() {
    let port = responder(|_| 1).to_string();
    let output =
        bench(&["-p", &port, "-n", "300", "-c", "4", "-P", "3", "-t", "kv_set,kv_get,sh_set,sh_get", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let doc = json(&output);
    assert_eq!(doc["ok"], true);
    let tests = doc["tests"].as_array().expect("tests array");
    let names: Vec<&str> = tests.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["kv_set", "kv_get", "sh_set", "sh_get"]);
    for test in tests {
        assert_eq!(test["requests"], 300);
        assert_eq!(test["errors"], 0);
        assert!(test["latency_us"]["p99"].as_f64().is_some_and(|p| p > 0.0));
    }
}

#[test]
fn error_statuses_are_counted_and_fail_the_run() {
    let port = responder(|cmd| if cmd == "KV_GET" { 26 } else { 1 }).to_string();
    let output = bench(&["-p", &port, "-n", "50", "-c", "2", "-t", "kv_set,kv_get", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let doc = json(&output);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["tests"][0]["errors"], 0);
    assert_eq!(doc["tests"][1]["errors"], 50);
    assert_eq!(doc["tests"][1]["first_error"], r#"{"KV_GET_RSP":{"st":26}}"#);
}

#[test]
fn refused_sessions_skip_only_the_session_tests() {
    let port = responder(|cmd| if cmd.starts_with("SH_") { 10 } else { 1 }).to_string();
    let output = bench(&["-p", &port, "-n", "20", "-c", "2", "-t", "sv_info,sh_get", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("sv_info: "), "{stdout}");
    assert!(stdout.contains("sh_get: skipped: no session: SH_NEW answered"), "{stdout}");
}

#[test]
fn open_loop_sends_the_scheduled_requests() {
    let port = responder(|_| 1).to_string();
    let output = bench(&["-p", &port, "--rate", "2000", "--duration", "0.25", "-c", "3", "-t", "kv_get", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let doc = json(&output);
    assert_eq!(doc["tests"][0]["requests"], 500);
    assert!(doc["tests"][0]["send_lag_us"]["max"].is_f64());
}

#[test]
fn refused_connection_is_one_line_and_exit_status_one() {
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port().to_string();
    let output = bench(&["-p", &port, "-n", "10", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim(), format!("ndb-bench: cannot connect to ws://127.0.0.1:{port}/: connection refused"));
}

#[test]
fn bad_flags_exit_two() {
    let output = bench(&["-t", "kv_nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown test"));
}

#[test]
fn short_version_flag() {
    let output = bench(&["-V"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("ndb-bench {}\n", env!("CARGO_PKG_VERSION")));
}

/// A mix of two custom requests, 3:1, each appending one item to its own
/// array: afterwards the arrays hold exactly as many items as the report
/// says each request was sent, and the server counted every request.
#[test]
fn custom_requests_are_checked_against_the_servers_counters() {
    let server = common::start();
    let mut client = server.ndb();
    client.kv_set(serde_json::json!({"a": [], "b": []})).unwrap();
    let before = client.sv_info().unwrap().u64("requests").unwrap();
    let port = server.addr.port().to_string();
    let output = bench(&[
        "-p",
        &port,
        "-c",
        "4",
        "-P",
        "2",
        "-n",
        "2000",
        "-r",
        "1000",
        "--body",
        r#"3:{"KV_ARR_APPEND":{"key":"a","items":["__rand_int__"]}}"#,
        "--body",
        r#"{"KV_ARR_APPEND":{"key":"b","items":[1__rand_int__]}}"#,
        "--json",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let doc = json(&output);
    let tests = doc["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "only the custom test runs without -t: {doc}");
    let test = &tests[0];
    assert_eq!(
        (test["name"].as_str(), test["requests"].as_u64(), test["errors"].as_u64()),
        (Some("custom"), Some(2000), Some(0))
    );
    let sent = |i: usize| test["mix"][i]["sent"].as_u64().unwrap();
    assert_eq!((test["mix"][0]["weight"].as_u64(), test["mix"][1]["weight"].as_u64()), (Some(3), Some(1)));
    assert_eq!(sent(0) + sent(1), 2000);
    assert!((1300..=1700).contains(&sent(0)), "about three in four: {}", sent(0));

    let after = client.sv_info().unwrap().u64("requests").unwrap();
    assert_eq!(after, before + 2000 + 1, "every request reached the server (and this SV_INFO)");
    let arrays = client.kv_get(["a", "b"]).unwrap();
    let a = arrays["a"].as_array().unwrap();
    let b = arrays["b"].as_array().unwrap();
    assert_eq!((a.len() as u64, b.len() as u64), (sent(0), sent(1)));
    for item in a {
        let digits = item.as_str().unwrap();
        assert_eq!(digits.len(), 12, "{digits}");
        assert!(digits.parse::<u64>().unwrap() < 1000, "below -r: {digits}");
    }
    let spread: std::collections::BTreeSet<&str> = a.iter().filter_map(|v| v.as_str()).collect();
    assert!(spread.len() > 100, "drawn afresh each time: {} distinct", spread.len());
    for item in b {
        let n = item.as_u64().unwrap();
        assert!((1_000_000_000_000..1_000_000_001_000).contains(&n), "{n}");
    }
}

/// `__tkn__` is each connection's own session: a wrong token would be
/// answered 100, and every reply here must be 1.
#[test]
fn session_bodies_use_the_connections_token() {
    let server = common::start();
    let port = server.addr.port().to_string();
    let output = bench(&[
        "-p",
        &port,
        "-c",
        "3",
        "-n",
        "300",
        "-r",
        "10",
        "-d",
        "5",
        "--body",
        r#"{"SH_SET":{"tkn":__tkn__,"keys":{"__key__":"__value__"}}}"#,
        "--body",
        r#"{"SH_INFO":{"tkn":__tkn__}}"#,
        "--json",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let doc = json(&output);
    assert_eq!((doc["tests"][0]["requests"].as_u64(), doc["tests"][0]["errors"].as_u64()), (Some(300), Some(0)));
    let mut client = server.ndb();
    let totals = client.sh_info_all().unwrap();
    assert_eq!(totals.sessions, 3, "one session per connection");
    assert!((1..=30).contains(&totals.keys), "keys from a space of 10 in each: {}", totals.keys);
}

#[test]
fn built_in_requests_mix_and_other_statuses_can_count_as_success() {
    let server = common::start();
    let port = server.addr.port().to_string();
    let output = bench(&["-p", &port, "-n", "400", "-c", "2", "-r", "50", "--mix", "kv_set:1,kv_get:1", "-q"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("custom: ") && stdout.contains(", 0 errors"), "{stdout}");
    assert!(server.ndb().kv_count().unwrap() > 0, "the sets reached the server");

    let end = r#"{"SH_END":{"tkn":1}}"#;
    let output = bench(&["-p", &port, "-n", "20", "-c", "1", "--body", end, "--json"]);
    assert_eq!(output.status.code(), Some(1), "no such session: 100");
    assert_eq!(json(&output)["tests"][0]["errors"], 20);
    let output = bench(&["-p", &port, "-n", "20", "-c", "1", "--body", end, "--expect", "1,100", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(json(&output)["config"]["expect"], serde_json::json!([1, 100]));
}

#[test]
fn a_body_that_is_not_json_exits_two() {
    let output = bench(&["--body", r#"{"KV_SET":{"keys":{"a":__rand_int__}}}"#]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not JSON once its placeholders are filled in") && stderr.contains("1__rand_int__"),
        "{stderr}"
    );
}

/// A server whose version-6 config raises the array limits, as
/// docs/bench.md says to start one for the array and list tests.
fn container_server() -> common::TestServer {
    let v6 =
        r#"{"version":6,"arrays":{"maxCapacity":20000,"maxResponseSize":20000},"lists":{"maxResponseSize":40000}}"#;
    common::start_with(common::config().apply_json(v6).expect("a version-6 config").port(0))
}

/// Runs one array or list test of `n` requests on arrays and lists of
/// 20,000; returns the server's request count it added and the report.
fn container_run(server: &common::TestServer, test: &str, n: u64) -> (u64, serde_json::Value) {
    let mut client = server.client();
    let requests = |client: &mut common::Client| {
        client.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["requests"].as_u64().expect("requests")
    };
    let before = requests(&mut client);
    let port = server.addr.port().to_string();
    let n = n.to_string();
    let output =
        bench(&["-p", &port, "-c", "3", "-P", "2", "-n", &n, "--container-size", "20000", "-t", test, "--json"]);
    assert!(
        output.status.success(),
        "{test}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let doc = json(&output);
    let after = requests(&mut client);
    (after - before - 1, doc["tests"][0].clone())
}

/// Items `[start, stop)` of a `GET_RNG`.
fn range(client: &mut common::Client, prefix: &str, name: &str, start: u64, stop: u64) -> Vec<serde_json::Value> {
    let reply = client.call_json(&format!(r#"{{"{prefix}_GET_RNG":{{"name":"{name}","rng":[{start},{stop}]}}}}"#));
    reply[format!("{prefix}_GET_RNG_RSP")]["items"].as_array().expect("items").clone()
}

/// Each array and list test against a real server: every request answered
/// st 1, the server counted exactly the requests the report says (the
/// setup's are the same whatever -n: two runs differ by their -n), and
/// what it holds afterwards is what those requests did.
#[test]
fn array_and_list_tests_change_what_the_server_holds() {
    let server = container_server();
    let mut client = server.client();
    for test in ["iarr_get", "iarr_get_rng", "siarr_intersect", "olst_splice"] {
        // (A splice rotates the 6,000 items from the quarter to past the
        // middle by 1,000: 301 and 901 leave them out of order.)
        let (short, report) = container_run(&server, test, 301);
        assert_eq!((report["requests"].as_u64(), report["errors"].as_u64()), (Some(301), Some(0)), "{report}");
        let (long, _) = container_run(&server, test, 901);
        assert_eq!(long - short, 600, "{test}: the server counted every request");
    }
    // After olst_splice the list holds every item once, in another order.
    let mut items: Vec<u64> =
        range(&mut client, "OLST", "ndb-bench:olst", 0, 20000).iter().filter_map(|v| v["i"].as_u64()).collect();
    assert_eq!(items.len(), 20000);
    assert_ne!(items.windows(2).filter(|w| w[0] > w[1]).count(), 0, "items moved");
    items.sort_unstable();
    assert!(items.iter().enumerate().all(|(i, &v)| v == i as u64));

    // iarr_set writes -1 into random slots; the others keep i.
    container_run(&server, "iarr_set", 500);
    let slots = range(&mut client, "IARR", "ndb-bench:iarr", 0, 20000);
    let written = slots.iter().filter(|v| v.as_i64() == Some(-1)).count();
    assert!((100..=500).contains(&written), "{written} slots written");
    assert!(slots.iter().enumerate().all(|(i, v)| v.as_i64() == Some(-1) || v.as_u64() == Some(i as u64)));
    // iarr_set_rng writes runs of 100 of -2.
    container_run(&server, "iarr_set_rng", 50);
    let slots = range(&mut client, "IARR", "ndb-bench:iarr", 0, 20000);
    let written = slots.iter().filter(|v| v.as_i64() == Some(-2)).count();
    assert!((100..=5000).contains(&written), "{written} slots written");
    assert_eq!(slots.iter().filter(|v| v.as_i64() == Some(-1)).count(), 0, "a fresh array for each test");

    // olst_add puts one item a request at the middle, olst_rmv takes one.
    container_run(&server, "olst_add", 400);
    let len = |client: &mut common::Client| {
        client.call_json(r#"{"OLST_LEN":{"name":"ndb-bench:olst"}}"#)["OLST_LEN_RSP"]["len"].as_u64()
    };
    assert_eq!(len(&mut client), Some(20400));
    let middle = range(&mut client, "OLST", "ndb-bench:olst", 10000, 10400);
    assert!(middle.iter().all(|v| v["i"] == -1), "all at the middle");
    container_run(&server, "olst_rmv", 400);
    assert_eq!(len(&mut client), Some(19600));
    let info = client.call_json(r#"{"SV_INFO":{}}"#);
    assert_eq!(
        info["SV_INFO_RSP"]["containers"],
        serde_json::json!({"IARR":1,"OARR":0,"OLST":1,"SIARR":2,"SSTRARR":0,"STRARR":0})
    );
}

/// The array and list tests never run by default, and a server that
/// cannot hold them skips them with its reply and what to do.
#[test]
fn array_and_list_tests_are_skipped_where_the_server_cannot_hold_them() {
    let port = responder(|cmd| if cmd.starts_with("IARR_") || cmd.starts_with("OLST_") { 10 } else { 1 }).to_string();
    let output = bench(&["-p", &port, "-n", "20", "-c", "2", "-t", "kv_get,iarr_get,olst_add", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kv_get: "), "{stdout}");
    assert!(stdout.contains("iarr_get: skipped: the server has no arrays and lists (NemesisDB 0.9)"), "{stdout}");
    assert!(stdout.contains("olst_add: skipped: the server has no arrays and lists"), "{stdout}");

    let output = bench(&["-p", &port, "-n", "20", "-c", "2", "--json"]);
    let names: Vec<String> = json(&output)["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("kv_") || n.starts_with("sh_") || n == "sv_info"), "{names:?}");

    // ndb with the shipped limits (arrays.maxCapacity 10,000).
    let server = common::start();
    let port = server.addr.port().to_string();
    let output = bench(&["-p", &port, "-n", "20", "-c", "1", "-t", "iarr_get", "--container-size", "20000", "-q"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(r#"iarr_get: skipped: IARR_CREATE of 20000 slots answered {"IARR_CREATE_RSP":{"st":161}}"#)
            && stdout.contains("arrays.maxCapacity is at least 20000"),
        "{stdout}"
    );
    let output = bench(&["-p", &port, "-n", "20", "-c", "1", "-t", "iarr_get", "--container-size", "10000", "-q"]);
    assert!(output.status.success(), "the shipped limit allows 10,000: {}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn array_and_list_flags_are_checked() {
    for (args, message) in [
        (&["--container-size", "100"][..], "--container-size must be from 4000 to"),
        (
            &["-t", "olst_rmv", "-n", "600000"],
            "olst_rmv removes one item a request from the middle of a list of 1000000",
        ),
        (&["--mix", "iarr_get:1"], "--mix: iarr_get sets up its own array or list and runs only with -t"),
    ] {
        let output = bench(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(message),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A server with users: `app` may write, `viewer` only read. The password
/// holds `@` and `:`, which a URL must percent-encode.
fn secured() -> common::TestServer {
    let users = ndb::Users::new(vec![
        ndb::User::with_password("app", "s3cr@t:pw", ndb::Role::Write).unwrap(),
        ndb::User::with_password("viewer", "look", ndb::Role::Read).unwrap(),
    ])
    .unwrap();
    common::start_with(common::config().users(users))
}

#[test]
fn credentials_from_user_or_the_url_log_every_connection_in() {
    let server = secured();
    let port = server.addr.port().to_string();
    let output = bench(&[
        "-p",
        &port,
        "--user",
        "app:s3cr@t:pw",
        "-c",
        "4",
        "-n",
        "400",
        "-r",
        "100",
        "-t",
        "kv_set,kv_get",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let doc = json(&output);
    assert_eq!(doc["url"], format!("ws://127.0.0.1:{port}/"), "the report leaves the password out");
    for test in doc["tests"].as_array().expect("tests") {
        assert_eq!((test["requests"].as_u64(), test["errors"].as_u64()), (Some(400), Some(0)), "{test}");
    }
    // The keys were written, as the server itself says.
    let mut app = server.ndb_as("app", "s3cr@t:pw");
    let count = app.kv_count().unwrap();
    assert!((1..=100).contains(&count), "{count}");

    let url = format!("ws://app:s3cr%40t%3Apw@127.0.0.1:{port}/");
    let output = bench(&["-u", &url, "-c", "2", "-n", "100", "-t", "kv_get", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(json(&output)["tests"][0]["errors"], 0);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cr"));
}

#[test]
fn a_role_that_may_not_run_the_test_gets_205_for_every_request() {
    let server = secured();
    let port = server.addr.port().to_string();
    let output =
        bench(&["-p", &port, "--user", "viewer:look", "-c", "2", "-n", "50", "-t", "kv_set,kv_count", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let doc = json(&output);
    assert_eq!(doc["tests"][0]["errors"], 50);
    assert!(doc["tests"][0]["first_error"].as_str().is_some_and(|e| e.contains(r#""st":205"#)), "{doc}");
    assert_eq!(doc["tests"][1]["errors"], 0, "reads are allowed");
}

/// The array and list tests set up their own arrays and lists: a `read`
/// user's set-up is refused, and the test is skipped with the server's
/// 205; a `write` user's runs.
#[test]
fn array_and_list_tests_need_a_user_who_may_set_them_up() {
    let server = secured();
    let port = server.addr.port().to_string();
    let args =
        |user| ["-p", &port, "--user", user, "-c", "1", "-n", "20", "--container-size", "4000", "-t", "iarr_get", "-q"];
    let output = bench(&args("viewer:look"));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("iarr_get: skipped: ") && stdout.contains(r#"{"IARR_DELETE_RSP":{"st":205}}"#), "{stdout}");
    let output = bench(&args("app:s3cr@t:pw"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}

#[test]
fn missing_or_wrong_credentials_are_one_line_with_the_401() {
    let server = secured();
    let port = server.addr.port().to_string();
    for credentials in [None, Some("app:wrong")] {
        let mut args = vec!["-p", port.as_str(), "-c", "1", "-n", "10", "-t", "kv_get", "-q"];
        if let Some(user) = credentials {
            args.extend(["--user", user]);
        }
        let output = bench(&args);
        assert_eq!(output.status.code(), Some(1), "{credentials:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("upgrade refused: HTTP 401 Unauthorized"), "{credentials:?}: {stderr}");
        assert!(!stderr.contains("wrong"), "the password is not printed: {stderr}");
    }
}
