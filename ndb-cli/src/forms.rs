//! The short forms: one table row per command, from which requests are
//! written and `help`, usage lines, hints and tab completion are drawn.
//!
//! Owns: the table ([`FORMS`]), finding the row a line names, writing its
//! request body, and the help text. Must not touch: the connection, output.
//!
//! A row is named by one word (`set`) or two (`sh set`; arrays and lists
//! fit the same way: `iarr create`, `olst add`), followed by its arguments.
//! Adding a command is one row: its words, an argument synopsis, the wire
//! command, a summary, and a function writing the body from the arguments.

use crate::line::{Word, write_str};

/// Writes a request body's members from a row's arguments. `Err("")` means
/// the arguments do not fit the synopsis (the usage line says why); any
/// other message is shown before the usage line.
type Build = fn(&mut Body, &[Word]) -> Result<(), String>;

/// One short form.
pub struct Form {
    /// The words that name it, lower case: `["set"]`, `["sh", "set"]`.
    pub words: &'static [&'static str],
    /// What follows the words: `KEY VALUE [KEY VALUE ...]`, empty for none.
    pub args: &'static str,
    /// The wire command it sends.
    pub command: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    build: Build,
}

impl Form {
    /// `words args`, e.g. `sh get TKN [KEY ...]`.
    pub fn usage(&self) -> String {
        let name = self.words.join(" ");
        if self.args.is_empty() { name } else { format!("{name} {}", self.args) }
    }
}

