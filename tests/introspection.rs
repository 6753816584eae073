//! Introspection over real sockets: `SV_INFO`'s per-command counts and
//! latency percentiles, errors by status, memory, keys hit and missed; the
//! slow-request log (`SV_SLOWLOG`); the connection list (`SV_CLIENTS`);
//! the effective settings (`SV_CONFIG`); and the admin role they need.

mod common;

use std::time::Duration;

use ndb::internals::auth::sha256;
use ndb::{Role, User, Users};
use serde_json::{Value, json};

fn call(client: &mut ndb_client::Client, request: &str) -> Value {
    client.call(request).expect("a reply")
}

#[test]
fn sv_info_counts_commands_errors_lookups_and_memory() {
    let server = common::start();
    let mut client = server.ndb();
    call(&mut client, r#"{"KV_SET":{"keys":{"a":1,"b":2}}}"#);
    for _ in 0..3 {
        call(&mut client, r#"{"KV_GET":{"keys":["a","nope","b"]}}"#);
    }
    call(&mut client, r#"{"KV_GET":{"keys":["zzz"]}}"#);
    call(&mut client, r#"{"SH_GET":{"keys":["k"],"tkn":7}}"#);
    call(&mut client, r#"{"KV_NOPE":{}}"#);
    let info = call(&mut client, r#"{"SV_INFO":{}}"#);
    let info = &info["SV_INFO_RSP"];
    let commands = &info["commands"];
    assert_eq!(commands["KV_GET"]["calls"], 4, "{info}");
    assert_eq!(commands["KV_GET"]["errors"], 0);
    assert_eq!(commands["KV_SET"]["calls"], 1);
    assert_eq!(commands["SH_GET"]["errors"], 1);
    assert_eq!(commands["unknown"]["calls"], 1);
    assert!(commands.get("KV_RMV").is_none(), "commands never called are left out");
    // Loopback requests take well under 100 µs on the server's clock, so
    // the median is the first bucket's bound; a bound is never below it.
    let p50 = commands["KV_GET"]["p50Us"].as_u64().unwrap();
    let p99 = commands["KV_GET"]["p99Us"].as_u64().unwrap();
    assert!(p50 >= 100 && p99 >= p50, "{info}");
    assert_eq!(info["errorsByStatus"], json!({"CommandNotExist": 1, "SessionNotExist": 1}), "{info}");
    assert_eq!((info["keyHits"].as_u64(), info["keyMisses"].as_u64()), (Some(6), Some(4)), "{info}");
    if cfg!(target_os = "linux") {
        let (rss, peak) = (info["rssBytes"].as_u64().unwrap(), info["rssPeakBytes"].as_u64().unwrap());
        assert!(rss > 0 && peak >= rss, "{info}");
    }
}

#[test]
fn the_slow_log_keeps_slow_requests_and_is_read_and_reset_by_sv_slowlog() {
    // Every request of a turn that took at least 1 ns: all of them.
    let mut config = common::config();
    config.slow_log_threshold = Some(Duration::from_nanos(1));
    config.slow_log_length = 3;
    let server = common::start_with(config);
    let mut client = server.ndb();
    let local = client.socket().local_addr().unwrap().to_string();
    let big = format!(r#"{{"KV_SET":{{"keys":{{"big":"{}"}}}}}}"#, "x".repeat(300));
    call(&mut client, &big);
    call(&mut client, r#"{"KV_SAVE":{"name":"slow"}}"#);
    let log = call(&mut client, r#"{"SV_SLOWLOG":{}}"#);
    let log = &log["SV_SLOWLOG_RSP"];
    assert_eq!((log["st"].as_u64(), log["length"].as_u64(), log["thresholdUs"].as_u64()), (Some(1), Some(3), Some(0)));
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    // Newest first: the save (answered later, on its own), then the set.
    assert_eq!(entries[0]["command"], "KV_SAVE");
    assert_eq!(entries[0]["turnRequests"], 1);
    assert_eq!(entries[1]["command"], "KV_SET");
    assert_eq!(entries[1]["bytes"], big.len());
    assert_eq!(entries[1]["request"].as_str().unwrap(), &big[..128], "the first 128 bytes");
    assert!(entries[0]["id"].as_u64() > entries[1]["id"].as_u64());
    for entry in entries {
        assert_eq!(entry["addr"], local.as_str());
        assert!(entry["latencyUs"].is_u64() && entry["time"].as_u64().unwrap() > 1_700_000_000_000);
    }
    // At most `length` entries; reset returns them and empties the log.
    for i in 0..4 {
        call(&mut client, &format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#));
    }
    let log = call(&mut client, r#"{"SV_SLOWLOG":{"reset":true}}"#);
    let entries = log["SV_SLOWLOG_RSP"]["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);
    assert!(entries[0]["request"].as_str().unwrap().contains("\"k3\""), "newest first: {entries:?}");
    assert!(entries[2]["request"].as_str().unwrap().contains("\"k1\""), "{entries:?}");
    let log = call(&mut client, r#"{"SV_SLOWLOG":{}}"#);
    let after: Vec<_> = log["SV_SLOWLOG_RSP"]["entries"].as_array().unwrap().clone();
    assert_eq!(after.len(), 1, "only the reset request itself, logged as its turn ended: {after:?}");
    assert!(after[0]["request"].as_str().unwrap().contains("\"reset\":true"));
    let wrong = call(&mut client, r#"{"SV_SLOWLOG":{"reset":1}}"#);
    assert_eq!(wrong["SV_SLOWLOG_RSP"]["st"], 41, "{wrong}");
    server.stop();

    // A threshold no request reaches logs nothing.
    let mut config = common::config();
    config.slow_log_threshold = Some(Duration::from_secs(3600));
    let server = common::start_with(config);
    let mut client = server.ndb();
    call(&mut client, &big);
    let log = call(&mut client, r#"{"SV_SLOWLOG":{}}"#);
    assert_eq!(log["SV_SLOWLOG_RSP"]["entries"], json!([]));
    assert_eq!(log["SV_SLOWLOG_RSP"]["thresholdUs"], 3_600_000_000u64);
}

#[test]
fn sv_clients_lists_every_connection() {
    let server = common::start();
    let mut idle = server.ndb();
    call(&mut idle, r#"{"KV_COUNT":{}}"#);
    let mut asking = server.ndb();
    let idle_addr = idle.socket().local_addr().unwrap().to_string();
    let asking_addr = asking.socket().local_addr().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(50));
    let reply = call(&mut asking, r#"{"SV_CLIENTS":{}}"#);
    let reply = &reply["SV_CLIENTS_RSP"];
    assert_eq!((reply["st"].as_u64(), reply["truncated"].as_bool()), (Some(1), Some(false)));
    let clients = reply["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "{reply}");
    let by_addr = |addr: &str| clients.iter().find(|c| c["addr"] == addr).unwrap_or_else(|| panic!("{addr}: {reply}"));
    let (first, second) = (by_addr(&idle_addr), by_addr(&asking_addr));
    assert_eq!(first["lastCommand"], "KV_COUNT");
    assert_eq!(second["lastCommand"], "SV_CLIENTS");
    assert!(first["idleMs"].as_u64().unwrap() >= 50, "{first}");
    assert!(first["ageMs"].as_u64().unwrap() >= first["idleMs"].as_u64().unwrap());
    for client in [first, second] {
        assert_eq!(client["pendingOutputBytes"], 0);
        assert_eq!(client["role"], "admin");
        assert_eq!(client["upgraded"], true);
    }
    assert_ne!(first["id"], second["id"]);
    // The connection keeps serving after the reply that came later.
    assert_eq!(call(&mut asking, r#"{"KV_COUNT":{}}"#), json!({"KV_COUNT_RSP": {"cnt": 0, "st": 1}}));
    drop(idle);
    common::eventually("the idle client is gone", || {
        call(&mut asking, r#"{"SV_CLIENTS":{}}"#)["SV_CLIENTS_RSP"]["clients"].as_array().unwrap().len() == 1
    });
}

#[test]
fn sv_config_reports_the_effective_settings_without_secrets() {
    let hash = sha256(b"s3cret");
    let users = Users::new(vec![
        User::new("ops", hash, Role::Admin).unwrap(),
        User::new("viewer", sha256(b"view"), Role::Read).unwrap(),
    ])
    .unwrap();
    let config = common::config().users(users).max_payload(4096).idle_timeout(Some(Duration::from_millis(2500)));
    let persist = config.persist_path.clone();
    let server = common::start_with(config);
    let mut ops = server.ndb_as("ops", "s3cret");
    let text = ops.call_text(r#"{"SV_CONFIG":{}}"#).unwrap();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hex) && !text.contains("s3cret"), "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    let config = &reply["SV_CONFIG_RSP"]["config"];
    assert_eq!(reply["SV_CONFIG_RSP"]["st"], 1);
    assert_eq!(config["maxPayload"], 4096);
    assert_eq!(config["idleTimeout"], 2.5);
    assert_eq!(config["sendTimeout"], 60.0);
    assert_eq!(config["persist"]["path"], persist.to_string_lossy().as_ref());
    assert_eq!(config["users"], json!([{"name": "ops", "role": "admin"}, {"name": "viewer", "role": "read"}]));
    assert_eq!(config["slowLogLength"], 128);
    // Every config member is reported (those of a section unset, as tls
    // here, with the section).
    for member in ndb::config::KNOWN_MEMBERS {
        let mut value = Some(config);
        for part in member.split('.') {
            value = match value {
                Some(Value::Null) => break,
                Some(v) => v.get(part),
                None => None,
            };
        }
        assert!(value.is_some(), "{member} missing: {config}");
    }
    // The three commands are admin-only: a read user gets 205 and stays.
    let mut viewer = server.ndb_as("viewer", "view");
    for command in ["SV_CONFIG", "SV_CLIENTS", "SV_SLOWLOG"] {
        let reply = call(&mut viewer, &format!(r#"{{"{command}":{{}}}}"#));
        assert_eq!(reply[format!("{command}_RSP")]["st"], 205, "{reply}");
    }
    assert_eq!(call(&mut viewer, r#"{"KV_COUNT":{}}"#)["KV_COUNT_RSP"]["st"], 1);
    assert_eq!(call(&mut ops, r#"{"SV_CLIENTS":{}}"#)["SV_CLIENTS_RSP"]["clients"].as_array().unwrap().len(), 2);
}

#[test]
fn array_and_list_commands_are_named_by_sv_info_sv_slowlog_and_sv_clients() {
    let mut config = common::config();
    config.slow_log_threshold = Some(Duration::from_nanos(1));
    let server = common::start_with(config);
    let mut lists = server.ndb();
    let mut arrays = server.ndb();
    assert_eq!(call(&mut arrays, r#"{"IARR_CREATE":{"name":"a","len":4}}"#), json!({"IARR_CREATE_RSP": {"st": 1}}));
    call(&mut arrays, r#"{"IARR_SET_RNG":{"name":"a","items":[1,2,3]}}"#);
    // 161: more items than free slots; 22: no such array.
    assert_eq!(call(&mut arrays, r#"{"IARR_SET_RNG":{"name":"a","items":[4,5]}}"#)["IARR_SET_RNG_RSP"]["st"], 161);
    assert_eq!(call(&mut arrays, r#"{"IARR_GET":{"name":"b","pos":0}}"#)["IARR_GET_RSP"]["st"], 22);
    call(&mut lists, r#"{"OLST_CREATE":{"name":"l"}}"#);
    assert_eq!(call(&mut lists, r#"{"OLST_ADD":{"name":"l","items":[{"x":1}]}}"#)["OLST_ADD_RSP"]["st"], 1);

    let info = call(&mut arrays, r#"{"SV_INFO":{}}"#);
    let info = &info["SV_INFO_RSP"];
    let commands = &info["commands"];
    assert_eq!(
        (commands["IARR_CREATE"]["calls"].as_u64(), commands["IARR_CREATE"]["errors"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (commands["IARR_SET_RNG"]["calls"].as_u64(), commands["IARR_SET_RNG"]["errors"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(commands["IARR_GET"]["errors"], 1, "{info}");
    assert_eq!(commands["OLST_ADD"]["calls"], 1, "{info}");
    assert!(commands["OLST_ADD"]["p50Us"].as_u64().unwrap() >= 100, "{info}");
    assert!(commands.get("OARR_CREATE").is_none(), "{info}");
    assert_eq!(info["errorsByStatus"]["Bounds"], 1, "{info}");
    assert_eq!(info["containers"]["IARR"], 1);

    let log = call(&mut arrays, r#"{"SV_SLOWLOG":{}}"#);
    let named: Vec<&str> =
        log["SV_SLOWLOG_RSP"]["entries"].as_array().unwrap().iter().filter_map(|e| e["command"].as_str()).collect();
    for name in ["IARR_CREATE", "IARR_SET_RNG", "IARR_GET", "OLST_CREATE", "OLST_ADD", "SV_INFO"] {
        assert!(named.contains(&name), "{name} not in {named:?}");
    }

    let reply = call(&mut arrays, r#"{"SV_CLIENTS":{}}"#);
    let lists_addr = lists.socket().local_addr().unwrap().to_string();
    let clients = reply["SV_CLIENTS_RSP"]["clients"].as_array().unwrap();
    let of_lists = clients.iter().find(|c| c["addr"] == lists_addr.as_str()).unwrap();
    assert_eq!(of_lists["lastCommand"], "OLST_ADD", "{reply}");

    // SV_CONFIG reports the array and list limits as config members.
    let config = call(&mut arrays, r#"{"SV_CONFIG":{}}"#);
    let config = &config["SV_CONFIG_RSP"]["config"];
    assert_eq!(config["arrays"], json!({"maxCapacity": 10000, "maxResponseSize": 10000}), "{config}");
    assert_eq!(config["lists"], json!({"maxResponseSize": 10000}), "{config}");
}
