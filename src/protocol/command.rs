//! The commands ndb serves: one [`Verb`] per command name, with its parameter
//! list, and one [`Command`] variant per verb carrying arguments that have
//! already been validated.
//!
//! Arguments borrow from the request text wherever JSON escaping allows
//! (`Cow::Borrowed`), and stored values stay raw JSON text (`&RawValue`), so
//! decoding a request allocates at most the argument lists themselves.
//!
//! Parameter lists are kept in byte-wise ascending name order, because that is
//! the order in which NemesisDB validates them: the first failing parameter in
//! that order decides the status. `SH_NEW`'s nested `expiry` object follows the
//! same rule with its own list ([`EXPIRY_PARAMS`]).

use std::borrow::Cow;

use serde_json::value::RawValue;

mod containers;

pub use containers::{ContainerArgs, ContainerCommand, ContainerVerb, Family, Item, ItemType, Items, Op, Range};

/// A command name ndb serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `KV_SET`: insert or overwrite top-level keys.
    KvSet,
    /// `KV_ADD`: insert top-level keys that are absent.
    KvAdd,
    /// `KV_GET`: read top-level keys.
    KvGet,
    /// `KV_RMV`: delete top-level keys.
    KvRmv,
    /// `KV_CLEAR`: delete every top-level key.
    KvClear,
    /// `KV_CLEAR_SET`: clear, then set.
    KvClearSet,
    /// `KV_CONTAINS`: which of the given keys exist.
    KvContains,
    /// `KV_COUNT`: number of top-level keys.
    KvCount,
    /// `KV_KEYS`: every top-level key name, in map order.
    KvKeys,
    /// `KV_FIND`: the keys whose value a JSONPath selects something in.
    KvFind,
    /// `KV_UPDATE`: replace the nodes a JSONPath selects in one key's value.
    KvUpdate,
    /// `KV_ARR_APPEND`: append items to an array value or array member.
    KvArrAppend,
    /// `SV_INFO`: server version and statistics.
    SvInfo,
    /// `SH_NEW`: create a session.
    ShNew,
    /// `SH_END`: delete one session.
    ShEnd,
    /// `SH_END_ALL`: delete every session.
    ShEndAll,
    /// `SH_EXISTS`: which of the given tokens name live sessions.
    ShExists,
    /// `SH_INFO`: describe one session.
    ShInfo,
    /// `SH_INFO_ALL`: session and key totals.
    ShInfoAll,
    /// `SH_SET`: insert or overwrite keys of a session.
    ShSet,
    /// `SH_ADD`: insert keys of a session that are absent.
    ShAdd,
    /// `SH_GET`: read keys of a session.
    ShGet,
    /// `SH_RMV`: delete keys of a session.
    ShRmv,
    /// `SH_CLEAR`: delete every key of a session.
    ShClear,
    /// `SH_CLEAR_SET`: clear a session, then set.
    ShClearSet,
    /// `SH_CONTAINS`: which of the given keys a session has.
    ShContains,
    /// `SH_COUNT`: number of keys in a session.
    ShCount,
    /// `SH_KEYS`: every key name of a session, in map order.
    ShKeys,
    /// `KV_SAVE`: write every top-level key to a named save.
    KvSave,
    /// `KV_LOAD`: merge the keys of a named save into the top level.
    KvLoad,
    /// `SH_SAVE`: write every session (or the listed ones) to a named save.
    ShSave,
    /// `SH_LOAD`: create the sessions of a named save.
    ShLoad,
}

