//! The array and list commands of NemesisDB 0.9: one [`ContainerVerb`] per
//! served name (75 of them), its parameter list, and the validated
//! [`ContainerCommand`] the decoder builds.
//!
//! A name is `<PREFIX>_<OP>`: the prefix picks the [`Family`] (one of five
//! array types, or object lists) and the rest the [`Op`]. Not every family
//! serves every op (`docs/protocol.md`, "Arrays and lists"); a name under
//! one of these prefixes that is not served is `{"ERR":{"st":10}}`.
//!
//! Parameter lists are in byte-wise name order, as for every other verb:
//! that is the order NemesisDB checks them in.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{Kind, Param};

/// The type of container a command works on: its name prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `OARR`: arrays of JSON objects.
    Oarr,
    /// `IARR`: arrays of signed 64-bit integers.
    Iarr,
    /// `STRARR`: arrays of strings.
    Strarr,
    /// `SIARR`: arrays of signed 64-bit integers, kept ascending.
    Siarr,
    /// `SSTRARR`: arrays of strings, kept in byte order.
    Sstrarr,
    /// `OLST`: lists of JSON objects.
    Olst,
}

impl Family {
    /// Every family, in the order the docs list them, which is declaration
    /// order (`Family::ALL[family as usize] == family`).
    pub const ALL: [Family; 6] =
        [Family::Oarr, Family::Iarr, Family::Strarr, Family::Siarr, Family::Sstrarr, Family::Olst];

    /// The family a command-name prefix (the text before the first `_`)
    /// names, if any. Case-sensitive.
    pub fn from_prefix(prefix: &str) -> Option<Family> {
        Some(match prefix {
            "OARR" => Family::Oarr,
            "IARR" => Family::Iarr,
            "STRARR" => Family::Strarr,
            "SIARR" => Family::Siarr,
            "SSTRARR" => Family::Sstrarr,
            "OLST" => Family::Olst,
            _ => return None,
        })
    }

    /// The command-name prefix, e.g. `SIARR`.
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Oarr => "OARR",
            Family::Iarr => "IARR",
            Family::Strarr => "STRARR",
            Family::Siarr => "SIARR",
            Family::Sstrarr => "SSTRARR",
            Family::Olst => "OLST",
        }
    }

    /// Whether its arrays keep their used part sorted.
    pub fn is_sorted(self) -> bool {
        matches!(self, Family::Siarr | Family::Sstrarr)
    }

    /// The JSON type of its items.
    pub fn item_type(self) -> ItemType {
        match self {
            Family::Oarr | Family::Olst => ItemType::Object,
            Family::Iarr | Family::Siarr => ItemType::Int,
            Family::Strarr | Family::Sstrarr => ItemType::Str,
        }
    }
}

/// What an item of a family must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemType {
    /// A JSON object (`OARR`, `OLST`).
    Object,
    /// A JSON integer from −2^63 to 2^63 − 1 (`IARR`, `SIARR`).
    Int,
    /// A JSON string (`STRARR`, `SSTRARR`).
    Str,
}

/// Generates [`Op`] with its names, and the table of which family serves
/// which op.
macro_rules! ops {
    ($($op:ident $name:literal [$($family:ident)*] $doc:literal;)*) => {
        /// What a container command does (the part of its name after the
        /// prefix).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $(#[doc = $doc] $op,)*
        }

        impl Op {
            /// Every op, in declaration order (`Op::ALL[op as usize] == op`).
            pub const ALL: &'static [Op] = &[$(Op::$op,)*];

            /// How many ops there are: `op as usize` is below it.
            pub const COUNT: usize = Op::ALL.len();

            /// The op a name suffix (after `<PREFIX>_`) names, if any.
            pub fn from_suffix(suffix: &str) -> Option<Op> {
                match suffix {
                    $($name => Some(Op::$op),)*
                    _ => None,
                }
            }

            /// The name suffix, e.g. `SET_RNG`.
            pub fn suffix(self) -> &'static str {
                match self {
                    $(Op::$op => $name,)*
                }
            }

            /// Whether `family` serves this op.
            pub const fn served_by(self, family: Family) -> bool {
                match self {
                    $(Op::$op => matches!(family, $(Family::$family)|*),)*
                }
            }
        }
    };
}

