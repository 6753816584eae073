//! Arrays and lists (NemesisDB 0.9): six namespaces beside the KV keys and
//! the sessions, and the commands on them.
//!
//! Owns: every array and list, by name, one namespace per type (`"x"` can
//! be an `OARR`, an `IARR`, …, an `OLST` and a KV key at once), their
//! limits, and the bytes they count toward memory. Must not touch: the KV
//! keys, sessions, sockets, the clock, files; JSON syntax is written
//! through [`Reply`].
//!
//! Storage per type:
//! - `IARR`, `SIARR`: contiguous `i64`s ([`Array<i64>`]), 8 bytes a slot;
//! - `STRARR`, `SSTRARR`: [`Text`] slots of 24 bytes, strings of up to 22
//!   bytes inline, longer ones on the heap;
//! - `OARR`: one pointer a slot, each written item the JSON text it
//!   arrived as (`{}`, the empty value, is not stored);
//! - `OLST`: a [`List`], a treap of chunks with positional access in
//!   O(log n).
//!
//! Accounting: [`Containers::bytes`] is kept exact as commands run: an
//! array counts its whole capacity from `CREATE` on (the cost is known
//! before anything is allocated: [`create_cost`]), plus what its items
//! hold on the heap; a list counts its nodes, chunks and items; every
//! container also counts its namespace entry and name.
//!
//! Bounded work: see [`MAX_WORK_PER_COMMAND`]. Large removals (`DELETE`,
//! `DELETE_ALL`, `CLEAR`, `RMV`) are freed off the loop like `KV_CLEAR`'s
//! (`store/reclaim.rs`).
//!
//! Not persisted: `KV_SAVE` and `KV_LOAD` never see these (as in
//! NemesisDB); a restart loses them.

mod array;
mod list;
mod text;

use std::collections::HashMap;

pub use array::{Array, Outcome, Refused, Run, drop_work, intersect, merge_work};
pub use list::{CHUNK, List, Piece};
pub use text::{INLINE_BYTES, Text};

use crate::protocol::{
    ContainerArgs, ContainerCommand, ContainerVerb, Family, Item, Items, Members, Op, Range, Reply, Status,
};

/// The JSON text of one object item, as it arrived.
pub type Json = Box<str>;

/// An `OARR` slot: `None` is the empty value `{}`.
pub type Object = Option<Json>;

/// The most work one array or list command may do in the loop, in units of
/// about a nanosecond: 4 M, about 4 ms of CPU on the machine of
/// `docs/performance.md`, so one command takes at most some 40% of the
/// 10 ms turn and leaves the rest to the other connections, timers and
/// I/O of that turn; the costliest commands measured at this budget
/// (`benches/container_budget.rs`) take 2 to 5 ms of CPU on a busy
/// machine. Work is counted before it is done: slots materialised, moved
/// or compared at [`Element::MOVE_COST`] each, a sort at
/// [`Element::SORT_COST`] per item and level, each step finding a place at
/// [`Element::SEARCH_COST`], items written into a reply at
/// [`Element::write_cost`] each; `GET_RNG`, which `maxResponseSize` cuts,
/// by its count only, at [`Element::WRITE_COST_TYPICAL`] (lists:
/// [`LIST_ITEM_WRITE_COST`]) an item; `INTERSECT` also as it goes, at
/// [`Element::SWITCH_COST`] for each turn from one array to the other.
/// A command that would exceed it answers 202 (OverBudget) and changes
/// nothing. With the default limits (capacity and reply size 10,000) only
/// `MIN`, `MAX` and `INTERSECT` of 10,000 strings longer than about 1.3 KiB
/// each reach it.
pub const MAX_WORK_PER_COMMAND: u64 = 4_000_000;

/// What writing one list item into a reply costs, priced by count:
/// finding it in the tree, the separators and a small object's text
/// (measured: about 12 ns for a 22-byte object,
/// `benches/container_budget.rs`).
pub const LIST_ITEM_WRITE_COST: u64 = 12;