/// How a parameter's JSON value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An object whose members become key/value pairs (values kept raw).
    Object,
    /// An array whose string items become key names; other items are skipped.
    Names,
    /// A session token: any JSON value is accepted, and only a `u64` names a
    /// session (anything else means "no session", never a type error).
    Token,
    /// An array whose `u64` items become tokens; other items are skipped.
    Tokens,
    /// An unsigned integer literal from 0 to 2^64 − 1.
    Uint,
    /// `true` or `false`.
    Bool,
    /// `SH_NEW`'s `expiry` object, read against [`EXPIRY_PARAMS`].
    Expiry,
    /// A string.
    Str,
    /// `SH_SAVE`'s `tkns`: a non-empty array of `u64` items, else 42
    /// (`'tkns' empty`) or 41 (`'tkns' contains invalid token`).
    SaveTokens,
    /// Any JSON value, kept as raw text (`KV_UPDATE`'s `value`).
    Raw,
    /// An array whose items are kept as raw text (`KV_ARR_APPEND`'s
    /// `items`).
    RawItems,
    /// An array `rng` or `srcRng`: `[start]` or `[start, stop]` of uints.
    /// Its shape is checked after every parameter: not 1 or 2 items → 42,
    /// an item that is not a uint → 41, start > stop → 13.
    Range,
    /// `<A>_CLEAR`'s `rng`: as [`Kind::Range`], but not 1 or 2 items → 13.
    ClearRange,
    /// An array item of the given type (`<A>_SET`'s `item`).
    Item(ItemType),
    /// An array of items of the given type (`SET_RNG`'s and `OLST_ADD`'s
    /// `items`); each item is checked after every parameter (41).
    Items(ItemType),
}

/// One parameter of a verb.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Param {
    /// The member name in the request body.
    pub name: &'static str,
    /// How its value is read.
    pub kind: Kind,
    /// Whether its absence is an error (status 26).
    pub required: bool,
}

const KEYS_OBJECT: Param = Param { name: "keys", kind: Kind::Object, required: true };
const KEYS_NAMES: Param = Param { name: "keys", kind: Kind::Names, required: true };
/// Never required: a missing token is "no session" (status 100), not 26.
const TKN: Param = Param { name: "tkn", kind: Kind::Token, required: false };
const TKNS: Param = Param { name: "tkns", kind: Kind::Tokens, required: true };
const EXPIRY: Param = Param { name: "expiry", kind: Kind::Expiry, required: false };
const NAME: Param = Param { name: "name", kind: Kind::Str, required: true };
const SAVE_TKNS: Param = Param { name: "tkns", kind: Kind::SaveTokens, required: false };
const FIND_KEYS: Param = Param { name: "keys", kind: Kind::Names, required: false };
const PATH: Param = Param { name: "path", kind: Kind::Str, required: true };
const RSP: Param = Param { name: "rsp", kind: Kind::Str, required: true };
const KEY: Param = Param { name: "key", kind: Kind::Str, required: true };
const VALUE: Param = Param { name: "value", kind: Kind::Raw, required: true };
const ITEMS: Param = Param { name: "items", kind: Kind::RawItems, required: true };
const ARRAY_NAME: Param = Param { name: "name", kind: Kind::Str, required: false };

/// The members of `SH_NEW`'s `expiry` object, validated like parameters.
pub(crate) const EXPIRY_PARAMS: &[Param] = &[
    Param { name: "deleteSession", kind: Kind::Bool, required: false },
    Param { name: "duration", kind: Kind::Uint, required: true },
    Param { name: "extendOnGet", kind: Kind::Bool, required: false },
    Param { name: "extendOnSetAdd", kind: Kind::Bool, required: false },
];

/// The most parameters one verb takes.
pub(crate) const MAX_PARAMS: usize = 4;

impl Verb {
    /// Every verb, in declaration order (`Verb::ALL[v as usize] == v`).
    pub const ALL: [Verb; 32] = [
        Verb::KvSet,
        Verb::KvAdd,
        Verb::KvGet,
        Verb::KvRmv,
        Verb::KvClear,
        Verb::KvClearSet,
        Verb::KvContains,
        Verb::KvCount,
        Verb::KvKeys,
        Verb::KvFind,
        Verb::KvUpdate,
        Verb::KvArrAppend,
        Verb::SvInfo,
        Verb::ShNew,
        Verb::ShEnd,
        Verb::ShEndAll,
        Verb::ShExists,
        Verb::ShInfo,
        Verb::ShInfoAll,
        Verb::ShSet,
        Verb::ShAdd,
        Verb::ShGet,
        Verb::ShRmv,
        Verb::ShClear,
        Verb::ShClearSet,
        Verb::ShContains,
        Verb::ShCount,
        Verb::ShKeys,
        Verb::KvSave,
        Verb::KvLoad,
        Verb::ShSave,
        Verb::ShLoad,
    ];

