//! The short forms: one table row per command, from which requests are
//! written and `help`, usage lines, hints and tab completion are drawn.
//!
//! Owns: the table ([`FORMS`]), finding the row a line names, writing its
//! request body, and the help text. Must not touch: the connection, output.
//!
//! A row is named by one word (`set`) or two (`sh set`, and for arrays and
//! lists the type's prefix and the command: `iarr create`, `olst get-rng`),
//! followed by its arguments. Adding a command is one row: its words, an
//! argument synopsis, the wire command, a summary, and a function writing
//! the body from the arguments (array and list rows through the `row!` macro).

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

/// One array or list row: `row!("iarr", "IARR", "get-rng", "GET_RNG",
/// "NAME START [STOP]", "summary", build)` is the form `iarr get-rng`
/// sending `IARR_GET_RNG`.
macro_rules! row {
    ($prefix:literal, $wire:literal, $word:literal, $op:literal, $args:literal, $summary:literal, $build:expr) => {
        Form {
            words: &[$prefix, $word],
            args: $args,
            command: concat!($wire, "_", $op),
            summary: $summary,
            build: $build,
        }
    };
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
    row!("oarr", "OARR", "create", "CREATE", "NAME LEN", "create an array of LEN objects", create_array),
    row!("oarr", "OARR", "delete", "DELETE", "NAME", "delete an array", name),
    row!("oarr", "OARR", "delete-all", "DELETE_ALL", "", "delete every array of this type", none),
    row!("oarr", "OARR", "exist", "EXIST", "NAME", "whether the array exists (st 1 or 22)", name),
    row!("oarr", "OARR", "len", "LEN", "NAME", "the array's capacity", name),
    row!("oarr", "OARR", "used", "USED", "NAME", "how many slots are used", name),
    row!("oarr", "OARR", "set", "SET", "NAME ITEM [--pos POS]", "append an item, or write slot POS", set_value),
    row!(
        "oarr",
        "OARR",
        "set-rng",
        "SET_RNG",
        "NAME ITEM [ITEM ...] [--pos POS]",
        "append, or write from slot POS",
        set_values
    ),
    row!("oarr", "OARR", "get", "GET", "NAME POS", "the item in slot POS", get),
    row!("oarr", "OARR", "get-rng", "GET_RNG", "NAME START [STOP]", "used items from START (to STOP)", name_range),
    row!("oarr", "OARR", "clear", "CLEAR", "NAME START [STOP]", "remove used items START to STOP", name_range),
    row!("oarr", "OARR", "swap", "SWAP", "NAME POS POS", "exchange two slots", swap),
    row!("iarr", "IARR", "create", "CREATE", "NAME LEN", "create an array of LEN integers", create_array),
    row!("iarr", "IARR", "delete", "DELETE", "NAME", "delete an array", name),
    row!("iarr", "IARR", "delete-all", "DELETE_ALL", "", "delete every array of this type", none),
    row!("iarr", "IARR", "exist", "EXIST", "NAME", "whether the array exists (st 1 or 22)", name),
    row!("iarr", "IARR", "len", "LEN", "NAME", "the array's capacity", name),
    row!("iarr", "IARR", "used", "USED", "NAME", "how many slots are used", name),
    row!("iarr", "IARR", "set", "SET", "NAME ITEM [--pos POS]", "append an item, or write slot POS", set_value),
    row!(
        "iarr",
        "IARR",
        "set-rng",
        "SET_RNG",
        "NAME ITEM [ITEM ...] [--pos POS]",
        "append, or write from slot POS",
        set_values
    ),
    row!("iarr", "IARR", "get", "GET", "NAME POS", "the item in slot POS", get),
    row!("iarr", "IARR", "get-rng", "GET_RNG", "NAME START [STOP]", "used items from START (to STOP)", name_range),
    row!("iarr", "IARR", "clear", "CLEAR", "NAME START [STOP]", "remove used items START to STOP", name_range),
    row!("iarr", "IARR", "swap", "SWAP", "NAME POS POS", "exchange two slots", swap),
    row!("strarr", "STRARR", "create", "CREATE", "NAME LEN", "create an array of LEN strings", create_array),
    row!("strarr", "STRARR", "delete", "DELETE", "NAME", "delete an array", name),
    row!("strarr", "STRARR", "delete-all", "DELETE_ALL", "", "delete every array of this type", none),
    row!("strarr", "STRARR", "exist", "EXIST", "NAME", "whether the array exists (st 1 or 22)", name),
    row!("strarr", "STRARR", "len", "LEN", "NAME", "the array's capacity", name),
    row!("strarr", "STRARR", "used", "USED", "NAME", "how many slots are used", name),
    row!("strarr", "STRARR", "set", "SET", "NAME ITEM [--pos POS]", "append an item, or write slot POS", set_text),
    row!(
        "strarr",
        "STRARR",
        "set-rng",
        "SET_RNG",
        "NAME ITEM [ITEM ...] [--pos POS]",
        "append, or write from slot POS",
        set_texts
    ),
    row!("strarr", "STRARR", "get", "GET", "NAME POS", "the item in slot POS", get),
    row!("strarr", "STRARR", "get-rng", "GET_RNG", "NAME START [STOP]", "used items from START (to STOP)", name_range),
    row!("strarr", "STRARR", "clear", "CLEAR", "NAME START [STOP]", "remove used items START to STOP", name_range),
    row!("strarr", "STRARR", "swap", "SWAP", "NAME POS POS", "exchange two slots", swap),
    row!("siarr", "SIARR", "create", "CREATE", "NAME LEN", "create a sorted array of LEN integers", create_array),
    row!("siarr", "SIARR", "delete", "DELETE", "NAME", "delete an array", name),
    row!("siarr", "SIARR", "delete-all", "DELETE_ALL", "", "delete every array of this type", none),
    row!("siarr", "SIARR", "exist", "EXIST", "NAME", "whether the array exists (st 1 or 22)", name),
    row!("siarr", "SIARR", "len", "LEN", "NAME", "the array's capacity", name),
    row!("siarr", "SIARR", "used", "USED", "NAME", "how many slots are used", name),
    row!("siarr", "SIARR", "set", "SET", "NAME ITEM", "insert an item in order", insert_value),
    row!("siarr", "SIARR", "set-rng", "SET_RNG", "NAME ITEM [ITEM ...]", "merge items in order", merge_values),
    row!("siarr", "SIARR", "get", "GET", "NAME POS", "the item in slot POS", get),
    row!("siarr", "SIARR", "get-rng", "GET_RNG", "NAME START [STOP]", "used items from START (to STOP)", name_range),
    row!("siarr", "SIARR", "clear", "CLEAR", "NAME START [STOP]", "remove used items START to STOP", name_range),
    row!("siarr", "SIARR", "min", "MIN", "NAME N", "the N smallest items, ascending", extremes),
    row!("siarr", "SIARR", "max", "MAX", "NAME N", "the N largest items, descending", extremes),
    row!("siarr", "SIARR", "intersect", "INTERSECT", "NAME NAME", "the items two arrays have in common", intersect),
    row!("sstrarr", "SSTRARR", "create", "CREATE", "NAME LEN", "create a sorted array of LEN strings", create_array),
    row!("sstrarr", "SSTRARR", "delete", "DELETE", "NAME", "delete an array", name),
    row!("sstrarr", "SSTRARR", "delete-all", "DELETE_ALL", "", "delete every array of this type", none),
    row!("sstrarr", "SSTRARR", "exist", "EXIST", "NAME", "whether the array exists (st 1 or 22)", name),
    row!("sstrarr", "SSTRARR", "len", "LEN", "NAME", "the array's capacity", name),
    row!("sstrarr", "SSTRARR", "used", "USED", "NAME", "how many slots are used", name),
    row!("sstrarr", "SSTRARR", "set", "SET", "NAME ITEM", "insert an item in order", insert_text),
    row!("sstrarr", "SSTRARR", "set-rng", "SET_RNG", "NAME ITEM [ITEM ...]", "merge items in order", merge_texts),
    row!("sstrarr", "SSTRARR", "get", "GET", "NAME POS", "the item in slot POS", get),
    row!(
        "sstrarr",
        "SSTRARR",
        "get-rng",
        "GET_RNG",
        "NAME START [STOP]",
        "used items from START (to STOP)",
        name_range
    ),
    row!("sstrarr", "SSTRARR", "clear", "CLEAR", "NAME START [STOP]", "remove used items START to STOP", name_range),
    row!("sstrarr", "SSTRARR", "min", "MIN", "NAME N", "the N smallest items, ascending", extremes),
    row!("sstrarr", "SSTRARR", "max", "MAX", "NAME N", "the N largest items, descending", extremes),
    row!("sstrarr", "SSTRARR", "intersect", "INTERSECT", "NAME NAME", "the items two arrays have in common", intersect),
    row!("olst", "OLST", "create", "CREATE", "NAME", "create an empty list of objects", name),
    row!("olst", "OLST", "delete", "DELETE", "NAME", "delete a list", name),
    row!("olst", "OLST", "delete-all", "DELETE_ALL", "", "delete every list", none),
    row!("olst", "OLST", "exist", "EXIST", "NAME", "whether the list exists (st 1 or 22)", name),
    row!("olst", "OLST", "len", "LEN", "NAME", "the number of items", name),
    row!(
        "olst",
        "OLST",
        "add",
        "ADD",
        "NAME ITEM [ITEM ...] [--pos POS]",
        "append items, or insert them before POS",
        set_values
    ),
    row!("olst", "OLST", "set-rng", "SET_RNG", "NAME POS ITEM [ITEM ...]", "overwrite items from POS", list_set_rng),
    row!("olst", "OLST", "get", "GET", "NAME [POS]", "the item at POS (without POS, the tail)", list_get),
    row!("olst", "OLST", "get-rng", "GET_RNG", "NAME START [STOP]", "the items from START (to STOP)", name_range),
    row!(
        "olst",
        "OLST",
        "rmv",
        "RMV",
        "NAME [START [STOP]] [--head] [--tail]",
        "remove the head, the tail, then items from START",
        list_rmv
    ),
    row!(
        "olst",
        "OLST",
        "splice",
        "SPLICE",
        "SRC START [STOP] DEST [--pos POS]",
        "move items of SRC before POS of DEST (made if need be)",
        list_splice
    ),
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

/// How an array or list item is written: as typed when it is JSON, else
/// as a string (integers, objects: the server checks the type), or always
/// as a string (string arrays: `strarr set names 007` stores `"007"`).
#[derive(Clone, Copy)]
enum Item {
    Json,
    Text,
}

/// Splits `--pos POS` (when `pos` is allowed) from the other words.
fn take_pos(args: &[Word], pos: bool) -> Result<(Vec<Word>, Option<u64>), String> {
    let mut words = Vec::new();
    let mut at = None;
    let mut rest = args.iter();
    while let Some(word) = rest.next() {
        match word.flag() {
            Some("--pos") if pos => at = Some(parse_u64(rest.next().ok_or("--pos needs a POS")?, "POS")?),
            Some(other) => return Err(format!("unknown flag {other:?}")),
            None => words.push(word.clone()),
        }
    }
    Ok((words, at))
}

fn create_array(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name, len] = args else { return Err(String::new()) };
    b.string("name", name);
    b.uint("len", len, "LEN")
}

