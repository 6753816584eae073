//! Request decoding: text → [`Command`] or [`Rejection`], in one pass.
//!
//! The whole message is parsed exactly once by `serde_json`. While the parser
//! walks the envelope it already knows the command name, so the body's
//! parameters are read straight into typed [`Slot`]s; nothing is parsed
//! twice and no `serde_json::Value` tree is built. Stored values are captured
//! as borrowed `&RawValue` text.
//!
//! The dispatch rules, in order (`docs/protocol.md`):
//! 1. not one valid JSON document (trailing bytes included) → `ERR` 3;
//! 2. not an object with exactly one member → `ERR` 13 (a repeated member
//!    name collapses to its first occurrence);
//! 3. the member's value is not an object, or the name has no `_` →
//!    `<CMD>_RSP` 13;
//! 4. an unknown `KV_*` name → `ERR` 10; any other unknown name →
//!    `<CMD>_RSP` 10;
//! 5. `SH_INFO` only: a body without exactly one distinct member name → 13;
//! 6. parameters in byte-wise name order: missing → 26, wrong type → 41
//!    (`SH_NEW`'s `expiry` object is checked the same way, member by member);
//! 7. command-specific checks (e.g. an empty `keys` in `KV_RMV` → 42).
//!
//! A token (`tkn`) never fails validation: any value is read, and only a
//! `u64` becomes `Some(token)`. The store answers "no session" (100) for the
//! rest, after the other parameters passed, as NemesisDB does.

use std::borrow::Cow;

use serde::de::Deserializer;

use serde_json::value::RawValue;

use super::Status;
use super::command::{
    ArrAppend, Command, CommandName, ContainerVerb, Expiry, Family, Find, FindRsp, KeyValues, MAX_PARAMS, MapOp, Param,
    Save, Update, Verb, is_valid_save_name,
};

mod containers;
mod visit;

use visit::EnvelopeVisitor;

/// Why a request was refused before it reached the store, and how to say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection<'a> {
    /// The reply's status.
    pub status: Status,
    /// The reply's shape.
    pub shape: Shape<'a>,
}

/// The envelope of an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape<'a> {
    /// `{"ERR":{"m":"","st":N}}`
    Err,
    /// `{"<CMD>_RSP":{"m":"<m>","st":N,"tkn":null}}`
    Rsp {
        /// Whose reply this is.
        name: RspName<'a>,
        /// The `m` text.
        m: &'static str,
    },
    /// `{"<CMD>_RSP":{"st":N}}`: the shape of every array and list error
    /// (NemesisDB 0.9's, without `m` or `tkn`).
    Bare(RspName<'a>),
    /// `{"ERR":{"st":N}}`: an unknown name under an array or list prefix.
    BareErr,
}

/// The command a reply is keyed by: `<name>_RSP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RspName<'a> {
    /// A command ndb serves.
    Known(Verb),
    /// An array or list command ndb serves.
    Container(ContainerVerb),
    /// A command ndb does not serve, named as the client named it.
    Unknown(Cow<'a, str>),
}

impl RspName<'_> {
    /// The command ndb serves that this names, if it is one.
    pub fn served(&self) -> Option<CommandName> {
        match self {
            RspName::Known(verb) => Some(CommandName::Verb(*verb)),
            RspName::Container(verb) => Some(CommandName::Container(*verb)),
            RspName::Unknown(_) => None,
        }
    }
}

/// The `m` of a missing required parameter.
pub const MISSING_PARAMETER: &str = "Missing parameter";
/// The `m` of a parameter with the wrong JSON type.
pub const PARAM_TYPE_INCORRECT: &str = "Param type incorrect";
/// The `m` of a save name that is empty or would leave the persist path.
pub const BAD_NAME: &str = "name";
/// The `m` of a `KV_FIND` whose `rsp` is not `keys`, `paths` or `kv`.
pub const RSP_INVALID: &str = "'rsp' invalid value";
/// The `m` of the 14 (CommandDisabled) `SV_SLOWLOG`, `SV_CLIENTS` and
/// `SV_CONFIG` answer in a build without the `introspection` feature.
pub const NO_INTROSPECTION: &str = "not in this build";
/// The `m` of a `KV_FIND` whose `path` is the empty string.
pub const PATH_EMPTY: &str = "'path' is empty";

