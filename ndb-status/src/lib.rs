//! Every wire status number (`st`) in one place.
//!
//! Statuses are named after what they mean to a client; [`Status::code`] turns
//! one into the number on the wire. Only the save statuses depend on the
//! [`Protocol`] setting: NemesisDB 0.9 renumbered them (a successful save is
//! 121 for the 0.7.4 client and 120 for the 0.9 client).
//!
//! A crate of its own, without dependencies, so the table is defined once:
//! the `ndb` server library re-exports it (`ndb::Status`, `ndb::Protocol`)
//! and the `ndb-client` crate reads replies with it.

#![no_std]
#![warn(missing_docs)]

use core::fmt;

/// Which generation of the NemesisDB protocol's status numbering to speak.
///
/// The two differ only in the numbers of the save statuses; every command is
/// served under both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// NemesisDB 0.7.4 numbering (save success 121). The default, as the
    /// 0.7.4 client (`NdbClient.kv_save`) demands it.
    #[default]
    V07,
    /// NemesisDB 0.9 numbering (save success 120), for the `KV` class client.
    V09,
}

impl Protocol {
    /// The setting's name as written on the command line (`0.7` or `0.9`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V07 => "0.7",
            Protocol::V09 => "0.9",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reply status. See `docs/protocol.md` for when each is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// 1: the command succeeded.
    Ok,
    /// 2: a binary frame; requests must be text.
    OpCodeInvalid,
    /// 3: the message is not one valid JSON document.
    JsonInvalid,
    /// 4: a JSONPath expression does not parse.
    PathInvalid,
    /// 10: no such command.
    CommandNotExist,
    /// 13: the envelope is wrong: not an object with exactly one member whose
    /// value is an object, or a command-specific syntax rule was broken.
    CommandSyntax,
    /// 14: the command is disabled by configuration (saves while
    /// persistence is off).
    CommandDisabled,
    /// 22: the key does not exist.
    KeyNotExist,
    /// 26: a required parameter is missing.
    ParamMissing,
    /// 41: a parameter has the wrong JSON type.
    ValueTypeInvalid,
    /// 42: a parameter has a forbidden size or value (empty list, bad name).
    ValueSize,
    /// 100: the token is missing, malformed or names no live session.
    SessionNotExist,
    /// 103: a new session could not be created.
    SessionNewFail,
    /// A save completed (121 under 0.7, 120 under 0.9).
    SaveComplete,
    /// The save directory or its metadata could not be written (122 under
    /// 0.7, 121 under 0.9).
    SaveDirWriteFail,
    /// Writing the save's data failed (123 under 0.7, 122 under 0.9).
    SaveError,
    /// 140: a KV load found no data files (kept for the original's sake).
    Loading,
    /// 141: a load completed.
    LoadComplete,
    /// 142: a load failed.
    LoadError,
    /// 160: an array or list of that name exists already, or `INTERSECT`
    /// was given one name twice.
    Duplicate,
    /// 161: a capacity, position or range outside the array or list, a full
    /// array, or `MIN`/`MAX` of an empty one.
    Bounds,
    /// 201 (ndb only): work off the loop could not be done now (its queue
    /// is at its cap, or the key kept changing); retry later. Nothing
    /// changed.
    Busy,
    /// 202 (ndb only): the request would cost more than its documented
    /// budget (JSONPath steps, nodes, regular expression size; an array or
    /// list command's work budget). Nothing changed.
    OverBudget,
    /// 203 (ndb only): a search off the loop ran past its time limit.
    /// Nothing changed.
    TimedOut,
    /// 204 (ndb only): the command would add data past a limit on what the
    /// server holds (the `maxMemory` cap, a key map's or the session
    /// table's capacity). Nothing changed.
    OutOfMemory,
    /// 205 (ndb only): the connection's user's role does not allow this
    /// command; nothing changed and the connection stays open.
    NotPermitted,
    /// 206 (ndb only): the durable log cannot be written or synced (disk
    /// full, I/O error); the command changed nothing. Writes resume by
    /// themselves once the log is writable again.
    LogFailed,
    /// 1000: an unexpected failure inside a command.
    Unknown,
}

