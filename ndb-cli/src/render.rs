//! How ndb-cli shows a reply, in each [`Output`] mode: pretty-printed JSON
//! (coloured on a terminal, with a `(error) N Name` line above any reply
//! whose status is an error), the reply exactly as received, its result as
//! one line of JSON, or its result as CSV rows.
//!
//! Owns: the JSON layout and colours, the result of a reply, CSV, and
//! deciding whether a reply is an error. Must not touch: the connection.
//!
//! Every mode keeps the reply's own text: member order, number spelling
//! (`1e3` stays `1e3`) and string escapes are as the server sent them. A
//! value that fits in [`WIDTH`] columns stays on one line; larger ones are
//! broken one member or item per line, indented by two spaces.

use ndb_client::{Protocol, Status};
use serde_json::Value;

/// Columns a one-line value may take.
const WIDTH: usize = 80;

/// ANSI colours, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    on: bool,
}

impl Style {
    /// No colour (output to a pipe or file, or `NO_COLOR` set).
    pub const PLAIN: Style = Style { on: false };
    /// Colour (output to a terminal).
    pub const COLOUR: Style = Style { on: true };

    fn paint(self, out: &mut String, code: &str, text: &str) {
        if self.on {
            out.push_str("\x1b[");
            out.push_str(code);
            out.push('m');
            out.push_str(text);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(text);
        }
    }

    /// `text` in red (bold) when colour is on.
    pub fn error(self, text: &str) -> String {
        let mut out = String::new();
        self.paint(&mut out, "1;31", text);
        out
    }
}

const KEY: &str = "34";
const STRING: &str = "32";
const NUMBER: &str = "36";
const LITERAL: &str = "35";

/// What a reply's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Success: 1, or a completed save or load.
    Success,
    /// An error status, with its number and name.
    Error { code: u64, name: &'static str, message: String },
    /// Not a reply of the protocol (no `st`, or not JSON).
    Unreadable,
}

/// Whether the meaning of the reply's `st` depends on the status numbering
/// (120 to 123: the save statuses, shifted by one in 0.9).
pub fn depends_on_protocol(reply: &str) -> bool {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(reply) else { return false };
    let code = doc.values().next().and_then(|body| body.get("st")).and_then(Value::as_u64);
    code.is_some_and(|code| Status::from_code(code, Protocol::V07) != Status::from_code(code, Protocol::V09))
}

/// How replies are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Pretty-printed, in this style (the default).
    Pretty(Style),
    /// Exactly as received, one reply per line (`--raw`).
    Raw,
    /// The reply's result as one line of JSON; an error as
    /// `{"error":{...}}` (`--json`).
    Json,
    /// The reply's result as CSV rows; an error on standard error (`--csv`).
    Csv,
}

/// What to print for one reply: text for standard output and for standard
/// error (each empty or ending in a newline).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shown {
    /// For standard output.
    pub out: String,
    /// For standard error.
    pub err: String,
}

/// What to print for the reply `text`, judged by `verdict`, in `output` mode.
pub fn show(text: &str, verdict: &Verdict, output: Output) -> Shown {
    match output {
        Output::Pretty(style) => Shown { out: reply(text, verdict, style), err: String::new() },
        Output::Raw => Shown { out: format!("{text}\n"), err: String::new() },
        Output::Json => Shown { out: json_line(text, verdict), err: String::new() },
        Output::Csv => match verdict {
            Verdict::Success => Shown { out: csv(text), err: String::new() },
            _ => Shown { out: String::new(), err: error_line(verdict).unwrap_or_default() + "\n" },
        },
    }
}

/// `(error) 42 ValueSize: keys`, or `None` for a success.
fn error_line(verdict: &Verdict) -> Option<String> {
    match verdict {
        Verdict::Error { code, name, message } if message.is_empty() => Some(format!("(error) {code} {name}")),
        Verdict::Error { code, name, message } => Some(format!("(error) {code} {name}: {message}")),
        Verdict::Unreadable => Some("(error) not a protocol reply".to_owned()),
        Verdict::Success => None,
    }
}

/// The result of a successful reply: its body without `st` (and without
/// `tkn`, an echo of the request's, except from `SH_NEW`): the one member
/// left, unwrapped (`cnt`'s number, `keys`'s object or array), `None` when
/// nothing is left, or an object of what is left (`SV_INFO`, `SH_INFO`).
fn result<'a>(node: &Node<'a>) -> Option<Node<'a>> {
    let Node::Object(doc) = node else { return None };
    let [(rsp, Node::Object(members))] = doc.as_slice() else { return None };
    let keep = |name: &str| name != "\"st\"" && (name != "\"tkn\"" || *rsp == "\"SH_NEW_RSP\"");
    let mut left: Vec<(&'a str, Node<'a>)> =
        members.iter().filter(|(name, _)| keep(name)).map(|(name, value)| (*name, value.clone())).collect();
    match left.len() {
        0 => None,
        1 => left.pop().map(|(_, value)| value),
        _ => Some(Node::Object(left)),
    }
}

