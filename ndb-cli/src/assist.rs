//! What the interactive shell suggests as one types: tab completion of
//! command words and hints of the arguments still to come, both drawn from
//! the short-form table ([`forms::FORMS`]).
//!
//! Owns: the line editor's helper (completion, hints, their colour). Must
//! not touch: the connection.
//!
//! - Tab completes the first word (`cou` → `count `, `sh` → `sh `), the
//!   second word of a two-word form (`sh se` → `sh set `), the word after
//!   `help`, and raw command names typed in capitals (`KV_F` → `KV_FIND `).
//! - Once a form's name is typed, the rest of its synopsis is shown greyed
//!   after the cursor (`set ` → `KEY VALUE [KEY VALUE ...]`), shortened as
//!   arguments are typed (`set a ` → `VALUE [KEY VALUE ...]`), as
//!   redis-cli does. The right arrow does not insert it.

use std::borrow::Cow;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::forms::{self, FORMS, Lookup, SHELL_WORDS};
use crate::line;

/// The shell's helper.
pub struct Assist {
    /// Whether hints are drawn dim (on a colour terminal).
    pub colour: bool,
}

/// A hint: shown, never inserted.
pub struct ArgsHint(String);

impl Hint for ArgsHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

/// The words a line may start with, lower case, each once.
fn first_words() -> Vec<&'static str> {
    let mut words: Vec<&str> = FORMS.iter().map(|f| f.words[0]).collect();
    words.extend(SHELL_WORDS);
    let mut seen = Vec::new();
    words.retain(|w| {
        let new = !seen.contains(w);
        seen.push(w);
        new
    });
    words
}

