//! `match()` and `search()` in a build without the `regex` feature: the
//! same interface as `regex.rs` with no regular-expression engine behind
//! it. The commands never get here with such a path (`compile` in
//! `mod.rs` answers 14, CommandDisabled, for any path that calls either
//! function); [`super::JsonPath::evaluate`], for tools, finds both false.

use super::budget::{Budget, Stop};

/// Largest compiled program a pattern may become (as in `regex.rs`; no
/// pattern is compiled in this build).
pub const REGEX_PROGRAM_BYTES: usize = 256 * 1024;

/// Distinct patterns kept compiled for one command (as in `regex.rs`).
pub const MAX_REGEXES: usize = 16;

/// One command's compiled patterns: none in this build (a field, so that
/// callers build it with `default()` in both builds).
#[derive(Debug, Default)]
pub(super) struct Regexes {
    _none: (),
}

impl Regexes {
    /// Always false: there is no engine to run `pattern`. Costs one step,
    /// like the cheapest comparison.
    pub fn is_match(
        &mut self,
        _pattern: &str,
        _anchored: bool,
        _text: &str,
        budget: &mut Budget,
    ) -> Result<bool, Stop> {
        budget.spend(1)?;
        Ok(false)
    }
}
