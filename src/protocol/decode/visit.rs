//! The serde visitors of the one-pass decoder: the envelope, a command body
//! read against its parameter list, one parameter value of a given
//! [`Kind`], and the small seeds they share. They fill the [`Slot`]s of
//! `decode.rs`; the rules about what a slot means live there.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Args, Body, Envelope, MISSING_PARAMETER, Names, RangeSlot, Slot, check};
use crate::protocol::Status;
use crate::protocol::command::{ContainerVerb, EXPIRY_PARAMS, Expiry, ItemType, KeyValues, Kind, Param, Verb};

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

/// Reads the envelope; the command's parameters go into `args`.
pub(super) struct EnvelopeVisitor<'a, 'de> {
    pub(super) args: &'a mut Args<'de>,
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
        let verb = Verb::from_name(&name);
        let params = match verb {
            Some(verb) => verb.params(),
            // Array and list names are looked up only when no other verb
            // matched, so they cost the KV path nothing.
            // Without the `arrays` feature they read no parameter (they
            // answer 14 whatever the body).
            None if !cfg!(feature = "arrays") => &[][..],
            None => ContainerVerb::from_name(&name).map_or(&[][..], ContainerVerb::params),
        };
        let count_names = verb.is_some_and(Verb::wants_one_member);
        let body = map.next_value_seed(BodySeed { params, count_names, args: self.args })?;
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

/// Reads a command body (or a nested parameter object) against a parameter
/// list, into `args`: the slots are filled in place, never moved.
struct BodySeed<'a, 'de> {
    params: &'static [Param],
    count_names: bool,
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
        let args = self.args;
        let mut first_name: Option<Cow<'de, str>> = None;
        // Member names borrow from the request unless they hold escapes.
        while let Some(name) = map.next_key_seed(StrSeed)? {
            if self.count_names {
                match &first_name {
                    None => {
                        args.names = Names::One;
                        first_name = Some(name.clone());
                    }
                    Some(first) if *first != name => args.names = Names::Many,
                    Some(_) => {}
                }
            }
            match self.params.iter().position(|p| p.name == name) {
                Some(i) if matches!(args.slots[i], Slot::Absent) => {
                    args.slots[i] = map.next_value_seed(SlotSeed { kind: self.params[i].kind })?;
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

/// Reads one parameter value of a given kind; a value of another JSON type is
/// consumed and becomes [`Slot::WrongType`] (or "no token" for a token).
struct SlotSeed {
    kind: Kind,
}

impl SlotSeed {
    /// The slot for a value that is not of the expected kind.
    fn mismatch<'a>(&self) -> Slot<'a> {
        match self.kind {
            Kind::Token => Slot::Token(None),
            _ => Slot::WrongType,
        }
    }
}

impl<'de> DeserializeSeed<'de> for SlotSeed {
    type Value = Slot<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.kind {
            Kind::Raw => <&RawValue>::deserialize(d).map(Slot::Raw),
            Kind::Item(ItemType::Object) => {
                <&RawValue>::deserialize(d).map(|raw| if is_object(raw) { Slot::Raw(raw) } else { Slot::WrongType })
            }
            // From the text: serde_json reads `-0` as a float, but it is a
            // JSON integer literal; `1.0`, `1e3` and anything outside the
            // i64 range are not.
            Kind::Item(ItemType::Int) => {
                <&RawValue>::deserialize(d).map(|raw| raw.get().parse().map_or(Slot::WrongType, Slot::Int))
            }
            _ => d.deserialize_any(self),
        }
    }
}

/// Whether raw JSON text is an object (serde_json's raw values start at
/// the value's first byte).
fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

impl<'de> Visitor<'de> for SlotSeed {
    type Value = Slot<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match self.kind {
            Kind::Object => {
                let mut pairs = KeyValues::new();
                while let Some(key) = map.next_key_seed(StrSeed)? {
                    let value: &RawValue = map.next_value()?;
                    pairs.push((key, value));
                }
                dedup_keep_first(&mut pairs);
                Ok(Slot::Pairs(pairs))
            }
            Kind::Expiry => {
                let mut args = Args::default();
                BodySeed { params: EXPIRY_PARAMS, count_names: false, args: &mut args }.visit_map(map)?;
                Ok(expiry(&args))
            }
            _ => {
                drain_map(map)?;
                Ok(self.mismatch())
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        match self.kind {
            Kind::Names => {
                let mut names = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                let mut len = 0;
                while let Some(item) = seq.next_element_seed(MaybeStr)? {
                    len += 1;
                    names.extend(item);
                }
                Ok(Slot::Names(names, len))
            }
            Kind::Tokens => {
                let mut tokens = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(item) = seq.next_element_seed(SlotSeed { kind: Kind::Token })? {
                    tokens.extend(item.into_token());
                }
                Ok(Slot::Tokens(tokens))
            }
            Kind::SaveTokens => {
                let mut tokens = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                let mut all_valid = true;
                while let Some(item) = seq.next_element_seed(SlotSeed { kind: Kind::Token })? {
                    match item.into_token() {
                        Some(token) => tokens.push(token),
                        None => all_valid = false,
                    }
                }
                Ok(match (tokens.is_empty() && all_valid, all_valid) {
                    (true, _) => Slot::Invalid(Status::ValueSize, TKNS_EMPTY),
                    (false, false) => Slot::Invalid(Status::ValueTypeInvalid, TKNS_INVALID),
                    (false, true) => Slot::Tokens(tokens),
                })
            }
            Kind::RawItems => {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(item) = seq.next_element::<&RawValue>()? {
                    items.push(item);
                }
                Ok(Slot::RawItems(items))
            }
            Kind::Items(item) => container_items(item, seq),
            Kind::Range | Kind::ClearRange => {
                let mut range = RangeSlot::default();
                while range.count < 2 {
                    let Some(item) = seq.next_element_seed(SlotSeed { kind: Kind::Uint })? else { break };
                    match item {
                        Slot::Uint(v) if range.count == 0 => range.start = v,
                        Slot::Uint(v) => range.stop = v,
                        _ => range.not_uint = true,
                    }
                    range.count += 1;
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    range.count = range.count.saturating_add(1);
                }
                Ok(Slot::Range(range))
            }
            _ => {
                drain_seq(seq)?;
                Ok(self.mismatch())
            }
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(match self.kind {
            Kind::Token => Slot::Token(Some(v)),
            Kind::Uint => Slot::Uint(v),
            _ => Slot::WrongType,
        })
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(match self.kind {
            Kind::Bool => Slot::Bool(v),
            _ => self.mismatch(),
        })
    }

    // serde_json reports a negative integer (and `-0`) as `i64`, and a float
    // or an integer beyond `u64` as `f64`: neither is a uint nor a token.
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.mismatch())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.mismatch())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(match self.kind {
            Kind::Str | Kind::Item(ItemType::Str) => Slot::Str(Cow::Borrowed(v)),
            _ => self.mismatch(),
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match self.kind {
            Kind::Str | Kind::Item(ItemType::Str) => Slot::Str(Cow::Owned(v.to_owned())),
            _ => self.mismatch(),
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.mismatch())
    }
}

/// Reads the items of an array or list command, each checked against
/// `item`. After the first item of another type the rest are only consumed,
/// and the slot says so ([`Slot::BadItems`], 41 once the parameters passed).
// Out of line: only array and list commands come here.
#[inline(never)]
fn container_items<'de, A: SeqAccess<'de>>(item: ItemType, mut seq: A) -> Result<Slot<'de>, A::Error> {
    let capacity = seq.size_hint().unwrap_or(4);
    let mut ok = true;
    let slot = match item {
        ItemType::Object => {
            let mut items = Vec::with_capacity(capacity);
            while let Some(raw) = seq.next_element::<&RawValue>()? {
                ok = is_object(raw);
                if !ok {
                    break;
                }
                items.push(raw);
            }
            Slot::RawItems(items)
        }
        ItemType::Int => {
            let mut items = Vec::with_capacity(capacity);
            while let Some(value) = seq.next_element_seed(SlotSeed { kind: Kind::Item(ItemType::Int) })? {
                let Slot::Int(value) = value else {
                    ok = false;
                    break;
                };
                items.push(value);
            }
            Slot::Ints(items)
        }
        ItemType::Str => {
            let mut items = Vec::with_capacity(capacity);
            while let Some(value) = seq.next_element_seed(StrItem)? {
                let Some(value) = value else {
                    ok = false;
                    break;
                };
                items.push(value);
            }
            Slot::Strs(items)
        }
    };
    if ok {
        return Ok(slot);
    }
    drain_seq(seq)?;
    Ok(Slot::BadItems)
}

/// The `m` of an empty `tkns` in `SH_SAVE`.
const TKNS_EMPTY: &str = "'tkns' empty";
/// The `m` of a `tkns` item that is not a token in `SH_SAVE`.
const TKNS_INVALID: &str = "'tkns' contains invalid token";

/// `SH_NEW`'s `expiry` from its members, or the first failure among them.
fn expiry(args: &Args<'_>) -> Slot<'static> {
    if let Err((status, m)) = check(EXPIRY_PARAMS, &args.slots) {
        return Slot::Invalid(status, m);
    }
    let [delete_session, duration, extend_on_get, extend_on_set_add] = [0, 1, 2, 3].map(|i| &args.slots[i]);
    let Slot::Uint(duration) = *duration else {
        return Slot::Invalid(Status::ParamMissing, MISSING_PARAMETER);
    };
    Slot::Expiry(Expiry {
        duration,
        delete_session: delete_session.bool_or_false(),
        extend_on_get: extend_on_get.bool_or_false(),
        extend_on_set_add: extend_on_set_add.bool_or_false(),
    })
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

/// [`MaybeStr`] under another name for the items of string arrays: a seed
/// type of its own keeps `KV_GET`'s key reading (`MaybeStr`) a single
/// caller of serde_json's element reader, which is then inlined there.
struct StrItem;

impl<'de> DeserializeSeed<'de> for StrItem {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(MaybeStr)
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
