//! Scheduled saves (`persist.saveEvery`) through a real server on a real
//! socket, its timer driven by the virtual clock: a rule's interval and
//! its number of changes must both be met, several rules act as Redis's
//! `save` lines, `persist.keep` deletes only older complete saves of the
//! name (never a link, a foreign entry or an incomplete stamp), and a save
//! taken while a client writes holds one moment of the data.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::host::VirtualHost as Host;
use common::saves::{TempDir, stamps};
use ndb::config::SaveRule;
use serde_json::Value;

fn rule(seconds: u64, changes: u64) -> SaveRule {
    SaveRule { every: Duration::from_secs(seconds), changes }
}

fn host(dir: &TempDir, rules: Vec<SaveRule>, keep: usize) -> Host {
    let mut config = common::config().persist(true, dir.path());
    config.save_every = rules;
    config.save_name = "auto".to_owned();
    config.save_keep = keep;
    Host::start(config)
}

fn scheduled(host: &mut Host, peer: &mut common::host::Peer) -> Value {
    host.call_json(peer, r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["scheduledSave"].clone()
}

/// Runs turns (the clock standing still) until the scheduled save under
/// way has ended, and says how.
fn wait_for_save(host: &mut Host, peer: &mut common::host::Peer) -> String {
    host.drive("the scheduled save to end", |h| {
        let status = scheduled(h, peer)["status"].as_str().unwrap_or("").to_owned();
        (status != "running").then_some(status)
    })
}

/// The kind (`saveDataType`) of each complete stamp of `name`, oldest
/// first.
fn kinds(root: &Path, name: &str) -> Vec<u64> {
    stamps(root, name).iter().map(|stamp| metadata(stamp)["saveDataType"].as_u64().unwrap_or(9)).collect()
}

fn metadata(stamp: &Path) -> Value {
    let text = std::fs::read_to_string(stamp.join("md/md.json")).expect("md.json");
    serde_json::from_str(&text).expect("md.json is JSON")
}

/// The keys of a KV save's stamp.
fn saved_keys(stamp: &Path) -> serde_json::Map<String, Value> {
    let mut keys = serde_json::Map::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(stamp.join("data")).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        keys.extend(doc["keys"].as_object().unwrap().clone());
    }
    keys
}

