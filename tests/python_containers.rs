//! The NemesisDB 0.9 Python client's arrays and lists (`ndb.arrays`,
//! `ndb.lists`) against ndb: `tests/python/containers09.py` sends the
//! client's request shapes byte for byte through the `websockets` library
//! and judges the replies as the client does.
//!
//! Needs `python3` with `websockets` ≥ 14 (`pip install websockets`). When
//! they are missing the test says so and passes, unless
//! `NDB_REQUIRE_PYTHON=1` is set, as CI does.

mod common;

use std::process::Command;

fn run(server: &common::TestServer, sections: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/containers09.py");
    let out = Command::new("python3").arg(script).arg(server.url()).args(sections).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "containers09.py {sections:?} failed:\n{stdout}\n{stderr}");
    for section in sections {
        assert!(stdout.contains(&format!("{section}: ok")), "{stdout}");
    }
}

#[test]
fn python_09_client_arrays_and_lists() {
    if common::python::websockets_ready() {
        run(&common::start(), &["arrays", "sorted", "lists"]);
    }
}

/// What the original crashes on or answers wrongly, as the client sees
/// ndb's answers.
#[test]
fn python_09_client_on_requests_the_original_gets_wrong() {
    if common::python::websockets_ready() {
        run(&common::start(), &["fixed"]);
    }
}

/// The same under `--protocol 0.9` and a version-6 config's limits.
#[test]
fn python_09_client_under_protocol_09() {
    if common::python::websockets_ready() {
        let config = common::config()
            .apply_json(r#"{"version":6,"arrays":{"maxCapacity":10000,"maxResponseSize":10000},"lists":{"maxResponseSize":10000}}"#)
            .expect("a version-6 config")
            .port(0);
        run(&common::start_with(config), &["arrays", "sorted", "lists", "fixed"]);
    }
}