/// `--json`: one line per reply.
fn json_line(text: &str, verdict: &Verdict) -> String {
    let mut out = String::new();
    match (verdict, parse(text)) {
        (Verdict::Success, Some(node)) => match result(&node) {
            Some(value) => write_compact(&value, &mut out),
            None => out.push_str("null"),
        },
        (Verdict::Error { code, name, message }, _) => {
            out.push_str("{\"error\":{\"m\":");
            out.push_str(&Value::from(message.as_str()).to_string());
            out.push_str(&format!(",\"name\":\"{name}\",\"st\":{code}}}}}"));
        }
        _ => {
            out.push_str("{\"error\":{\"name\":\"not a protocol reply\",\"reply\":");
            out.push_str(&Value::from(text).to_string());
            out.push_str("}}");
        }
    }
    out.push('\n');
    out
}

/// `--csv`: a scalar result is one row, an array one row per item, an
/// object one `name,value` row per member; no result prints nothing.
fn csv(text: &str) -> String {
    let mut out = String::new();
    let Some(value) = parse(text).as_ref().and_then(result) else { return out };
    match &value {
        Node::Array(items) => {
            for item in items {
                csv_field(item, &mut out);
                out.push('\n');
            }
        }
        Node::Object(members) => {
            for (name, item) in members {
                csv_field(&Node::Scalar(name), &mut out);
                out.push(',');
                csv_field(item, &mut out);
                out.push('\n');
            }
        }
        Node::Scalar(_) => {
            csv_field(&value, &mut out);
            out.push('\n');
        }
    }
    out
}

/// One CSV field (RFC 4180): a string's contents, any other value's JSON
/// text; quoted when it holds a comma, quote or line break.
fn csv_field(node: &Node<'_>, out: &mut String) {
    let text = match node {
        Node::Scalar(s) if s.starts_with('"') => serde_json::from_str::<String>(s).unwrap_or_else(|_| (*s).to_owned()),
        _ => {
            let mut text = String::new();
            write_compact(node, &mut text);
            text
        }
    };
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&text);
    }
}

/// Writes `node` as compact JSON (no spaces), keeping its scalars' text.
fn write_compact(node: &Node<'_>, out: &mut String) {
    match node {
        Node::Scalar(s) => out.push_str(s),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(item, out);
            }
            out.push(']');
        }
        Node::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(key);
                out.push(':');
                write_compact(value, out);
            }
            out.push('}');
        }
    }
}

/// Judges a reply text by its `st` under `protocol`.
pub fn verdict(reply: &str, protocol: Protocol) -> Verdict {
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(reply) else { return Verdict::Unreadable };
    let Some(body) = doc.values().next().filter(|_| doc.len() == 1).and_then(Value::as_object) else {
        return Verdict::Unreadable;
    };
    let Some(code) = body.get("st").and_then(Value::as_u64) else { return Verdict::Unreadable };
    let status = Status::from_code(code, protocol);
    if matches!(status, Some(Status::Ok | Status::SaveComplete | Status::LoadComplete)) {
        return Verdict::Success;
    }
    let message = body.get("m").and_then(Value::as_str).unwrap_or_default().to_owned();
    Verdict::Error { code, name: status.map_or("unknown status", Status::name), message }
}

/// The text to print for a reply (ending in a newline).
pub fn reply(text: &str, verdict: &Verdict, style: Style) -> String {
    let mut out = String::new();
    if let Some(line) = error_line(verdict) {
        out.push_str(&style.error(&line));
        out.push('\n');
    }
    match parse(text) {
        Some(node) => write(&node, 0, style, &mut out),
        None => out.push_str(text),
    }
    out.push('\n');
    out
}

/// A JSON value that remembers its own text.
#[derive(Clone, Debug)]
enum Node<'a> {
    /// A string (with its quotes and escapes), number, `true`, `false`, `null`.
    Scalar(&'a str),
    Array(Vec<Node<'a>>),
    /// Members: the key with its quotes, and the value.
    Object(Vec<(&'a str, Node<'a>)>),
}

/// Parses JSON text into [`Node`]s; `None` unless it is one JSON value.
fn parse(text: &str) -> Option<Node<'_>> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut p = Parser { text, pos: 0 };
    let node = p.value()?;
    p.skip_space();
    (p.pos == text.len()).then_some(node)
}

