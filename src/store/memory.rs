//! The memory cap (`maxMemory`): what the server holds, as an accounted
//! estimate, and whether a command that adds data may run.
//!
//! Owns: the cap, the count of what connections hold, and the log lines of reaching the cap and going back under it. It is not RSS:
//! the allocator's own overhead and fragmentation, the code and the
//! thread stacks are not counted, so set the cap below what the host can
//! give (see `docs/operations.md`). Every part is counted where it is kept,
//! incrementally, so asking costs a few additions:
//!
//! - **Keys and values** (top-level and of every session): the bytes of
//!   each entry's shared allocation (`"key":value`) plus
//!   [`ENTRY_OVERHEAD_BYTES`]; each [`KeyMap`](super::KeyMap) keeps its
//!   sum as it changes, and the session table the sum over its sessions.
//! - **Sessions**: [`SESSION_OVERHEAD_BYTES`] each, the table slot and
//!   timer of an empty session.
//! - **Arrays and lists**: their own exact count
//!   ([`Containers::bytes`](super::containers::Containers::bytes)), read
//!   as it is (one source, nothing counted twice). An array counts its
//!   whole capacity from `CREATE` on, so a `CREATE` whose capacity would
//!   pass the cap is refused before anything is allocated.
//! - **Connections**: partial input and unsent replies, the server's own
//!   totals (`Server::partial_input_bytes`, `Server::pending_output_bytes`),
//!   handed in once per connection turn through [`Memory::set_connections`].
//! - **Snapshots** of jobs (saves, searches, list replies): the pointer
//!   copies they hold (16 bytes per entry), from the moment a snapshot is
//!   begun until its job is finished. Values the store has since dropped
//!   but a snapshot still holds are not counted again.
//!
//! - **Held for a moment**: a large message decoded off the loop, from
//!   its return until its command ran (its copy counts as job data while
//!   it is decoded), through [`Memory::hold`].
//!
//! Past the cap, [`Verb::adds_data`] and [`ContainerVerb::adds_data`]
//! commands are refused with 204 (`OutOfMemory`) before they run; reads,
//! removals, ends, clears, deletes and saves still run, so a full server
//! can always be drained and saved.

use crate::protocol::{ContainerVerb, Op, Verb};

/// Heap bytes counted per stored key beyond its `"key":value` text: the
/// shared allocation's reference counts (16), the table's slot of entry
/// pointer, hash and chain link (24) and its share of the bucket index
/// (about 4, `store/table.rs`), allocator rounding (about 8 on average),
/// and room for the table's spare capacity while it grows.
pub const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Heap bytes counted per session, keys aside: its 32-byte record in the
/// token table at the table's load factor, a timer-wheel node, and its key
/// map's box when it holds keys (`docs/performance.md` measures about 120
/// bytes for an empty expiring session at a million sessions).
pub const SESSION_OVERHEAD_BYTES: usize = 128;

/// Bytes a snapshot holds per entry: one [`Entry`](super::Entry) pointer
/// (a fat `Arc<[u8]>`).
pub const SNAPSHOT_BYTES_PER_ENTRY: usize = std::mem::size_of::<super::Entry>();

/// The cap and the counter the store does not find in its namespaces.
#[derive(Debug, Default)]
pub struct Memory {
    /// `maxMemory`, in bytes; `None`: unlimited.
    cap: Option<usize>,
    /// Bytes connections hold in partial input and unsent replies.
    connections: usize,
    /// Bytes held for a moment outside every namespace ([`Memory::hold`]).
    held: usize,
    /// The last answer was "over": log the change when it flips.
    over: bool,
}

impl Memory {
    /// Sets the cap (`None`: unlimited).
    pub fn set_cap(&mut self, cap: Option<usize>) {
        self.cap = cap;
    }

    /// The cap, in bytes (`None`: unlimited).
    pub fn cap(&self) -> Option<usize> {
        self.cap
    }

    /// Records what every connection together holds now.
    pub fn set_connections(&mut self, bytes: usize) {
        self.connections = bytes;
    }

    /// What connections hold, as last recorded.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Counts `bytes` held outside every namespace until the matching
    /// [`Memory::release`]: a large message decoded off the loop while its
    /// command runs, a loaded session's map while it is built.
    pub fn hold(&mut self, bytes: usize) {
        self.held = self.held.saturating_add(bytes);
    }

    /// Stops counting `bytes` of what [`Memory::hold`] counted.
    pub fn release(&mut self, bytes: usize) {
        self.held = self.held.saturating_sub(bytes);
    }

    /// What [`Memory::hold`] counts now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether `used` bytes are at or past the cap; logs once when that
    /// first becomes true, and once when it is no longer.
    pub fn check(&mut self, used: usize) -> bool {
        let over = self.cap.is_some_and(|cap| used >= cap);
        if over != self.over {
            self.over = over;
            let cap = self.cap.unwrap_or(0);
            if over {
                log::warn!(
                    "memory use ({used} bytes) reached maxMemory ({cap} bytes): commands that add data get 204 \
                     (OutOfMemory) until keys, sessions, arrays or lists are removed"
                );
            } else {
                log::info!("memory use ({used} bytes) is back under maxMemory ({cap} bytes)");
            }
        }
        over
    }
}

impl Verb {
    /// Whether the command can add data (keys, values, sessions), and so is
    /// refused with 204 (`OutOfMemory`) past `maxMemory`. Reads, removals,
    /// `SH_END*`, clears and saves are not: they are how a full server is
    /// drained.
    pub fn adds_data(self) -> bool {
        matches!(
            self,
            Verb::KvSet
                | Verb::KvAdd
                | Verb::KvClearSet
                | Verb::KvUpdate
                | Verb::KvArrAppend
                | Verb::KvLoad
                | Verb::ShNew
                | Verb::ShSet
                | Verb::ShAdd
                | Verb::ShClearSet
                | Verb::ShLoad
        )
    }
}

impl ContainerVerb {
    /// Whether the array or list command can add data, and so is refused
    /// with 204 (`OutOfMemory`) past `maxMemory`: `CREATE` (a whole
    /// capacity at once), `SET`, `SET_RNG`, `OLST_ADD` and `OLST_SPLICE`
    /// (which may create its destination). Reads, `SWAP`, `CLEAR`,
    /// `OLST_RMV`, `DELETE` and `DELETE_ALL` are not.
    pub fn adds_data(self) -> bool {
        matches!(self.op, Op::Create | Op::Set | Op::SetRng | Op::Add | Op::Splice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_reached_at_its_value_and_left_below_it() {
        let mut memory = Memory::default();
        assert!(!memory.check(usize::MAX), "no cap: never over");
        memory.set_cap(Some(1000));
        assert!(!memory.check(999));
        assert!(memory.check(1000));
        assert!(memory.check(5000));
        assert!(!memory.check(10));
    }

    #[test]
    fn container_commands_that_add_data_are_the_creating_and_writing_ones() {
        let adding: Vec<String> = ContainerVerb::all()
            .filter(|v| v.adds_data())
            .map(|v| format!("{}_{}", v.family.prefix(), v.op.suffix()))
            .collect();
        for name in ["IARR_CREATE", "OLST_CREATE", "STRARR_SET", "SIARR_SET_RNG", "OLST_ADD", "OLST_SPLICE"] {
            assert!(adding.iter().any(|n| n == name), "{name}");
        }
        for name in ["IARR_GET_RNG", "OLST_RMV", "OARR_CLEAR", "IARR_DELETE", "OLST_DELETE_ALL", "STRARR_SWAP"] {
            assert!(!adding.iter().any(|n| n == name), "{name}");
        }
    }
}