/// Candidates for the word at `index` of a line whose earlier words are
/// `before` (lower case), matching `partial`.
fn candidates(before: &[String], partial: &str) -> Vec<String> {
    let lower = partial.to_ascii_lowercase();
    let starts = |word: &str| word.starts_with(&lower);
    let before: Vec<&str> = match before.first().map(String::as_str) {
        Some("help" | "?") => before[1..].iter().map(String::as_str).collect(),
        _ => before.iter().map(String::as_str).collect(),
    };
    match before.as_slice() {
        [] if partial.contains('_') || (!partial.is_empty() && partial.bytes().all(|b| b.is_ascii_uppercase())) => {
            let mut names: Vec<String> = FORMS.iter().map(|f| f.command.to_owned()).collect();
            names.sort();
            names.dedup();
            names.retain(|name| name.starts_with(partial));
            names
        }
        [] => first_words().into_iter().filter(|w| starts(w)).map(str::to_owned).collect(),
        [group] if forms::is_group(group) => FORMS
            .iter()
            .filter(|f| f.words.len() == 2 && f.words[0] == *group && starts(f.words[1]))
            .map(|f| f.words[1].to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

impl Completer for Assist {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        let start = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let before: Vec<String> = head[..start].split_whitespace().map(str::to_ascii_lowercase).collect();
        let pairs = candidates(&before, &head[start..])
            .into_iter()
            .map(|word| Pair { replacement: format!("{word} "), display: word })
            .collect();
        Ok((start, pairs))
    }
}

/// A synopsis split into its top-level items: `KEY VALUE [KEY VALUE ...]`
/// is `KEY`, `VALUE`, `[KEY VALUE ...]`.
fn items(synopsis: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (i, c) in synopsis.char_indices() {
        match c {
            '[' => {
                start.get_or_insert(i);
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            ' ' if depth == 0 => {
                if let Some(s) = start.take() {
                    items.push(&synopsis[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        items.push(&synopsis[s..]);
    }
    items
}

/// The hint for `line` with the cursor at its end, if any.
pub fn hint_for(line: &str) -> Option<String> {
    let words = line::tokenize(line).ok()?;
    let spaced = line.ends_with(char::is_whitespace);
    let Lookup::Form(form, args) = forms::lookup(&words) else { return None };
    if form.words.len() > words.len() || (!spaced && !args.is_empty()) || form.args.is_empty() {
        return None;
    }
    let rest = items(form.args);
    let left = rest.get(args.len()..).filter(|left| !left.is_empty())?;
    Some(format!("{}{}", if spaced { "" } else { " " }, left.join(" ")))
}

impl Hinter for Assist {
    type Hint = ArgsHint;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<ArgsHint> {
        if pos < line.len() {
            return None;
        }
        hint_for(line).map(ArgsHint)
    }
}

impl Highlighter for Assist {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.colour { Cow::Owned(format!("\x1b[2m{hint}\x1b[0m")) } else { Cow::Borrowed(hint) }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Validator for Assist {}

impl Helper for Assist {}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(line: &str) -> Vec<String> {
        let start = line.rfind(' ').map_or(0, |i| i + 1);
        let before: Vec<String> = line[..start].split_whitespace().map(str::to_ascii_lowercase).collect();
        candidates(&before, &line[start..])
    }

    #[test]
    fn completion_follows_the_table() {
        assert_eq!(complete("cou"), ["count"]);
        assert_eq!(complete("co"), ["contains", "count"]);
        assert_eq!(
            complete("SH"),
            [
                "SH_ADD",
                "SH_CLEAR",
                "SH_CLEAR_SET",
                "SH_CONTAINS",
                "SH_COUNT",
                "SH_END",
                "SH_END_ALL",
                "SH_EXISTS",
                "SH_GET",
                "SH_INFO",
                "SH_INFO_ALL",
                "SH_KEYS",
                "SH_LOAD",
                "SH_NEW",
                "SH_RMV",
                "SH_SAVE",
                "SH_SET",
            ]
        );
        assert_eq!(complete("SV"), ["SV_INFO"]);
        assert_eq!(complete("SIARR_M"), ["SIARR_MAX", "SIARR_MIN"]);
        assert_eq!(complete("ol"), ["olst"]);
        assert_eq!(complete("s"), ["set", "save", "sh", "strarr", "siarr", "sstrarr"]);
        assert_eq!(complete("iarr get"), ["get", "get-rng"]);
        assert_eq!(complete("siarr m"), ["min", "max"]);
        assert_eq!(complete("help olst sp"), ["splice"]);
        assert_eq!(complete("sh se"), ["set"]);
        assert_eq!(complete("SH end"), ["end", "endall"]);
        assert_eq!(complete("help up"), ["update"]);
        assert_eq!(complete("help sh inf"), ["info", "infoall"]);
        assert_eq!(complete("KV_F"), ["KV_FIND"]);
        assert_eq!(complete("qu"), ["quit"]);
        assert!(complete("set a ").is_empty());
        assert_eq!(complete("").len(), first_words().len());
    }

    #[test]
    fn hints_show_what_is_left() {
        assert_eq!(hint_for("set").as_deref(), Some(" KEY VALUE [KEY VALUE ...]"));
        assert_eq!(hint_for("set ").as_deref(), Some("KEY VALUE [KEY VALUE ...]"));
        assert_eq!(hint_for("SET a ").as_deref(), Some("VALUE [KEY VALUE ...]"));
        assert_eq!(hint_for("set a 1 ").as_deref(), Some("[KEY VALUE ...]"));
        assert_eq!(hint_for("set a 1 b "), None);
        assert_eq!(hint_for("set a"), None, "not while a word is being typed");
        assert_eq!(hint_for("sh set ").as_deref(), Some("TKN KEY VALUE [KEY VALUE ...]"));
        assert_eq!(hint_for("sh new ").as_deref(), Some("[SECS [--delete] [--extend-set] [--extend-get]]"));
        assert_eq!(hint_for("find ").as_deref(), Some("PATH [KEY ...] [--paths | --kv]"));
        assert_eq!(hint_for("iarr set ").as_deref(), Some("NAME ITEM [--pos POS]"));
        assert_eq!(hint_for("olst splice a ").as_deref(), Some("START [STOP] DEST [--pos POS]"));
        assert_eq!(hint_for("siarr intersect a ").as_deref(), Some("NAME"));
        assert_eq!(hint_for("iarr delete-all "), None);
        assert_eq!(hint_for("count"), None);
        assert_eq!(hint_for("sh "), None);
        assert_eq!(hint_for("bogus "), None);
        assert_eq!(hint_for("set \"open "), None);
    }
}