#[test]
fn a_save_comes_once_the_interval_has_passed_with_enough_changes() {
    let dir = TempDir::new("sched-rule");
    let mut host = host(&dir, vec![rule(60, 3)], 5);
    let mut peer = host.open();
    assert_eq!(scheduled(&mut host, &mut peer)["status"], "none");
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"a":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"b":2}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    // A failed write is no change.
    assert!(host.call(&mut peer, r#"{"KV_SET":{"keys":"nope"}}"#).contains(r#""st":"#));
    // The interval passes with two changes of the three needed: no save.
    host.advance(Duration::from_secs(61));
    host.settle();
    assert_eq!(scheduled(&mut host, &mut peer)["changes"], 2);
    assert!(stamps(dir.path(), "auto").is_empty());
    // The third change makes it due at once.
    let created = host.call(&mut peer, r#"{"SH_NEW":{"expiry":{"duration":0,"deleteSession":false}}}"#);
    assert!(created.contains(r#""st":1"#), "{created}");
    host.advance(Duration::ZERO);
    assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
    let info = scheduled(&mut host, &mut peer);
    assert!(info["lastTime"].as_u64().unwrap() > 1_700_000_000_000, "{info}");
    assert_eq!(info["changes"], 0, "{info}");
    assert_eq!(info["name"], "auto", "{info}");
    // A KV save and a session save, in NemesisDB's format.
    assert_eq!(kinds(dir.path(), "auto"), [0, 1]);
    let kv = &stamps(dir.path(), "auto")[0];
    assert_eq!(metadata(kv)["status"], 1);
    assert_eq!(metadata(kv)["name"], "auto");
    assert_eq!(Value::Object(saved_keys(kv)), serde_json::json!({"a": 1, "b": 2}));
    // SV_INFO's lastSave says so too, as after a client's save.
    let info = host.call_json(&mut peer, r#"{"SV_INFO":{}}"#);
    assert_eq!(info["SV_INFO_RSP"]["lastSave"]["name"], "auto", "{info}");

    // Three more changes right away: the interval counts from the last
    // save's start.
    for k in ["c", "d", "e"] {
        assert_eq!(
            host.call(&mut peer, &format!(r#"{{"KV_SET":{{"keys":{{"{k}":0}}}}}}"#)),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
    host.advance(Duration::from_secs(30));
    host.settle();
    assert_eq!(scheduled(&mut host, &mut peer)["status"], "complete");
    assert_eq!(stamps(dir.path(), "auto").len(), 2);
    // The server's poll timeout leads the host to the rule's deadline.
    let moved = host.advance_to_next_deadline().expect("a deadline");
    assert!(moved <= Duration::from_secs(30), "{moved:?}");
    assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
    assert_eq!(kinds(dir.path(), "auto"), [0, 1, 0, 1]);
    assert_eq!(saved_keys(&stamps(dir.path(), "auto")[2]).len(), 5);
}

#[test]
fn several_rules_act_as_redis_save_lines() {
    let dir = TempDir::new("sched-rules");
    // `save 900 1 10 100`.
    let mut host = host(&dir, vec![rule(900, 1), rule(10, 100)], 5);
    let mut peer = host.open();
    for i in 0..99 {
        assert_eq!(
            host.call(&mut peer, &format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#)),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
    host.advance(Duration::from_secs(10));
    host.settle();
    assert!(stamps(dir.path(), "auto").is_empty(), "99 changes in 10 s are not enough for the 10 s rule");
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k99":99}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    host.advance(Duration::ZERO);
    assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
    assert_eq!(stamps(dir.path(), "auto").len(), 2);

    // One change: only the 900 s rule takes it, 900 s after that save.
    assert_eq!(host.call(&mut peer, r#"{"KV_RMV":{"keys":["k0"]}}"#), r#"{"KV_RMV_RSP":{"st":1}}"#);
    host.advance(Duration::from_secs(899));
    host.settle();
    assert_eq!(stamps(dir.path(), "auto").len(), 2);
    host.advance(Duration::from_secs(1));
    assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
    assert_eq!(stamps(dir.path(), "auto").len(), 4);
    assert_eq!(saved_keys(&stamps(dir.path(), "auto")[2]).len(), 99);
    // With no change, no save however long it waits.
    host.advance(Duration::from_secs(3600));
    host.settle();
    assert_eq!(stamps(dir.path(), "auto").len(), 4);
}

#[test]
fn keep_deletes_older_complete_saves_of_the_name_and_nothing_else() {
    let dir = TempDir::new("sched-keep");
    let outside = TempDir::new("sched-keep-outside");
    let mut host = host(&dir, vec![rule(5, 1)], 2);
    let mut peer = host.open();
    // A client's save under another name and things planted under the
    // scheduled name: a link whose name is a stamp, older than anything,
    // to a directory outside holding a complete save's metadata; a file;
    // an incomplete stamp.
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"gen":0}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let saved = host.call_json(&mut peer, r#"{"KV_SAVE":{"name":"mine"}}"#);
    assert_eq!(saved["KV_SAVE_RSP"]["st"], 121, "{saved}");
    let name_dir = dir.path().join("auto");
    std::fs::create_dir_all(outside.path().join("md")).unwrap();
    let complete = r#"{"complete":1,"name":"auto","saveDataType":0,"start":1,"status":1,"version":2}"#;
    std::fs::write(outside.path().join("md/md.json"), complete).unwrap();
    std::fs::create_dir_all(outside.path().join("data")).unwrap();
    std::fs::create_dir_all(&name_dir).unwrap();
    std::os::unix::fs::symlink(outside.path(), name_dir.join("0000000000000000001")).unwrap();
    std::fs::write(name_dir.join("0000000000000000002"), "not a save").unwrap();
    std::fs::create_dir_all(name_dir.join("0000000000000000003/md")).unwrap();
    std::fs::write(
        name_dir.join("0000000000000000003/md/md.json"),
        r#"{"complete":0,"name":"auto","saveDataType":0,"start":1,"status":0,"version":2}"#,
    )
    .unwrap();

    let mut kept = Vec::new();
    for generation in 1..=4 {
        let set = format!(r#"{{"KV_SET":{{"keys":{{"gen":{generation}}}}}}}"#);
        assert_eq!(host.call(&mut peer, &set), r#"{"KV_SET_RSP":{"st":1}}"#);
        host.advance(Duration::from_secs(5));
        assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
        // The prune that follows is part of it: 3 planted entries, then at
        // most 2 saves of each kind.
        kept = stamps(dir.path(), "auto");
        let pruned = Some(()).filter(|()| kept.len() == 3 + 2 * generation.min(2));
        assert!(pruned.is_some(), "after save {generation}: {kept:?}");
    }
    // The planted entries (stamps 1, 2, 3), and the newest two saves of
    // each kind: generations 3 and 4.
    let names: Vec<String> = kept.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(&names[..3], ["0000000000000000001", "0000000000000000002", "0000000000000000003"], "{names:?}");
    let saves = &kept[3..];
    assert_eq!(saves.len(), 4, "{names:?}");
    let kinds: Vec<u64> = saves.iter().map(|s| metadata(s)["saveDataType"].as_u64().unwrap()).collect();
    assert_eq!(kinds, [0, 1, 0, 1]);
    let gens: Vec<Value> = saves.iter().step_by(2).map(|s| saved_keys(s)["gen"].clone()).collect();
    assert_eq!(gens, [3, 4], "{names:?}");
    // Nothing outside was touched, the link is a link still, the client's
    // save is there, and nothing half-deleted is left behind.
    assert!(outside.path().join("md/md.json").is_file());
    assert!(std::fs::symlink_metadata(name_dir.join("0000000000000000001")).unwrap().file_type().is_symlink());
    assert_eq!(stamps(dir.path(), "mine").len(), 1);
    let partials = std::fs::read_dir(&name_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"));
    assert_eq!(partials.count(), 0);
    // The newest save loads.
    assert_eq!(host.call(&mut peer, r#"{"KV_CLEAR":{}}"#), r#"{"KV_CLEAR_RSP":{"cnt":1,"st":1}}"#);
    let loaded = host.call_json(&mut peer, r#"{"KV_LOAD":{"name":"auto"}}"#);
    assert_eq!(loaded["KV_LOAD_RSP"]["st"], 141, "{loaded}");
    assert_eq!(host.call(&mut peer, r#"{"KV_GET":{"keys":["gen"]}}"#), r#"{"KV_GET_RSP":{"keys":{"gen":4},"st":1}}"#);
}

#[test]
fn a_scheduled_save_during_client_writes_holds_one_moment_of_the_data() {
    let dir = TempDir::new("sched-moment");
    let mut host = host(&dir, vec![rule(1, 1)], 5);
    let mut peer = host.open();
    // 5,000 keys: the snapshot takes five turns (1,024 keys each), and a
    // write of every key lands between each two.
    let set = |generation: u64| {
        let keys: Vec<String> = (0..5_000).map(|i| format!(r#""k{i}":{generation}"#)).collect();
        format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(","))
    };
    assert_eq!(host.call(&mut peer, &set(0)), r#"{"KV_SET_RSP":{"st":1}}"#);
    host.skip(Duration::from_secs(1));
    let mut generation = 0;
    let status = loop {
        generation += 1;
        assert_eq!(host.call(&mut peer, &set(generation)), r#"{"KV_SET_RSP":{"st":1}}"#);
        let status = scheduled(&mut host, &mut peer)["status"].as_str().unwrap().to_owned();
        if status != "running" && generation > 1 {
            break status;
        }
        assert!(generation < 10_000, "the save never ended");
    };
    assert_eq!(status, "complete");
    assert!(generation >= 3, "the save ended before writes could land during its snapshot ({generation} writes)");
    let keys = saved_keys(&stamps(dir.path(), "auto")[0]);
    assert_eq!(keys.len(), 5_000);
    let first = keys["k0"].clone();
    assert!(keys.values().all(|v| *v == first), "the save mixes generations");
    // The moment is the save's start: the first write after it was due.
    assert_eq!(first, 1, "saved generation {first}");
}

#[test]
fn a_failed_scheduled_save_is_tried_again_after_the_retry_delay_its_changes_still_counted() {
    let dir = TempDir::new("sched-retry");
    let mut host = host(&dir, vec![rule(10, 1)], 5);
    let mut peer = host.open();
    // A file where the name's directory should be: the save cannot be
    // written (122).
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("auto"), "in the way").unwrap();
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    host.advance(Duration::from_secs(10));
    assert_eq!(wait_for_save(&mut host, &mut peer), "failed");
    let info = scheduled(&mut host, &mut peer);
    assert_eq!(info["changes"], 1, "the failed save's changes still count: {info}");
    let last = host.call_json(&mut peer, r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["lastSave"].clone();
    assert_eq!(last["status"], 122, "{last}");

    std::fs::remove_file(dir.path().join("auto")).unwrap();
    // Not before the retry delay (5 s)...
    host.advance(Duration::from_secs(4));
    host.settle();
    assert_eq!(scheduled(&mut host, &mut peer)["status"], "failed");
    assert!(stamps(dir.path(), "auto").is_empty());
    // ...then at once: the rule's interval still counts from the last
    // save that was written (the start), and its change is still there.
    host.advance(Duration::from_secs(1));
    assert_eq!(wait_for_save(&mut host, &mut peer), "complete");
    assert_eq!(kinds(dir.path(), "auto"), [0, 1]);
}