fn set_value(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set(b, args, Item::Json, true)
}

fn set_text(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set(b, args, Item::Text, true)
}

/// A sorted array's `SET`: no position.
fn insert_value(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set(b, args, Item::Json, false)
}

fn insert_text(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set(b, args, Item::Text, false)
}

fn set_values(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set_rng(b, args, Item::Json, true)
}

fn set_texts(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set_rng(b, args, Item::Text, true)
}

/// A sorted array's `SET_RNG`: no position.
fn merge_values(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set_rng(b, args, Item::Json, false)
}

fn merge_texts(b: &mut Body, args: &[Word]) -> Result<(), String> {
    set_rng(b, args, Item::Text, false)
}

fn set(b: &mut Body, args: &[Word], item: Item, pos: bool) -> Result<(), String> {
    let (words, at) = take_pos(args, pos)?;
    let [name, value] = words.as_slice() else { return Err(String::new()) };
    b.string("name", name);
    b.item("item", value, item);
    if let Some(at) = at {
        b.raw_member("pos", &at.to_string());
    }
    Ok(())
}

fn set_rng(b: &mut Body, args: &[Word], item: Item, pos: bool) -> Result<(), String> {
    let (words, at) = take_pos(args, pos)?;
    let Some((name, items)) = words.split_first() else { return Err(String::new()) };
    if items.is_empty() {
        return Err(String::new());
    }
    b.string("name", name);
    b.items("items", items, item);
    if let Some(at) = at {
        b.raw_member("pos", &at.to_string());
    }
    Ok(())
}