/// A recursive-descent reader over text already known to be valid JSON.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.skip_space();
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        members.push((key, self.value()?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Node::Object(members))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Node::Array(items))
            }
            b'"' => self.string().map(Node::Scalar),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(|b| !matches!(b, b',' | b']' | b'}') && !b.is_ascii_whitespace()) {
                    self.pos += 1;
                }
                Some(Node::Scalar(&self.text[start..self.pos]))
            }
        }
    }

    /// A string literal, quotes included.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(&self.text[start..self.pos]);
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// Columns `node` takes on one line (`", "` and `": "` separators).
fn flat_width(node: &Node<'_>) -> usize {
    match node {
        Node::Scalar(s) => s.chars().count(),
        Node::Array(items) => 2 + items.iter().map(flat_width).sum::<usize>() + 2 * items.len().saturating_sub(1),
        Node::Object(members) => {
            2 + members.iter().map(|(k, v)| k.chars().count() + 2 + flat_width(v)).sum::<usize>()
                + 2 * members.len().saturating_sub(1)
        }
    }
}

fn scalar(s: &str, style: Style, out: &mut String) {
    let colour = match s.as_bytes().first() {
        Some(b'"') => STRING,
        Some(b't' | b'f' | b'n') => LITERAL,
        _ => NUMBER,
    };
    style.paint(out, colour, s);
}

/// Writes `node` on a line indented by `indent` columns.
fn write(node: &Node<'_>, indent: usize, style: Style, out: &mut String) {
    write_at(node, indent, indent, style, out);
}

/// Writes `node` starting at column `column` of a line indented by `indent`:
/// on one line if it fits, else one member or item per line.
fn write_at(node: &Node<'_>, indent: usize, column: usize, style: Style, out: &mut String) {
    let empty = match node {
        Node::Scalar(_) => true,
        Node::Array(items) => items.is_empty(),
        Node::Object(members) => members.is_empty(),
    };
    if empty || column + flat_width(node) <= WIDTH {
        return write_flat(node, style, out);
    }
    let inner = indent + 2;
    let newline = |out: &mut String| {
        out.push('\n');
        out.push_str(&" ".repeat(inner));
    };
    match node {
        Node::Scalar(s) => scalar(s, style, out),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                newline(out);
                write_at(item, inner, inner, style, out);
            }
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Node::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                newline(out);
                style.paint(out, KEY, key);
                out.push_str(": ");
                write_at(value, inner, inner + key.chars().count() + 2, style, out);
            }
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
    }
}