impl Rejection<'_> {
    /// The reply to a binary frame: `{"ERR":{"m":"","st":2}}`.
    pub fn binary_frame() -> Rejection<'static> {
        Rejection { status: Status::OpCodeInvalid, shape: Shape::Err }
    }

    fn err(status: Status) -> Self {
        Rejection { status, shape: Shape::Err }
    }

    /// A `<CMD>_RSP` error for a served verb.
    pub fn verb(verb: Verb, status: Status, m: &'static str) -> Rejection<'static> {
        Rejection { status, shape: Shape::Rsp { name: RspName::Known(verb), m } }
    }

    /// A `{"<CMD>_RSP":{"st":N}}` error for an array or list command.
    pub fn container(verb: ContainerVerb, status: Status) -> Rejection<'static> {
        Rejection { status, shape: Shape::Bare(RspName::Container(verb)) }
    }

    /// The command ndb serves that the refused request named, if it named
    /// one (for the role check and the metrics).
    pub fn command(&self) -> Option<CommandName> {
        match &self.shape {
            Shape::Rsp { name, .. } | Shape::Bare(name) => name.served(),
            Shape::Err | Shape::BareErr => None,
        }
    }
}

/// Decodes one request message.
///
/// # Errors
/// The [`Rejection`] to send back when the message is not a valid request.
pub fn decode(text: &str) -> Result<Command<'_>, Rejection<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    // Parameters are read straight into `args`, never moved around.
    let mut args = Args::default();
    let visitor = EnvelopeVisitor { args: &mut args };
    let envelope = match de.deserialize_any(visitor).and_then(|e| de.end().map(|()| e)) {
        Ok(envelope) => envelope,
        Err(_) => return Err(Rejection::err(Status::JsonInvalid)),
    };
    let Envelope::One { name, body, multiple: false } = envelope else {
        return Err(Rejection::err(Status::CommandSyntax));
    };
    let unknown = |status| Rejection { status, shape: Shape::Rsp { name: RspName::Unknown(name.clone()), m: "" } };
    let Some((prefix, _)) = name.split_once('_') else {
        return Err(unknown(Status::CommandSyntax));
    };
    if body == Body::NotObject {
        if Family::from_prefix(prefix).is_some() {
            let shape = Shape::Bare(RspName::Unknown(name.clone()));
            return Err(Rejection { status: Status::CommandSyntax, shape });
        }
        return Err(unknown(Status::CommandSyntax));
    }
    match Verb::from_name(&name) {
        // A build without the `introspection` feature knows the names and
        // answers 14 before reading any parameter.
        Some(verb @ (Verb::SvSlowlog | Verb::SvClients | Verb::SvConfig)) if !cfg!(feature = "introspection") => {
            Err(Rejection::verb(verb, Status::CommandDisabled, NO_INTROSPECTION))
        }
        Some(verb) => build(verb, &mut args),
        None if prefix == "KV" => Err(Rejection::err(Status::CommandNotExist)),
        None => match ContainerVerb::from_name(&name) {
            // A build without the `arrays` feature knows the names and
            // answers 14 before reading any parameter.
            Some(verb) if !cfg!(feature = "arrays") => Err(Rejection::container(verb, Status::CommandDisabled)),
            Some(verb) => containers::build(verb, &mut args),
            None if Family::from_prefix(prefix).is_some() => {
                Err(Rejection { status: Status::CommandNotExist, shape: Shape::BareErr })
            }
            None => Err(unknown(Status::CommandNotExist)),
        },
    }
}

/// Checks the parameters in order, then builds the command.
fn build<'a>(verb: Verb, args: &mut Args<'a>) -> Result<Command<'a>, Rejection<'static>> {
    if verb.wants_one_member() && args.names != Names::One {
        return Err(Rejection::verb(verb, Status::CommandSyntax, ""));
    }
    if matches!(verb, Verb::KvSave | Verb::ShSave | Verb::KvLoad | Verb::ShLoad) {
        return persistence(verb, args);
    }
    if let Err((status, m)) = check(verb.params(), &args.slots) {
        return Err(Rejection::verb(verb, status, m));
    }
    if matches!(verb, Verb::KvFind | Verb::KvUpdate | Verb::KvArrAppend) {
        return jsonpath(verb, args);
    }
    let mut slots = args.slots.iter_mut().map(std::mem::take);
    let mut next = || slots.next().unwrap_or_default();
    let op = match verb {
        Verb::KvSet | Verb::ShSet => Some(MapOp::Set(next().into_pairs())),
        Verb::KvAdd | Verb::ShAdd => Some(MapOp::Add(next().into_pairs())),
        Verb::KvClearSet | Verb::ShClearSet => Some(MapOp::ClearSet(next().into_pairs())),
        Verb::KvGet | Verb::ShGet => Some(MapOp::Get(next().into_names().0)),
        Verb::KvContains | Verb::ShContains => Some(MapOp::Contains(next().into_names().0)),
        Verb::KvRmv | Verb::ShRmv => match next().into_names() {
            (_, 0) => return Err(Rejection::verb(verb, Status::ValueSize, "keys")),
            (names, _) => Some(MapOp::Rmv(names)),
        },
        Verb::KvClear | Verb::ShClear => Some(MapOp::Clear),
        Verb::KvCount | Verb::ShCount => Some(MapOp::Count),
        Verb::KvKeys | Verb::ShKeys => Some(MapOp::Keys),
        _ => None,
    };
    Ok(match (op, verb) {
        (Some(op), _) if verb.name().starts_with("SH_") => Command::Sh(next().into_token(), op),
        (Some(op), _) => Command::Kv(op),
        (None, Verb::ShNew) => Command::ShNew(next().into_expiry()),
        (None, Verb::ShEnd) => Command::ShEnd(next().into_token()),
        (None, Verb::ShExists) => Command::ShExists(next().into_tokens()),
        (None, Verb::ShInfo) => Command::ShInfo(next().into_token()),
        (None, Verb::ShEndAll) => Command::ShEndAll,
        (None, Verb::ShInfoAll) => Command::ShInfoAll,
        (None, Verb::SvSlowlog) => Command::SvSlowlog(matches!(next(), Slot::Bool(true))),
        (None, Verb::SvClients) => Command::SvClients,
        (None, Verb::SvConfig) => Command::SvConfig,
        (None, _) => Command::SvInfo,
    })
}

