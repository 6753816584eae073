//! RFC 9535's `match()` and `search()`: whether a string matches an
//! I-Regexp (RFC 9485) in full, or contains a match, with the cost of both
//! counted against the evaluation's budget.
//!
//! Patterns are compiled by `regex-automata` into a Thompson NFA and run
//! by its PikeVM, whose time is at most proportional to the NFA's states
//! times the text's length, whatever the pattern (no backtracking). That
//! bound is what is charged: a run costs ([`states`](Compiled) + 8) ×
//! (length + 1) / [`REGEX_WORK_PER_STEP`] steps, taken before it starts.
//! A compiled program may not exceed [`REGEX_PROGRAM_BYTES`] (status 202
//! past it), and compiling one costs steps in proportion to its size.
//!
//! Each distinct pattern is compiled once per command, not once per node:
//! a [`Regexes`] cache lives as long as the command's search (every value
//! of a `KV_FIND`), holding up to [`MAX_REGEXES`] patterns (a pattern
//! taken from the data, `match(@.a, @.pattern)`, can differ for every
//! node; past the cap the oldest is dropped).
//!
//! Semantics: Unicode general categories (`\p{Lu}`) and the Perl classes
//! (`\d`, `\w`, `\s`); `(?R)` makes `.` match anything but `\r` and `\n`,
//! as I-Regexp requires. A pattern that is not a valid regular expression,
//! or a first argument that is not a string, makes the function false
//! (RFC 9535, sections 2.4.6 and 2.4.7).

use regex_automata::nfa::thompson::{self, WhichCaptures, pikevm};
use regex_automata::util::syntax;

use super::budget::{Budget, Stop};

/// Largest compiled program (the NFA, in bytes of heap) a pattern may
/// become: 256 KiB. Real patterns take a few KiB (`\p{L}+`: 16 KiB);
/// compiling one this large takes about 2 ms. A pattern past it answers
/// 202 (OverBudget).
pub const REGEX_PROGRAM_BYTES: usize = 256 * 1024;

/// NFA states × text bytes per step of a run: the PikeVM takes up to
/// about 6 ns per state per byte (`benches/jsonpath.rs`), a step about
/// 20 ns.
pub const REGEX_WORK_PER_STEP: u64 = 4;

/// Bytes of compiled program per step charged for compiling it (about
/// 10 ns per byte).
const COMPILE_BYTES_PER_STEP: usize = 2;

/// Distinct patterns kept compiled for one command.
pub const MAX_REGEXES: usize = 16;

/// A pattern ready to run.
struct Compiled {
    vm: pikevm::PikeVM,
    cache: pikevm::Cache,
    /// The NFA's states: a run costs at most this much per byte.
    states: u64,
}

/// One command's compiled patterns: `(anchored, pattern, program)`, the
/// program `None` for a pattern that is not a valid regular expression.
#[derive(Default)]
pub(super) struct Regexes {
    compiled: Vec<(bool, String, Option<Compiled>)>,
    /// Compilations so far, for tests.
    compilations: usize,
}

impl std::fmt::Debug for Regexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Regexes").field("patterns", &self.compiled.len()).finish()
    }
}

impl Regexes {
    /// Whether `text` matches `pattern`: in full if `anchored` (`match()`),
    /// anywhere otherwise (`search()`).
    pub fn is_match(&mut self, pattern: &str, anchored: bool, text: &str, budget: &mut Budget) -> Result<bool, Stop> {
        let i = match self.compiled.iter().position(|(a, p, _)| *a == anchored && p == pattern) {
            Some(i) => i,
            None => {
                let program = self.compile(pattern, anchored, budget)?;
                if self.compiled.len() == MAX_REGEXES {
                    self.compiled.remove(0);
                }
                self.compiled.push((anchored, pattern.to_owned(), program));
                self.compiled.len() - 1
            }
        };
        let Some(Compiled { vm, cache, states }) = &mut self.compiled[i].2 else { return Ok(false) };
        let bytes = u64::try_from(text.len()).unwrap_or(u64::MAX).saturating_add(1);
        budget.spend(states.saturating_add(8).saturating_mul(bytes) / REGEX_WORK_PER_STEP)?;
        Ok(vm.is_match(cache, text))
    }

