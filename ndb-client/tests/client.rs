//! `ndb_client` against a real server: every command method, the raw
//! calls, status errors with their names, connection failures, and the
//! `SV_INFO` counters moving as connections and requests come and go.

use testkit as common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use ndb_client::{Client, Error, Expiry, FindReply, Found, Protocol, SessionTotals, Status, Token};
use serde_json::{Value, json};
use testkit::VirtualHost;

#[test]
fn every_kv_command() {
    let server = common::start();
    let mut c = server.ndb();
    assert_eq!(c.protocol(), Protocol::V07);
    // A struct's members go in (and so are stored) in declaration order.
    #[derive(serde::Serialize)]
    struct Visit {
        city: &'static str,
        visits: u32,
        geo: Value,
    }
    c.kv_set(Visit { city: "Leeds", visits: 12, geo: json!({"lat": 53.8}) }).unwrap();
    let mut more = BTreeMap::new();
    more.insert("tags", vec!["x", "y"]);
    c.kv_set(&more).unwrap();
    assert_eq!(c.kv_count().unwrap(), 4);
    assert_eq!(c.kv_keys().unwrap(), ["city", "visits", "geo", "tags"]);

    let got = c.kv_get(["city", "nope", "geo"]).unwrap();
    assert_eq!(Value::Object(got), json!({"city": "Leeds", "geo": {"lat": 53.8}}));
    assert_eq!(c.kv_get_one("visits").unwrap(), Some(json!(12)));
    assert_eq!(c.kv_get_one("nope").unwrap(), None);
    assert!(c.kv_get(Vec::<String>::new()).unwrap().is_empty());

    c.kv_add(json!({"city": "York", "new": true})).unwrap();
    assert_eq!(c.kv_get_one("city").unwrap(), Some(json!("Leeds")), "add keeps existing keys");
    assert_eq!(c.kv_get_one("new").unwrap(), Some(json!(true)));

    let names = vec!["new".to_owned(), "zz".to_owned(), "city".to_owned()];
    assert_eq!(c.kv_contains(&names).unwrap(), ["new", "city"]);
    c.kv_rmv(["new", "absent"]).unwrap();
    assert_eq!(c.kv_count().unwrap(), 4);

    // `json!` objects are sorted maps: their keys go in sorted.
    assert_eq!(c.kv_clear_set(json!({"b": 2, "a": 1})).unwrap(), 4);
    assert_eq!(c.kv_keys().unwrap(), ["a", "b"]);
    assert_eq!(c.kv_clear().unwrap(), 2);
    assert_eq!(c.kv_clear().unwrap(), 0);
    assert!(c.kv_keys().unwrap().is_empty());

    let info = c.sv_info().unwrap();
    assert_eq!(info.server_version, ndb::VERSION);
    assert!(info.persist_enabled);
    assert!(!info.members.contains_key("st"));
    assert_eq!(info.u64("keys"), Some(0));
}

#[test]
fn error_statuses_carry_number_and_name() {
    let server = common::start();
    let mut c = server.ndb();
    let err = c.kv_rmv(Vec::<&str>::new()).unwrap_err();
    assert_eq!((err.code(), err.status()), (Some(42), Some(Status::ValueSize)));
    assert_eq!(err.to_string(), "KV_RMV_RSP: status 42 (ValueSize): keys");
    assert!(!err.is_connection_lost());
    let Error::Status(status) = &err else { panic!("{err:?}") };
    assert_eq!(status.reply, json!({"KV_RMV_RSP": {"m": "keys", "st": 42, "tkn": null}}));

    let err = c.kv_set(json!([1, 2])).unwrap_err();
    assert_eq!(err.status(), Some(Status::ValueTypeInvalid));
    assert_eq!(err.to_string(), "KV_SET_RSP: status 41 (ValueTypeInvalid): Param type incorrect");

    // Arguments that are not JSON objects with string keys never leave.
    let mut bad = BTreeMap::new();
    bad.insert(vec![1u8], 1);
    assert!(matches!(c.kv_set(&bad), Err(Error::Request(_))));

    // The connection is still in step after every error.
    assert_eq!(c.kv_count().unwrap(), 0);
}

