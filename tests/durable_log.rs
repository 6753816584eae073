//! The durable log through a real server on a real socket: replies of
//! writes under `fsync always` come once durable, reads on other
//! connections never wait for the log, and a log that cannot be written
//! makes writes fail with 206 (changing nothing) until it can be written
//! again, when the held replies come and writes resume by themselves.

mod common;

use std::time::Duration;

use common::host::{Host, RealClock};
use common::saves::TempDir;
use ndb::config::LogFsync;

fn host(dir: &TempDir, fsync: LogFsync) -> Host<RealClock> {
    let mut host = Host::real(common::config().persist(true, dir.path()).log(true, fsync));
    let now = host.now();
    let replayed = host.server_mut().open_log(now).expect("the log opens");
    assert!(replayed.is_some());
    host
}

#[test]
fn writes_fail_with_206_while_the_log_cannot_be_written_and_resume_by_themselves() {
    let dir = TempDir::new("log-206");
    let mut host = host(&dir, LogFsync::Always);
    let mut writer = host.open();
    let mut other = host.open();
    assert_eq!(host.call(&mut writer, r#"{"KV_SET":{"keys":{"x":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);

    host.server().inject_log_failure(true);
    writer.send(r#"{"KV_SET":{"keys":{"y":2}}}"#);
    // The other connection is served meanwhile; once the log thread has
    // failed, SV_INFO says why.
    let info = host.drive("the log failing", |h| {
        let info = h.call_json(&mut other, r#"{"SV_INFO":{}}"#);
        info["SV_INFO_RSP"]["log"]["error"].as_str().map(str::to_owned)
    });
    assert!(info.contains("injected"), "{info}");
    assert!(host.nothing_for(&mut writer), "the write's reply came before it was durable");
    assert_eq!(
        host.call(&mut other, r#"{"KV_SET":{"keys":{"z":3}}}"#),
        r#"{"KV_SET_RSP":{"m":"The durable log cannot be written; nothing changed","st":206,"tkn":null}}"#
    );
    assert_eq!(
        host.call(&mut other, r#"{"SH_NEW":{}}"#),
        r#"{"SH_NEW_RSP":{"m":"The durable log cannot be written; nothing changed","st":206,"tkn":null}}"#
    );
    assert_eq!(host.call(&mut other, r#"{"KV_GET":{"keys":["x","z"]}}"#), r#"{"KV_GET_RSP":{"keys":{"x":1},"st":1}}"#);
    assert_eq!(
        host.call(&mut other, r#"{"SH_INFO_ALL":{}}"#),
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":0}}"#
    );

    host.server().inject_log_failure(false);
    assert_eq!(host.text(&mut writer), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut other, r#"{"KV_SET":{"keys":{"z":3}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let info = host.call_json(&mut other, r#"{"SV_INFO":{}}"#);
    assert_eq!(info["SV_INFO_RSP"]["log"]["error"], serde_json::Value::Null, "{info}");
    assert_eq!(info["SV_INFO_RSP"]["log"]["fsync"], "always", "{info}");
    drop(host);

    // Everything acknowledged is in the log; what was refused is not.
    let mut again = self::host(&dir, LogFsync::Always);
    let mut peer = again.open();
    assert_eq!(
        again.call(&mut peer, r#"{"KV_GET":{"keys":["x","y","z"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"x":1,"y":2,"z":3},"st":1}}"#
    );
    assert_eq!(
        again.call(&mut peer, r#"{"SH_INFO_ALL":{}}"#),
        r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":0}}"#
    );
}

#[test]
fn reads_are_answered_while_a_write_waits_for_its_fsync() {
    let dir = TempDir::new("log-reads");
    let mut host = host(&dir, LogFsync::Always);
    let mut writer = host.open();
    let mut reader = host.open();
    assert_eq!(host.call(&mut writer, r#"{"KV_SET":{"keys":{"k":"v"}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    // A stalled disk: the write waits, reads do not.
    host.server().inject_log_failure(true);
    writer.send(r#"{"KV_SET":{"keys":{"k":"w"}}}"#);
    writer.send(r#"{"KV_COUNT":{}}"#);
    for _ in 0..20 {
        assert_eq!(host.call(&mut reader, r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    }
    assert!(host.nothing_for(&mut writer));
    host.server().inject_log_failure(false);
    // Its replies come in order once the write is durable.
    assert_eq!(host.text(&mut writer), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.text(&mut writer), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn without_the_log_asked_for_nothing_is_written_and_sv_info_is_unchanged() {
    let dir = TempDir::new("log-off");
    let mut host = Host::real(common::config().persist(true, dir.path()));
    let now = host.now();
    assert_eq!(host.server_mut().open_log(now).unwrap(), None);
    let mut peer = host.open();
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let info = host.call_json(&mut peer, r#"{"SV_INFO":{}}"#);
    assert!(info["SV_INFO_RSP"].get("log").is_none(), "{info}");
    assert!(!dir.path().join("log").exists());
}

#[test]
fn with_the_log_asked_for_writes_wait_for_it_to_be_opened() {
    let dir = TempDir::new("log-unopened");
    let mut host = Host::real(common::config().persist(true, dir.path()).log(true, LogFsync::EverySec));
    let mut peer = host.open();
    let reply = host.call(&mut peer, r#"{"KV_SET":{"keys":{"k":1}}}"#);
    assert!(reply.contains(r#""st":206"#), "{reply}");
    let now = host.now();
    host.server_mut().open_log(now).unwrap();
    host.turn(Duration::ZERO);
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
}

#[test]
fn a_kv_load_is_in_the_log_in_its_place_among_other_writes() {
    let dir = TempDir::new("log-load");
    let mut host = host(&dir, LogFsync::Always);
    let mut peer = host.open();
    let keys: String = (0..3_000).map(|i| format!(r#""k{i}":{i}"#)).collect::<Vec<_>>().join(",");
    assert_eq!(host.call(&mut peer, &format!(r#"{{"KV_SET":{{"keys":{{{keys}}}}}}}"#)), r#"{"KV_SET_RSP":{"st":1}}"#);
    let saved = host.call_json(&mut peer, r#"{"KV_SAVE":{"name":"s"}}"#);
    assert_eq!(saved["KV_SAVE_RSP"]["st"], 121, "{saved}");
    assert_eq!(host.call(&mut peer, r#"{"KV_CLEAR":{}}"#), r#"{"KV_CLEAR_RSP":{"cnt":3000,"st":1}}"#);
    assert_eq!(
        host.call(&mut peer, r#"{"KV_SET":{"keys":{"other":true,"k5":"before"}}}"#),
        r#"{"KV_SET_RSP":{"st":1}}"#
    );
    // Into a store that has keys: merged in steps, recorded when it takes
    // effect, from frames the save thread encoded.
    let loaded = host.call_json(&mut peer, r#"{"KV_LOAD":{"name":"s"}}"#);
    assert_eq!(loaded["KV_LOAD_RSP"]["st"], 141, "{loaded}");
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k7":"after"}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    drop(host);

    let mut again = self::host(&dir, LogFsync::Always);
    let mut peer = again.open();
    assert_eq!(again.call(&mut peer, r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":3001,"st":1}}"#);
    assert_eq!(
        again.call(&mut peer, r#"{"KV_GET":{"keys":["k5","k7","k2999","other"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"k5":5,"k7":"after","k2999":2999,"other":true},"st":1}}"#
    );
}

#[test]
fn an_sh_get_that_extends_its_session_is_answered_once_the_new_deadline_is_durable() {
    let dir = TempDir::new("log-extend");
    let mut host = host(&dir, LogFsync::Always);
    let mut reader = host.open();
    let mut other = host.open();
    let expiry = r#"{"expiry":{"duration":600,"deleteSession":false,"extendOnGet":true}}"#;
    let created = host.call_json(&mut reader, &format!(r#"{{"SH_NEW":{expiry}}}"#));
    let token = created["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    let set = format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"k":1}}}}}}"#);
    assert_eq!(host.call_json(&mut reader, &set)["SH_SET_RSP"]["st"], 1);
    let plain = host.call_json(&mut other, r#"{"SH_NEW":{}}"#);
    let plain_token = plain["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    // Deadlines are kept in whole milliseconds: an SH_GET in the same
    // millisecond as the SH_NEW would not move it, and records nothing.
    // Serve on until the clock has moved past it.
    let created_by = host.now();
    host.run_until("the clock to move on a few milliseconds", |h| h.now() >= created_by + Duration::from_millis(3));

    // A stalled disk: the extension's record cannot be synced, so the
    // SH_GET's reply waits for it, as a write's would.
    host.server().inject_log_failure(true);
    reader.send(&format!(r#"{{"SH_GET":{{"tkn":{token},"keys":["k"]}}}}"#));
    host.drive("the log failing", |h| {
        let info = h.call_json(&mut other, r#"{"SV_INFO":{}}"#);
        info["SV_INFO_RSP"]["log"]["error"].as_str().map(str::to_owned)
    });
    assert!(host.nothing_for(&mut reader), "the SH_GET's reply came before its extension was durable");
    // A read of a session that does not extend is answered meanwhile.
    let get = format!(r#"{{"SH_INFO":{{"tkn":{plain_token}}}}}"#);
    assert_eq!(host.call_json(&mut other, &get)["SH_INFO_RSP"]["st"], 1);

    host.server().inject_log_failure(false);
    let reply = host.text(&mut reader);
    assert!(reply.contains(r#""keys":{"k":1}"#) && reply.contains(r#""st":1"#), "{reply}");
}

#[test]
fn a_client_that_stops_reading_while_its_replies_are_held_is_cut_at_max_output_bytes() {
    let dir = TempDir::new("log-held-cut");
    let mut config = common::config().persist(true, dir.path()).log(true, LogFsync::Always);
    config.output_pause_bytes = 4096;
    config.max_output_bytes = 4096;
    let mut host = Host::real(config);
    let now = host.now();
    host.server_mut().open_log(now).expect("the log opens");
    let mut slow = host.open();
    let mut other = host.open();
    // A stalled disk: every reply of the slow client stays held in its
    // socket, and it reads none of them.
    host.server().inject_log_failure(true);
    let writes = 500;
    for i in 0..writes {
        slow.send(&format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#));
    }
    host.drive("the log failing", |h| {
        let info = h.call_json(&mut other, r#"{"SV_INFO":{}}"#);
        info["SV_INFO_RSP"]["log"]["error"].as_str().map(str::to_owned)
    });
    for _ in 0..50 {
        host.turn(Duration::from_millis(1));
    }
    // The held replies are the connection's output: counted toward the
    // memory cap (and SV_CLIENTS), and toward maxOutputBytes.
    let held = host.server().pending_output_bytes();
    assert!(held > 0, "the held replies are not counted");
    assert!(held < 2 * 4096, "{held} bytes held past the cap");
    host.server().inject_log_failure(false);
    let (mut replies, mut code) = (0, None);
    while let Some((opcode, payload)) = host.frame(&mut slow) {
        match opcode {
            1 => replies += 1,
            8 => {
                code = Some(u16::from_be_bytes([payload[0], payload[1]]));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(code, Some(1008), "after {replies} replies");
    assert!(replies > 0 && replies < writes, "{replies} replies of {writes} before the cut");
    // Everyone else is served as before.
    assert_eq!(host.call(&mut other, r#"{"KV_SET":{"keys":{"x":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
}