/// What an allocation of `len` bytes costs, as glibc's malloc lays it out:
/// an 8-byte header, rounded up to 16 bytes, 32 at least; 0 for nothing.
pub const fn allocation_bytes(len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    let chunk = (len + 8).div_ceil(16) * 16;
    (if chunk < 32 { 32 } else { chunk }) as u64
}

/// What each namespace entry costs besides the container's own bytes: the
/// table slot (name pointer, container, control byte) at a full table.
fn entry_bytes<T>(name: &str) -> u64 {
    (std::mem::size_of::<(Json, T)>() + 1) as u64 + allocation_bytes(name.len())
}

/// What creating an array of capacity `len` of `family` (or a list)
/// counts toward memory, named `name`: before anything is allocated, so
/// that a memory cap can refuse it.
pub fn create_cost(family: Family, name: &str, len: u64) -> u64 {
    match family {
        Family::Oarr => entry_bytes::<Array<Object>>(name).saturating_add(Array::<Object>::capacity_bytes(len)),
        Family::Iarr | Family::Siarr => {
            entry_bytes::<Array<i64>>(name).saturating_add(Array::<i64>::capacity_bytes(len))
        }
        Family::Strarr | Family::Sstrarr => {
            entry_bytes::<Array<Text>>(name).saturating_add(Array::<Text>::capacity_bytes(len))
        }
        Family::Olst => entry_bytes::<List>(name),
    }
}

