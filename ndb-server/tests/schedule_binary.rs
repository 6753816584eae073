//! Scheduled saves through the `ndb-server` binary: with `--save-every`,
//! a KV save and a session save appear under `--save-name` on their own,
//! `--save-keep` bounds how many stay, and a restart with `--loadName`
//! loads the newest.

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::saves::{TempDir, stamps};

/// A server process, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndb-server"))
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .args(["--port", "0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines.next().unwrap_or_else(|| panic!("no start-up line; before: {before:?}")).unwrap();
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        before.push(line);
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_scheduled_save_appears_by_itself_and_loads_with_load_name() {
    let dir = TempDir::new("sched-binary");
    let path = dir.path().to_str().unwrap().to_owned();
    let (server, addr) = spawn(&["--persist-path", &path, "--save-every", "1:2", "--save-keep", "1"]);
    let mut client = common::Client::connect(addr);
    let info = client.call_json(r#"{"SV_INFO":{}}"#);
    assert_eq!(info["SV_INFO_RSP"]["scheduledSave"]["status"], "none", "{info}");
    assert_eq!(info["SV_INFO_RSP"]["scheduledSave"]["name"], "auto", "{info}");
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"a":1,"b":"two"}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let token =
        client.call_json(r#"{"SH_NEW":{"expiry":{"duration":600,"deleteSession":false}}}"#)["SH_NEW_RSP"]["tkn"]
            .as_u64()
            .unwrap();
    let set = format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"user":"ann"}}}}}}"#);
    assert_eq!(client.call_json(&set)["SH_SET_RSP"]["st"], 1);
    wait_for("the first scheduled save", || {
        client.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["scheduledSave"]["status"] == "complete"
    });
    assert_eq!(stamps(dir.path(), "auto").len(), 2, "a KV save and a session save");

    // Two more changes: the next save, and only the newest of each kind
    // stays (--save-keep 1).
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"c":3}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_RMV":{"keys":["a"]}}"#), r#"{"KV_RMV_RSP":{"st":1}}"#);
    let first = stamps(dir.path(), "auto");
    wait_for("the second scheduled save and its retention", || {
        let now = stamps(dir.path(), "auto");
        now.len() == 2 && now.iter().all(|s| !first.contains(s))
    });
    wait_for("the scheduled save to be reported", || {
        client.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["scheduledSave"]["status"] == "complete"
    });
    drop(client);
    drop(server);

    let (_server, addr) = spawn(&["--persist-path", &path, "--loadName", "auto"]);
    let mut client = common::Client::connect(addr);
    assert_eq!(
        client.call(r#"{"KV_GET":{"keys":["a","b","c"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"b":"two","c":3},"st":1}}"#
    );
    let get = format!(r#"{{"SH_GET":{{"tkn":{token},"keys":["user"]}}}}"#);
    let reply = client.call(&get);
    assert!(reply.contains(r#""user":"ann""#), "{reply}");
}
