//! Building array and list commands from their checked parameters.
//!
//! Validation follows NemesisDB 0.9, with ndb's deliberate differences
//! (`docs/protocol.md`, "Arrays and lists"):
//! 1. parameters in byte-wise name order: absent → 26, wrong type → 41;
//! 2. the command's own checks: the shape of a range (`GET_RNG`, `RMV`
//!    and `SPLICE`: not 1 or 2 items → 42, `CLEAR`: → 13; an item that is
//!    not a uint → 41; start > stop → 13), the type of each item (41), and
//!    for `INTERSECT` the same name twice (160);
//! 3. then the store looks the container up (22) and runs the command.
//!
//! Every error here has the 0.9 shape `{"<CMD>_RSP":{"st":N}}`.

use super::{Args, RangeSlot, Rejection, Slot, check};
use crate::protocol::command::{ContainerArgs, ContainerCommand, ContainerVerb, Family, Item, Items, Kind, Op, Range};
use crate::protocol::{Command, Status};

/// Checks a container command's parameters (steps 1 and 2) and builds it.
// Out of line, so that it adds nothing to the KV path's `decode`.
#[inline(never)]
pub(super) fn build<'a>(verb: ContainerVerb, args: &mut Args<'a>) -> Result<Command<'a>, Rejection<'static>> {
    let refuse = |status| Rejection::container(verb, status);
    let params = verb.params();
    check(params, &args.slots).map_err(|(status, _)| refuse(status))?;
    for (param, slot) in params.iter().zip(&args.slots) {
        match (param.kind, slot) {
            (_, Slot::BadItems) => return Err(refuse(Status::ValueTypeInvalid)),
            (Kind::Range | Kind::ClearRange, Slot::Range(range)) => {
                range_shape(param.kind, range).map_err(refuse)?;
            }
            _ => {}
        }
    }
    let [first, second, third, fourth] = std::mem::take(&mut args.slots);
    let args = match verb.op {
        Op::Create if verb.family == Family::Olst => ContainerArgs::Create { name: first.into_str(), len: 0 },
        Op::Create => ContainerArgs::Create { len: first.into_uint().unwrap_or(0), name: second.into_str() },
        Op::Delete | Op::Exist | Op::Len | Op::Used => ContainerArgs::Name(first.into_str()),
        Op::DeleteAll => ContainerArgs::All,
        Op::Set => {
            let item = match first {
                Slot::Raw(raw) => Item::Object(raw),
                Slot::Int(value) => Item::Int(value),
                other => Item::Str(other.into_str()),
            };
            ContainerArgs::Set { item, name: second.into_str(), pos: third.into_uint() }
        }
        Op::SetRng | Op::Add => {
            let items = match first {
                Slot::Ints(items) => Items::Ints(items),
                Slot::Strs(items) => Items::Strs(items),
                Slot::RawItems(items) => Items::Objects(items),
                _ => Items::Objects(Vec::new()),
            };
            ContainerArgs::Items { items, name: second.into_str(), pos: third.into_uint() }
        }
        Op::Get => ContainerArgs::Get { name: first.into_str(), pos: second.into_uint() },
        Op::GetRng | Op::Clear => ContainerArgs::Range { name: first.into_str(), rng: second.into_range() },
        Op::Swap => ContainerArgs::Swap {
            name: first.into_str(),
            a: second.into_uint().unwrap_or(0),
            b: third.into_uint().unwrap_or(0),
        },
        Op::Min | Op::Max => ContainerArgs::Extremes { n: first.into_uint().unwrap_or(0), name: second.into_str() },
        Op::Intersect => {
            let (a, b) = (first.into_str(), second.into_str());
            // Before the lookup: also for names that do not exist.
            if a == b {
                return Err(refuse(Status::Duplicate));
            }
            ContainerArgs::Intersect { a, b }
        }
        Op::Rmv => ContainerArgs::Rmv {
            head: first.bool_or_false(),
            name: second.into_str(),
            rng: matches!(third, Slot::Range(_)).then(|| third.into_range()),
            tail: fourth.bool_or_false(),
        },
        Op::Splice => ContainerArgs::Splice {
            dest: first.into_str(),
            dest_pos: second.into_uint(),
            src: third.into_str(),
            rng: fourth.into_range(),
        },
    };
    Ok(Command::Container(Box::new(ContainerCommand { verb, args })))
}

/// The status of a malformed range, if it is one: see the module doc.
fn range_shape(kind: Kind, range: &RangeSlot) -> Result<(), Status> {
    if !(1..=2).contains(&range.count) {
        return Err(if kind == Kind::ClearRange { Status::CommandSyntax } else { Status::ValueSize });
    }
    if range.not_uint {
        return Err(Status::ValueTypeInvalid);
    }
    if range.count == 2 && range.start > range.stop {
        return Err(Status::CommandSyntax);
    }
    Ok(())
}

impl<'a> Slot<'a> {
    fn into_uint(self) -> Option<u64> {
        match self {
            Slot::Uint(v) => Some(v),
            _ => None,
        }
    }

    fn into_range(self) -> Range {
        match self {
            Slot::Range(r) => Range { start: r.start, stop: (r.count == 2).then_some(r.stop) },
            _ => Range { start: 0, stop: None },
        }
    }
}