/// One array slot's type.
///
/// The work costs are in [`MAX_WORK_PER_COMMAND`]'s units (about a
/// nanosecond), measured by `benches/container_budget.rs` and rounded up.
pub trait Element: Default + Ord + Send + 'static {
    /// The work of materialising, moving or comparing one slot.
    const MOVE_COST: u64;

    /// Sorting (the items of a sorted `SET_RNG`, when they do not arrive
    /// in order): the work per item and per level, a sort of `n` items
    /// being priced at `n · ⌈log₂(n + 1)⌉` of these.
    const SORT_COST: u64;

    /// One step of a binary search over stored items (a sorted
    /// `SET_RNG` finds the place of each new item so): a comparison
    /// whose outcome cannot be predicted, on slots spread over memory.
    const SEARCH_COST: u64;

    /// An `INTERSECT` merge turning from one array to the other (the end
    /// of a run of items of one below the other's next, or of matches), on
    /// top of [`Element::MOVE_COST`] per step: a branch the CPU mispredicts
    /// when the two interleave at random.
    const SWITCH_COST: u64;

    /// The least [`Element::write_cost`] of any item.
    const WRITE_COST_MIN: u64;

    /// The write cost of a small item (an integer, a 16-byte string, a
    /// 22-byte object): what a `GET_RNG`, which `maxResponseSize` cuts, is
    /// priced at per item.
    const WRITE_COST_TYPICAL: u64;

    /// The work of writing this item into a reply.
    fn write_cost(&self) -> u64;

    /// What the item holds on the heap, in [`allocation_bytes`].
    fn heap_bytes(&self) -> u64;

    /// The item of a `SET`, if it is of this type (the decoder has checked
    /// it already).
    fn from_item(item: Item<'_>) -> Option<Self>;

    /// The items of a `SET_RNG`, if of this type.
    fn from_items(items: Items<'_>) -> Option<Vec<Self>>;

    /// Writes the member `name` holding `item` (`None`: the empty value).
    fn write_one(members: &mut Members<'_>, name: &str, item: Option<&Self>);

    /// Writes the member `name` holding an array of `items`.
    fn write_all<'a>(members: &mut Members<'_>, name: &str, items: impl Iterator<Item = &'a Self>);
}

impl Element for i64 {
    /// Moving 8 bytes: about 0.9 ns; comparing two: about 1.2 ns.
    const MOVE_COST: u64 = 1;
    /// About 1.1 ns per item and level (random integers).
    const SORT_COST: u64 = 1;
    /// About 2 to 4 ns a step (a gallop from the end, near it).
    const SEARCH_COST: u64 = 4;
    /// About 11 ns a turn (two arrays interleaved at random).
    const SWITCH_COST: u64 = 12;
    /// Formatting up to 20 digits and a comma: about 12 ns.
    const WRITE_COST_MIN: u64 = 12;
    const WRITE_COST_TYPICAL: u64 = 12;

    fn write_cost(&self) -> u64 {
        Self::WRITE_COST_MIN
    }

    fn heap_bytes(&self) -> u64 {
        0
    }

    fn from_item(item: Item<'_>) -> Option<i64> {
        match item {
            Item::Int(value) => Some(value),
            _ => None,
        }
    }

    fn from_items(items: Items<'_>) -> Option<Vec<i64>> {
        match items {
            Items::Ints(items) => Some(items),
            _ => None,
        }
    }

    fn write_one(members: &mut Members<'_>, name: &str, item: Option<&i64>) {
        members.i64(name, item.copied().unwrap_or(0));
    }

    fn write_all<'a>(members: &mut Members<'_>, name: &str, items: impl Iterator<Item = &'a i64>) {
        members.i64s(name, items.copied());
    }
}

impl Element for Text {
    /// Moving a 24-byte slot: about 2.9 ns; comparing two: about 3.8 ns.
    const MOVE_COST: u64 = 4;
    /// About 7.5 to 9 ns per item and level (random 16-byte strings).
    const SORT_COST: u64 = 10;
    /// About 10 to 20 ns a step (a gallop from the end, near it).
    const SEARCH_COST: u64 = 20;
    /// About 24 ns a turn (two arrays interleaved at random).
    const SWITCH_COST: u64 = 24;
    /// Taking the string out of its slot and quoting it.
    const WRITE_COST_MIN: u64 = 22;
    const WRITE_COST_TYPICAL: u64 = 26;

    /// About 27 ns for a 16-byte string, 0.2 ns more a byte (checked for
    /// escapes in one vectorised pass, then copied: 1 KiB strings write at
    /// 0.21 ns a byte).
    fn write_cost(&self) -> u64 {
        Self::WRITE_COST_MIN + self.as_bytes().len() as u64 / 4
    }

    fn heap_bytes(&self) -> u64 {
        allocation_bytes(self.heap_len())
    }

    fn from_item(item: Item<'_>) -> Option<Text> {
        match item {
            Item::Str(s) => Some(Text::new(&s)),
            _ => None,
        }
    }

    fn from_items(items: Items<'_>) -> Option<Vec<Text>> {
        match items {
            Items::Strs(items) => Some(items.iter().map(|s| Text::new(s)).collect()),
            _ => None,
        }
    }

    fn write_one(members: &mut Members<'_>, name: &str, item: Option<&Text>) {
        members.str(name, item.map_or("", Text::as_str));
    }

    fn write_all<'a>(members: &mut Members<'_>, name: &str, items: impl Iterator<Item = &'a Text>) {
        members.strs(name, items.map(Text::as_str));
    }
}

impl Element for Object {
    /// Moving a pointer: about 2.3 ns (the slots are 16 bytes).
    const MOVE_COST: u64 = 2;
    // Object arrays are never sorted; their texts compare as strings do.
    const SORT_COST: u64 = <Text as Element>::SORT_COST;
    const SEARCH_COST: u64 = <Text as Element>::SEARCH_COST;
    const SWITCH_COST: u64 = <Text as Element>::SWITCH_COST;
    /// Copying `{}` and a comma.
    const WRITE_COST_MIN: u64 = 5;
    const WRITE_COST_TYPICAL: u64 = 10;

