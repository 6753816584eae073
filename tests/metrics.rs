//! `GET /healthz` and `GET /metrics` on the WebSocket port, through real
//! sockets: health while serving, loading saves and shutting down; the
//! metrics parsed by Prometheus's reference parser (`prometheus_client`,
//! via `tests/python/metrics.py`), with counters that move as requests
//! are served; both behind authentication when users are configured.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{Raw, VirtualHost, basic, http_get, start_with};
use ndb::{Role, User, Users};
use serde_json::{Value, json};

/// `/metrics` as the reference parser reads it: (name, labels) → value.
struct Scrape {
    samples: HashMap<(String, Vec<(String, String)>), f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        self.samples.get(&(name.to_owned(), labels)).copied().unwrap_or(0.0)
    }
}

/// Parses a `/metrics` body with the reference parser.
fn parse(body: &str) -> Scrape {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/metrics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused it: {}\n{body}", String::from_utf8_lossy(&out.stderr));
    let families: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut scrape = Scrape { samples: HashMap::new(), types: HashMap::new() };
    for (family, value) in families {
        scrape.types.insert(family, value["type"].as_str().unwrap().to_owned());
        for sample in value["samples"].as_array().unwrap() {
            let mut labels: Vec<(String, String)> = sample[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            labels.sort();
            scrape.samples.insert((sample[0].as_str().unwrap().to_owned(), labels), sample[2].as_f64().unwrap());
        }
    }
    scrape
}

fn scrape(addr: std::net::SocketAddr, auth: Option<&str>) -> Scrape {
    let (status, head, body) = http_get(addr, "/metrics", auth);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    parse(&body)
}

#[test]
fn healthz_answers_200_while_serving() {
    let server = common::start();
    let (status, head, body) = http_get(server.addr, "/healthz", None);
    assert_eq!((status, body.as_str()), (200, "ok\n"), "{head}");
    // HTTP/1.0, as some load balancers check, and a query are fine.
    let mut raw = Raw::connect(server.addr);
    raw.write(b"GET /healthz?probe=1 HTTP/1.0\r\n\r\n");
    assert!(raw.http_response().starts_with("HTTP/1.1 200 OK\r\n"));
    // Other plain requests are still refused.
    assert_eq!(http_get(server.addr, "/other", None).0, 400);
}

#[test]
fn metrics_parse_and_move_as_requests_are_served() {
    if !common::python::ready("prometheus_client.parser", "prometheus_client") {
        return;
    }
    let dir = common::saves::TempDir::new("metrics");
    let server = start_with(common::config().persist(true, dir.path()).max_memory(Some(64 << 20)));
    let before = scrape(server.addr, None);
    for name in ["ndb_requests", "ndb_request_errors", "ndb_connections", "ndb_saves", "ndb_received_bytes"] {
        assert_eq!(before.types.get(name).map(String::as_str), Some("counter"), "{name}");
    }
    for name in [
        "ndb_keys",
        "ndb_sessions",
        "ndb_up",
        "ndb_memory_used_bytes",
        "ndb_memory_max_bytes",
        "ndb_memory_resident_bytes",
        "ndb_connections_open",
    ] {
        assert_eq!(before.types.get(name).map(String::as_str), Some("gauge"), "{name}");
    }
    for name in ["ndb_request_duration_seconds", "ndb_save_duration_seconds"] {
        assert_eq!(before.types.get(name).map(String::as_str), Some("histogram"), "{name}");
    }
    assert_eq!(before.get("ndb_up", &[]), 1.0);
    assert!(before.get("ndb_memory_resident_bytes", &[]) > 0.0);
    assert_eq!(before.get("ndb_memory_max_bytes", &[]), (64u64 << 20) as f64);

    let mut client = server.ndb();
    for i in 0..5 {
        client.kv_set(json!({ format!("k{i}"): i })).unwrap();
    }
    client.kv_get_one("k1").unwrap();
    client.call(r#"{"KV_RMV":{"keys":[]}}"#).unwrap();
    client.call(r#"{"NOPE_X":{}}"#).unwrap();
    client.call("not json").unwrap();
    let token = client.call(r#"{"SH_NEW":{}}"#).unwrap()["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
    client.call(&format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"a":1,"b":2}}}}}}"#)).unwrap();
    client.call(r#"{"KV_SAVE":{"name":"m"}}"#).unwrap();

    let after = scrape(server.addr, None);
    let moved = |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    assert_eq!(moved("ndb_requests_total", &[("command", "KV_SET"), ("status", "Ok")]), 5.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "KV_GET"), ("status", "Ok")]), 1.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "KV_RMV"), ("status", "ValueSize")]), 1.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "unknown"), ("status", "CommandNotExist")]), 1.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "unknown"), ("status", "JsonInvalid")]), 1.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "KV_SAVE"), ("status", "SaveComplete")]), 1.0);
    assert_eq!(moved("ndb_request_errors_total", &[("command", "KV_RMV")]), 1.0);
    assert_eq!(moved("ndb_request_errors_total", &[("command", "unknown")]), 2.0);
    assert_eq!(moved("ndb_request_errors_total", &[("command", "KV_SAVE")]), 0.0);
    assert_eq!(moved("ndb_request_duration_seconds_count", &[]), 12.0);
    assert_eq!(moved("ndb_request_duration_seconds_bucket", &[("le", "+Inf")]), 12.0);
    assert!(
        after.get("ndb_request_duration_seconds_bucket", &[("le", "0.0001")])
            <= after.get("ndb_request_duration_seconds_bucket", &[("le", "+Inf")])
    );
    assert_eq!(after.get("ndb_keys", &[]), 5.0);
    // Five keys and a session with two are counted against the cap.
    assert!(moved("ndb_memory_used_bytes", &[]) > 0.0, "memory used did not grow");
    assert_eq!(after.get("ndb_sessions", &[]), 1.0);
    assert_eq!(after.get("ndb_session_keys", &[]), 2.0);
    assert_eq!(moved("ndb_saves_total", &[("kind", "kv"), ("result", "ok")]), 1.0);
    assert_eq!(moved("ndb_save_duration_seconds_count", &[]), 1.0);
    assert!(after.get("ndb_last_save_timestamp_seconds", &[]) > 1.7e9);
    // The client's connection and the first scrape's are counted.
    assert!(moved("ndb_connections_total", &[]) >= 2.0);
    assert!(after.get("ndb_connections_open", &[]) >= 1.0);
    // Every request and reply crossed the socket.
    assert!(moved("ndb_received_bytes_total", &[]) > 12.0 * 10.0);
    assert!(moved("ndb_sent_bytes_total", &[]) > 12.0 * 10.0);
}