impl Status {
    /// The number sent on the wire under the given protocol numbering.
    pub fn code(self, protocol: Protocol) -> u16 {
        let v09 = protocol == Protocol::V09;
        match self {
            Status::Ok => 1,
            Status::OpCodeInvalid => 2,
            Status::JsonInvalid => 3,
            Status::PathInvalid => 4,
            Status::CommandNotExist => 10,
            Status::CommandSyntax => 13,
            Status::CommandDisabled => 14,
            Status::KeyNotExist => 22,
            Status::ParamMissing => 26,
            Status::ValueTypeInvalid => 41,
            Status::ValueSize => 42,
            Status::SessionNotExist => 100,
            Status::SessionNewFail => 103,
            Status::SaveComplete if v09 => 120,
            Status::SaveComplete => 121,
            Status::SaveDirWriteFail if v09 => 121,
            Status::SaveDirWriteFail => 122,
            Status::SaveError if v09 => 122,
            Status::SaveError => 123,
            Status::Loading => 140,
            Status::LoadComplete => 141,
            Status::LoadError => 142,
            Status::Duplicate => 160,
            Status::Bounds => 161,
            Status::Busy => 201,
            Status::OverBudget => 202,
            Status::TimedOut => 203,
            Status::OutOfMemory => 204,
            Status::NotPermitted => 205,
            Status::LogFailed => 206,
            Status::Unknown => 1000,
        }
    }

    /// The status's name, as client libraries and `ndb-cli` show it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "Ok",
            Status::OpCodeInvalid => "OpCodeInvalid",
            Status::JsonInvalid => "JsonInvalid",
            Status::PathInvalid => "PathInvalid",
            Status::CommandNotExist => "CommandNotExist",
            Status::CommandSyntax => "CommandSyntax",
            Status::CommandDisabled => "CommandDisabled",
            Status::KeyNotExist => "KeyNotExist",
            Status::ParamMissing => "ParamMissing",
            Status::ValueTypeInvalid => "ValueTypeInvalid",
            Status::ValueSize => "ValueSize",
            Status::SessionNotExist => "SessionNotExist",
            Status::SessionNewFail => "SessionNewFail",
            Status::SaveComplete => "SaveComplete",
            Status::SaveDirWriteFail => "SaveDirWriteFail",
            Status::SaveError => "SaveError",
            Status::Loading => "Loading",
            Status::LoadComplete => "LoadComplete",
            Status::LoadError => "LoadError",
            Status::Duplicate => "Duplicate",
            Status::Bounds => "Bounds",
            Status::Busy => "Busy",
            Status::OverBudget => "OverBudget",
            Status::TimedOut => "TimedOut",
            Status::OutOfMemory => "OutOfMemory",
            Status::NotPermitted => "NotPermitted",
            Status::LogFailed => "LogFailed",
            Status::Unknown => "Unknown",
        }
    }

    /// The status a number stands for under the given numbering, if any.
    pub fn from_code(code: u64, protocol: Protocol) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| u64::from(s.code(protocol)) == code)
    }

    /// Whether it reports success (`Ok`, a save or a load completed).
    pub fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::SaveComplete | Status::LoadComplete)
    }

    /// How many statuses there are: `status as usize` is below it.
    pub const COUNT: usize = ALL.len();

    /// Every status, in declaration order (`Status::ALL[s as usize] == s`).
    pub const ALL: [Status; 28] = ALL;
}

/// Every status, for reverse lookups.
const ALL: [Status; 28] = [
    Status::Ok,
    Status::OpCodeInvalid,
    Status::JsonInvalid,
    Status::PathInvalid,
    Status::CommandNotExist,
    Status::CommandSyntax,
    Status::CommandDisabled,
    Status::KeyNotExist,
    Status::ParamMissing,
    Status::ValueTypeInvalid,
    Status::ValueSize,
    Status::SessionNotExist,
    Status::SessionNewFail,
    Status::SaveComplete,
    Status::SaveDirWriteFail,
    Status::SaveError,
    Status::Loading,
    Status::LoadComplete,
    Status::LoadError,
    Status::Duplicate,
    Status::Bounds,
    Status::Busy,
    Status::OverBudget,
    Status::TimedOut,
    Status::OutOfMemory,
    Status::NotPermitted,
    Status::LogFailed,
    Status::Unknown,
];

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_numbers_follow_the_protocol_setting() {
        assert_eq!(Status::SaveComplete.code(Protocol::V07), 121);
        assert_eq!(Status::SaveComplete.code(Protocol::V09), 120);
        assert_eq!(Status::SaveDirWriteFail.code(Protocol::V07), 122);
        assert_eq!(Status::SaveDirWriteFail.code(Protocol::V09), 121);
        assert_eq!(Status::SaveError.code(Protocol::V07), 123);
        assert_eq!(Status::SaveError.code(Protocol::V09), 122);
        assert_eq!(Status::LoadComplete.code(Protocol::V09), 141);
    }

    #[test]
    fn codes_round_trip_under_each_numbering() {
        for protocol in [Protocol::V07, Protocol::V09] {
            for status in ALL {
                let code = u64::from(status.code(protocol));
                assert_eq!(Status::from_code(code, protocol), Some(status));
            }
            assert_eq!(Status::NotPermitted.code(protocol), 205);
        }
        assert_eq!(Status::from_code(7, Protocol::V07), None);
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status as usize, i);
        }
        assert_eq!(Status::from_code(204, Protocol::V09), Some(Status::OutOfMemory));
    }
}