    /// How many verbs there are: `verb as usize` is below it.
    pub const COUNT: usize = Verb::ALL.len();

    /// The verb with this exact (case-sensitive) command name.
    pub fn from_name(name: &str) -> Option<Verb> {
        Some(match name {
            "KV_SET" => Verb::KvSet,
            "KV_ADD" => Verb::KvAdd,
            "KV_GET" => Verb::KvGet,
            "KV_RMV" => Verb::KvRmv,
            "KV_CLEAR" => Verb::KvClear,
            "KV_CLEAR_SET" => Verb::KvClearSet,
            "KV_CONTAINS" => Verb::KvContains,
            "KV_COUNT" => Verb::KvCount,
            "KV_KEYS" => Verb::KvKeys,
            "KV_FIND" => Verb::KvFind,
            "KV_UPDATE" => Verb::KvUpdate,
            "KV_ARR_APPEND" => Verb::KvArrAppend,
            "SV_INFO" => Verb::SvInfo,
            "SH_NEW" => Verb::ShNew,
            "SH_END" => Verb::ShEnd,
            "SH_END_ALL" => Verb::ShEndAll,
            "SH_EXISTS" => Verb::ShExists,
            "SH_INFO" => Verb::ShInfo,
            "SH_INFO_ALL" => Verb::ShInfoAll,
            "SH_SET" => Verb::ShSet,
            "SH_ADD" => Verb::ShAdd,
            "SH_GET" => Verb::ShGet,
            "SH_RMV" => Verb::ShRmv,
            "SH_CLEAR" => Verb::ShClear,
            "SH_CLEAR_SET" => Verb::ShClearSet,
            "SH_CONTAINS" => Verb::ShContains,
            "SH_COUNT" => Verb::ShCount,
            "SH_KEYS" => Verb::ShKeys,
            "KV_SAVE" => Verb::KvSave,
            "KV_LOAD" => Verb::KvLoad,
            "SH_SAVE" => Verb::ShSave,
            "SH_LOAD" => Verb::ShLoad,
            _ => return None,
        })
    }