fn users() -> Users {
    Users::new(vec![User::with_password("prom", "scrape", Role::Read).unwrap()]).unwrap()
}

#[test]
fn with_users_the_endpoints_want_credentials_too() {
    let server = start_with(common::config().users(users()));
    for path in ["/healthz", "/metrics"] {
        let (status, head, _) = http_get(server.addr, path, None);
        assert_eq!(status, 401, "{path}: {head}");
        assert!(head.contains("WWW-Authenticate: Basic"), "{head}");
        assert_eq!(http_get(server.addr, path, Some(&basic("prom", "nope"))).0, 401, "{path}");
    }
    let (status, _, body) = http_get(server.addr, "/healthz", Some(&basic("prom", "scrape")));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = http_get(server.addr, "/metrics", Some(&basic("prom", "scrape")));
    assert_eq!(status, 200);
    assert!(body.contains("\nndb_auth_failures_total 4\n"), "{body}");
}

#[test]
fn healthz_and_upgrades_get_503_while_loading_at_start_up_and_while_shutting_down() {
    let dir = common::saves::TempDir::new("loading");
    std::fs::create_dir_all(dir.path()).unwrap();
    let snapshot = ndb::internals::store::Snapshot::Kv(vec![ndb::internals::store::Entry::new("loaded", "42")]);
    ndb::internals::persist::save(dir.path(), "slow", &snapshot).unwrap();
    // The real reader, on the load thread, once the test lets it start: the
    // server stays "loading" as long as the test needs.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let mut host = VirtualHost::start(common::config());
    host.server_mut()
        .load_at_start_with(dir.path(), "slow", move |root, name| {
            let _ = released.recv();
            ndb::internals::persist::load_at_start(root, name)
        })
        .unwrap();
    assert!(host.server().is_loading());
    let (status, head, body) = host.http_get("/healthz", None);
    assert_eq!((status, body.as_str()), (503, "loading\r\n"), "{head}");
    let mut peer = host.connect();
    peer.write(common::UPGRADE.as_bytes());
    assert!(host.http_response(&mut peer).starts_with("HTTP/1.1 503 "), "upgrades wait for the load");
    let (status, _, body) = host.http_get("/metrics", None);
    assert!(status == 200 && body.contains("\nndb_up 0\n"), "{body}");

    // The load finishes once the reader may run.
    release.send(()).unwrap();
    host.run_until("the load to finish", |host| !host.server().is_loading());
    assert!(matches!(host.server_mut().take_start_load(), Some(Ok(()))));
    assert_eq!(host.http_get("/healthz", None).0, 200);
    let mut client = host.open();
    assert_eq!(
        host.call(&mut client, r#"{"KV_GET":{"keys":["loaded"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"loaded":42},"st":1}}"#
    );

    // Shutting down: the open client gets 1001, probes and newcomers 503.
    host.shutdown();
    assert_eq!(host.close_code(&mut client), Some(1001));
    let (status, _, body) = host.http_get("/healthz", None);
    assert_eq!((status, body.as_str()), (503, "shutting down\r\n"));
    let mut late = host.connect();
    late.write(common::UPGRADE.as_bytes());
    assert!(host.http_response(&mut late).starts_with("HTTP/1.1 503 "));
}

/// A failed start-up load is told once, as `Error::Load` naming the save,
/// and the server stays unready.
#[test]
fn a_failed_start_up_load_is_told_and_the_server_stays_unready() {
    let dir = common::saves::TempDir::new("loading-fails");
    std::fs::create_dir_all(dir.path()).unwrap();
    let mut host = VirtualHost::start(common::config());
    host.server_mut().load_at_start(dir.path(), "missing").unwrap();
    let outcome = host.drive("the load to fail", |host| host.server_mut().take_start_load());
    match outcome {
        Err(e @ ndb::Error::Load { .. }) => {
            assert!(e.to_string().starts_with("cannot load \"missing\""), "{e}");
            assert!(matches!(e.persist_error(), Some(ndb::PersistError::NoSave { .. })), "{e:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(host.server_mut().take_start_load().is_none(), "told once");
    assert!(host.server().is_loading());
    assert_eq!(host.http_get("/healthz", None).0, 503);
}

/// A list reply too large for one piece is answered later, written as the
/// connection sends it: it is counted once, with its status, when it
/// starts.
#[test]
fn replies_written_in_pieces_are_counted_once_with_their_status() {
    let server = common::start();
    let mut client = server.ndb();
    let n = ndb::internals::store::INLINE_ENTRIES + 1;
    let keys: serde_json::Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
    client.kv_set(Value::Object(keys)).unwrap();
    let reply = client.call(r#"{"KV_KEYS":{}}"#).unwrap();
    assert_eq!(reply["KV_KEYS_RSP"]["keys"].as_array().map(Vec::len), Some(n));
    let (status, _, body) = http_get(server.addr, "/metrics", None);
    assert_eq!(status, 200);
    assert!(body.contains("\nndb_requests_total{command=\"KV_KEYS\",status=\"Ok\"} 1\n"), "{body}");
    assert!(body.contains("\nndb_request_duration_seconds_count 2\n"), "{body}");
}

/// Array and list commands are counted by their own name and their reply's
/// status: successes, their `st`-only errors, 205s for a read-only user,
/// and a `GET_RNG` too large for one piece (sent in pieces, counted once).
#[test]
fn array_and_list_commands_are_counted_by_name_and_status() {
    if !common::python::ready("prometheus_client.parser", "prometheus_client") {
        return;
    }
    let users = Users::new(vec![
        User::with_password("prom", "scrape", Role::Read).unwrap(),
        User::with_password("ops", "admin", Role::Admin).unwrap(),
    ])
    .unwrap();
    let server = start_with(common::config().users(users).container_limits(300_000, 300_000, 10_000));
    let auth = basic("prom", "scrape");
    let before = scrape(server.addr, Some(&auth));
    let mut ops = server.ndb_as("ops", "admin");
    let mut viewer = server.ndb_as("prom", "scrape");
    let st = |reply: Value, name: &str| reply[format!("{name}_RSP")]["st"].clone();
    assert_eq!(st(ops.call(r#"{"IARR_CREATE":{"name":"a","len":300000}}"#).unwrap(), "IARR_CREATE"), 1);
    let batch: Vec<String> = (0..50_000).map(|i| (1_000_000 + i).to_string()).collect();
    let set_rng = format!(r#"{{"IARR_SET_RNG":{{"name":"a","items":[{}]}}}}"#, batch.join(","));
    for _ in 0..6 {
        assert_eq!(st(ops.call(&set_rng).unwrap(), "IARR_SET_RNG"), 1);
    }
    assert_eq!(st(ops.call(&set_rng).unwrap(), "IARR_SET_RNG"), 161, "full");
    assert_eq!(st(ops.call(r#"{"IARR_GET":{"name":"a","pos":300000}}"#).unwrap(), "IARR_GET"), 161);
    // 300,000 items of 8 bytes: 2.4 MB, sent in pieces.
    let all = viewer.call(r#"{"IARR_GET_RNG":{"name":"a","rng":[0]}}"#).unwrap();
    assert_eq!(all["IARR_GET_RNG_RSP"]["items"].as_array().map(Vec::len), Some(300_000));
    assert_eq!(st(viewer.call(r#"{"IARR_SET":{"name":"a","item":1}}"#).unwrap(), "IARR_SET"), 205);
    assert_eq!(st(viewer.call(r#"{"OLST_ADD":{"name":"l","items":[{}]}}"#).unwrap(), "OLST_ADD"), 205);
    assert_eq!(st(viewer.call(r#"{"OLST_GET":{"name":"l"}}"#).unwrap(), "OLST_GET"), 22);
    assert_eq!(st(ops.call(r#"{"SSTRARR_DELETE_ALL":{}}"#).unwrap(), "SSTRARR_DELETE_ALL"), 1);

    let after = scrape(server.addr, Some(&auth));
    let moved = |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    for (command, status, n) in [
        ("IARR_CREATE", "Ok", 1.0),
        ("IARR_SET_RNG", "Ok", 6.0),
        ("IARR_SET_RNG", "Bounds", 1.0),
        ("IARR_GET", "Bounds", 1.0),
        ("IARR_GET_RNG", "Ok", 1.0),
        ("IARR_SET", "NotPermitted", 1.0),
        ("OLST_ADD", "NotPermitted", 1.0),
        ("OLST_GET", "KeyNotExist", 1.0),
        ("SSTRARR_DELETE_ALL", "Ok", 1.0),
    ] {
        assert_eq!(moved("ndb_requests_total", &[("command", command), ("status", status)]), n, "{command} {status}");
    }
    assert_eq!(moved("ndb_request_errors_total", &[("command", "IARR_SET_RNG")]), 1.0);
    assert_eq!(moved("ndb_request_errors_total", &[("command", "IARR_GET_RNG")]), 0.0);
    assert_eq!(moved("ndb_request_errors_total", &[("command", "OLST_ADD")]), 1.0);
    assert_eq!(moved("ndb_requests_total", &[("command", "unknown"), ("status", "Ok")]), 0.0);
    assert_eq!(moved("ndb_request_duration_seconds_count", &[]), 14.0);
}