/// Every short form, in the order `help` lists them.
pub const FORMS: &[Form] = &[
    Form {
        words: &["set"],
        args: "KEY VALUE [KEY VALUE ...]",
        command: "KV_SET",
        summary: "store keys, replacing their values",
        build: |b, a| b.pairs("keys", a, 1),
    },
    Form {
        words: &["add"],
        args: "KEY VALUE [KEY VALUE ...]",
        command: "KV_ADD",
        summary: "store the keys that do not exist yet",
        build: |b, a| b.pairs("keys", a, 1),
    },
    Form {
        words: &["get"],
        args: "[KEY ...]",
        command: "KV_GET",
        summary: "the values of the keys that exist",
        build: |b, a| b.names("keys", a, 0),
    },
    Form {
        words: &["rmv"],
        args: "KEY [KEY ...]",
        command: "KV_RMV",
        summary: "delete keys",
        build: |b, a| b.names("keys", a, 1),
    },
    Form {
        words: &["contains"],
        args: "KEY [KEY ...]",
        command: "KV_CONTAINS",
        summary: "which of the keys exist",
        build: |b, a| b.names("keys", a, 1),
    },
    Form { words: &["keys"], args: "", command: "KV_KEYS", summary: "every key name", build: none },
    Form { words: &["count"], args: "", command: "KV_COUNT", summary: "the number of keys", build: none },
    Form { words: &["clear"], args: "", command: "KV_CLEAR", summary: "delete every key", build: none },
    Form {
        words: &["clearset"],
        args: "[KEY VALUE ...]",
        command: "KV_CLEAR_SET",
        summary: "delete every key, then store these",
        build: |b, a| b.pairs("keys", a, 0),
    },
    Form {
        words: &["find"],
        args: "PATH [KEY ...] [--paths | --kv]",
        command: "KV_FIND",
        summary: "keys whose value the JSONPath matches (--paths: the paths matched; --kv: keys and values)",
        build: find,
    },
    Form {
        words: &["update"],
        args: "KEY PATH VALUE",
        command: "KV_UPDATE",
        summary: "replace every node the JSONPath selects in the key's value",
        build: |b, a| match a {
            [key, path, value] => {
                b.string("key", key);
                b.string("path", path);
                b.value("value", value);
                Ok(())
            }
            _ => Err(String::new()),
        },
    },
    Form {
        words: &["append"],
        args: "KEY ITEM [ITEM ...] [--name MEMBER]",
        command: "KV_ARR_APPEND",
        summary: "append items to the key's array value, or to its member MEMBER",
        build: append,
    },
    Form { words: &["save"], args: "NAME", command: "KV_SAVE", summary: "save every key under NAME", build: name },
    Form { words: &["load"], args: "NAME", command: "KV_LOAD", summary: "load the keys of the save NAME", build: name },
    Form { words: &["info"], args: "", command: "SV_INFO", summary: "server version and statistics", build: none },
    Form {
        words: &["slowlog"],
        args: "[reset]",
        command: "SV_SLOWLOG",
        summary: "the slow-request log, newest first (reset: then empty it); ndb only",
        build: |b, a| match a {
            [] => Ok(()),
            [word] if word.text() == "reset" => {
                b.raw_member("reset", "true");
                Ok(())
            }
            _ => Err(String::new()),
        },
    },
    Form {
        words: &["clients"],
        args: "",
        command: "SV_CLIENTS",
        summary: "the open connections; ndb only",
        build: none,
    },
    Form {
        words: &["config"],
        args: "",
        command: "SV_CONFIG",
        summary: "the settings the server runs with; ndb only",
        build: none,
    },
    Form {
        words: &["sh", "new"],
        args: "[SECS [--delete] [--extend-set] [--extend-get]]",
        command: "SH_NEW",
        summary: "create a session (no SECS: it never expires)",
        build: |b, a| match a {
            [] => Ok(()),
            [secs, flags @ ..] => b.expiry(secs, flags),
        },
    },
    Form { words: &["sh", "end"], args: "TKN", command: "SH_END", summary: "delete a session", build: token },
    Form { words: &["sh", "endall"], args: "", command: "SH_END_ALL", summary: "delete every session", build: none },
    Form {
        words: &["sh", "exists"],
        args: "TKN [TKN ...]",
        command: "SH_EXISTS",
        summary: "which of the sessions exist",
        build: |b, a| b.tokens("tkns", a),
    },
    Form {
        words: &["sh", "info"],
        args: "TKN",
        command: "SH_INFO",
        summary: "a session's keys and expiry",
        build: token,
    },
    Form {
        words: &["sh", "infoall"],
        args: "",
        command: "SH_INFO_ALL",
        summary: "the number of sessions and of their keys",
        build: none,
    },
    Form {
        words: &["sh", "set"],
        args: "TKN KEY VALUE [KEY VALUE ...]",
        command: "SH_SET",
        summary: "set in a session",
        build: |b, a| with_token(b, a, |b, rest| b.pairs("keys", rest, 1)),
    },
    Form {
        words: &["sh", "add"],
        args: "TKN KEY VALUE [KEY VALUE ...]",
        command: "SH_ADD",
        summary: "add in a session",
        build: |b, a| with_token(b, a, |b, rest| b.pairs("keys", rest, 1)),
    },
    Form {
        words: &["sh", "get"],
        args: "TKN [KEY ...]",
        command: "SH_GET",
        summary: "get from a session",
        build: |b, a| with_token(b, a, |b, rest| b.names("keys", rest, 0)),
    },
    Form {
        words: &["sh", "rmv"],
        args: "TKN KEY [KEY ...]",
        command: "SH_RMV",
        summary: "delete keys of a session",
        build: |b, a| with_token(b, a, |b, rest| b.names("keys", rest, 1)),
    },
    Form {
        words: &["sh", "contains"],
        args: "TKN KEY [KEY ...]",
        command: "SH_CONTAINS",
        summary: "which of the keys a session has",
        build: |b, a| with_token(b, a, |b, rest| b.names("keys", rest, 1)),
    },
    Form { words: &["sh", "keys"], args: "TKN", command: "SH_KEYS", summary: "a session's key names", build: token },
    Form {
        words: &["sh", "count"],
        args: "TKN",
        command: "SH_COUNT",
        summary: "the number of keys in a session",
        build: token,
    },
    Form {
        words: &["sh", "clear"],
        args: "TKN",
        command: "SH_CLEAR",
        summary: "delete a session's keys",
        build: token,
    },
    Form {
        words: &["sh", "clearset"],
        args: "TKN [KEY VALUE ...]",
        command: "SH_CLEAR_SET",
        summary: "delete a session's keys, then store these",
        build: |b, a| with_token(b, a, |b, rest| b.pairs("keys", rest, 0)),
    },
    Form {
        words: &["sh", "save"],
        args: "NAME [TKN ...]",
        command: "SH_SAVE",
        summary: "save every session (or these) under NAME",
        build: |b, a| match a {
            [name] => {
                b.string("name", name);
                Ok(())
            }
            [name, tkns @ ..] => {
                b.string("name", name);
                b.tokens("tkns", tkns)
            }
            [] => Err(String::new()),
        },
    },
    Form {
        words: &["sh", "load"],
        args: "NAME",
        command: "SH_LOAD",
        summary: "create the sessions of the save NAME",
        build: name,
    },
];

/// The shell's own words, for completion (they send nothing).
pub const SHELL_WORDS: &[&str] = &["help", "quit", "exit"];

fn none(_: &mut Body, args: &[Word]) -> Result<(), String> {
    if args.is_empty() { Ok(()) } else { Err(String::new()) }
}