/// Builds a save or load command. A save's parameter failure travels inside
/// the command (see [`crate::protocol::SaveRequest`]); a load's is rejected
/// here. After the parameters, the name must pass [`is_valid_save_name`].
fn persistence<'a>(verb: Verb, args: &mut Args<'a>) -> Result<Command<'a>, Rejection<'static>> {
    let checked = check(verb.params(), &args.slots).and_then(|()| {
        let name = match std::mem::take(&mut args.slots[0]) {
            Slot::Str(name) if is_valid_save_name(&name) => name,
            _ => return Err((Status::ValueSize, BAD_NAME)),
        };
        let tokens = match std::mem::take(&mut args.slots[1]) {
            Slot::Tokens(tokens) => Some(tokens),
            _ => None,
        };
        Ok(Save { name, tokens })
    });
    match (verb, checked) {
        (Verb::KvSave, save) => Ok(Command::KvSave(save)),
        (Verb::ShSave, save) => Ok(Command::ShSave(save)),
        (_, Err((status, m))) => Err(Rejection::verb(verb, status, m)),
        (Verb::KvLoad, Ok(save)) => Ok(Command::KvLoad(save.name)),
        (_, Ok(save)) => Ok(Command::ShLoad(save.name)),
    }
}

/// Builds `KV_FIND`, `KV_UPDATE` or `KV_ARR_APPEND` from parameters that
/// passed [`check`]. `KV_FIND` then checks `rsp` (13) before an empty
/// `path` (42), in NemesisDB's order. Paths are parsed by the store.
// Kept out of line: inlined, it grows `build` on every request's path.
#[inline(never)]
fn jsonpath<'a>(verb: Verb, args: &mut Args<'a>) -> Result<Command<'a>, Rejection<'static>> {
    let [first, second, third, _] = &mut args.slots;
    let (first, second, third) = (std::mem::take(first), std::mem::take(second), std::mem::take(third));
    Ok(match verb {
        Verb::KvFind => {
            // An empty `keys` searches every key, as an absent one does:
            // NemesisDB fills in an empty array when `keys` is absent.
            let keys = match first {
                Slot::Names(names, len) if len > 0 => Some(names),
                _ => None,
            };
            let (path, rsp) = (second.into_str(), third.into_str());
            let Some(rsp) = FindRsp::from_name(&rsp) else {
                return Err(Rejection::verb(verb, Status::CommandSyntax, RSP_INVALID));
            };
            if path.is_empty() {
                return Err(Rejection::verb(verb, Status::ValueSize, PATH_EMPTY));
            }
            Command::KvFind(Find { keys, path, rsp })
        }
        Verb::KvUpdate => {
            let Slot::Raw(value) = third else {
                return Err(Rejection::verb(verb, Status::ParamMissing, MISSING_PARAMETER));
            };
            Command::KvUpdate(Update { key: first.into_str(), path: second.into_str(), value })
        }
        _ => {
            let items = match first {
                Slot::RawItems(items) => items,
                _ => Vec::new(),
            };
            let name = match third {
                Slot::Str(name) => Some(name),
                _ => None,
            };
            Command::KvArrAppend(ArrAppend { key: second.into_str(), items, name })
        }
    })
}

