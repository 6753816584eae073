//! Operating `ndb-server` from the docs: the restart recipe of
//! `docs/operations.md` on an empty directory and over an existing save,
//! warnings for misspelled config members, the offline save checker, and
//! the start, save and load log lines.

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::saves::{TempDir, fixtures, stamps};

fn ndb_server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ndb-server"));
    command.env("RUST_LOG", "info").env("RUST_LOG_STYLE", "never");
    command
}

/// A running server: the child, its address, the lines logged up to and
/// including the start line, and the lines after it as they come.
struct Running {
    child: Child,
    addr: SocketAddr,
    before: Vec<String>,
    after: mpsc::Receiver<String>,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = ndb_server().args(["--port", "0"]).args(args).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let addr = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        before.push(line.clone());
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    let (tx, after) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Running { child, addr, before, after }
}

impl Running {
    /// SIGTERM, then the exit code and every line logged after the start.
    fn stop(mut self) -> (i32, Vec<String>) {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        let mut lines = Vec::new();
        while let Ok(line) = self.after.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        (code, lines)
    }

    /// The next logged line containing `text`.
    fn wait_for(&self, text: &str) -> String {
        loop {
            let line = self.after.recv_timeout(Duration::from_secs(10)).expect("the log line");
            if line.contains(text) {
                return line;
            }
        }
    }
}

/// Runs to completion; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = ndb_server().args(args).output().expect("run ndb-server");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The restart recipe, as `docs/operations.md` gives it (the persist path
/// being a temporary directory here).
fn recipe(saves: &Path) -> Vec<String> {
    let doc = include_str!("../../docs/operations.md");
    let line = doc.lines().find(|l| l.starts_with("ndb-server --persist-path /var/lib/ndb")).expect("the recipe");
    let args: Vec<String> = line.split('#').next().unwrap().split_whitespace().skip(1).map(str::to_owned).collect();
    assert_eq!(args, ["--persist-path", "/var/lib/ndb", "--load-on-start", "ndb", "--save-on-exit", "ndb"]);
    args.into_iter().map(|a| if a == "/var/lib/ndb" { saves.display().to_string() } else { a }).collect()
}