ops! {
    Create "CREATE" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`CREATE`: a new, empty container.";
    Delete "DELETE" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`DELETE`: remove one container.";
    DeleteAll "DELETE_ALL" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`DELETE_ALL`: remove every container of the family.";
    Exist "EXIST" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`EXIST`: whether a container exists (st 1 or 22).";
    Len "LEN" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`LEN`: an array's capacity, a list's length.";
    Used "USED" [Oarr Iarr Strarr Siarr Sstrarr] "`USED`: an array's used count.";
    Set "SET" [Oarr Iarr Strarr Siarr Sstrarr] "`SET`: write (or, sorted, insert) one item.";
    SetRng "SET_RNG" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`SET_RNG`: write (or, sorted, merge) several items.";
    Get "GET" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`GET`: one item.";
    GetRng "GET_RNG" [Oarr Iarr Strarr Siarr Sstrarr Olst] "`GET_RNG`: the items of a range.";
    Clear "CLEAR" [Oarr Iarr Strarr Siarr Sstrarr] "`CLEAR`: remove the used items of a range.";
    Swap "SWAP" [Oarr Iarr Strarr] "`SWAP`: exchange two slots.";
    Min "MIN" [Siarr Sstrarr] "`MIN`: the smallest items.";
    Max "MAX" [Siarr Sstrarr] "`MAX`: the largest items, descending.";
    Intersect "INTERSECT" [Siarr Sstrarr] "`INTERSECT`: the multiset intersection of two arrays.";
    Add "ADD" [Olst] "`ADD`: insert items into a list.";
    Rmv "RMV" [Olst] "`RMV`: remove the head, the tail or a range of a list.";
    Splice "SPLICE" [Olst] "`SPLICE`: move a range of one list into another.";
}

/// An array or list command name ndb serves: a family and an op it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContainerVerb {
    /// The container type.
    pub family: Family,
    /// What it does.
    pub op: Op,
}

const NAME: Param = Param { name: "name", kind: Kind::Str, required: true };
const LEN: Param = Param { name: "len", kind: Kind::Uint, required: true };
const POS_OPTIONAL: Param = Param { name: "pos", kind: Kind::Uint, required: false };
const POS: Param = Param { name: "pos", kind: Kind::Uint, required: true };
const RNG: Param = Param { name: "rng", kind: Kind::Range, required: true };
const N: Param = Param { name: "n", kind: Kind::Uint, required: true };

const ITEM_OBJECT: Param = Param { name: "item", kind: Kind::Item(ItemType::Object), required: true };
const ITEM_INT: Param = Param { name: "item", kind: Kind::Item(ItemType::Int), required: true };
const ITEM_STR: Param = Param { name: "item", kind: Kind::Item(ItemType::Str), required: true };
const ITEMS_OBJECT: Param = Param { name: "items", kind: Kind::Items(ItemType::Object), required: true };
const ITEMS_INT: Param = Param { name: "items", kind: Kind::Items(ItemType::Int), required: true };
const ITEMS_STR: Param = Param { name: "items", kind: Kind::Items(ItemType::Str), required: true };

impl ContainerVerb {
    /// The verb of this exact (case-sensitive) command name, if ndb serves
    /// it.
    pub fn from_name(name: &str) -> Option<ContainerVerb> {
        let (prefix, suffix) = name.split_once('_')?;
        let family = Family::from_prefix(prefix)?;
        let op = Op::from_suffix(suffix)?;
        op.served_by(family).then_some(ContainerVerb { family, op })
    }

    /// Every verb ndb serves (75).
    pub fn all() -> impl Iterator<Item = ContainerVerb> {
        Family::ALL.into_iter().flat_map(|family| {
            Op::ALL.iter().filter(move |op| op.served_by(family)).map(move |&op| ContainerVerb { family, op })
        })
    }

    /// How many numbers [`ContainerVerb::index`] uses: one per family and
    /// op, 108, of which the 75 served pairs are ever counted.
    pub const SLOTS: usize = Family::ALL.len() * Op::COUNT;

    /// A number below [`ContainerVerb::SLOTS`], family by family and op by
    /// op, worked out with no lookup (a table row, for the metrics).
    #[inline]
    pub const fn index(self) -> usize {
        self.family as usize * Op::COUNT + self.op as usize
    }

    /// The pair whose [`ContainerVerb::index`] is `index`, served or not.
    pub fn from_index(index: usize) -> Option<ContainerVerb> {
        let family = *Family::ALL.get(index / Op::COUNT)?;
        Some(ContainerVerb { family, op: Op::ALL[index % Op::COUNT] })
    }

    /// The command name, e.g. `IARR_SET_RNG`.
    pub fn name(self) -> String {
        format!("{}_{}", self.family.prefix(), self.op.suffix())
    }

    /// The name its replies are keyed by, e.g. `IARR_SET_RNG_RSP`, written
    /// in three pieces (prefix, `_`, suffix, `_RSP`) so no table of 75
    /// strings is needed: see [`crate::protocol::Reply::container`].
    pub fn response_parts(self) -> [&'static str; 4] {
        [self.family.prefix(), "_", self.op.suffix(), "_RSP"]
    }