    /// The command name, e.g. `KV_SET`.
    pub fn name(self) -> &'static str {
        let rsp = self.response_name();
        &rsp[..rsp.len() - "_RSP".len()]
    }

    /// The name its replies are keyed by, e.g. `KV_SET_RSP`.
    pub fn response_name(self) -> &'static str {
        match self {
            Verb::KvSet => "KV_SET_RSP",
            Verb::KvAdd => "KV_ADD_RSP",
            Verb::KvGet => "KV_GET_RSP",
            Verb::KvRmv => "KV_RMV_RSP",
            Verb::KvClear => "KV_CLEAR_RSP",
            Verb::KvClearSet => "KV_CLEAR_SET_RSP",
            Verb::KvContains => "KV_CONTAINS_RSP",
            Verb::KvCount => "KV_COUNT_RSP",
            Verb::KvKeys => "KV_KEYS_RSP",
            Verb::KvFind => "KV_FIND_RSP",
            Verb::KvUpdate => "KV_UPDATE_RSP",
            Verb::KvArrAppend => "KV_ARR_APPEND_RSP",
            Verb::SvInfo => "SV_INFO_RSP",
            Verb::ShNew => "SH_NEW_RSP",
            Verb::ShEnd => "SH_END_RSP",
            Verb::ShEndAll => "SH_END_ALL_RSP",
            Verb::ShExists => "SH_EXISTS_RSP",
            Verb::ShInfo => "SH_INFO_RSP",
            Verb::ShInfoAll => "SH_INFO_ALL_RSP",
            Verb::ShSet => "SH_SET_RSP",
            Verb::ShAdd => "SH_ADD_RSP",
            Verb::ShGet => "SH_GET_RSP",
            Verb::ShRmv => "SH_RMV_RSP",
            Verb::ShClear => "SH_CLEAR_RSP",
            Verb::ShClearSet => "SH_CLEAR_SET_RSP",
            Verb::ShContains => "SH_CONTAINS_RSP",
            Verb::ShCount => "SH_COUNT_RSP",
            Verb::ShKeys => "SH_KEYS_RSP",
            Verb::KvSave => "KV_SAVE_RSP",
            Verb::KvLoad => "KV_LOAD_RSP",
            Verb::ShSave => "SH_SAVE_RSP",
            Verb::ShLoad => "SH_LOAD_RSP",
        }
    }

    /// The parameters it reads, in byte-wise ascending name order.
    pub(crate) fn params(self) -> &'static [Param] {
        match self {
            Verb::KvSet | Verb::KvAdd | Verb::KvClearSet => &[KEYS_OBJECT],
            Verb::KvGet | Verb::KvRmv | Verb::KvContains => &[KEYS_NAMES],
            Verb::KvClear | Verb::KvCount | Verb::KvKeys | Verb::SvInfo => &[],
            Verb::ShNew => &[EXPIRY],
            Verb::ShEnd | Verb::ShInfo | Verb::ShClear | Verb::ShCount | Verb::ShKeys => &[TKN],
            Verb::ShEndAll | Verb::ShInfoAll => &[],
            Verb::ShExists => &[TKNS],
            Verb::ShSet | Verb::ShAdd | Verb::ShClearSet => &[KEYS_OBJECT, TKN],
            Verb::ShGet | Verb::ShRmv | Verb::ShContains => &[KEYS_NAMES, TKN],
            Verb::KvSave | Verb::KvLoad | Verb::ShLoad => &[NAME],
            Verb::ShSave => &[NAME, SAVE_TKNS],
            Verb::KvFind => &[FIND_KEYS, PATH, RSP],
            Verb::KvUpdate => &[KEY, PATH, VALUE],
            Verb::KvArrAppend => &[ITEMS, KEY, ARRAY_NAME],
        }
    }

    /// Whether its body must hold exactly one distinct member name
    /// (`SH_INFO`; anything else is status 13).
    pub(crate) fn wants_one_member(self) -> bool {
        self == Verb::ShInfo
    }
}

/// What `SH_NEW`'s `expiry` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expiry {
    /// Seconds, as requested (any `u64`); 0 means the session never expires.
    pub duration: u64,
    /// Delete the session when it expires (else clear its keys and restart).
    pub delete_session: bool,
    /// `SH_GET` restarts the expiry.
    pub extend_on_get: bool,
    /// `SH_SET` and `SH_ADD` restart the expiry.
    pub extend_on_set_add: bool,
}

/// Key/value pairs from a request, in request order. Values are raw JSON.
pub type KeyValues<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Key names from a request, in request order (non-string items dropped).
pub type KeyNames<'a> = Vec<Cow<'a, str>>;