/// The JSONPath commands: each reply form of `kv_find`, updates and
/// appends, and their error statuses.
#[test]
fn jsonpath_commands() {
    let server = common::start();
    let mut c = server.ndb();
    c.kv_set(json!({"a": {"n": 1, "list": [1]}, "b": {"n": 5}, "c": [1, 2]})).unwrap();
    assert_eq!(c.kv_find("$[?@ > 2]", FindReply::Keys, None).unwrap(), Found::Keys(vec!["b".into()]));
    assert_eq!(c.kv_find("$.list[0]", FindReply::Paths, None).unwrap(), Found::Paths(vec!["$['list'][0]".into()]));
    let Found::Kv(found) = c.kv_find("$.n", FindReply::Kv, Some(&["b", "c"])).unwrap() else { panic!() };
    assert_eq!(Value::Object(found), json!({"b": {"n": 5}}));
    assert_eq!(c.kv_update("a", "$.n", "one").unwrap(), 1);
    assert_eq!(c.kv_update("c", "$[*]", json!({"x": null})).unwrap(), 2);
    assert_eq!(c.kv_update("a", "$.zz", 0).unwrap(), 0);
    c.kv_arr_append("a", [2, 3], Some("list")).unwrap();
    c.kv_arr_append("c", ["end"], None).unwrap();
    assert_eq!(
        c.kv_get(["a", "c"]).unwrap(),
        json!({"a": {"n": "one", "list": [1, 2, 3]}, "c": [{"x": null}, {"x": null}, "end"]})
            .as_object()
            .unwrap()
            .clone()
    );

    let calls: Vec<(&str, u64, Result<(), Error>)> = vec![
        ("KV_FIND_RSP", 4, c.kv_find("$[", FindReply::Keys, None).map(drop)),
        ("KV_FIND_RSP", 42, c.kv_find("", FindReply::Keys, None).map(drop)),
        ("KV_UPDATE_RSP", 22, c.kv_update("zz", "$", 1).map(drop)),
        ("KV_UPDATE_RSP", 4, c.kv_update("a", "$[", 1).map(drop)),
        ("KV_ARR_APPEND_RSP", 22, c.kv_arr_append("zz", [1], None)),
        ("KV_ARR_APPEND_RSP", 1000, c.kv_arr_append("a", [1], Some("n"))),
        ("KV_ARR_APPEND_RSP", 1000, c.kv_arr_append("a", [1], None)),
    ];
    for (rsp, code, result) in calls {
        let err = result.expect_err(rsp);
        let Error::Status(status) = &err else { panic!("{rsp}: {err:?}") };
        assert_eq!((status.rsp.as_str(), status.code), (rsp, code), "{err}");
    }
    assert_eq!(c.kv_count().unwrap(), 3);
}

/// On a virtual clock that stands still, so `remaining` is exact.
#[test]
fn every_session_command() {
    let mut host = VirtualHost::start(common::config());
    let url = format!("ws://{}/", host.addr());
    host.join(std::thread::spawn(move || every_session_command_on(&url)));
}

fn every_session_command_on(url: &str) {
    let mut c = Client::connect(url).unwrap();
    let cart = c.sh_new(Some(Expiry::after_secs(30).delete_session(true).extend_on_get(true))).unwrap();
    let plain = c.sh_new(None).unwrap();
    assert_ne!(cart, plain);
    c.sh_set(cart, json!({"a": 1, "b": "x"})).unwrap();
    c.sh_add(cart, json!({"a": 2, "c": [1, 2]})).unwrap();
    assert_eq!(c.sh_get(cart, ["a", "c", "zz"]).unwrap(), json!({"a": 1, "c": [1, 2]}).as_object().unwrap().clone());
    assert_eq!(c.sh_get_one(cart, "b").unwrap(), Some(json!("x")));
    assert_eq!(c.sh_get_one(plain, "b").unwrap(), None);
    assert_eq!(c.sh_contains(cart, ["c", "zz"]).unwrap(), ["c"]);
    assert_eq!(c.sh_keys(cart).unwrap(), ["a", "b", "c"]);
    assert_eq!(c.sh_count(cart).unwrap(), 3);
    c.sh_rmv(cart, ["a"]).unwrap();
    assert_eq!(c.sh_keys(cart).unwrap(), ["c", "b"]);
    let info = c.sh_info(cart).unwrap();
    assert_eq!((info.token, info.key_count, info.shared), (cart, 2, false));
    let expiry = info.expiry.unwrap();
    assert_eq!(
        (expiry.duration_secs, expiry.delete_session, expiry.extend_on_get, expiry.extend_on_set_add),
        (30, true, true, false)
    );
    assert_eq!(expiry.remaining_secs, 30, "{expiry:?}");
    assert_eq!(c.sh_info(plain).unwrap().expiry, None);
    assert_eq!(c.sh_info_all().unwrap(), SessionTotals { sessions: 2, keys: 2 });
    assert_eq!(c.sh_exists([plain, Token(7), cart]).unwrap(), [plain, cart]);
    assert_eq!(c.sh_clear_set(cart, json!({"z": 0})).unwrap(), 2);
    assert_eq!(c.sh_clear(cart).unwrap(), 1);
    c.sh_end(plain).unwrap();
    let err = c.sh_end(plain).unwrap_err();
    assert!(matches!(&err, Error::Status(s) if s.status == Some(Status::SessionNotExist)), "{err:?}");
    let err = c.sh_count(plain).unwrap_err();
    assert!(matches!(&err, Error::Status(s) if s.status == Some(Status::SessionNotExist)), "{err:?}");
    assert_eq!(c.sh_end_all().unwrap(), 1);
    assert_eq!(c.sh_info_all().unwrap(), SessionTotals { sessions: 0, keys: 0 });
}