#[test]
fn the_restart_recipe_starts_empty_then_keeps_its_data() {
    let dir = TempDir::new("recipe-empty");
    let saves = dir.path().join("lib");
    let args = recipe(&saves);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // A fresh machine: nothing to load, nothing changed, nothing written.
    let server = spawn(&args);
    assert!(server.before.iter().any(|l| l.contains("no save named \"ndb\"") && l.contains("starting empty")));
    let (code, log) = server.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(log.iter().any(|l| l.contains("nothing changed since start: not writing the save \"ndb\"")), "{log:?}");
    assert!(stamps(&saves, "ndb").is_empty(), "no empty save on a fresh start");

    // Data written, then saved on exit.
    let server = spawn(&args);
    let mut client = common::Client::connect(server.addr);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"a":1,"b":[true]}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let (code, log) = server.stop();
    assert_eq!(code, 0);
    let wrote = log.iter().find(|l| l.contains("save on exit \"ndb\": wrote the KV save (2 keys)")).expect("logged");
    assert!(wrote.contains(&saves.display().to_string()) && wrote.ends_with(" ms"), "{wrote}");
    assert_eq!(stamps(&saves, "ndb").len(), 2, "a KV save and a session save");

    // Restarted: the data is back; stopped with no key or session changed
    // (arrays and lists written only: they are in no save), the save stays
    // the newest and nothing new is written.
    let server = spawn(&args);
    let loaded = server.before.iter().find(|l| l.contains("loaded the KV save \"ndb\"")).expect("logged");
    assert!(loaded.contains("2 keys") && loaded.contains(" ms"), "{loaded}");
    let mut client = common::Client::connect(server.addr);
    assert_eq!(client.call(r#"{"KV_GET":{"keys":["b"]}}"#), r#"{"KV_GET_RSP":{"keys":{"b":[true]},"st":1}}"#);
    assert_eq!(client.call(r#"{"IARR_CREATE":{"name":"a","len":2}}"#), r#"{"IARR_CREATE_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"IARR_SET":{"name":"a","item":7}}"#), r#"{"IARR_SET_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"l"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    let (code, log) = server.stop();
    assert_eq!(code, 0);
    assert!(log.iter().any(|l| l.contains("nothing changed since start: not writing the save \"ndb\"")), "{log:?}");
    assert_eq!(stamps(&saves, "ndb").len(), 2);

    // Cleared on purpose: that is a change, and it is saved.
    let server = spawn(&args);
    let mut client = common::Client::connect(server.addr);
    assert_eq!(client.call(r#"{"KV_CLEAR":{}}"#), r#"{"KV_CLEAR_RSP":{"cnt":2,"st":1}}"#);
    assert_eq!(server.stop().0, 0);
    assert_eq!(stamps(&saves, "ndb").len(), 4);
    let server = spawn(&args);
    let mut client = common::Client::connect(server.addr);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    assert_eq!(server.stop().0, 0);
}

#[test]
fn the_restart_recipe_loads_an_existing_save_and_stops_on_a_damaged_one() {
    let dir = TempDir::new("recipe-existing");
    let saves = dir.path().join("lib");
    // A NemesisDB save, named as the recipe names it.
    copy_dir(&fixtures().join("kv_sample"), &saves.join("ndb"));
    let args = recipe(&saves);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = spawn(&args);
    let mut client = common::Client::connect(server.addr);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":10,"st":1}}"#);
    assert_eq!(server.stop().0, 0);
    assert_eq!(stamps(&saves, "ndb").len(), 1, "untouched: not saved again");

    // A damaged save is not "absent": the start stops, once, saying why.
    std::fs::write(stamps(&saves, "ndb")[0].join("data/0"), "{ \"keys\":{\"a\":").unwrap();
    let out = ndb_server().args(["--port", "0"]).args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("/data/0 is damaged").count(), 1, "printed once: {err}");
    assert!(err.lines().last().unwrap().starts_with("ndb-server: cannot load \"ndb\": "), "{err}");
}

#[test]
fn misspelled_config_members_get_one_warning_each() {
    let dir = TempDir::new("config-warnings");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("ndb.jsonc");
    let text = r#"{"version": 6, "maxPayLoad": 4096, "idle_timeout": 3, "sessionsEnabled": true,
        "arrays": {"maxCapacity": 10000, "maxResponseSize": 10000}, "lists": {"maxResponseSize": 10000},
        "persist": {"enabled": true, "pth": "./x"}}"#;
    std::fs::write(&file, text).unwrap();
    let server = spawn(&["--config", file.to_str().unwrap()]);
    let warnings: Vec<&String> = server.before.iter().filter(|l| l.contains("WARN")).collect();
    let file = file.display();
    assert_eq!(
        warnings.iter().map(|l| l.split("] ").nth(1).unwrap()).collect::<Vec<_>>(),
        [
            format!(
                r#"config file {file}: unknown member "idle_timeout" ignored (the nearest known one is "idleTimeout")"#
            ),
            format!(
                r#"config file {file}: unknown member "maxPayLoad" ignored (the nearest known one is "maxPayload")"#
            ),
            format!(
                r#"config file {file}: unknown member "persist.pth" ignored (the nearest known one is "persist.path")"#
            ),
        ],
        "{:?}",
        server.before
    );
    assert_eq!(server.stop().0, 0);
}

#[test]
fn the_start_line_names_version_address_protocol_saves_and_pid() {
    let dir = TempDir::new("start-line");
    let saves = dir.path().join("s");
    let server = spawn(&["--protocol", "0.9", "--persist-path", saves.to_str().unwrap()]);
    let line = server.before.last().unwrap().clone();
    let expected = format!(
        "ndb {} listening on ws://{}/ (protocol 0.9, saves in {}, pid {}, built-in defaults)",
        ndb::VERSION,
        server.addr,
        saves.display(),
        server.child.id()
    );
    assert!(line.ends_with(&expected), "{line}");
    // A save's line: the command, the name, kind and counts, path, ms.
    let mut client = common::Client::connect(server.addr);
    client.call(r#"{"KV_SET":{"keys":{"a":1,"b":2,"c":3}}}"#);
    let reply = client.call(r#"{"KV_SAVE":{"name":"n"}}"#);
    assert!(reply.contains(r#""st":120"#), "{reply}");
    let saved = server.wait_for("KV_SAVE \"n\"");
    assert!(saved.contains(&format!("wrote the KV save (3 keys) in {} in ", saves.display())), "{saved}");
    assert!(saved.ends_with(" ms"), "{saved}");
    client.call(r#"{"KV_LOAD":{"name":"n"}}"#);
    let read = server.wait_for("KV_LOAD \"n\"");
    assert!(read.contains(&format!("read the KV save (3 keys) from {} in ", saves.display())), "{read}");
    assert_eq!(server.stop().0, 0);
}

#[test]
fn the_save_checker_reports_sound_incomplete_and_damaged_saves() {
    let fixtures = fixtures();
    let (code, out, err) = run(&["--check-save", fixtures.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "KV save \"kv_sample\", newest: 10 keys in 1 data files",
        "sessions save \"sessions_sample\", newest: 3 sessions, 5 keys in 1 data files",
        "sessions save \"sessions_selected\", newest: 2 sessions, 4 keys in 1 data files",
        "sessions save \"sessions_v06_style\", newest: 2 sessions, 3 keys in 1 data files",
        ": 4 sound, 0 incomplete, 0 damaged",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    // One name's directory, and one save, work too.
    let (code, out, _) = run(&["--check-save", fixtures.join("kv_sample").to_str().unwrap()]);
    assert_eq!((code, out.lines().count()), (0, 2), "{out}");
    let stamp = &stamps(&fixtures, "sessions_sample")[0];
    let (code, out, _) = run(&["--check-save", stamp.to_str().unwrap()]);
    assert!(code == 0 && out.contains("3 sessions, 5 keys"), "{out}");

    let dir = TempDir::new("check-save");
    let saves = dir.path().join("saves");
    copy_dir(&fixtures, &saves);
    // An interrupted save (status 0), newer than kv_sample's complete one.
    let interrupted = saves.join("kv_sample/1999999999999999999");
    copy_dir(&stamps(&saves, "kv_sample")[0], &interrupted);
    std::fs::write(interrupted.join("md/md.json"), r#"{"name":"kv_sample","saveDataType":0,"status":0}"#).unwrap();
    let (code, out, _) = run(&["--check-save", saves.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("incomplete") && out.contains("its status is 0, not 1 (complete) (loads skip it)"), "{out}");
    assert!(out.contains(": 4 sound, 1 incomplete, 0 damaged"), "{out}");

    // Damaged: a truncated data file, metadata that is not JSON.
    let data = stamps(&saves, "sessions_sample")[0].join("data/0");
    std::fs::write(&data, "[{\"tkn\":1").unwrap();
    std::fs::write(stamps(&saves, "kv_sample")[0].join("md/md.json"), "{nope").unwrap();
    let (code, out, _) = run(&["--check-save", saves.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("DAMAGED    {}", data.parent().unwrap().parent().unwrap().display())), "{out}");
    assert!(out.contains("md.json is damaged: not valid metadata"), "{out}");
    assert!(out.contains(": 2 sound, 1 incomplete, 2 damaged"), "{out}");

    // A persist path whose only save name is all digits is still one.
    let digits = dir.path().join("digits");
    copy_dir(&fixtures.join("kv_sample"), &digits.join("2024"));
    let (code, out, _) = run(&["--check-save", digits.to_str().unwrap()]);
    assert!(code == 0 && out.contains("KV save \"2024\", newest: 10 keys"), "{out}");

    // Nothing to check: exit 1.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out, _) = run(&["--check-save", empty.to_str().unwrap()]);
    assert_eq!((code, out.trim_end()), (1, format!("{}: 0 sound, 0 incomplete, 0 damaged", empty.display()).as_str()));
    let (code, _, err) = run(&["--check-save", "/no/such/dir"]);
    assert_eq!(code, 1);
    assert_eq!(err, "ndb-server: cannot open the directory /no/such/dir: No such file or directory (os error 2)\n");
}