/// An operation on one key map: the top-level keys (`KV_*`) or a session's
/// keys (`SH_*`). Both families share parameters, rules and reply shapes.
#[derive(Debug)]
pub enum MapOp<'a> {
    /// `*_SET`
    Set(KeyValues<'a>),
    /// `*_ADD`
    Add(KeyValues<'a>),
    /// `*_GET`
    Get(KeyNames<'a>),
    /// `*_RMV` (`keys` was not empty)
    Rmv(KeyNames<'a>),
    /// `*_CLEAR`
    Clear,
    /// `*_CLEAR_SET`
    ClearSet(KeyValues<'a>),
    /// `*_CONTAINS`
    Contains(KeyNames<'a>),
    /// `*_COUNT`
    Count,
    /// `*_KEYS`
    Keys,
}

impl MapOp<'_> {
    /// The `KV_` verb of this operation.
    pub fn kv_verb(&self) -> Verb {
        match self {
            MapOp::Set(_) => Verb::KvSet,
            MapOp::Add(_) => Verb::KvAdd,
            MapOp::Get(_) => Verb::KvGet,
            MapOp::Rmv(_) => Verb::KvRmv,
            MapOp::Clear => Verb::KvClear,
            MapOp::ClearSet(_) => Verb::KvClearSet,
            MapOp::Contains(_) => Verb::KvContains,
            MapOp::Count => Verb::KvCount,
            MapOp::Keys => Verb::KvKeys,
        }
    }

    /// The `SH_` verb of this operation.
    pub fn sh_verb(&self) -> Verb {
        match self {
            MapOp::Set(_) => Verb::ShSet,
            MapOp::Add(_) => Verb::ShAdd,
            MapOp::Get(_) => Verb::ShGet,
            MapOp::Rmv(_) => Verb::ShRmv,
            MapOp::Clear => Verb::ShClear,
            MapOp::ClearSet(_) => Verb::ShClearSet,
            MapOp::Contains(_) => Verb::ShContains,
            MapOp::Count => Verb::ShCount,
            MapOp::Keys => Verb::ShKeys,
        }
    }
}

/// What a save request asked for, or why its parameters are wrong.
///
/// Parameter errors are carried rather than raised by the decoder because a
/// save while persistence is disabled is answered 14 whatever its
/// parameters, and only the store knows that setting.
pub type SaveRequest<'a> = Result<Save<'a>, SaveRejected>;

/// The parameter failure of a save request: its status and `m`.
pub type SaveRejected = (super::Status, &'static str);

/// The arguments of `KV_SAVE` and `SH_SAVE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Save<'a> {
    /// The save's name (already checked by [`is_valid_save_name`]).
    pub name: Cow<'a, str>,
    /// `SH_SAVE` with `tkns`: only these sessions (non-empty).
    pub tokens: Option<Vec<u64>>,
}

/// Whether `name` may name a save: not empty, not `.`, and without `/`,
/// `\`, `..` or a NUL byte, so that it is always one directory of its own
/// inside the persist path.
pub fn is_valid_save_name(name: &str) -> bool {
    !name.is_empty() && name != "." && !name.contains(['/', '\\', '\0']) && !name.contains("..")
}

/// What `KV_FIND` answers with: its `rsp` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindRsp {
    /// `"keys"`: the names of the keys whose value matched.
    Keys,
    /// `"paths"`: the normalized paths of the selected nodes.
    Paths,
    /// `"kv"`: the keys that matched, each with its whole value.
    Kv,
}

impl FindRsp {
    /// The mode an `rsp` value names, if any.
    pub fn from_name(name: &str) -> Option<FindRsp> {
        match name {
            "keys" => Some(FindRsp::Keys),
            "paths" => Some(FindRsp::Paths),
            "kv" => Some(FindRsp::Kv),
            _ => None,
        }
    }
}

/// The arguments of `KV_FIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Find<'a> {
    /// Only these keys are searched (the string items of a non-empty
    /// `keys`, in request order); `None` (`keys` absent or empty) searches
    /// every key.
    pub keys: Option<KeyNames<'a>>,
    /// The JSONPath expression, not empty (not parsed yet).
    pub path: Cow<'a, str>,
    /// What the reply lists.
    pub rsp: FindRsp,
}

/// The arguments of `KV_UPDATE`.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The key whose value changes.
    pub key: Cow<'a, str>,
    /// The JSONPath expression (not parsed yet).
    pub path: Cow<'a, str>,
    /// The new value of every selected node, as raw JSON text.
    pub value: &'a RawValue,
}

/// The arguments of `KV_ARR_APPEND`.
#[derive(Debug, Clone)]
pub struct ArrAppend<'a> {
    /// The key whose value changes.
    pub key: Cow<'a, str>,
    /// The items to append, each as raw JSON text, in request order.
    pub items: Vec<&'a RawValue>,
    /// The member of the value that holds the array; `None` when the value
    /// itself is the array.
    pub name: Option<Cow<'a, str>>,
}

