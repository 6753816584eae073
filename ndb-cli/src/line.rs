//! What a line typed into ndb-cli means: a raw request, a short form turned
//! into a request, or a shell command (`help`, `quit`).
//!
//! Owns: tokenizing a line and telling raw requests, shell commands and
//! short forms apart; the short forms themselves are [`forms`]'s table.
//! Must not touch: the connection, output.
//!
//! Values are sent as the JSON text typed where it is valid JSON (`1`,
//! `true`, `[1,2]`, `"a b"`, `1e3` stays `1e3`), else as a JSON string
//! (`hello` becomes `"hello"`).

use crate::forms::{self, Lookup};

/// Appends `s` as a JSON string literal (serde_json escapes `"`, `\` and
/// control characters, nothing else).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a `str` into a `Vec` has no way to fail.
    let _ = serde_json::to_writer(out, s);
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing (a blank line or a `#` comment).
    Nothing,
    /// Send this request text.
    Send(String),
    /// Show the short forms, or those of one topic (`help set`).
    Help(Option<String>),
    /// Leave the shell.
    Quit,
}

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Text as typed (a bare word, or a `"…"`, `{…}` or `[…]` JSON value).
    Text(String),
    /// A `'…'` literal: always a string, taken as is.
    Literal(String),
}

impl Word {
    /// The word as typed (a literal without its quotes).
    pub fn text(&self) -> &str {
        match self {
            Word::Text(t) | Word::Literal(t) => t,
        }
    }

    /// The word when it is a flag of a short form (`--kv`): typed bare and
    /// starting with `--`. A `'--kv'` literal is never a flag.
    pub fn flag(&self) -> Option<&str> {
        match self {
            Word::Text(t) if t.starts_with("--") => Some(t),
            _ => None,
        }
    }

    /// Writes the word as a JSON value: its own text when that is valid
    /// JSON, else a string.
    pub fn write_value(&self, out: &mut Vec<u8>) {
        match self {
            Word::Text(t) if is_json(t) => out.extend_from_slice(t.trim().as_bytes()),
            Word::Text(t) | Word::Literal(t) => write_str(out, t),
        }
    }

    /// The word as a key name: a JSON string's contents, else the text.
    pub fn key(&self) -> String {
        match self {
            Word::Text(t) if t.starts_with('"') => serde_json::from_str(t).unwrap_or_else(|_| t.clone()),
            Word::Text(t) | Word::Literal(t) => t.clone(),
        }
    }
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Splits a typed line into words: runs of non-space text, `"…"` strings,
/// `{…}`/`[…]` values (spaces inside kept) and `'…'` literals.
///
/// # Errors
/// An unterminated quote or bracket.
pub fn tokenize(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if bytes[i] == b'\'' {
            let end = line[i + 1..].find('\'').ok_or("unterminated ' quote")? + i + 1;
            words.push(Word::Literal(line[i + 1..end].to_owned()));
            i = end + 1;
            continue;
        }
        // A word runs to the next space outside strings and brackets.
        let mut depth = 0usize;
        let mut in_string = false;
        while i < bytes.len() {
            let b = bytes[i];
            if in_string {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    b if b.is_ascii_whitespace() && depth == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        if in_string {
            return Err("unterminated \" string".to_owned());
        }
        if depth > 0 {
            return Err("unclosed { or [".to_owned());
        }
        words.push(Word::Text(line[start..i.min(bytes.len())].to_owned()));
    }
    Ok(words)
}

/// What a typed line asks for.
///
/// # Errors
/// A usage message for a line that is neither a request nor a short form.
pub fn parse_line(line: &str) -> Result<Action, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Action::Nothing);
    }
    if trimmed.starts_with('{') {
        return Ok(Action::Send(trimmed.to_owned()));
    }
    let (first, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
    if first.contains('_') {
        return Ok(Action::Send(raw(first, rest.trim())));
    }
    parse_words(&tokenize(trimmed)?)
}

/// What a command given as separate words (the command line) asks for.
///
/// # Errors
/// As [`parse_line`].
pub fn parse_args(args: &[String]) -> Result<Action, String> {
    match args {
        [] => Ok(Action::Nothing),
        [only] if only.trim_start().starts_with('{') => Ok(Action::Send(only.trim().to_owned())),
        [first, rest @ ..] if first.contains('_') => Ok(Action::Send(raw(first, rest.join(" ").trim()))),
        _ => parse_words(&args.iter().map(|a| Word::Text(a.clone())).collect::<Vec<_>>()),
    }
}

/// `NAME BODY` as `{"NAME":BODY}`, the body exactly as typed (`{}` if none).
fn raw(name: &str, body: &str) -> String {
    let mut out = Vec::new();
    write_str(&mut out, name);
    let name = String::from_utf8_lossy(&out);
    format!("{{{name}:{}}}", if body.is_empty() { "{}" } else { body })
}

