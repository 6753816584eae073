//! Authentication and roles through real sockets: HTTP Basic credentials on
//! the upgrade (401 with `WWW-Authenticate` without them), what each role
//! may run (205 for the rest, the connection staying open), `SV_INFO`'s
//! persist path for admins only, the slow-down of repeated failures on the
//! server's own clock, and the Python clients logging in from their URL.

mod common;

use std::time::Duration;

use common::{Raw, TestServer, VirtualHost, basic, start_with, text_frame, upgrade_with};
use ndb::internals::auth::sha256;
use ndb::{Role, User, Users};
use ndb_client::{Client, Error};
use serde_json::json;

const APP: (&str, &str) = ("app", "app-secret");
const VIEWER: (&str, &str) = ("viewer", "view er:pw");
const OPS: (&str, &str) = ("ops", "p@ss/wörd");

fn users() -> Users {
    Users::new(vec![
        User::new(APP.0, sha256(APP.1.as_bytes()), Role::Write).unwrap(),
        User::new(VIEWER.0, sha256(VIEWER.1.as_bytes()), Role::Read).unwrap(),
        User::with_password(OPS.0, OPS.1, Role::Admin).unwrap(),
    ])
    .unwrap()
}

fn config() -> ndb::Config {
    common::config().users(users())
}

fn secured() -> TestServer {
    start_with(config())
}

/// The response to an upgrade request, and whether the server then closed.
fn upgrade_response(server: &TestServer, request: &str) -> (String, bool) {
    let mut raw = Raw::connect(server.addr);
    raw.write(request.as_bytes());
    let response = raw.http_response();
    (response, raw.ends())
}

