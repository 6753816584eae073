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
//! that order decides the status.

use std::borrow::Cow;

use serde_json::value::RawValue;

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
    /// `SV_INFO`: server version and statistics.
    SvInfo,
}

/// How a parameter's JSON value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An object whose members become key/value pairs (values kept raw).
    Object,
    /// An array whose string items become key names; other items are skipped.
    Names,
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

/// The most parameters one verb takes.
pub(crate) const MAX_PARAMS: usize = 4;

impl Verb {
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
            "SV_INFO" => Verb::SvInfo,
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
            Verb::SvInfo => "SV_INFO_RSP",
        }
    }

    /// The parameters it reads, in byte-wise ascending name order.
    pub(crate) fn params(self) -> &'static [Param] {
        match self {
            Verb::KvSet | Verb::KvAdd | Verb::KvClearSet => &[KEYS_OBJECT],
            Verb::KvGet | Verb::KvRmv | Verb::KvContains => &[KEYS_NAMES],
            Verb::KvClear | Verb::KvCount | Verb::KvKeys | Verb::SvInfo => &[],
        }
    }
}

/// Key/value pairs from a request, in request order. Values are raw JSON.
pub type KeyValues<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Key names from a request, in request order (non-string items dropped).
pub type KeyNames<'a> = Vec<Cow<'a, str>>;

/// A decoded request whose parameters passed validation.
#[derive(Debug)]
pub enum Command<'a> {
    /// `KV_SET`
    KvSet(KeyValues<'a>),
    /// `KV_ADD`
    KvAdd(KeyValues<'a>),
    /// `KV_GET`
    KvGet(KeyNames<'a>),
    /// `KV_RMV` (`keys` is never empty)
    KvRmv(KeyNames<'a>),
    /// `KV_CLEAR`
    KvClear,
    /// `KV_CLEAR_SET`
    KvClearSet(KeyValues<'a>),
    /// `KV_CONTAINS`
    KvContains(KeyNames<'a>),
    /// `KV_COUNT`
    KvCount,
    /// `KV_KEYS`
    KvKeys,
    /// `SV_INFO`
    SvInfo,
}

impl Command<'_> {
    /// The verb this command answers to.
    pub fn verb(&self) -> Verb {
        match self {
            Command::KvSet(_) => Verb::KvSet,
            Command::KvAdd(_) => Verb::KvAdd,
            Command::KvGet(_) => Verb::KvGet,
            Command::KvRmv(_) => Verb::KvRmv,
            Command::KvClear => Verb::KvClear,
            Command::KvClearSet(_) => Verb::KvClearSet,
            Command::KvContains(_) => Verb::KvContains,
            Command::KvCount => Verb::KvCount,
            Command::KvKeys => Verb::KvKeys,
            Command::SvInfo => Verb::SvInfo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Verb; 10] = [
        Verb::KvSet,
        Verb::KvAdd,
        Verb::KvGet,
        Verb::KvRmv,
        Verb::KvClear,
        Verb::KvClearSet,
        Verb::KvContains,
        Verb::KvCount,
        Verb::KvKeys,
        Verb::SvInfo,
    ];

    #[test]
    fn names_round_trip() {
        for verb in ALL {
            assert_eq!(Verb::from_name(verb.name()), Some(verb));
            assert_eq!(verb.response_name(), format!("{}_RSP", verb.name()));
        }
        assert_eq!(Verb::from_name("kv_set"), None);
        assert_eq!(Verb::from_name("KV_SET_RSP"), None);
    }

    #[test]
    fn params_are_sorted_and_fit() {
        for verb in ALL {
            let params = verb.params();
            assert!(params.len() <= MAX_PARAMS);
            assert!(params.windows(2).all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()));
        }
    }
}