#[test]
fn raw_calls_return_the_reply_untouched() {
    let server = common::start();
    let mut c = server.ndb();
    assert_eq!(
        c.call_text(r#"{"KV_SET":{"keys":{"n":1e3,"o":{"z":1,"a":2}}}}"#).unwrap(),
        r#"{"KV_SET_RSP":{"st":1}}"#
    );
    assert_eq!(
        c.call_text(r#"{"KV_GET":{"keys":["n","o"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"n":1e3,"o":{"z":1,"a":2}},"st":1}}"#
    );
    assert_eq!(c.call("{").unwrap(), json!({"ERR": {"m": "", "st": 3}}));
    assert_eq!(c.call(r#"{"NOPE_X":{}}"#).unwrap(), json!({"NOPE_X_RSP": {"m": "", "st": 10, "tkn": null}}));
    c.close().unwrap();
}

#[test]
fn connection_failures_are_told_apart() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err = Client::connect(&format!("ws://127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(err, Error::Connect { .. }) && err.is_connection_lost(), "{err:?}");
    assert!(err.to_string().starts_with(&format!("cannot connect to ws://127.0.0.1:{port}/: ")), "{err}");

    for url in ["http://127.0.0.1:1/", "127.0.0.1:1987", "ws:///x"] {
        assert!(matches!(Client::connect(url), Err(Error::Url(_))), "{url}");
    }
    // wss:// is a URL error only in a build without TLS; with it, port 1
    // refuses the connection.
    let wss = Client::connect(&format!("wss://127.0.0.1:{port}/"));
    if cfg!(feature = "tls") {
        assert!(matches!(wss, Err(Error::Connect { .. })), "{wss:?}");
    } else {
        assert!(matches!(wss, Err(Error::Url(_))), "{wss:?}");
    }

    // A listener that accepts and never answers: the upgrade times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", silent.local_addr().unwrap());
    let err = Client::builder().connect_timeout(Duration::from_millis(200)).connect(&url).unwrap_err();
    assert_eq!(err.to_string(), format!("cannot open a WebSocket at {url}: timed out"));

    // A server at its connection limit refuses the upgrade with 503.
    let server = common::start_with(common::config().max_connections(1));
    let mut first = server.ndb();
    let err = Client::connect(&server.url()).unwrap_err();
    assert!(matches!(&err, Error::Handshake { reason, .. } if reason == "HTTP 503 Service Unavailable"), "{err:?}");
    assert_eq!(first.kv_count().unwrap(), 0);
}

#[test]
fn a_reply_that_never_comes_is_a_timeout() {
    // A hand-made server: completes the upgrade, then reads and never replies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mute = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let _ = ws.read();
        let mut rest = Vec::new();
        let _ = ws.get_mut().read_to_end(&mut rest);
    });
    let mut c = Client::builder().timeout(Some(Duration::from_millis(200))).connect(&format!("ws://{addr}/")).unwrap();
    let err = c.kv_count().unwrap_err();
    assert!(matches!(err, Error::Timeout) && err.is_connection_lost(), "{err:?}");
    drop(c);
    mute.join().unwrap();
}

#[test]
fn the_09_numbering_names_save_statuses_its_way() {
    let server = common::start_with(common::config().protocol(Protocol::V09));
    let mut c = Client::builder().protocol(Protocol::V09).connect(&server.url()).unwrap();
    assert_eq!(c.protocol(), Protocol::V09);
    assert_eq!(c.sv_info().unwrap().members["protocol"], "0.9");
}

/// On a virtual clock: uptime is exact, and moves only when the test moves
/// the clock (between two client threads sharing the connections).
#[test]
fn sv_info_counters_move_with_connections_and_requests() {
    let mut host = VirtualHost::start(common::config());
    let url = format!("ws://{}/", host.addr());
    let (watcher, requests) = host.join(std::thread::spawn(move || counters_on(&url)));
    host.advance(Duration::from_millis(61_500));
    let after = host.join(std::thread::spawn(move || {
        let mut watcher = watcher;
        watcher.sv_info().unwrap()
    }));
    assert_eq!(after.u64("uptimeSecs"), Some(61));
    assert_eq!(after.u64("requests"), Some(requests + 1));
}

/// The counters as connections and requests come and go; returns the
/// watching connection and the request count it last saw.
fn counters_on(url: &str) -> (Client, u64) {
    let mut watcher = Client::connect(url).unwrap();
    let before = watcher.sv_info().unwrap();
    assert_eq!(before.u64("connections"), Some(1));
    assert_eq!(before.u64("connectionsTotal"), Some(1));
    assert_eq!(before.u64("requests"), Some(1), "this request included");
    assert_eq!(before.u64("keys"), Some(0));
    assert_eq!(before.u64("sessions"), Some(0));
    assert_eq!(before.u64("sessionExpiries"), Some(0));
    assert_eq!(before.members["lastSave"], Value::Null);
    assert_eq!(before.members["protocol"], "0.7");
    assert_eq!(before.members["persistPath"], common::config().persist_path.to_string_lossy().as_ref());
    assert_eq!(before.u64("uptimeSecs"), Some(0), "the clock has not moved");
    if cfg!(target_os = "linux") {
        assert!(before.u64("rssBytes").is_some_and(|b| b > 1024 * 1024), "{:?}", before.members);
    }

    let mut other = Client::connect(url).unwrap();
    other.kv_set(json!({"a": 1, "b": 2, "c": 3})).unwrap();
    other.kv_rmv(["b"]).unwrap();
    other.call("not json").unwrap();
    let during = watcher.sv_info().unwrap();
    assert_eq!(during.u64("connections"), Some(2));
    assert_eq!(during.u64("connectionsTotal"), Some(2));
    assert_eq!(during.u64("requests"), Some(5), "errors count as requests too");
    assert_eq!(during.u64("keys"), Some(2));

    other.close().unwrap();
    common::eventually("the closed connection is no longer counted", || {
        watcher.sv_info().unwrap().u64("connections") == Some(1)
    });
    let after = watcher.sv_info().unwrap();
    assert_eq!(after.u64("connectionsTotal"), Some(2));
    assert!(after.u64("requests").unwrap() >= 7);
    let requests = after.u64("requests").unwrap();
    (watcher, requests)
}

/// tungstenite's defaults refuse a frame over 16 MiB; the client's bound is
/// the reply size it is built for, and a reply over it is told apart.
#[test]
fn replies_over_16_mib_arrive_whole() {
    let server = common::start();
    let mut c = server.ndb();
    // 18 values of 1,000,000 bytes, one KV_SET each (the request limit is 1 MiB).
    let names: Vec<String> = (0..18).map(|i| format!("big{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let fill = char::from(b'a' + i as u8).to_string().repeat(1_000_000);
        c.kv_set(json!({ name.clone(): fill })).unwrap();
    }
    let request = format!(r#"{{"KV_GET":{{"keys":{}}}}}"#, serde_json::to_string(&names).unwrap());
    let text = c.call_text(&request).unwrap();
    assert!(text.len() > 16 << 20, "the reply is over tungstenite's 16 MiB frame default: {}", text.len());
    let got = c.kv_get(&names).unwrap();
    assert_eq!(got.len(), 18);
    for (i, name) in names.iter().enumerate() {
        let value = got[name].as_str().unwrap();
        assert_eq!(value.len(), 1_000_000, "{name}");
        assert!(value.bytes().all(|b| b == b'a' + i as u8), "{name}");
    }

    let mut small = Client::builder().max_reply_bytes(1000).connect(&server.url()).unwrap();
    assert_eq!(small.kv_count().unwrap(), 18, "small replies pass");
    let err = small.call_text(&request).unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    let Error::ReplyTooLarge { size, limit } = &err else { panic!("{err:?}") };
    // The reply comes in fragments (it is over 1 MiB): the size is what had
    // arrived when it passed the limit, no more than the reply.
    assert_eq!(*limit, 1000);
    assert!((1001..=text.len()).contains(size), "{size} of {}", text.len());
    assert_eq!(err.to_string(), format!("a reply of {size} bytes is over this client's limit of 1000 bytes"));
    let one_frame = r#"{"KV_KEYS":{}}"#;
    let keys = c.call_text(one_frame).unwrap();
    let mut small = Client::builder().max_reply_bytes(100).connect(&server.url()).unwrap();
    let Error::ReplyTooLarge { size, .. } = small.call_text(one_frame).unwrap_err() else { panic!("not too large") };
    assert_eq!(size, keys.len(), "a reply in one frame: the size its header announced");
}

/// An idle client that reads its socket answers the server's close frame
/// at once, so a shutdown does not wait out its 3 s grace for it.
#[test]
fn an_idle_client_answers_the_close_frame() {
    let server = common::start();
    let mut c = server.ndb();
    c.kv_set(json!({"a": 1})).unwrap();
    let stopping = std::time::Instant::now();
    let stopper = std::thread::spawn(move || {
        server.stop();
        stopping.elapsed()
    });
    // Blocks until the server's close frame comes (the reply timeout is 30 s).
    let err = c.read_idle().unwrap_err();
    assert!(matches!(err, Error::Closed(Some(1001))), "{err:?}");
    let took = stopper.join().unwrap();
    assert!(took < Duration::from_secs(2), "the shutdown waited {took:?}: the close reply did not reach it");
}

/// No error message ever holds the password of the URL it names: a
/// refused login, nothing listening, a bad URL.
#[test]
fn errors_never_show_the_password_of_the_url() {
    let users = ndb::Users::new(vec![ndb::User::with_password("ops", "hunter2-pw", ndb::Role::Admin).unwrap()]);
    let server = common::start_with(common::config().users(users.unwrap()));
    let wrong = server.url_as("ops", "s3cr3t-wrong");
    let err = Client::connect(&wrong).unwrap_err();
    assert!(matches!(&err, Error::Handshake { reason, .. } if reason.contains("401")), "{err}");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let cases = [
        (wrong.clone(), err.to_string()),
        (
            format!("ws://ops:s3cr3t-wrong@{closed}/"),
            Client::connect(&format!("ws://ops:s3cr3t-wrong@{closed}/")).unwrap_err().to_string(),
        ),
        ("ws://ops:s3cr3t-wrong@/".to_owned(), Client::connect("ws://ops:s3cr3t-wrong@/").unwrap_err().to_string()),
        (
            "http://ops:s3cr3t-wrong@h/".to_owned(),
            Client::connect("http://ops:s3cr3t-wrong@h/").unwrap_err().to_string(),
        ),
    ];
    for (url, message) in cases {
        assert!(!message.contains("s3cr3t-wrong"), "{url}: {message}");
        assert!(message.contains("ops:***@"), "{url}: the URL is still named: {message}");
    }
    assert!(Client::connect(&server.url_as("ops", "hunter2-pw")).is_ok());
}

#[test]
fn redact_hides_only_the_password() {
    use ndb_client::redact;
    assert_eq!(redact("ws://app:pw@db:1987/x?y"), "ws://app:***@db:1987/x?y");
    assert_eq!(redact("wss://app:p%40w:x@db/"), "wss://app:***@db/");
    assert_eq!(redact("ws://app@db/"), "ws://app@db/");
    assert_eq!(redact("ws://db:1987/a@b"), "ws://db:1987/a@b");
    assert_eq!(redact("not a url"), "not a url");
}