/// The first failing parameter in `params` order: missing → 26, wrong type →
/// 41, or the failure found inside a nested object.
pub(crate) fn check(params: &[Param], slots: &[Slot<'_>]) -> Result<(), (Status, &'static str)> {
    for (param, slot) in params.iter().zip(slots) {
        match slot {
            Slot::Absent if param.required => {
                return Err((Status::ParamMissing, MISSING_PARAMETER));
            }
            Slot::WrongType => return Err((Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT)),
            // Items of the wrong type and malformed ranges are reported
            // after every parameter passed (`containers::build`).
            Slot::Invalid(status, m) => return Err((*status, m)),
            _ => {}
        }
    }
    Ok(())
}

/// A parameter's value as read from the body.
#[derive(Debug, Default)]
pub(crate) enum Slot<'a> {
    /// The parameter was not in the body.
    #[default]
    Absent,
    /// The parameter had the wrong JSON type.
    WrongType,
    /// A nested object failed its own checks with this status and `m`.
    Invalid(Status, &'static str),
    /// [`Kind::Object`]: members in request order, first occurrence kept.
    Pairs(KeyValues<'a>),
    /// [`Kind::Names`]: the string items, and how many items there were.
    Names(Vec<Cow<'a, str>>, usize),
    /// [`Kind::Token`]: the token if the value was a `u64`.
    Token(Option<u64>),
    /// [`Kind::Tokens`]: the `u64` items.
    Tokens(Vec<u64>),
    /// [`Kind::Uint`]
    Uint(u64),
    /// [`Kind::Bool`]
    Bool(bool),
    /// [`Kind::Expiry`], checked.
    Expiry(Expiry),
    /// [`Kind::Str`]
    Str(Cow<'a, str>),
    /// [`Kind::Raw`]
    Raw(&'a RawValue),
    /// [`Kind::RawItems`], and [`Kind::Items`] of objects
    RawItems(Vec<&'a RawValue>),
    /// [`Kind::Item`] of integers
    Int(i64),
    /// [`Kind::Items`] of integers
    Ints(Vec<i64>),
    /// [`Kind::Items`] of strings
    Strs(Vec<Cow<'a, str>>),
    /// [`Kind::Items`] holding an item of another type
    BadItems,
    /// [`Kind::Range`] and [`Kind::ClearRange`]
    Range(RangeSlot),
}

/// A range parameter as read, before its shape is checked.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RangeSlot {
    /// How many items it had (saturating).
    pub count: u32,
    /// Whether one of its first two items was not a uint.
    pub not_uint: bool,
    /// The first item, if a uint.
    pub start: u64,
    /// The second item, if a uint.
    pub stop: u64,
}

impl<'a> Slot<'a> {
    fn into_pairs(self) -> KeyValues<'a> {
        match self {
            Slot::Pairs(pairs) => pairs,
            _ => Vec::new(),
        }
    }

    fn into_names(self) -> (Vec<Cow<'a, str>>, usize) {
        match self {
            Slot::Names(names, len) => (names, len),
            _ => (Vec::new(), 0),
        }
    }

    fn into_token(self) -> Option<u64> {
        match self {
            Slot::Token(token) => token,
            _ => None,
        }
    }

    fn into_tokens(self) -> Vec<u64> {
        match self {
            Slot::Tokens(tokens) => tokens,
            _ => Vec::new(),
        }
    }

    fn into_expiry(self) -> Option<Expiry> {
        match self {
            Slot::Expiry(expiry) => Some(expiry),
            _ => None,
        }
    }

    fn into_str(self) -> Cow<'a, str> {
        match self {
            Slot::Str(s) => s,
            _ => Cow::Borrowed(""),
        }
    }

    fn bool_or_false(&self) -> bool {
        matches!(self, Slot::Bool(true))
    }
}

/// How many distinct member names a body had, as far as `SH_INFO` cares.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// No member.
    #[default]
    None,
    /// One name (possibly repeated).
    One,
    /// Two or more different names.
    Many,
}

/// The parameters read from a command body, in the verb's parameter order.
#[derive(Debug, Default)]
pub(crate) struct Args<'a> {
    pub slots: [Slot<'a>; MAX_PARAMS],
    /// Counted only for verbs that [want one member](Verb::wants_one_member).
    pub names: Names,
}

/// The top level of a message.
enum Envelope<'a> {
    /// Not an object, or an empty one.
    Malformed,
    /// An object; `multiple` when it has a second, different member name.
    One { name: Cow<'a, str>, body: Body, multiple: bool },
}

/// The value of the command member (its parameters went into [`Args`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    NotObject,
    Object,
}

#[cfg(test)]
mod tests;
