//! A request decoded away from its connection: the message's text and the
//! [`Command`] (or [`Rejection`]) read from it, held together so that the
//! pair can be decoded on one thread and executed on another.
//!
//! A [`Command`] borrows its strings and raw values from the text it was
//! decoded from (nothing is copied while decoding). [`Decoded`] owns that
//! text and hands the command out only inside [`Decoded::run`], for a
//! lifetime that cannot outlive the text.
//!
//! Must not touch: the store, sockets, the clock.

use std::borrow::Cow;

use crate::input_buf::InputBuf;

use super::{Command, CommandName, ContainerArgs, ContainerVerb, Items, MapOp, Rejection, Verb, decode};

/// Longest command name [`named_command`] reads (the longest name ndb
/// serves is shorter): it costs a few nanoseconds whatever the message.
const MAX_NAME_BYTES: usize = 64;

/// The command a message names at its start, `{"<NAME>"`, read without
/// decoding the rest (whitespace allowed, escapes not): the shape of the
/// reply to a large message refused before it is decoded. `None` when the
/// start is anything else or names no command ndb serves.
pub fn named_command(text: &str) -> Option<CommandName> {
    let rest = text.trim_start_matches([' ', '\t', '\n', '\r']).strip_prefix('{')?;
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r']).strip_prefix('"')?;
    let head = &rest.as_bytes()[..rest.len().min(MAX_NAME_BYTES)];
    let end = head.iter().position(|&b| b == b'"' || b == b'\\')?;
    if head[end] != b'"' {
        return None;
    }
    let name = &rest[..end];
    Verb::from_name(name).map(CommandName::Verb).or_else(|| ContainerVerb::from_name(name).map(CommandName::Container))
}

/// One message's text and what [`decode`] made of it.
pub struct Decoded {
    /// What the text decodes to. It borrows `buf`'s heap memory, which
    /// stays where it is for as long as `buf` is neither changed nor
    /// dropped; declared first, so that it is dropped before `buf`.
    result: Result<Command<'static>, Rejection<'static>>,
    /// The buffer the message's text ends: never changed after decoding
    /// (moving an `InputBuf` does not move its bytes, on the heap or in a
    /// mapping).
    buf: InputBuf,
    /// The text: `buf` from where it starts, as `result` borrows it.
    view: &'static str,
    /// What the text and the command hold on the heap.
    bytes: usize,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded").field("bytes", &self.len()).field("ok", &self.result.is_ok()).finish()
    }
}

