//! Wire compatibility with the NemesisDB Python clients: `tests/python/
//! compat.py` drives a real server through the `websockets` library exactly
//! as the clients do.
//!
//! Needs `python3` with `websockets` ≥ 14 (`pip install websockets`). When
//! they are missing the test says so and passes, unless
//! `NDB_REQUIRE_PYTHON=1` is set, as CI does.

mod common;

use std::process::Command;

fn compat(server: &common::TestServer, sections: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/compat.py");
    let out = Command::new("python3").arg(script).arg(server.url()).args(sections).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compat.py {sections:?} failed:\n{stdout}\n{stderr}");
    for section in sections {
        assert!(stdout.contains(&format!("{section}: ok")), "{stdout}");
    }
}

#[test]
fn python_client_kv_and_sv_calls() {
    if common::python::websockets_ready() {
        compat(&common::start(), &["kv", "sv"]);
    }
}

#[test]
fn python_client_session_calls() {
    if common::python::websockets_ready() {
        compat(&common::start(), &["sh"]);
    }
}

/// The 0.7.4 client's `kv_save`/`sh_save` demand 121: the default
/// numbering.
#[test]
fn python_client_saves_and_loads() {
    if common::python::websockets_ready() {
        let dir = common::saves::TempDir::new("python-saves");
        compat(&common::start_with(common::config().persist(true, dir.path())), &["save"]);
    }
}

/// The 0.9 `KV` class's `save` demands 120: `--protocol 0.9`.
#[test]
fn python_09_client_saves_and_loads() {
    if common::python::websockets_ready() {
        let dir = common::saves::TempDir::new("python-saves-09");
        let config = common::config().persist(true, dir.path()).protocol(ndb::Protocol::V09);
        compat(&common::start_with(config), &["save09"]);
    }
}

/// The reply-size recipe of docs/clients.md, taken from the page itself:
/// without it a client shaped like NemesisDB's hangs on a 1.2 MB reply
/// (websockets' 1 MiB `max_size`), with it the reply arrives whole.
#[test]
fn python_client_large_reply_recipe() {
    if !common::python::websockets_ready() {
        return;
    }
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/clients.md")).unwrap();
    let recipe = page
        .split("```python\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(code, _)| code))
        .find(|code| code.contains("ndb.connection.connect ="))
        .expect("docs/clients.md has the recipe");
    let recipe_file = std::env::temp_dir().join(format!("ndb-recipe-{}.py", std::process::id()));
    std::fs::write(&recipe_file, recipe).unwrap();
    let server = common::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/large_replies.py");
    for args in [vec!["hang"], vec!["recipe", recipe_file.to_str().unwrap()]] {
        let out = Command::new("python3").arg(script).arg(server.url()).args(&args).output().expect("run python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "large_replies.py {args:?} failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains(&format!("{}: ok", args[0])), "{stdout}");
    }
    let _ = std::fs::remove_file(&recipe_file);
}