fn get(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name, pos] = args else { return Err(String::new()) };
    b.string("name", name);
    b.uint("pos", pos, "POS")
}

/// `NAME START [STOP]`: `name` and `rng`, `[START]` or `[START,STOP]`.
fn name_range(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let Some((name, range)) = args.split_first() else { return Err(String::new()) };
    b.string("name", name);
    b.range("rng", range)
}

fn swap(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name, a, c] = args else { return Err(String::new()) };
    b.string("name", name);
    b.uint("posA", a, "POS")?;
    b.uint("posB", c, "POS")
}

fn extremes(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name, n] = args else { return Err(String::new()) };
    b.string("name", name);
    b.uint("n", n, "N")
}

fn intersect(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [a, c] = args else { return Err(String::new()) };
    b.string("srcA", a);
    b.string("srcB", c);
    Ok(())
}

fn list_set_rng(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let [name, pos, items @ ..] = args else { return Err(String::new()) };
    if items.is_empty() {
        return Err(String::new());
    }
    b.string("name", name);
    b.uint("pos", pos, "POS")?;
    b.items("items", items, Item::Json);
    Ok(())
}

fn list_get(b: &mut Body, args: &[Word]) -> Result<(), String> {
    match args {
        [name] => {
            b.string("name", name);
            Ok(())
        }
        [name, pos] => {
            b.string("name", name);
            b.uint("pos", pos, "POS")
        }
        _ => Err(String::new()),
    }
}

