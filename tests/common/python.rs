//! Whether the Python the compatibility tests drive is installed: a test
//! that needs it skips with a line saying so, unless `NDB_REQUIRE_PYTHON` is
//! set (as `.ci/run` sets it), when a missing module fails the test.

use std::process::Command;

/// Whether `python3` can import `module` (installed by `pip install
/// package`).
pub fn ready(module: &str, package: &str) -> bool {
    let probe = Command::new("python3").args(["-c", &format!("import {module}")]).output();
    let ready = probe.is_ok_and(|out| out.status.success());
    if !ready {
        assert!(
            std::env::var("NDB_REQUIRE_PYTHON").is_err(),
            "python3 with {package} is required (pip install {package})"
        );
        eprintln!("SKIPPED: python3 with {package} not found (pip install {package})");
    }
    ready
}

/// Whether `python3` has `websockets` 14 or later (its asyncio client).
pub fn websockets_ready() -> bool {
    ready("websockets.asyncio.client", "websockets")
}