impl Decoded {
    /// Decodes the text that `buf` holds from `start` on, as a connection
    /// kept it (costs what [`decode`] costs, about 25–50 ms for a `KV_GET`
    /// of a million names, see `benches/protocol.rs`, plus a UTF-8 check).
    ///
    /// # Errors
    /// The text is not valid UTF-8 (a connection never hands such a text
    /// over), or `start` is past its end.
    pub fn new(buf: impl Into<InputBuf>, start: usize) -> Result<Decoded, std::str::Utf8Error> {
        let buf = buf.into();
        let text = std::str::from_utf8(&buf[start.min(buf.len())..])?;
        // SAFETY: the `&'static str` is only ever seen as `Command<'s>` or
        // `Rejection<'s>` for a lifetime `'s` within a borrow of `buf`
        // (`Decoded::run`), and `result` is dropped before `buf` (field
        // order). The bytes do not move or change: `buf` is never mutated,
        // and moving the `InputBuf` leaves its bytes in place.
        let view: &'static str = unsafe { &*std::ptr::from_ref::<str>(text) };
        let result = decode(view);
        let bytes = buf.capacity() + result.as_ref().map_or(0, command_bytes);
        Ok(Decoded { result, view, buf, bytes })
    }

    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Whether the message was empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the message holds on the heap, as the memory cap counts it:
    /// its text and the command's lists of names, pairs, tokens and items
    /// (with the names and items unescaped into a copy of their own).
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    /// Takes the names out of a `KV_GET` or `KV_CONTAINS` (or `SH_` form)
    /// when `prepare` makes of them what the command is to run with
    /// instead (`Some`), and drops the command's list of them here: for a
    /// million names that list is 24 MB freed element by element, which
    /// the thread that decoded it does rather than the loop. The command is
    /// left with an empty list, so it must run with what `prepare` made.
    /// `None`, and the command unchanged, for any other command or when
    /// `prepare` gives `None`.
    pub fn take_names<P>(&mut self, prepare: impl FnOnce(&[Cow<'_, str>]) -> Option<P>) -> Option<P> {
        let names = match &mut self.result {
            Ok(Command::Kv(MapOp::Get(names) | MapOp::Contains(names)))
            | Ok(Command::Sh(_, MapOp::Get(names) | MapOp::Contains(names))) => names,
            _ => return None,
        };
        let prepared = prepare(names)?;
        // Dropped while `buf`, which its names borrow, is still here.
        drop(std::mem::take(names));
        self.bytes = self.buf.capacity() + self.result.as_ref().map_or(0, command_bytes);
        Some(prepared)
    }

    /// The name of the command (or of the one a rejection names).
    pub fn name(&self) -> Option<CommandName> {
        match &self.result {
            Ok(command) => Some(command.name()),
            Err(rejection) => rejection.command(),
        }
    }

    /// How many keys it writes, when it is a `KV_SET`, `KV_ADD`, `KV_RMV`
    /// or `KV_CLEAR_SET` (or the `SH_` form, with a token): the length of
    /// its list; 0 for any other command.
    pub fn write_keys(&self) -> usize {
        match &self.result {
            Ok(Command::Kv(op) | Command::Sh(Some(_), op)) => match op {
                MapOp::Set(pairs) | MapOp::Add(pairs) | MapOp::ClearSet(pairs) => pairs.len(),
                MapOp::Rmv(names) => names.len(),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Runs `f` on the decoded command (or rejection) in place, which it
    /// may change (but not outlive): for a command applied across turns.
    pub fn with<'a, R>(&'a mut self, f: impl for<'s> FnOnce(&mut Result<Command<'s>, Rejection<'s>>) -> R) -> R {
        // SAFETY: as in `Decoded::new`: the command is seen with a lifetime
        // within this borrow of `self` (so of `buf`), and `f`, generic over
        // that lifetime, can put in it only what it already borrows.
        let result = unsafe { &mut *std::ptr::from_mut(&mut self.result).cast::<Result<Command<'a>, Rejection<'a>>>() };
        f(result)
    }

    /// Runs `f` on the decoded command (or rejection) and the text it came
    /// from; the command cannot outlive the call. Returns `f`'s answer and
    /// the buffer the text was in, for the caller to free where it likes.
    pub fn run<R>(self, f: impl for<'s> FnOnce(Result<Command<'s>, Rejection<'s>>, &'s str) -> R) -> (R, InputBuf) {
        let Decoded { result, view, buf, .. } = self;
        let answer = f(result, view);
        // Only now, with nothing borrowing it, may the buffer go.
        (answer, buf)
    }
}

/// What `command`'s lists hold on the heap (the text they borrow aside).
fn command_bytes(command: &Command<'_>) -> usize {
    fn names(names: &[Cow<'_, str>], capacity: usize) -> usize {
        capacity * size_of::<Cow<'_, str>>() + names.iter().map(owned).sum::<usize>()
    }
    // It asks whether the name was copied, which a `&str` cannot say.
    #[allow(clippy::ptr_arg)]
    fn owned(name: &Cow<'_, str>) -> usize {
        match name {
            Cow::Owned(name) => name.capacity(),
            Cow::Borrowed(_) => 0,
        }
    }
    match command {
        Command::Kv(op) | Command::Sh(_, op) => match op {
            MapOp::Set(pairs) | MapOp::Add(pairs) | MapOp::ClearSet(pairs) => {
                pairs.capacity() * size_of::<(Cow<'_, str>, &str)>()
                    + pairs.iter().map(|(k, _)| owned(k)).sum::<usize>()
            }
            MapOp::Get(list) | MapOp::Contains(list) | MapOp::Rmv(list) => names(list, list.capacity()),
            _ => 0,
        },
        Command::ShExists(tokens) => tokens.capacity() * size_of::<u64>(),
        Command::KvArrAppend(append) => append.items.capacity() * size_of::<&str>(),
        Command::Container(container) => match &container.args {
            ContainerArgs::Items { items, .. } => match items {
                Items::Objects(items) => items.capacity() * size_of::<&str>(),
                Items::Ints(items) => items.capacity() * size_of::<i64>(),
                Items::Strs(items) => names(items, items.capacity()),
            },
            _ => 0,
        },
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_message_gives_what_decode_gives() {
        let text = r#"{"KV_GET":{"keys":["a","b\u0041"]}}"#;
        let direct = format!("{:?}", decode(text));
        let decoded = Decoded::new(format!("xyz{text}").into_bytes(), 3).unwrap();
        assert_eq!(decoded.len(), text.len());
        let moved = std::thread::spawn(move || decoded).join().unwrap();
        assert_eq!(moved.run(|result, t| (format!("{result:?}"), t.len())).0, (direct, text.len()));
        assert_eq!(named_command(" {\n \"KV_GET\" :{}}"), Some(CommandName::Verb(Verb::KvGet)));
        assert_eq!(named_command(r#"{"KV\u005fGET":{}}"#), None);
        assert_eq!(named_command(r#"{"NOPE":{}}"#), None);
        assert_eq!(named_command(r#"["KV_GET"]"#), None);
        let bad = Decoded::new(br#"{"KV_GET":{"keys":["a"}}"#.to_vec(), 0).unwrap();
        assert!(bad.run(|result, _| result.is_err()).0);
        assert!(Decoded::new(vec![b'"', 0xff, b'"'], 0).is_err());
        assert!(Decoded::new(vec![b'1'], 2).unwrap().is_empty());
    }

    #[test]
    fn names_taken_leave_the_command_an_empty_list() {
        let text = r#"{"KV_GET":{"keys":["a","b\u0041","c"]}}"#;
        let mut decoded = Decoded::new(text.as_bytes().to_vec(), 0).unwrap();
        let before = decoded.heap_bytes();
        let joined = decoded.take_names(|names| Some(names.iter().map(|n| n.as_ref()).collect::<Vec<_>>().join(",")));
        assert_eq!(joined.as_deref(), Some("a,bA,c"));
        assert!(decoded.heap_bytes() < before, "the list and its unescaped copy are no longer counted");
        assert_eq!(decoded.heap_bytes(), text.len());
        let left = decoded.run(|result, _| format!("{result:?}")).0;
        assert_eq!(left, format!("{:?}", decode(r#"{"KV_GET":{"keys":[]}}"#)));
        // Declined: the command keeps its names.
        let mut decoded = Decoded::new(text.as_bytes().to_vec(), 0).unwrap();
        assert_eq!(decoded.take_names(|_| None::<()>), None);
        assert_eq!(decoded.run(|result, _| format!("{result:?}")).0, format!("{:?}", decode(text)));
        // Another command: nothing to take.
        let mut decoded = Decoded::new(br#"{"KV_RMV":{"keys":["a"]}}"#.to_vec(), 0).unwrap();
        assert_eq!(decoded.take_names(|_| Some(())), None);
    }
}
