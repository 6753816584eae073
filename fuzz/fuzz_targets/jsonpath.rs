//! The JSONPath parser and evaluator on arbitrary paths and values, under
//! the budget the commands use: nothing panics, the work stays within the
//! value's step limit, no evaluation lists more nodes than its limit
//! allows, and a path the commands would refuse is refused the same way
//! whatever value it meets.
//!
//! Input: the path, a 0xFF byte, then the value's JSON text (no 0xFF: all
//! path). Run with a time and memory limit so that "bounded work" is also
//! checked from outside: `cargo fuzz run jsonpath -- -timeout=2
//! -rss_limit_mb=1024`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndb::internals::store::{JsonPath, PathRefused, RESULTS_BASE};

fuzz_target!(|bytes: &[u8]| {
    let (path, value) = match bytes.iter().position(|&b| b == 0xFF) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (bytes, &b"{\"a\":[1,{\"b\":\"x\"},[2,3]],\"c\":\"yz\"}"[..]),
    };
    let (Ok(path), Ok(value)) = (std::str::from_utf8(path), std::str::from_utf8(value)) else { return };
    let parsed = match JsonPath::parse(path) {
        Ok(parsed) => parsed,
        Err(refused) => {
            assert!(matches!(refused, PathRefused::Invalid | PathRefused::OverBudget), "{refused:?}");
            return;
        }
    };
    let evaluation = parsed.evaluate(value);
    assert!(
        evaluation.steps <= evaluation.step_limit,
        "{path:?}: {} steps past the limit of {}",
        evaluation.steps,
        evaluation.step_limit
    );
    if let Ok(paths) = &evaluation.paths {
        assert!(paths.len() <= RESULTS_BASE + value.len() / 2, "{path:?}: {} nodes", paths.len());
        for p in paths {
            assert!(p.starts_with('$'), "{p}");
        }
        // Deterministic: the same evaluation gives the same answer.
        assert_eq!(parsed.evaluate(value).paths.as_ref(), Ok(paths));
    }
});