    /// About 9 ns for a 22-byte object: its text is copied as it is.
    fn write_cost(&self) -> u64 {
        Self::WRITE_COST_MIN + self.as_ref().map_or(0, |json| json.len() as u64 / 4)
    }

    fn heap_bytes(&self) -> u64 {
        self.as_ref().map_or(0, |json| allocation_bytes(json.len()))
    }

    fn from_item(item: Item<'_>) -> Option<Object> {
        match item {
            Item::Object(raw) => Some(Some(raw.get().into())),
            _ => None,
        }
    }

    fn from_items(items: Items<'_>) -> Option<Vec<Object>> {
        match items {
            Items::Objects(items) => Some(items.iter().map(|raw| Some(raw.get().into())).collect()),
            _ => None,
        }
    }

    fn write_one(members: &mut Members<'_>, name: &str, item: Option<&Object>) {
        members.raw(name, object_json(item.and_then(Option::as_ref)));
    }

    fn write_all<'a>(members: &mut Members<'_>, name: &str, items: impl Iterator<Item = &'a Object>) {
        members.array(name, items.map(|item| object_json(item.as_ref()).as_bytes()));
    }
}

/// An object slot's JSON: the stored text, or `{}` for the empty value.
fn object_json(json: Option<&Json>) -> &str {
    json.map_or("{}", |json| json)
}

/// The limits of the config's `arrays` and `lists` sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest capacity `CREATE` accepts (`arrays.maxCapacity`).
    pub max_capacity: u64,
    /// The most items an array `GET_RNG` returns (`arrays.maxResponseSize`).
    pub array_max_response: u64,
    /// The most items an `OLST_GET_RNG` returns (`lists.maxResponseSize`).
    pub list_max_response: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        let n = crate::config::DEFAULT_CONTAINER_LIMIT;
        Limits { max_capacity: n, array_max_response: n, list_max_response: n }
    }
}

impl Limits {
    /// Whether `CREATE` may make an array of capacity `len`: 1 to
    /// `maxCapacity`; with a `maxCapacity` of 0, only 0 (as NemesisDB).
    fn allows_capacity(&self, len: u64) -> bool {
        if self.max_capacity == 0 { len == 0 } else { (1..=self.max_capacity).contains(&len) }
    }
}

type Namespace<T> = HashMap<Json, T>;

/// Every array and list.
#[derive(Debug, Default)]
pub struct Containers {
    oarr: Namespace<Array<Object>>,
    iarr: Namespace<Array<i64>>,
    strarr: Namespace<Array<Text>>,
    siarr: Namespace<Array<i64>>,
    sstrarr: Namespace<Array<Text>>,
    olst: Namespace<List>,
    limits: Limits,
    /// What every container counts toward memory, kept as commands run.
    bytes: u64,
    /// Lists created so far: each list's tree shape is seeded from it.
    lists_created: u64,
}

impl Containers {
    /// No arrays or lists, under `limits`.
    pub fn new(limits: Limits) -> Containers {
        Containers { limits, ..Containers::default() }
    }

    /// Changes the limits (for containers made from now on, and every
    /// later read).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// What every array and list counts toward memory, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many containers of each family exist, in [`Family::ALL`] order.
    pub fn counts(&self) -> [usize; 6] {
        [self.oarr.len(), self.iarr.len(), self.strarr.len(), self.siarr.len(), self.sstrarr.len(), self.olst.len()]
    }