fn list_rmv(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let (mut head, mut tail) = (false, false);
    let mut words = Vec::new();
    for word in args {
        match word.flag() {
            Some("--head") => head = true,
            Some("--tail") => tail = true,
            Some(other) => return Err(format!("unknown flag {other:?}")),
            None => words.push(word.clone()),
        }
    }
    let Some((name, range)) = words.split_first() else { return Err(String::new()) };
    b.string("name", name);
    if head {
        b.raw_member("head", "true");
    }
    if tail {
        b.raw_member("tail", "true");
    }
    if range.is_empty() { Ok(()) } else { b.range("rng", range) }
}

fn list_splice(b: &mut Body, args: &[Word]) -> Result<(), String> {
    let (words, at) = take_pos(args, true)?;
    // SRC START DEST or SRC START STOP DEST: told apart by their number.
    let (src, range, dest) = match words.as_slice() {
        [src, range @ .., dest] if (1..=2).contains(&range.len()) => (src, range, dest),
        _ => return Err(String::new()),
    };
    b.string("srcName", src);
    b.range("srcRng", range)?;
    b.string("destName", dest);
    if let Some(at) = at {
        b.raw_member("destPos", &at.to_string());
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

    fn uint(&mut self, name: &str, word: &Word, what: &str) -> Result<(), String> {
        let n = parse_u64(word, what)?;
        self.raw_member(name, &n.to_string());
        Ok(())
    }

    fn item(&mut self, name: &str, word: &Word, item: Item) {
        match item {
            Item::Json => self.value(name, word),
            Item::Text => self.string(name, word),
        }
    }

    fn items(&mut self, name: &str, words: &[Word], item: Item) {
        self.member(name);
        self.out.push(b'[');
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            match item {
                Item::Json => word.write_value(&mut self.out),
                Item::Text => write_str(&mut self.out, &word.key()),
            }
        }
        self.out.push(b']');
    }

    /// `START [STOP]` as `[START]` or `[START,STOP]`.
    fn range(&mut self, name: &str, words: &[Word]) -> Result<(), String> {
        let bounds = match words {
            [start] => vec![parse_u64(start, "START")?],
            [start, stop] => vec![parse_u64(start, "START")?, parse_u64(stop, "STOP")?],
            _ => return Err(String::new()),
        };
        let text: Vec<String> = bounds.iter().map(u64::to_string).collect();
        self.raw_member(name, &format!("[{}]", text.join(",")));
        Ok(())
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

    fn req(line: &str) -> Result<String, String> {
        let words = crate::line::tokenize(line)?;
        match lookup(&words) {
            Lookup::Form(form, args) => request(form, args),
            Lookup::Unknown(name) => Err(format!("unknown {name}")),
        }
    }

    /// Every array and list command of NemesisDB 0.9 (75) has one form.
    #[test]
    fn every_array_and_list_command_has_a_form() {
        let array =
            ["CREATE", "DELETE", "DELETE_ALL", "EXIST", "LEN", "USED", "SET", "SET_RNG", "GET", "GET_RNG", "CLEAR"];
        let mut wanted = Vec::new();
        for prefix in ["OARR", "IARR", "STRARR", "SIARR", "SSTRARR"] {
            let own: &[&str] =
                if prefix.starts_with('S') && prefix != "STRARR" { &["MIN", "MAX", "INTERSECT"] } else { &["SWAP"] };
            wanted.extend(array.iter().chain(own).map(|op| format!("{prefix}_{op}")));
        }
        let list =
            ["CREATE", "DELETE", "DELETE_ALL", "EXIST", "LEN", "ADD", "SET_RNG", "GET", "GET_RNG", "RMV", "SPLICE"];
        wanted.extend(list.iter().map(|op| format!("OLST_{op}")));
        assert_eq!(wanted.len(), 75);
        for command in &wanted {
            let forms: Vec<&Form> = FORMS.iter().filter(|f| f.command == command).collect();
            assert_eq!(forms.len(), 1, "{command}");
            let words = forms[0].words;
            assert_eq!(words[0].to_ascii_uppercase(), command.split('_').next().unwrap_or_default());
            assert_eq!(format!("{}_{}", words[0], words[1].replace('-', "_")).to_ascii_uppercase(), *command);
        }
    }

    #[test]
    fn array_forms_write_their_requests() {
        let rows = [
            ("iarr create scores 100", r#"{"IARR_CREATE":{"name":"scores","len":100}}"#),
            ("iarr set scores 5", r#"{"IARR_SET":{"name":"scores","item":5}}"#),
            ("iarr set scores -5 --pos 7", r#"{"IARR_SET":{"name":"scores","item":-5,"pos":7}}"#),
            ("IARR SET scores --pos 7 8", r#"{"IARR_SET":{"name":"scores","item":8,"pos":7}}"#),
            ("iarr get scores 3", r#"{"IARR_GET":{"name":"scores","pos":3}}"#),
            ("iarr get-rng scores 0 10", r#"{"IARR_GET_RNG":{"name":"scores","rng":[0,10]}}"#),
            ("iarr get-rng scores 4", r#"{"IARR_GET_RNG":{"name":"scores","rng":[4]}}"#),
            ("iarr set-rng scores 1 2 3 --pos 4", r#"{"IARR_SET_RNG":{"name":"scores","items":[1,2,3],"pos":4}}"#),
            ("iarr clear scores 1 2", r#"{"IARR_CLEAR":{"name":"scores","rng":[1,2]}}"#),
            ("iarr swap scores 0 9", r#"{"IARR_SWAP":{"name":"scores","posA":0,"posB":9}}"#),
            ("iarr delete-all", r#"{"IARR_DELETE_ALL":{}}"#),
            ("iarr used scores", r#"{"IARR_USED":{"name":"scores"}}"#),
            ("strarr set names 007", r#"{"STRARR_SET":{"name":"names","item":"007"}}"#),
            ("strarr set-rng names ann \"b c\" 1", r#"{"STRARR_SET_RNG":{"name":"names","items":["ann","b c","1"]}}"#),
            ("oarr set docs {\"a\":1}", r#"{"OARR_SET":{"name":"docs","item":{"a":1}}}"#),
            ("siarr set s 4", r#"{"SIARR_SET":{"name":"s","item":4}}"#),
            ("siarr set-rng s 3 1 2", r#"{"SIARR_SET_RNG":{"name":"s","items":[3,1,2]}}"#),
            ("siarr min s 2", r#"{"SIARR_MIN":{"name":"s","n":2}}"#),
            ("siarr max s 2", r#"{"SIARR_MAX":{"name":"s","n":2}}"#),
            ("siarr intersect a b", r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"b"}}"#),
            ("sstrarr set-rng t b a", r#"{"SSTRARR_SET_RNG":{"name":"t","items":["b","a"]}}"#),
        ];
        for (line, expected) in rows {
            assert_eq!(req(line).as_deref(), Ok(expected), "{line}");
        }
    }

    #[test]
    fn list_forms_write_their_requests() {
        let rows = [
            ("olst create tasks", r#"{"OLST_CREATE":{"name":"tasks"}}"#),
            ("olst add tasks {\"a\":1}", r#"{"OLST_ADD":{"name":"tasks","items":[{"a":1}]}}"#),
            ("olst add tasks {} {} --pos 2", r#"{"OLST_ADD":{"name":"tasks","items":[{},{}],"pos":2}}"#),
            ("olst set-rng tasks 1 {}", r#"{"OLST_SET_RNG":{"name":"tasks","pos":1,"items":[{}]}}"#),
            ("olst get tasks", r#"{"OLST_GET":{"name":"tasks"}}"#),
            ("olst get tasks 0", r#"{"OLST_GET":{"name":"tasks","pos":0}}"#),
            ("olst get-rng tasks 0 10", r#"{"OLST_GET_RNG":{"name":"tasks","rng":[0,10]}}"#),
            ("olst rmv tasks 1 3", r#"{"OLST_RMV":{"name":"tasks","rng":[1,3]}}"#),
            ("olst rmv tasks --head --tail", r#"{"OLST_RMV":{"name":"tasks","head":true,"tail":true}}"#),
            ("olst rmv tasks --tail 5", r#"{"OLST_RMV":{"name":"tasks","tail":true,"rng":[5]}}"#),
            ("olst splice a 2 b", r#"{"OLST_SPLICE":{"srcName":"a","srcRng":[2],"destName":"b"}}"#),
            (
                "olst splice a 2 4 b --pos 1",
                r#"{"OLST_SPLICE":{"srcName":"a","srcRng":[2,4],"destName":"b","destPos":1}}"#,
            ),
            ("olst len tasks", r#"{"OLST_LEN":{"name":"tasks"}}"#),
        ];
        for (line, expected) in rows {
            assert_eq!(req(line).as_deref(), Ok(expected), "{line}");
        }
    }

    #[test]
    fn array_and_list_forms_refuse_what_does_not_fit() {
        let rows = [
            ("iarr create scores", "usage: iarr create NAME LEN"),
            ("iarr create scores ten", "LEN must be an unsigned integer (got \"ten\"); usage: iarr create NAME LEN"),
            ("iarr get scores -1", "POS must be an unsigned integer (got \"-1\"); usage: iarr get NAME POS"),
            ("iarr set scores 1 --pos", "--pos needs a POS; usage: iarr set NAME ITEM [--pos POS]"),
            ("siarr set s 1 --pos 2", "unknown flag \"--pos\"; usage: siarr set NAME ITEM"),
            ("iarr get-rng scores", "usage: iarr get-rng NAME START [STOP]"),
            ("iarr get-rng scores 1 2 3", "usage: iarr get-rng NAME START [STOP]"),
            ("olst splice a b", "usage: olst splice SRC START [STOP] DEST [--pos POS]"),
            ("olst splice a x b", "START must be an unsigned integer (got \"x\")"),
            ("olst splice a 1 2 3 b", "usage: olst splice SRC START [STOP] DEST [--pos POS]"),
            ("olst rmv", "usage: olst rmv NAME [START [STOP]] [--head] [--tail]"),
            ("olst set-rng tasks 1", "usage: olst set-rng NAME POS ITEM [ITEM ...]"),
        ];
        for (line, expected) in rows {
            let err = req(line).unwrap_err();
            assert!(err.starts_with(expected), "{line}: {err}");
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
        let iarr = help_topic("iarr").unwrap();
        assert_eq!(iarr.lines().count(), 2 * 12, "{iarr}");
        assert!(
            iarr.starts_with("  iarr create NAME LEN\n      IARR_CREATE: create an array of LEN integers\n"),
            "{iarr}"
        );
        assert_eq!(help_topic("OLST_SPLICE").unwrap(), help_topic("olst splice").unwrap());
        assert!(help().contains("  olst get-rng NAME START [STOP]"), "{}", help());
    }
}
