//! What a line typed into ndb-cli means: a raw request, a short form turned
//! into a request, or a shell command (`help`, `quit`).
//!
//! Owns: tokenizing a line, the short-form grammar and its help table, and
//! writing requests as JSON text. Must not touch: the connection, output.
//!
//! Values are sent as the JSON text typed where it is valid JSON (`1`,
//! `true`, `[1,2]`, `"a b"`, `1e3` stays `1e3`), else as a JSON string
//! (`hello` becomes `"hello"`).

/// Appends `s` as a JSON string literal (serde_json escapes `"`, `\` and
/// control characters, nothing else).
fn write_str(out: &mut Vec<u8>, s: &str) {
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
    /// Show the short forms.
    Help,
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
    fn text(&self) -> &str {
        match self {
            Word::Text(t) | Word::Literal(t) => t,
        }
    }

    /// Writes the word as a JSON value: its own text when that is valid
    /// JSON, else a string.
    fn write_value(&self, out: &mut Vec<u8>) {
        match self {
            Word::Text(t) if is_json(t) => out.extend_from_slice(t.trim().as_bytes()),
            Word::Text(t) | Word::Literal(t) => write_str(out, t),
        }
    }

    /// The word as a key name: a JSON string's contents, else the text.
    fn key(&self) -> String {
        match self {
            Word::Text(t) if t.starts_with('"') => serde_json::from_str(t).unwrap_or_else(|_| t.clone()),
            Word::Text(t) | Word::Literal(t) => t.clone(),
        }
    }
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// The short forms, for `help`: (usage, command sent).
pub const SHORT_FORMS: &[(&str, &str)] = &[
    ("set KEY VALUE [KEY VALUE ...]", "KV_SET"),
    ("add KEY VALUE [KEY VALUE ...]", "KV_ADD"),
    ("get [KEY ...]", "KV_GET"),
    ("rmv KEY [KEY ...]", "KV_RMV"),
    ("contains KEY [KEY ...]", "KV_CONTAINS"),
    ("keys", "KV_KEYS"),
    ("count", "KV_COUNT"),
    ("clear", "KV_CLEAR"),
    ("clearset [KEY VALUE ...]", "KV_CLEAR_SET"),
    ("save NAME", "KV_SAVE"),
    ("load NAME", "KV_LOAD"),
    ("info", "SV_INFO"),
    ("sh new [SECS [--delete] [--extend-set] [--extend-get]]", "SH_NEW"),
    ("sh end TKN", "SH_END"),
    ("sh endall", "SH_END_ALL"),
    ("sh exists TKN [TKN ...]", "SH_EXISTS"),
    ("sh info TKN", "SH_INFO"),
    ("sh infoall", "SH_INFO_ALL"),
    ("sh set TKN KEY VALUE [KEY VALUE ...]", "SH_SET"),
    ("sh add TKN KEY VALUE [KEY VALUE ...]", "SH_ADD"),
    ("sh get TKN [KEY ...]", "SH_GET"),
    ("sh rmv TKN KEY [KEY ...]", "SH_RMV"),
    ("sh contains TKN KEY [KEY ...]", "SH_CONTAINS"),
    ("sh keys TKN", "SH_KEYS"),
    ("sh count TKN", "SH_COUNT"),
    ("sh clear TKN", "SH_CLEAR"),
    ("sh clearset TKN [KEY VALUE ...]", "SH_CLEAR_SET"),
    ("sh save NAME [TKN ...]", "SH_SAVE"),
    ("sh load NAME", "SH_LOAD"),
];

/// The in-shell help: raw requests, short forms, shell commands.
pub fn help() -> String {
    let mut out = String::from(
        "Raw requests are sent as typed:\n  KV_SET {\"keys\":{\"a\":1}}      {\"KV_SET\":{\"keys\":{\"a\":1}}}\n  \
         {\"KV_COUNT\":{}}              sent exactly\n\nShort forms (values are JSON where they parse, else strings):\n",
    );
    for (usage, command) in SHORT_FORMS {
        out.push_str(&format!("  {usage:<56}{command}\n"));
    }
    out.push_str("\nhelp shows this; quit or exit (or Ctrl-D) leaves.\n");
    out
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
    let verb = first.text().to_ascii_lowercase();
    let request = match (verb.as_str(), args) {
        ("help" | "?", _) => return Ok(Action::Help),
        ("quit" | "exit", _) => return Ok(Action::Quit),
        ("set", _) => body("KV_SET", |b| b.pairs("keys", args, 1)),
        ("add", _) => body("KV_ADD", |b| b.pairs("keys", args, 1)),
        ("get", _) => body("KV_GET", |b| b.names("keys", args, 0)),
        ("rmv", _) => body("KV_RMV", |b| b.names("keys", args, 1)),
        ("contains", _) => body("KV_CONTAINS", |b| b.names("keys", args, 1)),
        ("keys", []) => empty("KV_KEYS"),
        ("count", []) => empty("KV_COUNT"),
        ("clear", []) => empty("KV_CLEAR"),
        ("clearset", _) => body("KV_CLEAR_SET", |b| b.pairs("keys", args, 0)),
        ("save", [name]) => body("KV_SAVE", |b| b.string("name", name)),
        ("load", [name]) => body("KV_LOAD", |b| b.string("name", name)),
        ("info", []) => empty("SV_INFO"),
        ("sh", [sub, args @ ..]) => {
            let sub = sub.text().to_ascii_lowercase();
            return session(&sub, args).map(Action::Send).map_err(|why| usage(&format!("sh {sub}"), why));
        }
        _ => Err(String::new()),
    };
    request.map(Action::Send).map_err(|why| usage(&verb, why))
}

fn session(sub: &str, args: &[Word]) -> Result<String, String> {
    match (sub, args) {
        ("new", []) => empty("SH_NEW"),
        ("new", [secs, flags @ ..]) => body("SH_NEW", |b| b.expiry(secs, flags)),
        ("end", [tkn]) => body("SH_END", |b| b.token(tkn)),
        ("endall", []) => empty("SH_END_ALL"),
        ("exists", tkns) => body("SH_EXISTS", |b| b.tokens("tkns", tkns)),
        ("info", [tkn]) => body("SH_INFO", |b| b.token(tkn)),
        ("infoall", []) => empty("SH_INFO_ALL"),
        ("set", [tkn, rest @ ..]) => body("SH_SET", |b| b.pairs("keys", rest, 1)?.token(tkn)),
        ("add", [tkn, rest @ ..]) => body("SH_ADD", |b| b.pairs("keys", rest, 1)?.token(tkn)),
        ("get", [tkn, rest @ ..]) => body("SH_GET", |b| b.names("keys", rest, 0)?.token(tkn)),
        ("rmv", [tkn, rest @ ..]) => body("SH_RMV", |b| b.names("keys", rest, 1)?.token(tkn)),
        ("contains", [tkn, rest @ ..]) => body("SH_CONTAINS", |b| b.names("keys", rest, 1)?.token(tkn)),
        ("keys", [tkn]) => body("SH_KEYS", |b| b.token(tkn)),
        ("count", [tkn]) => body("SH_COUNT", |b| b.token(tkn)),
        ("clear", [tkn]) => body("SH_CLEAR", |b| b.token(tkn)),
        ("clearset", [tkn, rest @ ..]) => body("SH_CLEAR_SET", |b| b.pairs("keys", rest, 0)?.token(tkn)),
        ("save", [name]) => body("SH_SAVE", |b| b.string("name", name)),
        ("save", [name, tkns @ ..]) => body("SH_SAVE", |b| b.string("name", name)?.tokens("tkns", tkns)),
        ("load", [name]) => body("SH_LOAD", |b| b.string("name", name)),
        _ => Err(String::new()),
    }
}

/// The usage line for the short forms starting with `command`, with what
/// was wrong if known.
fn usage(command: &str, why: String) -> String {
    let forms: Vec<&str> = SHORT_FORMS
        .iter()
        .map(|(usage, _)| *usage)
        .filter(|usage| usage.strip_prefix(command).is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')))
        .collect();
    match (forms.is_empty(), why.is_empty()) {
        (true, _) => {
            format!("unknown command {command:?}; type help (raw requests look like KV_SET {{\"keys\":{{}}}})")
        }
        (false, true) => format!("usage: {}", forms.join(" | ")),
        (false, false) => format!("{why}; usage: {}", forms.join(" | ")),
    }
}

/// `{"NAME":{}}`
fn empty(name: &str) -> Result<String, String> {
    Ok(format!("{{\"{name}\":{{}}}}"))
}

/// Writes `{"NAME":{members}}` with the members `f` adds.
fn body(name: &str, f: impl FnOnce(&mut Body) -> Result<&mut Body, String>) -> Result<String, String> {
    let mut b = Body { out: Vec::new() };
    f(&mut b)?;
    let mut text = format!("{{\"{name}\":{{");
    text.push_str(&String::from_utf8_lossy(&b.out));
    text.push_str("}}");
    Ok(text)
}

/// The members of a request body being written.
struct Body {
    out: Vec<u8>,
}

impl Body {
    fn member(&mut self, name: &str) {
        if !self.out.is_empty() {
            self.out.push(b',');
        }
        write_str(&mut self.out, name);
        self.out.push(b':');
    }

    fn pairs(&mut self, name: &str, words: &[Word], min_pairs: usize) -> Result<&mut Body, String> {
        if !words.len().is_multiple_of(2) {
            return Err("keys and values must come in pairs".to_owned());
        }
        if words.len() / 2 < min_pairs {
            return Err(String::new());
        }
        self.member(name);
        self.out.push(b'{');
        for (i, pair) in words.chunks(2).enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(&mut self.out, &pair[0].key());
            self.out.push(b':');
            pair[1].write_value(&mut self.out);
        }
        self.out.push(b'}');
        Ok(self)
    }

    fn names(&mut self, name: &str, words: &[Word], min: usize) -> Result<&mut Body, String> {
        if words.len() < min {
            return Err(String::new());
        }
        self.member(name);
        self.out.push(b'[');
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(&mut self.out, &word.key());
        }
        self.out.push(b']');
        Ok(self)
    }

    fn string(&mut self, name: &str, word: &Word) -> Result<&mut Body, String> {
        self.member(name);
        write_str(&mut self.out, &word.key());
        Ok(self)
    }

    fn token(&mut self, word: &Word) -> Result<&mut Body, String> {
        let tkn = parse_u64(word, "TKN")?;
        self.member("tkn");
        self.out.extend_from_slice(tkn.to_string().as_bytes());
        Ok(self)
    }

    fn tokens(&mut self, name: &str, words: &[Word]) -> Result<&mut Body, String> {
        if words.is_empty() {
            return Err(String::new());
        }
        let tkns = words.iter().map(|w| parse_u64(w, "TKN")).collect::<Result<Vec<_>, _>>()?;
        self.member(name);
        let list: Vec<String> = tkns.iter().map(u64::to_string).collect();
        self.out.extend_from_slice(format!("[{}]", list.join(",")).as_bytes());
        Ok(self)
    }

    fn expiry(&mut self, secs: &Word, flags: &[Word]) -> Result<&mut Body, String> {
        let duration = parse_u64(secs, "SECS")?;
        let (mut delete, mut extend_set, mut extend_get) = (false, false, false);
        for flag in flags {
            match flag.text() {
                "--delete" => delete = true,
                "--extend-set" => extend_set = true,
                "--extend-get" => extend_get = true,
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        self.member("expiry");
        self.out.extend_from_slice(
            format!(
                "{{\"deleteSession\":{delete},\"duration\":{duration},\"extendOnGet\":{extend_get},\
                 \"extendOnSetAdd\":{extend_set}}}"
            )
            .as_bytes(),
        );
        Ok(self)
    }
}

fn parse_u64(word: &Word, what: &str) -> Result<u64, String> {
    word.text().parse().map_err(|_| format!("{what} must be an unsigned integer (got {:?})", word.text()))
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
        assert_eq!(parse_line("help"), Ok(Action::Help));
        assert_eq!(parse_line("QUIT"), Ok(Action::Quit));
        assert!(help().contains("sh new [SECS [--delete]"));
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
    }
}