    /// Runs one array or list command and writes its reply.
    pub fn execute(&mut self, command: ContainerCommand<'_>, reply: &mut Reply<'_>) {
        let ContainerCommand { verb, args } = command;
        // Without the `arrays` feature the decoder answers 14 for every
        // array and list command; this keeps the commands' code out of
        // such a build (nothing past here is reachable).
        if !cfg!(feature = "arrays") {
            reply.container_status(verb, Status::CommandDisabled);
            return;
        }
        let limits = self.limits;
        let bytes = &mut self.bytes;
        let done = match verb.family {
            Family::Oarr => run_array(&mut self.oarr, verb, args, limits, bytes, reply),
            Family::Iarr => run_array(&mut self.iarr, verb, args, limits, bytes, reply),
            Family::Strarr => run_array(&mut self.strarr, verb, args, limits, bytes, reply),
            Family::Siarr => run_array(&mut self.siarr, verb, args, limits, bytes, reply),
            Family::Sstrarr => run_array(&mut self.sstrarr, verb, args, limits, bytes, reply),
            Family::Olst => {
                let mut lists = Lists { lists: &mut self.olst, limits, bytes, created: &mut self.lists_created };
                lists.run(verb, args, reply)
            }
        };
        if let Err(status) = done {
            reply.container_status(verb, status);
        }
    }
}

/// The status of a refused array or list operation.
fn refused_status(refused: Refused) -> Status {
    match refused {
        Refused::Bounds => Status::Bounds,
        Refused::OverBudget => Status::OverBudget,
    }
}

impl From<Refused> for Status {
    fn from(r: Refused) -> Status {
        refused_status(r)
    }
}