    /// The parameters it reads, in byte-wise ascending name order.
    pub(crate) fn params(self) -> &'static [Param] {
        use ItemType::{Int, Object, Str};
        let sorted = self.family.is_sorted();
        match (self.op, self.family.item_type()) {
            (Op::Create, _) if self.family == Family::Olst => &[NAME],
            (Op::Create, _) => &[LEN, NAME],
            (Op::Delete | Op::Exist | Op::Len | Op::Used, _) => &[NAME],
            (Op::DeleteAll, _) => &[],
            // Sorted arrays take no `pos`: it is ignored whatever its type.
            (Op::Set, Object) => &[ITEM_OBJECT, NAME, POS_OPTIONAL],
            (Op::Set, Int) if sorted => &[ITEM_INT, NAME],
            (Op::Set, Int) => &[ITEM_INT, NAME, POS_OPTIONAL],
            (Op::Set, Str) if sorted => &[ITEM_STR, NAME],
            (Op::Set, Str) => &[ITEM_STR, NAME, POS_OPTIONAL],
            (Op::SetRng, Object) if self.family == Family::Olst => &[ITEMS_OBJECT, NAME, POS],
            (Op::SetRng, Object) => &[ITEMS_OBJECT, NAME, POS_OPTIONAL],
            (Op::SetRng, Int) if sorted => &[ITEMS_INT, NAME],
            (Op::SetRng, Int) => &[ITEMS_INT, NAME, POS_OPTIONAL],
            (Op::SetRng, Str) if sorted => &[ITEMS_STR, NAME],
            (Op::SetRng, Str) => &[ITEMS_STR, NAME, POS_OPTIONAL],
            (Op::Get, _) if self.family == Family::Olst => &[NAME, POS_OPTIONAL],
            (Op::Get, _) => &[NAME, POS],
            (Op::GetRng, _) => &[NAME, RNG],
            (Op::Clear, _) => &[NAME, Param { name: "rng", kind: Kind::ClearRange, required: true }],
            (Op::Swap, _) => &[
                NAME,
                Param { name: "posA", kind: Kind::Uint, required: true },
                Param { name: "posB", kind: Kind::Uint, required: true },
            ],
            (Op::Min | Op::Max, _) => &[N, NAME],
            (Op::Intersect, _) => &[
                Param { name: "srcA", kind: Kind::Str, required: true },
                Param { name: "srcB", kind: Kind::Str, required: true },
            ],
            (Op::Add, _) => &[ITEMS_OBJECT, NAME, POS_OPTIONAL],
            (Op::Rmv, _) => &[
                Param { name: "head", kind: Kind::Bool, required: false },
                NAME,
                Param { name: "rng", kind: Kind::Range, required: false },
                Param { name: "tail", kind: Kind::Bool, required: false },
            ],
            (Op::Splice, _) => &[
                Param { name: "destName", kind: Kind::Str, required: true },
                Param { name: "destPos", kind: Kind::Uint, required: false },
                Param { name: "srcName", kind: Kind::Str, required: true },
                Param { name: "srcRng", kind: Kind::Range, required: true },
            ],
        }
    }
}

/// A half-open range `[start, stop)` from `rng` or `srcRng`; `stop` is
/// `None` for `[start]` (to the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The first position.
    pub start: u64,
    /// The position after the last, or `None`: to the end.
    pub stop: Option<u64>,
}