fn name(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name] = args else { return Err(String::new()) };
    b.string("name", name);
    Ok(())
}

fn token(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [tkn] = args else { return Err(String::new()) };
    b.token(tkn)
}

/// A session form: `TKN` first, then what `rest` writes; `tkn` goes last.
fn with_token(b: &mut Body, args: &[Word], rest: Build) -> Result<(), String> {
    let Some((tkn, args)) = args.split_first() else { return Err(String::new()) };
    rest(b, args)?;
    b.token(tkn)
}

fn find(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let mut rsp = "keys";
    let mut words = Vec::new();
    for word in args {
        match word.flag() {
            Some("--paths") => rsp = "paths",
            Some("--kv") => rsp = "kv",
            Some("--keys") => rsp = "keys",
            Some(other) => return Err(format!("unknown flag {other:?}")),
            None => words.push(word.clone()),
        }
    }
    let Some((path, keys)) = words.split_first() else { return Err(String::new()) };
    if !keys.is_empty() {
        b.names("keys", keys, 1)?;
    }
    b.string("path", path);
    b.raw_member("rsp", &format!("\"{rsp}\""));
    Ok(())
}

fn append(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let mut member = None;
    let mut words = Vec::new();
    let mut rest = args.iter();
    while let Some(word) = rest.next() {
        match word.flag() {
            Some("--name") => member = Some(rest.next().ok_or("--name needs a MEMBER")?),
            Some(other) => return Err(format!("unknown flag {other:?}")),
            None => words.push(word),
        }
    }
    let Some((key, items)) = words.split_first() else { return Err(String::new()) };
    if items.is_empty() {
        return Err(String::new());
    }
    b.member("items");
    b.out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            b.out.push(b',');
        }
        item.write_value(&mut b.out);
    }
    b.out.push(b']');
    b.string("key", key);
    if let Some(member) = member {
        b.string("name", member);
    }
    Ok(())
}

/// What the words of a line name.
pub enum Lookup<'w> {
    /// A form, and the words after its name.
    Form(&'static Form, &'w [Word]),
    /// No form: the name as typed (one or two words), for the message.
    Unknown(String),
}

/// Finds the form the first one or two of `words` name (case-insensitive).
pub fn lookup(words: &[Word]) -> Lookup<'_> {
    let lower: Vec<String> = words.iter().take(2).map(|w| w.text().to_ascii_lowercase()).collect();
    let matches = |form: &Form| form.words.iter().zip(&lower).all(|(a, b)| a == b) && form.words.len() <= lower.len();
    // Two-word names first, so `sh set` is never taken for a form `sh`.
    let mut best: Option<&Form> = None;
    for form in FORMS.iter().filter(|f| matches(f)) {
        if best.is_none_or(|b| form.words.len() > b.words.len()) {
            best = Some(form);
        }
    }
    match best {
        Some(form) => Lookup::Form(form, &words[form.words.len()..]),
        None => {
            let group = lower.first().is_some_and(|first| is_group(first));
            Lookup::Unknown(if group { lower.join(" ") } else { lower.first().cloned().unwrap_or_default() })
        }
    }
}

/// Whether `word` is the first of some two-word names (`sh`).
pub fn is_group(word: &str) -> bool {
    FORMS.iter().any(|f| f.words.len() > 1 && f.words[0] == word)
}

/// The request `form` sends for `args`: `{"COMMAND":{members}}`.
///
/// # Errors
/// The usage message when the arguments do not fit.
pub fn request(form: &Form, args: &[Word]) -> Result<String, String> {
    let mut b = Body { out: Vec::new() };
    (form.build)(&mut b, args).map_err(|why| usage(&form.words.join(" "), why))?;
    let mut text = format!("{{\"{}\":{{", form.command);
    text.push_str(&String::from_utf8_lossy(&b.out));
    text.push_str("}}");
    Ok(text)
}

/// The usage line for the forms whose name starts with `name`, with what
/// was wrong if known.
pub fn usage(name: &str, why: String) -> String {
    let forms: Vec<String> = FORMS
        .iter()
        .filter(|f| {
            let full = f.words.join(" ");
            full.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        })
        .map(Form::usage)
        .collect();
    match (forms.is_empty(), why.is_empty()) {
        (true, _) => format!("unknown command {name:?}; type help (raw requests look like KV_SET {{\"keys\":{{}}}})"),
        (false, true) => format!("usage: {}", forms.join(" | ")),
        (false, false) => format!("{why}; usage: {}", forms.join(" | ")),
    }
}