/// A position or count from the wire as an index (positions past
/// `usize::MAX` are past every list anyway).
fn to_index(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `{"<CMD>_RSP":{"st":1}}`
fn ok(reply: &mut Reply<'_>, verb: ContainerVerb) -> Result<(), Status> {
    reply.container_status(verb, Status::Ok);
    Ok(())
}

/// Adjusts the running total after a container went from `before` to
/// `after` bytes.
fn account(total: &mut u64, before: u64, after: u64) {
    *total = total.saturating_sub(before).saturating_add(after);
}

/// Runs an array command on one namespace. `Err` is the status of an error
/// reply, written by the caller; on success the reply is written here.
fn run_array<T: Element>(
    arrays: &mut Namespace<Array<T>>,
    verb: ContainerVerb,
    args: ContainerArgs<'_>,
    limits: Limits,
    total: &mut u64,
    reply: &mut Reply<'_>,
) -> Result<(), Status> {
    let sorted = verb.family.is_sorted();
    match (verb.op, args) {
        (Op::Create, ContainerArgs::Create { name, len }) => {
            // The name is checked before the capacity.
            if arrays.contains_key(&*name) {
                return Err(Status::Duplicate);
            }
            if !limits.allows_capacity(len) {
                return Err(Status::Bounds);
            }
            let array = Array::new(len);
            account(total, 0, entry_bytes::<Array<T>>(&name).saturating_add(array.bytes()));
            arrays.insert(name.into(), array);
            ok(reply, verb)
        }
        (Op::Delete, ContainerArgs::Name(name)) => {
            // A missing array is not an error.
            if let Some(array) = arrays.remove(&*name) {
                account(total, entry_bytes::<Array<T>>(&name).saturating_add(array.bytes()), 0);
                let work = array.drop_work();
                super::reclaim::free(array, work);
            }
            ok(reply, verb)
        }
        (Op::DeleteAll, _) => {
            let all = std::mem::take(arrays);
            let mut work = 0usize;
            for (name, array) in &all {
                account(total, entry_bytes::<Array<T>>(name).saturating_add(array.bytes()), 0);
                work = work.saturating_add(array.drop_work());
            }
            super::reclaim::free(all, work);
            ok(reply, verb)
        }
        (Op::Exist, ContainerArgs::Name(name)) => {
            if arrays.contains_key(&*name) {
                ok(reply, verb)
            } else {
                Err(Status::KeyNotExist)
            }
        }
        (Op::Len | Op::Used, ContainerArgs::Name(name)) => {
            let array = arrays.get(&*name).ok_or(Status::KeyNotExist)?;
            reply.container(verb, |m| {
                if verb.op == Op::Len {
                    m.u64("len", array.len()).st(Status::Ok);
                } else {
                    m.st(Status::Ok).u64("used", array.used());
                }
            });
            Ok(())
        }
        (Op::Set, ContainerArgs::Set { name, item, pos }) => {
            let item = T::from_item(item).ok_or(Status::ValueTypeInvalid)?;
            let array = arrays.get_mut(&*name).ok_or(Status::KeyNotExist)?;
            let before = array.bytes();
            let done = if sorted { array.insert_sorted(item) } else { array.set(pos, item) };
            account(total, before, array.bytes());
            done?;
            ok(reply, verb)
        }
        (Op::SetRng, ContainerArgs::Items { name, items, pos }) => {
            let items = T::from_items(items).ok_or(Status::ValueTypeInvalid)?;
            let array = arrays.get_mut(&*name).ok_or(Status::KeyNotExist)?;
            let before = array.bytes();
            let done = if sorted { array.merge_sorted(items) } else { array.set_range(pos, items) };
            account(total, before, array.bytes());
            done?;
            ok(reply, verb)
        }
        (Op::Get, ContainerArgs::Get { name, pos }) => {
            let array = arrays.get(&*name).ok_or(Status::KeyNotExist)?;
            let item = array.get(pos.unwrap_or(0))?;
            reply.container(verb, |m| {
                T::write_one(m, "item", item);
                m.st(Status::Ok);
            });
            Ok(())
        }
        (Op::GetRng, ContainerArgs::Range { name, rng }) => {
            let array = arrays.get(&*name).ok_or(Status::KeyNotExist)?;
            let run = array.range(rng.start, rng.stop, limits.array_max_response)?;
            let empty = T::default();
            let items = run.stored.iter().chain(std::iter::repeat_n(&empty, to_index(run.empties)));
            reply.container(verb, |m| {
                T::write_all(m, "items", items);
                m.st(Status::Ok);
            });
            Ok(())
        }
        (Op::Clear, ContainerArgs::Range { name, rng }) => {
            let array = arrays.get_mut(&*name).ok_or(Status::KeyNotExist)?;
            let before = array.bytes();
            let removed = array.clear(rng.start, rng.stop)?;
            account(total, before, array.bytes());
            let work = drop_work(&removed);
            super::reclaim::free(removed, work);
            ok(reply, verb)
        }
        (Op::Swap, ContainerArgs::Swap { name, a, b }) => {
            let array = arrays.get_mut(&*name).ok_or(Status::KeyNotExist)?;
            array.swap(a, b)?;
            ok(reply, verb)
        }
        (Op::Min | Op::Max, ContainerArgs::Extremes { name, n }) => {
            let array = arrays.get(&*name).ok_or(Status::KeyNotExist)?;
            let items = if verb.op == Op::Min { array.smallest(n)? } else { array.largest(n)? };
            reply.container(verb, |m| {
                if verb.op == Op::Min {
                    T::write_all(m, "items", items.iter());
                } else {
                    T::write_all(m, "items", items.iter().rev());
                }
                m.st(Status::Ok);
            });
            Ok(())
        }
        (Op::Intersect, ContainerArgs::Intersect { a, b }) => {
            let (Some(a), Some(b)) = (arrays.get(&*a), arrays.get(&*b)) else {
                return Err(Status::KeyNotExist);
            };
            let common = intersect(a, b)?;
            reply.container(verb, |m| {
                T::write_all(m, "items", common.into_iter());
                m.st(Status::Ok);
            });
            Ok(())
        }
        // The decoder pairs every op with its own arguments.
        _ => Err(Status::CommandNotExist),
    }
}

/// The list namespace while one command runs on it.
struct Lists<'a> {
    lists: &'a mut Namespace<List>,
    limits: Limits,
    bytes: &'a mut u64,
    /// Lists created so far, the seed of the next one.
    created: &'a mut u64,
}