/// Writes `node` on one line.
fn write_flat(node: &Node<'_>, style: Style, out: &mut String) {
    match node {
        Node::Scalar(s) => scalar(s, style, out),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                write_flat(item, style, out);
            }
            out.push(']');
        }
        Node::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                style.paint(out, KEY, key);
                out.push_str(": ");
                write_flat(value, style, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        reply(text, &verdict(text, Protocol::V07), Style::PLAIN)
    }

    #[test]
    fn short_replies_stay_on_one_line() {
        assert_eq!(plain(r#"{"KV_SET_RSP":{"st":1}}"#), "{\"KV_SET_RSP\": {\"st\": 1}}\n");
        assert_eq!(plain(r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#), "{\"KV_KEYS_RSP\": {\"keys\": [], \"st\": 1}}\n");
    }

    #[test]
    fn long_replies_break_and_keep_the_servers_text() {
        let text = r#"{"KV_GET_RSP":{"keys":{"profile":{"name":"Ann \"A\" Lee","tags":["x","y"],"n":1e3},"z":null,"a":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},"st":1}}"#;
        let expected = r#"{
  "KV_GET_RSP": {
    "keys": {
      "profile": {"name": "Ann \"A\" Lee", "tags": ["x", "y"], "n": 1e3},
      "z": null,
      "a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    },
    "st": 1
  }
}
"#;
        assert_eq!(plain(text), expected);
    }

    #[test]
    fn errors_are_named_under_the_chosen_numbering() {
        let text = r#"{"KV_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#;
        assert_eq!(
            plain(text),
            "(error) 42 ValueSize: keys\n{\"KV_RMV_RSP\": {\"m\": \"keys\", \"st\": 42, \"tkn\": null}}\n"
        );
        let save = r#"{"KV_SAVE_RSP":{"duration":1,"name":"n","st":121}}"#;
        assert_eq!(verdict(save, Protocol::V07), Verdict::Success);
        assert_eq!(
            verdict(save, Protocol::V09),
            Verdict::Error { code: 121, name: "SaveDirWriteFail", message: String::new() }
        );
        assert_eq!(
            verdict(r#"{"ERR":{"m":"","st":7}}"#, Protocol::V07),
            Verdict::Error { code: 7, name: "unknown status", message: String::new() }
        );
        assert_eq!(verdict("nope", Protocol::V07), Verdict::Unreadable);
        assert_eq!(plain("nope"), "(error) not a protocol reply\nnope\n");
    }

    fn mode(text: &str, output: Output) -> Shown {
        show(text, &verdict(text, Protocol::V07), output)
    }

    #[test]
    fn json_mode_prints_the_result_on_one_line() {
        let rows = [
            (r#"{"KV_SET_RSP":{"st":1}}"#, "null"),
            (r#"{"KV_COUNT_RSP":{"cnt":4,"st":1}}"#, "4"),
            (r#"{"KV_GET_RSP":{"keys":{"a":1e3,"b":{"x": [1, "y"]}},"st":1}}"#, r#"{"a":1e3,"b":{"x":[1,"y"]}}"#),
            (r#"{"KV_KEYS_RSP":{"keys":["a","b"],"st":1}}"#, r#"["a","b"]"#),
            (r#"{"SH_NEW_RSP":{"st":1,"tkn":18446744073709551615}}"#, "18446744073709551615"),
            (r#"{"SH_GET_RSP":{"keys":{"a":1},"st":1,"tkn":7}}"#, r#"{"a":1}"#),
            (r#"{"SH_END_RSP":{"st":1,"tkn":7}}"#, "null"),
            (r#"{"KV_SAVE_RSP":{"duration":3,"name":"n","st":121}}"#, r#"{"duration":3,"name":"n"}"#),
            (
                r#"{"KV_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#,
                r#"{"error":{"m":"keys","name":"ValueSize","st":42}}"#,
            ),
            (r#"{"ERR":{"m":"","st":3}}"#, r#"{"error":{"m":"","name":"JsonInvalid","st":3}}"#),
            ("nope", r#"{"error":{"name":"not a protocol reply","reply":"nope"}}"#),
        ];
        for (reply, line) in rows {
            assert_eq!(mode(reply, Output::Json), Shown { out: format!("{line}\n"), err: String::new() }, "{reply}");
            assert!(serde_json::from_str::<Value>(line).is_ok(), "{line}");
        }
    }

    #[test]
    fn csv_mode_prints_rows() {
        let out = |reply: &str| mode(reply, Output::Csv).out;
        assert_eq!(out(r#"{"KV_SET_RSP":{"st":1}}"#), "");
        assert_eq!(out(r#"{"KV_COUNT_RSP":{"cnt":4,"st":1}}"#), "4\n");
        assert_eq!(out(r#"{"KV_KEYS_RSP":{"keys":["a","b,c","d\"e"],"st":1}}"#), "a\n\"b,c\"\n\"d\"\"e\"\n");
        assert_eq!(
            out(r#"{"KV_GET_RSP":{"keys":{"a":1e3,"s":"x\ny","o":{"p": [1, 2]}},"st":1}}"#),
            "a,1e3\ns,\"x\ny\"\no,\"{\"\"p\"\":[1,2]}\"\n"
        );
        assert_eq!(
            mode(r#"{"KV_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#, Output::Csv),
            Shown { out: String::new(), err: "(error) 42 ValueSize: keys\n".into() }
        );
    }

    #[test]
    fn only_save_statuses_depend_on_the_numbering() {
        for (reply, depends) in [
            (r#"{"KV_SAVE_RSP":{"name":"n","st":120}}"#, true),
            (r#"{"KV_SAVE_RSP":{"name":"n","st":121}}"#, true),
            (r#"{"KV_SAVE_RSP":{"name":"n","st":123}}"#, true),
            (r#"{"KV_LOAD_RSP":{"name":"n","st":141}}"#, false),
            (r#"{"KV_SET_RSP":{"st":1}}"#, false),
            ("nope", false),
        ] {
            assert_eq!(depends_on_protocol(reply), depends, "{reply}");
        }
    }

    #[test]
    fn colour_marks_keys_values_and_errors() {
        let text = r#"{"ERR":{"m":"","st":3}}"#;
        let got = reply(text, &verdict(text, Protocol::V07), Style::COLOUR);
        assert!(got.starts_with("\x1b[1;31m(error) 3 JsonInvalid\x1b[0m\n"), "{got:?}");
        assert!(got.contains("\x1b[34m\"st\"\x1b[0m: \x1b[36m3\x1b[0m"), "{got:?}");
        assert!(got.contains("\x1b[32m\"\"\x1b[0m"), "{got:?}");
    }
}
