//! Authentication and roles through real sockets: HTTP Basic credentials on
//! the upgrade (401 with `WWW-Authenticate` without them), what each role
//! may run (205 for the rest, the connection staying open), `SV_INFO`'s
//! persist path for admins only, the slow-down of repeated failures on the
//! server's own clock, and the Python clients logging in from their URL.

mod common;

use std::time::Duration;

use common::{Raw, TestServer, VirtualHost, basic, start_with, text_frame, upgrade_with};
use ndb::internals::auth::{container_role, sha256};
use ndb::internals::protocol::{ContainerVerb, Family, Op};
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
    if !common::python::websockets_ready() {
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

/// An item of `family`'s type.
fn item(family: Family) -> serde_json::Value {
    match family {
        Family::Oarr | Family::Olst => json!({"a": 1}),
        Family::Iarr | Family::Siarr => json!(7),
        Family::Strarr | Family::Sstrarr => json!("s"),
    }
}

/// A well-formed request for every array and list command, on the
/// fixtures of [`fixtures`]: `c` and `d` exist, `new` does not.
fn container_request(verb: ContainerVerb) -> String {
    let item = item(verb.family);
    let list = verb.family == Family::Olst;
    let body = match verb.op {
        Op::Create if list => json!({"name": "new"}),
        Op::Create => json!({"name": "new", "len": 4}),
        Op::DeleteAll => json!({}),
        Op::Delete | Op::Exist | Op::Len | Op::Used => json!({"name": "c"}),
        Op::Set => json!({"name": "c", "item": item}),
        Op::SetRng if list => json!({"name": "c", "items": [item], "pos": 0}),
        Op::SetRng | Op::Add => json!({"name": "c", "items": [item]}),
        Op::Get => json!({"name": "c", "pos": 0}),
        Op::GetRng => json!({"name": "c", "rng": [0]}),
        Op::Clear => json!({"name": "c", "rng": [0, 1]}),
        Op::Swap => json!({"name": "c", "posA": 0, "posB": 1}),
        Op::Min | Op::Max => json!({"name": "c", "n": 1}),
        Op::Intersect => json!({"srcA": "c", "srcB": "d"}),
        Op::Rmv => json!({"name": "c", "head": true}),
        Op::Splice => json!({"srcName": "c", "srcRng": [0, 1], "destName": "d"}),
    };
    json!({ verb.name(): body }).to_string()
}

/// Makes `family`'s `c` and `d` afresh (the admin's connection), each
/// holding two items, and no `new`.
fn fixtures(ops: &mut Client, family: Family) {
    let p = family.prefix();
    let a = item(family);
    let items = match family {
        Family::Oarr | Family::Olst => json!([a, {"b": 2}]),
        Family::Iarr | Family::Siarr => json!([a, 9]),
        Family::Strarr | Family::Sstrarr => json!([a, "t"]),
    };
    assert_eq!(ops.call(&format!(r#"{{"{p}_DELETE_ALL":{{}}}}"#)).unwrap()[format!("{p}_DELETE_ALL_RSP")]["st"], 1);
    for name in ["c", "d"] {
        let (create, fill) = if family == Family::Olst {
            (json!({"OLST_CREATE": {"name": name}}), json!({"OLST_ADD": {"name": name, "items": items}}))
        } else {
            (
                json!({ format!("{p}_CREATE"): {"name": name, "len": 4} }),
                json!({ format!("{p}_SET_RNG"): {"name": name, "items": items} }),
            )
        };
        for request in [create, fill] {
            let reply = ops.call(&request.to_string()).unwrap();
            assert_eq!(reply.as_object().and_then(|o| o.values().next()).map(|b| b["st"].clone()), Some(json!(1)));
        }
    }
}

/// What `family`'s containers hold, as the admin reads it.
fn holdings(ops: &mut Client, family: Family) -> Vec<serde_json::Value> {
    let p = family.prefix();
    let mut seen = vec![ops.call(r#"{"SV_INFO":{}}"#).unwrap()["SV_INFO_RSP"]["containers"][p].clone()];
    for name in ["c", "d", "new"] {
        seen.push(ops.call(&format!(r#"{{"{p}_GET_RNG":{{"name":"{name}","rng":[0]}}}}"#)).unwrap());
        seen.push(ops.call(&format!(r#"{{"{p}_LEN":{{"name":"{name}"}}}}"#)).unwrap());
        if family != Family::Olst {
            seen.push(ops.call(&format!(r#"{{"{p}_USED":{{"name":"{name}"}}}}"#)).unwrap());
        }
    }
    seen
}

/// Every one of the 75 array and list commands, for each role: allowed
/// ones run (st 1 on these fixtures), the others get the `st`-only 205 of
/// their family's errors and change nothing; reads are `read`, changes
/// `write`, `DELETE_ALL` `admin`.
#[test]
fn each_role_runs_the_array_and_list_commands_it_may_and_gets_205_for_the_rest() {
    let server = secured();
    let mut ops = server.ndb_as(OPS.0, OPS.1);
    for (role, (user, password)) in [(Role::Read, VIEWER), (Role::Write, APP), (Role::Admin, OPS)] {
        let mut client = server.ndb_as(user, password);
        let mut denied = 0;
        for verb in ContainerVerb::all() {
            fixtures(&mut ops, verb.family);
            let before = holdings(&mut ops, verb.family);
            let request = container_request(verb);
            let reply = client.call(&request).unwrap();
            let rsp = format!("{}_RSP", verb.name());
            if role >= container_role(verb.op) {
                assert_eq!(reply[&rsp]["st"], 1, "{role} may run {request}: {reply}");
            } else {
                denied += 1;
                assert_eq!(reply, json!({ rsp: {"st": 205} }), "{role} may not run {request}");
                assert_eq!(holdings(&mut ops, verb.family), before, "{request} changed nothing");
            }
        }
        // 6 DELETE_ALL for write; for read also every change: 6 CREATE,
        // DELETE, SET_RNG; 5 SET, CLEAR; 3 SWAP; OLST ADD, RMV, SPLICE.
        let expected = match role {
            Role::Read => 6 * 4 + 5 * 2 + 3 + 3,
            Role::Write => 6,
            Role::Admin => 0,
        };
        assert_eq!(denied, expected, "{role}");
        assert_eq!(client.kv_count().unwrap(), 0, "still open and served");
    }
}

/// A read-only user on one raw connection: an array write and a list write
/// are refused with exactly `{"<CMD>_RSP":{"st":205}}`, malformed or not,
/// and the reads around them are served.
#[test]
fn a_read_only_user_reads_arrays_and_lists_but_cannot_change_them() {
    let server = secured();
    let mut ops = server.ndb_as(OPS.0, OPS.1);
    fixtures(&mut ops, Family::Iarr);
    fixtures(&mut ops, Family::Olst);
    let mut raw = Raw::open_with(server.addr, &upgrade_with(&basic(VIEWER.0, VIEWER.1)));
    for (request, reply) in [
        (r#"{"IARR_SET":{"name":"c","pos":0,"item":5}}"#, r#"{"IARR_SET_RSP":{"st":205}}"#),
        (r#"{"IARR_GET":{"name":"c","pos":0}}"#, r#"{"IARR_GET_RSP":{"item":7,"st":1}}"#),
        (r#"{"IARR_SET":{"name":5}}"#, r#"{"IARR_SET_RSP":{"st":205}}"#),
        (r#"{"IARR_GET":{"name":5}}"#, r#"{"IARR_GET_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"c","items":[{"x":1}]}}"#, r#"{"OLST_ADD_RSP":{"st":205}}"#),
        (r#"{"OLST_GET_RNG":{"name":"c","rng":[0]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{"a":1},{"b":2}],"st":1}}"#),
        (r#"{"OLST_DELETE_ALL":{}}"#, r#"{"OLST_DELETE_ALL_RSP":{"st":205}}"#),
        (r#"{"OLST_LEN":{"name":"c"}}"#, r#"{"OLST_LEN_RSP":{"len":2,"st":1}}"#),
    ] {
        raw.write(&text_frame(request));
        assert_eq!(raw.text(), reply, "{request}");
    }
}