/// The in-shell help: raw requests, every short form, shell commands.
pub fn help() -> String {
    let mut out = String::from(
        "Raw requests are sent as typed:\n  KV_SET {\"keys\":{\"a\":1}}      {\"KV_SET\":{\"keys\":{\"a\":1}}}\n  \
         {\"KV_COUNT\":{}}              sent exactly\n\nShort forms (values are JSON where they parse, else strings):\n",
    );
    for form in FORMS {
        out.push_str(&format!("  {:<56}{}\n", form.usage(), form.command));
    }
    out.push_str(
        "\nhelp COMMAND shows one form (help set, help sh get, help KV_FIND);\nquit or exit (or Ctrl-D) leaves.\n",
    );
    out
}

/// `help TOPIC`: the forms named by `topic` (`set`, `sh`, `sh get`) or
/// sending the command `topic` (`KV_SET`), with their summaries.
///
/// # Errors
/// A message when nothing matches.
pub fn help_topic(topic: &str) -> Result<String, String> {
    let topic = topic.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = topic.to_ascii_lowercase();
    let chosen: Vec<&Form> = FORMS
        .iter()
        .filter(|f| {
            let name = f.words.join(" ");
            f.command.eq_ignore_ascii_case(&topic) || name == lower || (f.words.len() > 1 && f.words[0] == lower)
        })
        .collect();
    if chosen.is_empty() {
        return Err(format!("no short form named {topic:?}; type help for the list"));
    }
    let mut out = String::new();
    for form in chosen {
        out.push_str(&format!("  {}\n      {}: {}\n", form.usage(), form.command, form.summary));
    }
    Ok(out)
}

/// The members of a request body being written.
pub struct Body {
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

    fn raw_member(&mut self, name: &str, json: &str) {
        self.member(name);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn value(&mut self, name: &str, word: &Word) {
        self.member(name);
        word.write_value(&mut self.out);
    }

    fn pairs(&mut self, name: &str, words: &[Word], min_pairs: usize) -> Result<(), String> {
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
        Ok(())
    }

    fn names(&mut self, name: &str, words: &[Word], min: usize) -> Result<(), String> {
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
        Ok(())
    }

    fn string(&mut self, name: &str, word: &Word) {
        self.member(name);
        write_str(&mut self.out, &word.key());
    }

    fn token(&mut self, word: &Word) -> Result<(), String> {
        let tkn = parse_u64(word, "TKN")?;
        self.raw_member("tkn", &tkn.to_string());
        Ok(())
    }

    fn tokens(&mut self, name: &str, words: &[Word]) -> Result<(), String> {
        if words.is_empty() {
            return Err(String::new());
        }
        let tkns = words.iter().map(|w| parse_u64(w, "TKN").map(|t| t.to_string())).collect::<Result<Vec<_>, _>>()?;
        self.raw_member(name, &format!("[{}]", tkns.join(",")));
        Ok(())
    }

    fn expiry(&mut self, secs: &Word, flags: &[Word]) -> Result<(), String> {
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
        self.raw_member(
            "expiry",
            &format!(
                "{{\"deleteSession\":{delete},\"duration\":{duration},\"extendOnGet\":{extend_get},\
                 \"extendOnSetAdd\":{extend_set}}}"
            ),
        );
        Ok(())
    }
}

fn parse_u64(word: &Word, what: &str) -> Result<u64, String> {
    word.text().parse().map_err(|_| format!("{what} must be an unsigned integer (got {:?})", word.text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_lower_case() {
        for (i, a) in FORMS.iter().enumerate() {
            assert!(a.words.iter().all(|w| *w == w.to_ascii_lowercase()), "{:?}", a.words);
            for b in &FORMS[i + 1..] {
                assert_ne!(a.words, b.words);
            }
            assert!(!SHELL_WORDS.contains(&a.words[0]));
        }
    }

    #[test]
    fn help_topics() {
        let set = help_topic("set").unwrap();
        assert_eq!(set, "  set KEY VALUE [KEY VALUE ...]\n      KV_SET: store keys, replacing their values\n");
        assert_eq!(help_topic("KV_SET").unwrap(), set);
        assert_eq!(help_topic("kv_set").unwrap(), set);
        assert!(help_topic("sh  get").unwrap().starts_with("  sh get TKN [KEY ...]\n      SH_GET: "));
        assert_eq!(help_topic("sh").unwrap().lines().count(), 2 * FORMS.iter().filter(|f| f.words[0] == "sh").count());
        assert_eq!(help_topic("nope").unwrap_err(), "no short form named \"nope\"; type help for the list");
    }
}