/// One item of `SET`, already checked against its family's type.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// An object, as the raw JSON text it arrived as.
    Object(&'a RawValue),
    /// An integer in the i64 range.
    Int(i64),
    /// A string.
    Str(Cow<'a, str>),
}

/// The items of `SET_RNG` or `OLST_ADD`, every one already checked against
/// its family's type, in request order.
#[derive(Debug, Clone)]
pub enum Items<'a> {
    /// Objects, as raw JSON text.
    Objects(Vec<&'a RawValue>),
    /// Integers in the i64 range.
    Ints(Vec<i64>),
    /// Strings.
    Strs(Vec<Cow<'a, str>>),
}

impl Items<'_> {
    /// How many items there are.
    pub fn len(&self) -> usize {
        match self {
            Items::Objects(items) => items.len(),
            Items::Ints(items) => items.len(),
            Items::Strs(items) => items.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An array or list command whose parameters passed validation.
#[derive(Debug)]
pub struct ContainerCommand<'a> {
    /// Which command.
    pub verb: ContainerVerb,
    /// Its arguments.
    pub args: ContainerArgs<'a>,
}

/// The arguments of a container command; which variant goes with which
/// [`Op`] is fixed (the decoder builds them together).
#[derive(Debug)]
pub enum ContainerArgs<'a> {
    /// `CREATE`: the capacity (`len`, 0 for lists) and the name.
    Create {
        /// The container's name.
        name: Cow<'a, str>,
        /// The capacity asked for (arrays only).
        len: u64,
    },
    /// `DELETE`, `EXIST`, `LEN`, `USED`: just the name.
    Name(Cow<'a, str>),
    /// `DELETE_ALL`.
    All,
    /// `SET`: one item, and for unsorted arrays an optional position.
    Set {
        /// The array.
        name: Cow<'a, str>,
        /// The item.
        item: Item<'a>,
        /// Where to write it (unsorted only); `None` appends.
        pos: Option<u64>,
    },
    /// `SET_RNG`, `OLST_ADD`: several items and an optional position
    /// (`OLST_SET_RNG` always has one).
    Items {
        /// The array or list.
        name: Cow<'a, str>,
        /// The items, in request order.
        items: Items<'a>,
        /// Where to write or insert them; `None` appends.
        pos: Option<u64>,
    },
    /// `GET`: one position (`OLST_GET` without `pos`: the tail).
    Get {
        /// The array or list.
        name: Cow<'a, str>,
        /// The position.
        pos: Option<u64>,
    },
    /// `GET_RNG`, `CLEAR`: a range whose shape is checked.
    Range {
        /// The array or list.
        name: Cow<'a, str>,
        /// The range.
        rng: Range,
    },
    /// `SWAP`: two positions.
    Swap {
        /// The array.
        name: Cow<'a, str>,
        /// The first position.
        a: u64,
        /// The second position.
        b: u64,
    },
    /// `MIN`, `MAX`: how many items.
    Extremes {
        /// The array.
        name: Cow<'a, str>,
        /// At most this many items.
        n: u64,
    },
    /// `INTERSECT`: two different names.
    Intersect {
        /// `srcA`.
        a: Cow<'a, str>,
        /// `srcB`.
        b: Cow<'a, str>,
    },
    /// `OLST_RMV`.
    Rmv {
        /// The list.
        name: Cow<'a, str>,
        /// Remove the first item first.
        head: bool,
        /// Then remove the last item.
        tail: bool,
        /// Then remove this range.
        rng: Option<Range>,
    },
    /// `OLST_SPLICE`.
    Splice {
        /// The list receiving the items, created if absent.
        dest: Cow<'a, str>,
        /// Where in `dest` (as it was before the move); `None` appends.
        dest_pos: Option<u64>,
        /// The list the items come from.
        src: Cow<'a, str>,
        /// Which of its items.
        rng: Range,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::MAX_PARAMS;

    #[test]
    fn seventy_five_names_are_served_and_round_trip() {
        let all: Vec<ContainerVerb> = ContainerVerb::all().collect();
        assert_eq!(all.len(), 75);
        let count = |f| all.iter().filter(|v| v.family == f).count();
        assert_eq!([Family::Oarr, Family::Iarr, Family::Strarr].map(count), [12; 3]);
        assert_eq!([Family::Siarr, Family::Sstrarr].map(count), [14; 2]);
        assert_eq!(count(Family::Olst), 11);
        for verb in all {
            assert_eq!(ContainerVerb::from_name(&verb.name()), Some(verb));
            assert_eq!(verb.response_parts().concat(), format!("{}_RSP", verb.name()));
            let params = verb.params();
            assert!(params.len() <= MAX_PARAMS, "{verb:?}");
            assert!(params.windows(2).all(|w| w[0].name.as_bytes() < w[1].name.as_bytes()), "{verb:?}");
        }
    }

    #[test]
    fn indexes_are_dense_and_round_trip() {
        for (i, family) in Family::ALL.into_iter().enumerate() {
            assert_eq!(family as usize, i);
        }
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        let mut seen = [false; ContainerVerb::SLOTS];
        for family in Family::ALL {
            for &op in Op::ALL {
                let verb = ContainerVerb { family, op };
                assert!(!seen[verb.index()], "{verb:?}");
                seen[verb.index()] = true;
                assert_eq!(ContainerVerb::from_index(verb.index()), Some(verb));
            }
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(ContainerVerb::from_index(ContainerVerb::SLOTS), None);
    }

    #[test]
    fn unserved_and_misspelt_names_are_not_verbs() {
        for name in [
            "OARR_FOO",
            "OARR_",
            "OARR_CREATE_RSP",
            "OLST_add",
            "oarr_CREATE",
            "SIARR_SWAP",
            "SSTRARR_SWAP",
            "IARR_MIN",
            "OARR_INTERSECT",
            "OLST_USED",
            "OLST_SET",
            "OLST_CLEAR",
            "IARR_ADD",
            "OARR_SAVE",
            "OLST_KEYS",
            "OARR",
        ] {
            assert_eq!(ContainerVerb::from_name(name), None, "{name}");
        }
    }
}