    /// Compiles `pattern`, charging `budget`; `None` if it is not a valid
    /// regular expression.
    fn compile(&mut self, pattern: &str, anchored: bool, budget: &mut Budget) -> Result<Option<Compiled>, Stop> {
        // A pattern's text is at least as large as its program would be.
        if pattern.len() > REGEX_PROGRAM_BYTES {
            return Err(Stop::OverBudget);
        }
        budget.spend(1 + (pattern.len() / COMPILE_BYTES_PER_STEP) as u64)?;
        self.compilations += 1;
        let wrapped = if anchored { format!("(?R)^(?:{pattern})$") } else { format!("(?R)(?:{pattern})") };
        let built = thompson::Compiler::new()
            .syntax(syntax::Config::new())
            .configure(
                thompson::Config::new().nfa_size_limit(Some(REGEX_PROGRAM_BYTES)).which_captures(WhichCaptures::None),
            )
            .build(&wrapped);
        let nfa = match built {
            Ok(nfa) => nfa,
            Err(e) if e.size_limit().is_some() => return Err(Stop::OverBudget),
            Err(_) => return Ok(None),
        };
        budget.spend((nfa.memory_usage() / COMPILE_BYTES_PER_STEP) as u64)?;
        let states = nfa.states().len() as u64;
        let Ok(vm) = pikevm::PikeVM::new_from_nfa(nfa) else { return Ok(None) };
        let cache = vm.create_cache();
        Ok(Some(Compiled { vm, cache, states }))
    }

    /// Patterns compiled so far.
    #[cfg(test)]
    pub fn compilations(&self) -> usize {
        self.compilations
    }
}

#[cfg(test)]
mod tests {
    use super::super::budget::Watch;
    use super::*;

    fn test(pattern: &str, anchored: bool, text: &str) -> bool {
        let mut budget = Budget::off_loop(Watch::default());
        budget.start_value(0).unwrap();
        Regexes::default().is_match(pattern, anchored, text, &mut budget).unwrap()
    }

    #[test]
    fn match_is_anchored_and_search_is_not() {
        assert!(test("ab.", true, "abc"));
        assert!(!test("ab.", true, "xabcx"));
        assert!(test("ab.", false, "xabcx"));
        assert!(test("a|ab", true, "ab"), "the group keeps the anchors on every branch");
    }

    #[test]
    fn dot_matches_neither_carriage_return_nor_line_feed() {
        assert!(!test("a.b", true, "a\nb"));
        assert!(!test("a.b", true, "a\rb"));
        assert!(test("a.b", true, "a\tb"));
        assert!(test("a.b", true, "a\u{e9}b"));
    }

    #[test]
    fn unicode_categories_work() {
        assert!(test(r"\p{Lu}\p{Ll}+", true, "Émile"));
        assert!(!test(r"\p{Lu}\p{Ll}+", true, "émile"));
        assert!(test(r"\p{Nd}+", true, "٤٢"));
        assert!(test(r"\P{L}", false, "42"));
        assert!(test(r"\w\s\d", true, "b 1"));
    }

    #[test]
    fn invalid_patterns_are_false() {
        assert!(!test("a(", true, "a("));
        assert!(!test("[", false, "["));
    }

    #[test]
    fn each_pattern_is_compiled_once_and_costs_its_work() {
        let mut budget = Budget::off_loop(Watch::default());
        budget.start_value(1 << 20).unwrap();
        let mut regexes = Regexes::default();
        for _ in 0..100 {
            assert!(regexes.is_match("b+", false, "abbbc", &mut budget).unwrap());
            assert!(!regexes.is_match("b+", true, "abbbc", &mut budget).unwrap());
        }
        assert_eq!(regexes.compilations(), 2);
        let before = budget.used();
        let text = "x".repeat(10_000);
        regexes.is_match(".{20}y", false, &text, &mut budget).unwrap();
        assert!(budget.used() - before > 10_000 * 20 / REGEX_WORK_PER_STEP, "a run is charged by states × bytes");
    }

    #[test]
    fn programs_past_the_size_limit_are_over_budget() {
        let mut budget = Budget::off_loop(Watch::default());
        budget.start_value(1 << 20).unwrap();
        let mut regexes = Regexes::default();
        assert_eq!(regexes.is_match(r"(\w{50}){50}", false, "x", &mut budget), Err(Stop::OverBudget));
        let long = "a".repeat(REGEX_PROGRAM_BYTES + 1);
        assert_eq!(regexes.is_match(&long, false, "x", &mut budget), Err(Stop::OverBudget));
    }
}
