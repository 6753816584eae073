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
//! 5. parameters in byte-wise name order: missing → 26, wrong type → 41;
//! 6. command-specific checks (e.g. an empty `keys` in `KV_RMV` → 42).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::command::{Command, KeyValues, Kind, MAX_PARAMS, Param, Verb};
use super::status::Status;

/// Implements the scalar `visit_*` methods of a visitor to return one value.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

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
}

/// The command a reply is keyed by: `<name>_RSP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RspName<'a> {
    /// A command ndb serves.
    Known(Verb),
    /// A command ndb does not serve, named as the client named it.
    Unknown(Cow<'a, str>),
}

/// The `m` of a missing required parameter.
pub const MISSING_PARAMETER: &str = "Missing parameter";
/// The `m` of a parameter with the wrong JSON type.
pub const PARAM_TYPE_INCORRECT: &str = "Param type incorrect";

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
    if body == Body::NotObject {
        return Err(unknown(Status::CommandSyntax));
    }
    let Some((prefix, _)) = name.split_once('_') else {
        return Err(unknown(Status::CommandSyntax));
    };
    match Verb::from_name(&name) {
        Some(verb) => build(verb, &mut args),
        None if prefix == "KV" => Err(Rejection::err(Status::CommandNotExist)),
        None => Err(unknown(Status::CommandNotExist)),
    }
}

/// Checks the parameters in order, then builds the command.
fn build<'a>(verb: Verb, args: &mut Args<'a>) -> Result<Command<'a>, Rejection<'static>> {
    if let Err((status, m)) = check(verb.params(), &args.slots) {
        return Err(Rejection::verb(verb, status, m));
    }
    let mut slots = args.slots.iter_mut().map(std::mem::take);
    let mut next = || slots.next().unwrap_or_default();
    Ok(match verb {
        Verb::KvSet => Command::KvSet(next().into_pairs()),
        Verb::KvAdd => Command::KvAdd(next().into_pairs()),
        Verb::KvClearSet => Command::KvClearSet(next().into_pairs()),
        Verb::KvGet => Command::KvGet(next().into_names().0),
        Verb::KvContains => Command::KvContains(next().into_names().0),
        Verb::KvRmv => match next().into_names() {
            (_, 0) => return Err(Rejection::verb(verb, Status::ValueSize, "keys")),
            (names, _) => Command::KvRmv(names),
        },
        Verb::KvClear => Command::KvClear,
        Verb::KvCount => Command::KvCount,
        Verb::KvKeys => Command::KvKeys,
        Verb::SvInfo => Command::SvInfo,
    })
}

/// The first failing parameter in `params` order: missing → 26, wrong type → 41.
pub(crate) fn check(params: &[Param], slots: &[Slot<'_>]) -> Result<(), (Status, &'static str)> {
    for (param, slot) in params.iter().zip(slots) {
        match slot {
            Slot::Absent if param.required => {
                return Err((Status::ParamMissing, MISSING_PARAMETER));
            }
            Slot::WrongType => return Err((Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT)),
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
    /// [`Kind::Object`]: members in request order, first occurrence kept.
    Pairs(KeyValues<'a>),
    /// [`Kind::Names`]: the string items, and how many items there were.
    Names(Vec<Cow<'a, str>>, usize),
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
}

/// The parameters read from a command body, in the verb's parameter order.
#[derive(Debug, Default)]
pub(crate) struct Args<'a> {
    pub slots: [Slot<'a>; MAX_PARAMS],
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

struct EnvelopeVisitor<'a, 'de> {
    args: &'a mut Args<'de>,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_, 'de> {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(name) = map.next_key_seed(StrSeed)? else {
            return Ok(Envelope::Malformed);
        };
        let params = Verb::from_name(&name).map_or(&[][..], Verb::params);
        let body = map.next_value_seed(BodySeed { params, args: self.args })?;
        let mut multiple = false;
        while let Some(other) = map.next_key_seed(StrSeed)? {
            multiple |= other != name;
            map.next_value::<IgnoredAny>()?;
        }
        Ok(Envelope::One { name, body, multiple })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Envelope::Malformed)
    }

    scalars_are!(Envelope::Malformed);
}

/// Reads a command body against a parameter list, into `args`.
struct BodySeed<'a, 'de> {
    params: &'static [Param],
    args: &'a mut Args<'de>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_, 'de> {
    type Value = Body;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, 'de> {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(index) = map.next_key_seed(ParamIndex { params: self.params })? {
            match index {
                Some(i) if matches!(self.args.slots[i], Slot::Absent) => {
                    self.args.slots[i] = map.next_value_seed(SlotSeed { kind: self.params[i].kind })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Body::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Body::NotObject)
    }

    scalars_are!(Body::NotObject);
}

/// Reads a member name and returns its position in a parameter list, without
/// allocating.
struct ParamIndex {
    params: &'static [Param],
}

impl<'de> DeserializeSeed<'de> for ParamIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ParamIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.params.iter().position(|p| p.name == v))
    }
}

/// Reads one parameter value of a given kind; a value of another JSON type is
/// consumed and becomes [`Slot::WrongType`].
struct SlotSeed {
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for SlotSeed {
    type Value = Slot<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SlotSeed {
    type Value = Slot<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.kind != Kind::Object {
            drain_map(map)?;
            return Ok(Slot::WrongType);
        }
        let mut pairs = KeyValues::new();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let value: &RawValue = map.next_value()?;
            pairs.push((key, value));
        }
        dedup_keep_first(&mut pairs);
        Ok(Slot::Pairs(pairs))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.kind != Kind::Names {
            drain_seq(seq)?;
            return Ok(Slot::WrongType);
        }
        let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        let mut len = 0;
        while let Some(item) = seq.next_element_seed(MaybeStr)? {
            len += 1;
            names.extend(item);
        }
        Ok(Slot::Names(names, len))
    }

    scalars_are!(Slot::WrongType);
}

/// Keeps the first of repeated member names, as NemesisDB does.
fn dedup_keep_first(pairs: &mut KeyValues<'_>) {
    const LINEAR_SCAN_MAX: usize = 16;
    if pairs.len() < 2 {
        return;
    }
    if pairs.len() <= LINEAR_SCAN_MAX {
        let mut i = 1;
        while i < pairs.len() {
            if pairs[..i].iter().any(|(k, _)| *k == pairs[i].0) {
                pairs.remove(i);
            } else {
                i += 1;
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        pairs.retain(|(k, _)| seen.insert(k.clone()));
    }
}

/// Reads a string, borrowing from the input unless it holds escapes.
pub(crate) struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Reads any value; strings come back, everything else is consumed and
/// skipped.
struct MaybeStr;

impl<'de> DeserializeSeed<'de> for MaybeStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MaybeStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests;