/// A decoded request whose parameters passed validation.
///
/// A token is `Some` only when the request held a `u64` there; `None` (absent,
/// a string, a float, a negative number, …) means "no session".
#[derive(Debug)]
pub enum Command<'a> {
    /// A `KV_*` command on the top-level keys.
    Kv(MapOp<'a>),
    /// `SV_INFO`
    SvInfo,
    /// `SH_NEW`, with its `expiry` if given.
    ShNew(Option<Expiry>),
    /// `SH_END`
    ShEnd(Option<u64>),
    /// `SH_END_ALL`
    ShEndAll,
    /// `SH_EXISTS`: the `u64` items of `tkns`, in request order.
    ShExists(Vec<u64>),
    /// `SH_INFO` (its body had exactly one member)
    ShInfo(Option<u64>),
    /// `SH_INFO_ALL`
    ShInfoAll,
    /// An `SH_*` data command on one session's keys.
    Sh(Option<u64>, MapOp<'a>),
    /// `KV_SAVE`
    KvSave(SaveRequest<'a>),
    /// `SH_SAVE`
    ShSave(SaveRequest<'a>),
    /// `KV_LOAD` of a save with a valid name.
    KvLoad(Cow<'a, str>),
    /// `SH_LOAD` of a save with a valid name.
    ShLoad(Cow<'a, str>),
    /// `KV_FIND`
    KvFind(Find<'a>),
    /// `KV_UPDATE`
    KvUpdate(Update<'a>),
    /// `KV_ARR_APPEND`
    KvArrAppend(ArrAppend<'a>),
    /// An array or list command (NemesisDB 0.9), boxed so that the other
    /// commands stay small.
    Container(Box<ContainerCommand<'a>>),
}

impl Command<'_> {
    /// The name this command answers to, whatever its kind: what roles
    /// ([`crate::auth::command_role`]) and the metrics go by. Every
    /// command has one; a new kind of command must say here which it is.
    pub fn name(&self) -> CommandName {
        CommandName::Verb(match self {
            Command::Kv(op) => op.kv_verb(),
            Command::SvInfo => Verb::SvInfo,
            Command::ShNew(_) => Verb::ShNew,
            Command::ShEnd(_) => Verb::ShEnd,
            Command::ShEndAll => Verb::ShEndAll,
            Command::ShExists(_) => Verb::ShExists,
            Command::ShInfo(_) => Verb::ShInfo,
            Command::ShInfoAll => Verb::ShInfoAll,
            Command::Sh(_, op) => op.sh_verb(),
            Command::KvSave(_) => Verb::KvSave,
            Command::ShSave(_) => Verb::ShSave,
            Command::KvLoad(_) => Verb::KvLoad,
            Command::ShLoad(_) => Verb::ShLoad,
            Command::KvFind(_) => Verb::KvFind,
            Command::KvUpdate(_) => Verb::KvUpdate,
            Command::KvArrAppend(_) => Verb::KvArrAppend,
            Command::Container(container) => return CommandName::Container(container.verb),
        })
    }

    /// The key, session or server verb of this command; `None` for an
    /// array or list command, whose verb is its [`ContainerCommand::verb`].
    /// For what a command may be asked by whom, or to count it, use
    /// [`Command::name`], which every command has.
    pub fn verb(&self) -> Option<Verb> {
        match self.name() {
            CommandName::Verb(verb) => Some(verb),
            CommandName::Container(_) => None,
        }
    }
}

/// Any command name ndb serves: a key, session or server [`Verb`], or an
/// array or list [`ContainerVerb`] (NemesisDB 0.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandName {
    /// A `KV_*`, `SH_*` or `SV_*` command.
    Verb(Verb),
    /// An array or list command.
    Container(ContainerVerb),
}

impl From<Verb> for CommandName {
    fn from(verb: Verb) -> CommandName {
        CommandName::Verb(verb)
    }
}

impl From<ContainerVerb> for CommandName {
    fn from(verb: ContainerVerb) -> CommandName {
        CommandName::Container(verb)
    }
}

impl CommandName {
    /// How many numbers [`CommandName::index`] uses: every [`Verb`], then
    /// [`ContainerVerb::SLOTS`].
    pub const SLOTS: usize = Verb::COUNT + ContainerVerb::SLOTS;

    /// A number below [`CommandName::SLOTS`], one per name, worked out with
    /// no lookup (a table row, for the metrics).
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            CommandName::Verb(verb) => verb as usize,
            CommandName::Container(verb) => Verb::COUNT + verb.index(),
        }
    }

    /// The name whose [`CommandName::index`] is `index`, if any (an index
    /// of an op its family does not serve gives that pair all the same).
    pub fn from_index(index: usize) -> Option<CommandName> {
        match index.checked_sub(Verb::COUNT) {
            None => Verb::ALL.get(index).copied().map(CommandName::Verb),
            Some(i) => ContainerVerb::from_index(i).map(CommandName::Container),
        }
    }
}

impl std::fmt::Display for CommandName {
    /// The command name, e.g. `KV_SET` or `IARR_SET_RNG`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandName::Verb(verb) => f.write_str(verb.name()),
            CommandName::Container(verb) => write!(f, "{}_{}", verb.family.prefix(), verb.op.suffix()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Verb; 32] = Verb::ALL;

    #[test]
    fn names_round_trip() {
        for (i, verb) in ALL.into_iter().enumerate() {
            assert_eq!(verb as usize, i);
            assert_eq!(Verb::from_name(verb.name()), Some(verb));
            assert_eq!(verb.response_name(), format!("{}_RSP", verb.name()));
        }
        assert_eq!(Verb::from_name("kv_set"), None);
        assert_eq!(Verb::from_name("KV_SET_RSP"), None);
    }

    #[test]
    fn every_command_name_has_its_own_index_and_name() {
        let names = ALL.into_iter().map(CommandName::Verb).chain(ContainerVerb::all().map(CommandName::Container));
        let mut seen = std::collections::HashSet::new();
        for name in names {
            assert!(name.index() < CommandName::SLOTS, "{name}");
            assert!(seen.insert(name.index()), "{name}");
            assert_eq!(CommandName::from_index(name.index()), Some(name));
            let text = name.to_string();
            let back = Verb::from_name(&text)
                .map(CommandName::Verb)
                .or_else(|| ContainerVerb::from_name(&text).map(CommandName::Container));
            assert_eq!(back, Some(name), "{text}");
        }
        assert_eq!(seen.len(), 32 + 75);
        assert_eq!(CommandName::from_index(CommandName::SLOTS), None);
    }

    #[test]
    fn params_are_sorted_and_fit() {
        for verb in ALL {
            let params = verb.params();
            assert!(params.len() <= MAX_PARAMS);
            assert!(params.windows(2).all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()));
        }
        assert!(EXPIRY_PARAMS.len() <= MAX_PARAMS);
        assert!(EXPIRY_PARAMS.windows(2).all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()));
    }

    #[test]
    fn save_names_stay_inside_the_persist_path() {
        for good in ["nightly", "a.b", "żółw ☃", ".hidden", "x y", "a.", ".a"] {
            assert!(is_valid_save_name(good), "{good:?}");
        }
        for bad in ["", ".", "a/b", "/", "a\\b", "..", "a..b", "../x", "a\0b", "\0"] {
            assert!(!is_valid_save_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn kv_and_sh_map_ops_name_matching_verbs() {
        let ops = [
            MapOp::Set(Vec::new()),
            MapOp::Add(Vec::new()),
            MapOp::Get(Vec::new()),
            MapOp::Rmv(Vec::new()),
            MapOp::Clear,
            MapOp::ClearSet(Vec::new()),
            MapOp::Contains(Vec::new()),
            MapOp::Count,
            MapOp::Keys,
        ];
        for op in ops {
            assert_eq!(op.sh_verb().name(), op.kv_verb().name().replacen("KV_", "SH_", 1));
        }
    }
}