#[test]
fn no_or_wrong_credentials_get_401_with_www_authenticate() {
    let server = secured();
    for request in
        [common::UPGRADE.to_owned(), upgrade_with(&basic(APP.0, "wrong")), upgrade_with(&basic("nobody", APP.1))]
    {
        let (response, closed) = upgrade_response(&server, &request);
        assert!(response.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{response}");
        assert!(response.contains("\r\nWWW-Authenticate: Basic realm=\"ndb\", charset=\"UTF-8\"\r\n"), "{response}");
        assert!(closed);
    }
    // The crate's client reports it as a refused handshake.
    let err = Client::connect(&server.url()).unwrap_err();
    assert!(matches!(&err, Error::Handshake { reason, .. } if reason.contains("401")), "{err}");
    // The right credentials get in, from the URL or from a header.
    let mut app = server.ndb_as(APP.0, APP.1);
    app.kv_set(json!({"a": 1})).unwrap();
    let mut raw = Raw::open_with(server.addr, &upgrade_with(&basic(OPS.0, OPS.1)));
    raw.write(&text_frame(r#"{"KV_COUNT":{}}"#));
    assert_eq!(raw.text(), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

/// A well-formed request for every verb.
fn request(verb: &str, token: u64) -> String {
    let body = match verb {
        "KV_SET" | "KV_ADD" | "KV_CLEAR_SET" => json!({"keys": {"k": [1]}}),
        "KV_GET" | "KV_RMV" | "KV_CONTAINS" => json!({"keys": ["k"]}),
        "KV_FIND" => json!({"path": "$[?@ > 0]", "rsp": "keys"}),
        "KV_UPDATE" => json!({"key": "k", "path": "$[0]", "value": 2}),
        "KV_ARR_APPEND" => json!({"key": "k", "items": [3]}),
        "SH_SET" | "SH_ADD" | "SH_CLEAR_SET" => json!({"tkn": token, "keys": {"s": 1}}),
        "SH_GET" | "SH_RMV" | "SH_CONTAINS" => json!({"tkn": token, "keys": ["s"]}),
        "SH_END" | "SH_INFO" | "SH_CLEAR" | "SH_COUNT" | "SH_KEYS" => json!({"tkn": token}),
        "SH_EXISTS" => json!({"tkns": [token]}),
        "KV_SAVE" | "KV_LOAD" | "SH_SAVE" | "SH_LOAD" => json!({"name": "roles"}),
        _ => json!({}),
    };
    json!({ verb: body }).to_string()
}

#[test]
fn each_role_runs_what_it_may_and_gets_205_for_the_rest_on_an_open_connection() {
    let dir = common::saves::TempDir::new("roles");
    let server = start_with(config().persist(true, dir.path()));
    let mut ops = server.ndb_as(OPS.0, OPS.1);
    for (role, (user, password)) in [(Role::Read, VIEWER), (Role::Write, APP), (Role::Admin, OPS)] {
        let mut client = server.ndb_as(user, password);
        for verb in ndb::internals::protocol::Verb::ALL {
            // A fresh session and key for each request, made by the admin.
            ops.call(r#"{"KV_SET":{"keys":{"k":[1]}}}"#).unwrap();
            let token = ops.call(r#"{"SH_NEW":{}}"#).unwrap()["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
            let before = ops.call(r#"{"SH_INFO_ALL":{}}"#).unwrap();
            let reply = client.call(&request(verb.name(), token)).unwrap();
            let rsp = &reply[verb.response_name()];
            let allowed = role >= ndb::internals::auth::required_role(verb);
            if allowed {
                assert_ne!(rsp["st"], 205, "{role} may run {}: {reply}", verb.name());
            } else {
                let expected = json!({ verb.response_name(): {
                    "m": "Not permitted for this user's role", "st": 205, "tkn": null
                }});
                assert_eq!(reply, expected, "{role} may not run {}", verb.name());
                // Nothing changed.
                assert_eq!(ops.call(r#"{"KV_GET":{"keys":["k"]}}"#).unwrap()["KV_GET_RSP"]["keys"]["k"], json!([1]));
                assert_eq!(ops.call(r#"{"SH_INFO_ALL":{}}"#).unwrap(), before);
            }
        }
        // Still open and served.
        assert!(client.kv_count().is_ok());
    }
    // A malformed request outside the role is refused as such too.
    let mut viewer = server.ndb_as(VIEWER.0, VIEWER.1);
    let reply = viewer.call(r#"{"KV_SET":{"keys":"not an object"}}"#).unwrap();
    assert_eq!(reply["KV_SET_RSP"]["st"], 205);
    assert_eq!(viewer.call(r#"{"NOPE_X":{}}"#).unwrap()["NOPE_X_RSP"]["st"], 10, "unknown commands as before");
}

#[test]
fn a_command_sent_with_the_upgrade_is_judged_by_the_new_role() {
    let server = secured();
    let mut raw = Raw::connect(server.addr);
    let mut bytes = upgrade_with(&basic(VIEWER.0, VIEWER.1)).into_bytes();
    bytes.extend(text_frame(r#"{"KV_SET":{"keys":{"sneaky":1}}}"#));
    bytes.extend(text_frame(r#"{"KV_COUNT":{}}"#));
    raw.write(&bytes);
    assert!(raw.http_response().starts_with("HTTP/1.1 101 "));
    assert_eq!(raw.text(), r#"{"KV_SET_RSP":{"m":"Not permitted for this user's role","st":205,"tkn":null}}"#);
    assert_eq!(raw.text(), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
}

#[test]
fn sv_info_tells_the_persist_path_to_admins_only() {
    let server = secured();
    let path = |user: (&str, &str)| {
        let info = server.ndb_as(user.0, user.1).call(r#"{"SV_INFO":{}}"#).unwrap();
        assert_eq!(info["SV_INFO_RSP"]["st"], 1);
        info["SV_INFO_RSP"].get("persistPath").cloned()
    };
    assert_eq!(path(VIEWER), None);
    assert_eq!(path(APP), None);
    assert!(path(OPS).is_some_and(|p| p.as_str().is_some_and(|p| p.contains("ndb-test-"))));
}

#[test]
fn without_users_credentials_are_ignored_and_everyone_may_do_everything() {
    let server = common::start();
    let mut client = server.ndb_as("anyone", "anything");
    assert!(client.call(r#"{"SV_INFO":{}}"#).unwrap()["SV_INFO_RSP"]["persistPath"].is_string());
    assert_eq!(client.call(r#"{"KV_CLEAR":{}}"#).unwrap()["KV_CLEAR_RSP"]["st"], 1);
}

/// The slow-down runs on the server's clock: a virtual one here, which
/// moves only when the test says, so "not yet answered" is checked with
/// the server settled (every byte sent has been served) rather than by
/// waiting, and "answered now" at the exact instant.
#[test]
fn repeated_failures_from_one_address_are_answered_later_and_later_on_the_servers_clock() {
    let mut host = VirtualHost::start(config());
    let attempt = |host: &mut VirtualHost, auth: &str| {
        let mut peer = host.connect();
        peer.write(upgrade_with(auth).as_bytes());
        peer
    };
    let wrong = basic(APP.0, "wrong");
    // The first three failures are answered at once.
    for _ in 0..ndb::internals::auth::FREE_FAILURES {
        let mut peer = attempt(&mut host, &wrong);
        assert!(host.http_response(&mut peer).starts_with("HTTP/1.1 401 "));
    }
    // The fourth waits 250 ms of the server's time: none passes while the
    // clock stands still.
    let mut fourth = attempt(&mut host, &wrong);
    assert!(host.nothing_for(&mut fourth));
    host.advance(Duration::from_millis(249));
    assert!(host.nothing_for(&mut fourth));
    host.advance(Duration::from_millis(1));
    assert!(host.http_response(&mut fourth).starts_with("HTTP/1.1 401 "));
    // A fifth (500 ms more), and the right password sent after it waits
    // behind it, so that a right guess is not told apart by its speed.
    let mut fifth = attempt(&mut host, &wrong);
    let mut right = attempt(&mut host, &basic(APP.0, APP.1));
    assert!(host.nothing_for(&mut fifth) && host.nothing_for(&mut right));
    host.advance(Duration::from_millis(500));
    assert!(host.http_response(&mut fifth).starts_with("HTTP/1.1 401 "));
    let head = host.http_response(&mut right);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(host.call(&mut right, r#"{"KV_SET":{"keys":{"in":true}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    // Endpoints wait in the same queue.
    let mut sixth = attempt(&mut host, &wrong);
    let mut probe = host.connect();
    probe.write(
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n", basic(OPS.0, OPS.1)).as_bytes(),
    );
    assert!(host.nothing_for(&mut probe));
    host.advance(Duration::from_secs(1));
    assert!(host.http_response(&mut sixth).starts_with("HTTP/1.1 401 "));
    assert!(host.http_response(&mut probe).starts_with("HTTP/1.1 200 "));
}

fn python_ready() -> bool {
    let probe = std::process::Command::new("python3").args(["-c", "import websockets.asyncio.client"]).output();
    let ready = probe.is_ok_and(|out| out.status.success());
    if !ready {
        assert!(std::env::var("NDB_REQUIRE_PYTHON").is_err(), "python3 with websockets >= 14 is required");
        eprintln!("SKIPPED: python3 with websockets >= 14 not found (pip install websockets)");
    }
    ready
}

fn compat(url: &str, sections: &[&str]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/compat.py");
    let out = std::process::Command::new("python3").arg(script).arg(url).args(sections).output().expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && sections.iter().all(|s| text.contains(&format!("{s}: ok"))), text)
}

/// Both client generations pass their URI to `websockets.connect`, which
/// sends the URL's user information as Basic credentials: they log in with
/// no code change.
#[test]
fn python_clients_log_in_from_their_url() {
    if !python_ready() {
        return;
    }
    let dir = common::saves::TempDir::new("python-auth");
    let server = start_with(config().persist(true, dir.path()));
    let (ok, out) = compat(&server.url_as(OPS.0, OPS.1), &["kv", "sv", "sh", "save"]);
    assert!(ok, "{out}");
    let (ok, out) = compat(&server.url(), &["sv"]);
    assert!(!ok && out.contains("401"), "without credentials: {out}");
    let server09 = start_with(config().persist(true, dir.path()).protocol(ndb::Protocol::V09));
    let (ok, out) = compat(&server09.url_as(OPS.0, OPS.1), &["save09"]);
    assert!(ok, "{out}");
}