fn parse_words(words: &[Word]) -> Result<Action, String> {
    let Some((first, args)) = words.split_first() else { return Ok(Action::Nothing) };
    match first.text().to_ascii_lowercase().as_str() {
        "help" | "?" if args.is_empty() => return Ok(Action::Help(None)),
        "help" | "?" => {
            let topic: Vec<&str> = args.iter().map(Word::text).collect();
            return Ok(Action::Help(Some(topic.join(" "))));
        }
        "quit" | "exit" => return Ok(Action::Quit),
        _ => {}
    }
    match forms::lookup(words) {
        Lookup::Form(form, args) => forms::request(form, args).map(Action::Send),
        Lookup::Unknown(name) => Err(forms::usage(&name, String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(line: &str) -> String {
        match parse_line(line) {
            Ok(Action::Send(text)) => text,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn raw_requests_are_sent_exactly() {
        assert_eq!(sent(r#"KV_SET {"keys":{"a":1}}"#), r#"{"KV_SET":{"keys":{"a":1}}}"#);
        assert_eq!(sent("KV_COUNT"), r#"{"KV_COUNT":{}}"#);
        assert_eq!(sent(r#"  {"KV_COUNT": {}}  "#), r#"{"KV_COUNT": {}}"#);
        assert_eq!(sent("kv_set [1]"), r#"{"kv_set":[1]}"#);
        assert_eq!(sent("SH_X not json"), r#"{"SH_X":not json}"#);
    }

    #[test]
    fn short_forms_become_requests() {
        let rows = [
            ("set a 1", r#"{"KV_SET":{"keys":{"a":1}}}"#),
            (
                r#"SET a hello b "two words" c {"x": [1, 2]} d 'x y' e 1e3 f 007 g null"#,
                r#"{"KV_SET":{"keys":{"a":"hello","b":"two words","c":{"x": [1, 2]},"d":"x y","e":1e3,"f":"007","g":null}}}"#,
            ),
            (r#"set "a b" [1,2]"#, r#"{"KV_SET":{"keys":{"a b":[1,2]}}}"#),
            ("add a true", r#"{"KV_ADD":{"keys":{"a":true}}}"#),
            ("get", r#"{"KV_GET":{"keys":[]}}"#),
            ("get a b", r#"{"KV_GET":{"keys":["a","b"]}}"#),
            ("rmv a", r#"{"KV_RMV":{"keys":["a"]}}"#),
            ("contains a b", r#"{"KV_CONTAINS":{"keys":["a","b"]}}"#),
            ("keys", r#"{"KV_KEYS":{}}"#),
            ("count", r#"{"KV_COUNT":{}}"#),
            ("clear", r#"{"KV_CLEAR":{}}"#),
            ("clearset x 1", r#"{"KV_CLEAR_SET":{"keys":{"x":1}}}"#),
            ("save nightly", r#"{"KV_SAVE":{"name":"nightly"}}"#),
            ("load nightly", r#"{"KV_LOAD":{"name":"nightly"}}"#),
            ("info", r#"{"SV_INFO":{}}"#),
            ("sh new", r#"{"SH_NEW":{}}"#),
            (
                "sh new 30 --delete",
                r#"{"SH_NEW":{"expiry":{"deleteSession":true,"duration":30,"extendOnGet":false,"extendOnSetAdd":false}}}"#,
            ),
            (
                "sh new 5 --extend-get --extend-set",
                r#"{"SH_NEW":{"expiry":{"deleteSession":false,"duration":5,"extendOnGet":true,"extendOnSetAdd":true}}}"#,
            ),
            ("sh end 42", r#"{"SH_END":{"tkn":42}}"#),
            ("sh endall", r#"{"SH_END_ALL":{}}"#),
            ("sh exists 1 2", r#"{"SH_EXISTS":{"tkns":[1,2]}}"#),
            ("sh info 18446744073709551615", r#"{"SH_INFO":{"tkn":18446744073709551615}}"#),
            ("sh infoall", r#"{"SH_INFO_ALL":{}}"#),
            ("sh set 7 a 1", r#"{"SH_SET":{"keys":{"a":1},"tkn":7}}"#),
            ("sh add 7 a 1", r#"{"SH_ADD":{"keys":{"a":1},"tkn":7}}"#),
            ("sh get 7 a", r#"{"SH_GET":{"keys":["a"],"tkn":7}}"#),
            ("sh rmv 7 a", r#"{"SH_RMV":{"keys":["a"],"tkn":7}}"#),
            ("sh contains 7 a", r#"{"SH_CONTAINS":{"keys":["a"],"tkn":7}}"#),
            ("sh keys 7", r#"{"SH_KEYS":{"tkn":7}}"#),
            ("sh count 7", r#"{"SH_COUNT":{"tkn":7}}"#),
            ("sh clear 7", r#"{"SH_CLEAR":{"tkn":7}}"#),
            ("sh clearset 7 b 2", r#"{"SH_CLEAR_SET":{"keys":{"b":2},"tkn":7}}"#),
            ("sh save s", r#"{"SH_SAVE":{"name":"s"}}"#),
            ("sh save s 1 2", r#"{"SH_SAVE":{"name":"s","tkns":[1,2]}}"#),
            ("sh load s", r#"{"SH_LOAD":{"name":"s"}}"#),
            ("find $.n", r#"{"KV_FIND":{"path":"$.n","rsp":"keys"}}"#),
            (
                "find $.tags[?@ == 'a'] u1 u2 --kv",
                r#"{"KV_FIND":{"keys":["u1","u2"],"path":"$.tags[?@ == 'a']","rsp":"kv"}}"#,
            ),
            ("FIND --paths $..n", r#"{"KV_FIND":{"path":"$..n","rsp":"paths"}}"#),
            ("update u1 $.addr.city Hull", r#"{"KV_UPDATE":{"key":"u1","path":"$.addr.city","value":"Hull"}}"#),
            ("update u1 $ {\"a\": [1]}", r#"{"KV_UPDATE":{"key":"u1","path":"$","value":{"a": [1]}}}"#),
            ("append cart milk {\"sku\":7} 3", r#"{"KV_ARR_APPEND":{"items":["milk",{"sku":7},3],"key":"cart"}}"#),
            ("append cart --name items tea", r#"{"KV_ARR_APPEND":{"items":["tea"],"key":"cart","name":"items"}}"#),
            ("append k '--name' x", r#"{"KV_ARR_APPEND":{"items":["--name","x"],"key":"k"}}"#),
        ];
        for (line, request) in rows {
            assert_eq!(sent(line), request, "{line}");
            assert!(is_json(request), "{request}");
        }
    }

    #[test]
    fn command_line_words_are_words() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            args(&["set", "a", "two words"]),
            Ok(Action::Send(r#"{"KV_SET":{"keys":{"a":"two words"}}}"#.into()))
        );
        assert_eq!(args(&["set", "a", "-1"]), Ok(Action::Send(r#"{"KV_SET":{"keys":{"a":-1}}}"#.into())));
        assert_eq!(
            args(&["KV_GET", r#"{"keys":"#, r#"["a"]}"#]),
            Ok(Action::Send(r#"{"KV_GET":{"keys": ["a"]}}"#.into()))
        );
        assert_eq!(args(&[r#"{"KV_COUNT":{}}"#]), Ok(Action::Send(r#"{"KV_COUNT":{}}"#.into())));
    }

    #[test]
    fn shell_commands_and_blank_lines() {
        assert_eq!(parse_line("  "), Ok(Action::Nothing));
        assert_eq!(parse_line("# note"), Ok(Action::Nothing));
        assert_eq!(parse_line("help"), Ok(Action::Help(None)));
        assert_eq!(parse_line("help  sh get"), Ok(Action::Help(Some("sh get".into()))));
        assert_eq!(parse_line("QUIT"), Ok(Action::Quit));
        assert!(forms::help().contains("sh new [SECS [--delete]"));
    }

    #[test]
    fn mistakes_get_usage_lines() {
        let err = |line: &str| parse_line(line).unwrap_err();
        assert_eq!(err("set a"), "keys and values must come in pairs; usage: set KEY VALUE [KEY VALUE ...]");
        assert_eq!(err("rmv"), "usage: rmv KEY [KEY ...]");
        assert_eq!(err("count 1"), "usage: count");
        assert!(err("sh end x").starts_with("TKN must be an unsigned integer (got \"x\")"));
        assert!(err("sh new 30 --forever").starts_with("unknown flag \"--forever\""));
        assert!(err("frobnicate").starts_with("unknown command \"frobnicate\""));
        assert!(err("sh frob 1").starts_with("unknown command \"sh frob\""));
        assert_eq!(err("sh info"), "usage: sh info TKN");
        assert!(err("sh").starts_with("usage: sh new"));
        assert_eq!(err("set a \"open"), "unterminated \" string");
        assert_eq!(err("set a {\"x\":1"), "unclosed { or [");
        assert_eq!(err("set a 'x"), "unterminated ' quote");
        assert_eq!(err("find"), "usage: find PATH [KEY ...] [--paths | --kv]");
        assert!(err("find $ --values").starts_with("unknown flag \"--values\"; usage: find PATH"));
        assert_eq!(err("update k $"), "usage: update KEY PATH VALUE");
        assert_eq!(err("append k"), "usage: append KEY ITEM [ITEM ...] [--name MEMBER]");
        assert!(err("append k x --name").starts_with("--name needs a MEMBER; usage: append"));
    }
}