impl Lists<'_> {
    /// Runs a list command. `Err` is the status of an error reply, written
    /// by the caller; on success the reply is written here.
    fn run(&mut self, verb: ContainerVerb, args: ContainerArgs<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        match (verb.op, args) {
            (Op::Create, ContainerArgs::Create { name, .. }) => {
                if self.lists.contains_key(&*name) {
                    return Err(Status::Duplicate);
                }
                self.create(&name);
                ok(reply, verb)
            }
            (Op::Delete, ContainerArgs::Name(name)) => {
                let list = self.lists.remove(&*name).ok_or(Status::KeyNotExist)?;
                account(self.bytes, entry_bytes::<List>(&name) + list.bytes(), 0);
                let allocations = list.len();
                super::reclaim::free(list, allocations);
                ok(reply, verb)
            }
            (Op::DeleteAll, _) => {
                let all = std::mem::take(self.lists);
                let mut allocations = 0usize;
                for (name, list) in &all {
                    account(self.bytes, entry_bytes::<List>(name) + list.bytes(), 0);
                    allocations = allocations.saturating_add(list.len()).saturating_add(1);
                }
                super::reclaim::free(all, allocations);
                ok(reply, verb)
            }
            (Op::Exist, ContainerArgs::Name(name)) => {
                if self.lists.contains_key(&*name) {
                    ok(reply, verb)
                } else {
                    Err(Status::KeyNotExist)
                }
            }
            (Op::Len, ContainerArgs::Name(name)) => {
                let list = self.lists.get(&*name).ok_or(Status::KeyNotExist)?;
                reply.container(verb, |m| {
                    m.u64("len", list.len() as u64).st(Status::Ok);
                });
                Ok(())
            }
            (Op::Add, ContainerArgs::Items { name, items, pos }) => {
                let items = objects(items)?;
                let (pos, size) = self.change(&name, |list| {
                    let at = pos.map_or(list.len(), to_index).min(list.len());
                    list.insert(at, items);
                    Ok((at, list.len()))
                })?;
                reply.container(verb, |m| {
                    m.u64("pos", pos as u64).u64("size", size as u64).st(Status::Ok);
                });
                Ok(())
            }
            (Op::SetRng, ContainerArgs::Items { name, items, pos }) => {
                let items = objects(items)?;
                let old = self.change(&name, |list| {
                    let pos = to_index(pos.unwrap_or(u64::MAX));
                    if pos >= list.len() || items.len() > list.len() - pos {
                        return Err(Status::Bounds);
                    }
                    Ok(list.overwrite(pos, items))
                })?;
                free_piece(old);
                ok(reply, verb)
            }
            (Op::Get, ContainerArgs::Get { name, pos }) => {
                let list = self.lists.get(&*name).ok_or(Status::KeyNotExist)?;
                let pos = match pos {
                    Some(pos) => to_index(pos),
                    None => list.len().checked_sub(1).ok_or(Status::Bounds)?,
                };
                let item = list.get(pos).ok_or(Status::Bounds)?;
                reply.container(verb, |m| {
                    m.raw("item", item).st(Status::Ok);
                });
                Ok(())
            }
            (Op::GetRng, ContainerArgs::Range { name, rng }) => {
                let list = self.lists.get(&*name).ok_or(Status::KeyNotExist)?;
                let (start, end) = cut(rng, list.len());
                let end = end.min(start.saturating_add(to_index(self.limits.list_max_response)));
                // Priced by count only, as an array's GET_RNG.
                if ((end - start) as u64).saturating_mul(LIST_ITEM_WRITE_COST) > MAX_WORK_PER_COMMAND {
                    return Err(Status::OverBudget);
                }
                let items = list.range(start, end);
                reply.container(verb, |m| {
                    m.array("items", items.iter().map(|item| item.as_bytes())).st(Status::Ok);
                });
                Ok(())
            }
            (Op::Rmv, ContainerArgs::Rmv { name, head, tail, rng }) => {
                let size = self.change(&name, |list| {
                    if head {
                        free_piece(list.take(0, 1));
                    }
                    if tail {
                        let len = list.len();
                        free_piece(list.take(len.saturating_sub(1), len));
                    }
                    if let Some(rng) = rng {
                        let (start, end) = cut(rng, list.len());
                        free_piece(list.take(start, end));
                    }
                    Ok(list.len())
                })?;
                reply.container(verb, |m| {
                    m.u64("size", size as u64).st(Status::Ok);
                });
                Ok(())
            }
            (Op::Splice, ContainerArgs::Splice { dest, dest_pos, src, rng }) => {
                self.splice(&dest, dest_pos, &src, rng)?;
                ok(reply, verb)
            }
            // The decoder pairs every op with its own arguments.
            _ => Err(Status::CommandNotExist),
        }
    }

    fn create(&mut self, name: &str) {
        *self.created += 1;
        let list = List::new(*self.created);
        account(self.bytes, 0, entry_bytes::<List>(name) + list.bytes());
        self.lists.insert(name.into(), list);
    }

    /// Runs `f` on the list `name` (22 when there is none), keeping the
    /// byte count.
    fn change<R>(&mut self, name: &str, f: impl FnOnce(&mut List) -> Result<R, Status>) -> Result<R, Status> {
        let list = self.lists.get_mut(name).ok_or(Status::KeyNotExist)?;
        let before = list.bytes();
        let result = f(list);
        account(self.bytes, before, list.bytes());
        result
    }

    /// `OLST_SPLICE`: moves `[start, stop)` of `src` (cut to it) into
    /// `dest` before `dest_pos` (as `dest` was before the move; past its
    /// tail, or `None`, appends), creating `dest` if need be. Within one
    /// list a `dest_pos` inside the moved range is 13.
    fn splice(&mut self, dest: &str, dest_pos: Option<u64>, src: &str, rng: Range) -> Result<(), Status> {
        let source = self.lists.get(src).ok_or(Status::KeyNotExist)?;
        let (start, end) = cut(rng, source.len());
        if src == dest {
            let len = source.len();
            if start >= end {
                return Ok(());
            }
            let target = dest_pos.map_or(len, to_index).min(len);
            if dest_pos.is_some_and(|pos| (start..end).contains(&to_index(pos))) {
                return Err(Status::CommandSyntax);
            }
            // `target` is outside `[start, end)`: before it or at/after its end.
            let target = if target >= end { target - (end - start) } else { target };
            return self.change(src, |list| {
                let piece = list.take(start, end);
                list.put(target, piece);
                Ok(())
            });
        }
        if !self.lists.contains_key(dest) {
            self.create(dest);
        }
        let piece = self.change(src, |list| Ok(list.take(start, end)))?;
        self.change(dest, |list| {
            let target = dest_pos.map_or(list.len(), to_index).min(list.len());
            list.put(target, piece);
            Ok(())
        })
    }
}

/// `[start, stop)` cut to a list of `len` items (`stop` `None`: to the
/// tail); empty when `start` is at or past the tail.
fn cut(rng: Range, len: usize) -> (usize, usize) {
    let start = to_index(rng.start).min(len);
    let end = rng.stop.map_or(len, to_index).min(len);
    (start, end.max(start))
}

/// The items of an `OLST_ADD` or `OLST_SET_RNG` (objects: the decoder
/// checked them).
fn objects(items: Items<'_>) -> Result<Vec<Json>, Status> {
    match items {
        Items::Objects(items) => Ok(items.iter().map(|raw| raw.get().into()).collect()),
        _ => Err(Status::ValueTypeInvalid),
    }
}

/// Frees removed list items, off the loop when there are many.
fn free_piece(piece: Piece) {
    let allocations = piece.len();
    super::reclaim::free(piece, allocations);
}

#[cfg(all(test, feature = "arrays"))]
mod tests;
