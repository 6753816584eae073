//! Wire compatibility with the NemesisDB Python clients: `tests/python/
//! compat.py` drives a real server through the `websockets` library exactly
//! as the clients do.
//!
//! Needs `python3` with `websockets` ≥ 14 (`pip install websockets`). When
//! they are missing the test says so and passes, unless
//! `NDB_REQUIRE_PYTHON=1` is set, as CI does.

mod common;

use std::process::Command;

fn python_ready() -> bool {
    let probe = Command::new("python3").args(["-c", "import websockets.asyncio.client"]).output();
    let ready = probe.is_ok_and(|out| out.status.success());
    if !ready {
        assert!(
            std::env::var("NDB_REQUIRE_PYTHON").is_err(),
            "python3 with websockets >= 14 is required (pip install websockets)"
        );
        eprintln!("SKIPPED: python3 with websockets >= 14 not found (pip install websockets)");
    }
    ready
}

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
    if python_ready() {
        compat(&common::start(), &["kv", "sv"]);
    }
}

#[test]
fn python_client_session_calls() {
    if python_ready() {
        compat(&common::start(), &["sh"]);
    }
}

/// The 0.7.4 client's `kv_save`/`sh_save` demand 121: the default
/// numbering.
#[test]
fn python_client_saves_and_loads() {
    if python_ready() {
        let dir = common::saves::TempDir::new("python-saves");
        compat(&common::start_with(common::config().persist(true, dir.path())), &["save"]);
    }
}

/// The 0.9 `KV` class's `save` demands 120: `--protocol 0.9`.
#[test]
fn python_09_client_saves_and_loads() {
    if python_ready() {
        let dir = common::saves::TempDir::new("python-saves-09");
        let config = common::config().persist(true, dir.path()).protocol(ndb::Protocol::V09);
        compat(&common::start_with(config), &["save09"]);
    }
}
