//! Who may connect and what each may do: users, their roles, and the HTTP
//! Basic credentials of the upgrade request.
//!
//! Owns: the user table ([`Users`]), checking an `Authorization` header
//! against it ([`Users::check`]), the roles and which command each allows
//! ([`command_role`]), and the slow-down of repeated failures from one
//! address ([`Failures`]). Must not touch: sockets, the store, the clock
//! (time is passed in).
//!
//! Passwords are never kept: a user holds the SHA-256 of its password (as
//! Redis ACL users do), and a request's password is hashed and compared
//! with every user's hash in constant time, its name too (as a hash), so
//! how long a check takes does not depend on how close a guess was. With
//! no users configured every connection is [`Role::Admin`], exactly as
//! before users existed.
//!
//! Credentials are checked once, at the upgrade; after that a command's
//! permission is one comparison of two bytes ([`Role::allows`]). Every
//! command has a role: [`Command::name`](crate::protocol::Command::name)
//! names every kind of command, and [`command_role`] matches every name
//! (a key, session or server verb, or an array or list op) without a
//! wildcard, so a command added later does not compile until it is given
//! one.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

use crate::protocol::{CommandName, Op, Verb};

/// What a user may do, from least to most. Each role allows everything
/// the one before it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads: gets, contains, counts, keys, finds, `SV_INFO` (without the
    /// persist path), session reads, and array and list reads.
    Read,
    /// Reads and every data change, of keys, of sessions, and of arrays
    /// and lists.
    Write,
    /// Everything: also saves, loads, `KV_CLEAR`, `KV_CLEAR_SET`,
    /// `SH_END_ALL` and each array or list type's `DELETE_ALL`, which change
    /// or expose everything at once.
    Admin,
}

impl Role {
    /// The role with this name (`read`, `write` or `admin`).
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role's name, as written in configs and logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may run the command `name`.
    #[inline]
    pub(crate) fn allows(self, name: impl Into<CommandName>) -> bool {
        self >= command_role(name.into())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The least role that may run the command `name`: a key, session or
/// server verb's ([`required_role`]), or an array or list op's
/// ([`container_role`]).
pub const fn command_role(name: CommandName) -> Role {
    match name {
        CommandName::Verb(verb) => required_role(verb),
        CommandName::Container(verb) => container_role(verb.op),
    }
}

/// The least role that may run an array or list command doing `op`, of
/// any type: reads are `read`; creating, deleting and changing one
/// container are `write`; `DELETE_ALL`, which removes every container of
/// its type at once as `KV_CLEAR` removes every key, is `admin`.
pub const fn container_role(op: Op) -> Role {
    match op {
        Op::Exist | Op::Len | Op::Used | Op::Get | Op::GetRng | Op::Min | Op::Max | Op::Intersect => Role::Read,
        Op::Create | Op::Delete | Op::Set | Op::SetRng | Op::Clear | Op::Swap | Op::Add | Op::Rmv | Op::Splice => {
            Role::Write
        }
        Op::DeleteAll => Role::Admin,
    }
}

/// The least role that may run `verb`. Commands that clear, save or load
/// everything at once are `admin`; so is `KV_CLEAR_SET`, which removes
/// every key as `KV_CLEAR` does.
pub const fn required_role(verb: Verb) -> Role {
    match verb {
        Verb::KvGet
        | Verb::KvContains
        | Verb::KvCount
        | Verb::KvKeys
        | Verb::KvFind
        | Verb::SvInfo
        | Verb::ShExists
        | Verb::ShInfo
        | Verb::ShInfoAll
        | Verb::ShGet
        | Verb::ShContains
        | Verb::ShCount
        | Verb::ShKeys => Role::Read,
        Verb::KvSet
        | Verb::KvAdd
        | Verb::KvRmv
        | Verb::KvUpdate
        | Verb::KvArrAppend
        | Verb::ShNew
        | Verb::ShEnd
        | Verb::ShSet
        | Verb::ShAdd
        | Verb::ShRmv
        | Verb::ShClear
        | Verb::ShClearSet => Role::Write,
        Verb::KvClear
        | Verb::KvClearSet
        | Verb::ShEndAll
        | Verb::KvSave
        | Verb::KvLoad
        | Verb::ShSave
        | Verb::ShLoad => Role::Admin,
    }
}

/// Longest user name accepted, in bytes: ample for any account name, and
/// it keeps log lines short.
pub const MAX_NAME_BYTES: usize = 64;

/// One user: a name, the SHA-256 of its password, a role.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    name: String,
    name_sha256: [u8; 32],
    password_sha256: [u8; 32],
    role: Role,
    plaintext: bool,
}

impl User {
    /// A user whose password has this SHA-256.
    ///
    /// # Errors
    /// What is wrong with the name: it must be 1 to 64 bytes
    /// (`MAX_NAME_BYTES`), without `:` or control characters.
    pub fn new(name: &str, password_sha256: [u8; 32], role: Role) -> Result<User, String> {
        check_name(name)?;
        Ok(User {
            name: name.to_owned(),
            name_sha256: sha256(name.as_bytes()),
            password_sha256,
            role,
            plaintext: false,
        })
    }

    /// A user whose password was given in plain text (for development:
    /// [`User::has_plaintext_password`] lets the server warn about it).
    ///
    /// # Errors
    /// What is wrong with the name: it must be 1 to 64 bytes
    /// (`MAX_NAME_BYTES`), without `:` or control characters.
    pub fn with_password(name: &str, password: &str, role: Role) -> Result<User, String> {
        let mut user = User::new(name, sha256(password.as_bytes()), role)?;
        user.plaintext = true;
        Ok(user)
    }

    /// A user from a `--user` flag: `NAME:ROLE:SHA256HEX`.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn from_flag(value: &str) -> Result<User, String> {
        let mut parts = value.splitn(3, ':');
        let (Some(name), Some(role), Some(hex)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("must be NAME:ROLE:SHA256HEX".to_owned());
        };
        let role = Role::from_name(role).ok_or_else(|| format!("role must be read, write or admin (got {role:?})"))?;
        let hash = parse_sha256_hex(hex).ok_or_else(|| format!("{HEX_PROBLEM} (got {} characters)", hex.len()))?;
        User::new(name, hash, role)
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the password came in plain text (a development setting).
    pub fn has_plaintext_password(&self) -> bool {
        self.plaintext
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash stays out of logs and panics.
        f.debug_struct("User").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// What a `passwordSha256` must be, for error messages.
pub const HEX_PROBLEM: &str = "the password's SHA-256 must be 64 hexadecimal digits (printf %s 'PASSWORD' | sha256sum)";

/// Checks a user name: 1 to [`MAX_NAME_BYTES`] bytes, no `:` (HTTP Basic
/// cannot carry it), no control characters.
///
/// # Errors
/// What is wrong with it.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!("a user name must be 1 to {MAX_NAME_BYTES} bytes (got {:?})", name));
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(format!("a user name must not hold ':' or control characters (got {name:?})"));
    }
    Ok(())
}

/// The 32 bytes written as 64 hexadecimal digits (either case), if that is
/// what `hex` is.
pub fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether two 32-byte values are equal, looking at every byte whatever
/// the first difference.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The users allowed to connect. Empty: no authentication, every
/// connection is [`Role::Admin`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Users(Vec<User>);

/// What the credentials of a request amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Let in with this role.
    Granted(Role),
    /// Refused (HTTP 401).
    Denied(Denied),
}

/// Why credentials were refused, for the log. Never holds a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization` header.
    Missing,
    /// A header that is not `Basic` with base64 of `user:password`.
    Malformed,
    /// A user name and password that match no user; the name as sent (cut
    /// to [`MAX_NAME_BYTES`]).
    Wrong(String),
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Missing => f.write_str("no credentials"),
            Denied::Malformed => f.write_str("a malformed Authorization header"),
            Denied::Wrong(user) => write!(f, "a wrong password or unknown user {user:?}"),
        }
    }
}

/// Base64 as Basic credentials use it, accepting them with or without
/// padding.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Users {
    /// A table of these users.
    ///
    /// # Errors
    /// A name given twice.
    pub fn new(users: Vec<User>) -> Result<Users, String> {
        for (i, user) in users.iter().enumerate() {
            if users[..i].iter().any(|u| u.name == user.name) {
                return Err(format!("user {:?} is given twice", user.name));
            }
        }
        Ok(Users(users))
    }

    /// Adds `user`, replacing a user of the same name.
    pub fn insert(&mut self, user: User) {
        self.0.retain(|u| u.name != user.name);
        self.0.push(user);
    }

    /// Whether no user is configured (authentication is off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The users.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.0.iter()
    }

    /// What a request with this `Authorization` header value (if any) may
    /// do. Without users everything is [`Role::Admin`], whatever was sent.
    pub(crate) fn check(&self, authorization: Option<&[u8]>) -> Access {
        if self.0.is_empty() {
            return Access::Granted(Role::Admin);
        }
        let Some(value) = authorization else { return Access::Denied(Denied::Missing) };
        let Some((name, password)) = basic_credentials(value) else { return Access::Denied(Denied::Malformed) };
        let (name_hash, password_hash) = (sha256(&name), sha256(&password));
        // Every user is compared, whatever matched, so the time taken does
        // not say which part of a guess was right.
        let mut granted = None;
        for user in &self.0 {
            let name_eq = ct_eq(&user.name_sha256, &name_hash);
            let password_eq = ct_eq(&user.password_sha256, &password_hash);
            if name_eq & password_eq {
                granted = Some(user.role);
            }
        }
        match granted {
            Some(role) => Access::Granted(role),
            None => {
                let mut shown = String::from_utf8_lossy(&name).into_owned();
                if shown.len() > MAX_NAME_BYTES {
                    let mut cut = MAX_NAME_BYTES;
                    while !shown.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    shown.truncate(cut);
                }
                Access::Denied(Denied::Wrong(shown))
            }
        }
    }
}

/// The user name and password of a `Basic` header value (RFC 7617).
fn basic_credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let mut decoded = BASIC.decode(rest.trim_ascii()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = decoded.split_off(colon + 1);
    decoded.truncate(colon);
    Some((decoded, password))
}

/// Failed attempts from one address (an IPv6 address counts by its /64,
/// which one host can usually pick from freely).
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Failures since the record was created.
    failures: u32,
    last_failure: Instant,
    /// Answers to this address are not given before this time: each
    /// failure past the free ones pushes it back by its delay, so attempts
    /// sent in parallel are answered one delay apart.
    next_answer: Instant,
}

/// Failures from one address answered at once; from the next one on, each
/// answer to that address waits (a mistyped password costs nothing).
pub const FREE_FAILURES: u32 = 3;

/// The delay of the first failure past [`FREE_FAILURES`]; it doubles with
/// each further failure, up to [`MAX_FAILURE_DELAY`].
pub const FIRST_FAILURE_DELAY: Duration = Duration::from_millis(250);

/// The longest a single failure delays its address's answers: 4 s, so a
/// guesser gets at most one answer per 4 s per address, and a client that
/// mistyped a password recovers within seconds.
pub const MAX_FAILURE_DELAY: Duration = Duration::from_secs(4);

/// How long an address's failures are remembered after its last one.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(300);

/// Addresses tracked at once (about 64 bytes each, so at most ~1 MiB).
/// Past it, addresses not yet tracked share one record, so a flood from
/// many addresses is slowed down as one.
pub const MAX_TRACKED_ADDRESSES: usize = 16 * 1024;

/// The slow-down of repeated authentication failures, per address.
///
/// Each answer to an address with recent failures (a 101 as well as a
/// 401, so a right guess is not answered sooner than a wrong one) is given
/// at a time [`Failures::answer_at`] says; the server holds the connection
/// until then, without blocking the loop.
#[derive(Debug, Default)]
pub struct Failures {
    records: HashMap<IpAddr, Record>,
    /// Shared by the addresses that found the table full.
    overflow: Option<Record>,
    /// When expired records were last purged (at most once a second).
    purged: Option<Instant>,
}

/// What [`Failures::answer_at`] decided for one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// When to answer.
    pub at: Instant,
    /// Failures from the address within [`FAILURE_MEMORY`], this one
    /// included (0 for a granted attempt from an address without any).
    pub failures: u32,
}

/// How far ahead of `now` the answer of one address may be queued; an
/// attempt that would wait longer is dropped unanswered (its address is
/// sending attempts faster than they are answered).
pub const MAX_ANSWER_WAIT: Duration = Duration::from_secs(10);

impl Failures {
    /// When to answer an attempt from `ip` at `now` that was `denied` or
    /// not; `None` to drop it unanswered (more than [`MAX_ANSWER_WAIT`]
    /// of answers already queued for the address).
    pub fn answer_at(&mut self, ip: IpAddr, denied: bool, now: Instant) -> Option<Answer> {
        let key = address_key(ip);
        self.purge(now);
        let fresh = Record { failures: 0, last_failure: now, next_answer: now };
        let full = self.records.len() >= MAX_TRACKED_ADDRESSES;
        let record = if self.records.contains_key(&key) {
            self.records.get_mut(&key)
        } else if full && denied {
            Some(self.overflow.get_or_insert(fresh))
        } else if full {
            self.overflow.as_mut()
        } else if denied {
            Some(self.records.entry(key).or_insert(fresh))
        } else {
            None
        };
        let Some(record) = record else { return Some(Answer { at: now, failures: 0 }) };
        if now.saturating_duration_since(record.last_failure) > FAILURE_MEMORY {
            *record = Record { failures: 0, last_failure: now, next_answer: now };
        }
        let queued_from = record.next_answer.max(now);
        let at = if denied { queued_from + delay(record.failures + 1) } else { queued_from };
        if at.saturating_duration_since(now) > MAX_ANSWER_WAIT {
            return None;
        }
        if denied {
            record.failures += 1;
            record.last_failure = now;
            record.next_answer = at;
        }
        Some(Answer { at, failures: record.failures })
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    /// Drops records past [`FAILURE_MEMORY`], at most once a second and
    /// only while the table is at least half full: a bounded scan, rare.
    fn purge(&mut self, now: Instant) {
        if self.records.len() < MAX_TRACKED_ADDRESSES / 2
            || self.purged.is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        self.purged = Some(now);
        self.records.retain(|_, r| now.saturating_duration_since(r.last_failure) <= FAILURE_MEMORY);
        if self.overflow.is_some_and(|r| now.saturating_duration_since(r.last_failure) > FAILURE_MEMORY) {
            self.overflow = None;
        }
    }
}

/// The delay the `n`th failure (1-based) adds.
pub fn delay(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    FIRST_FAILURE_DELAY.saturating_mul(1 << doublings).min(MAX_FAILURE_DELAY)
}

/// The address failures are counted under: IPv4 as it is, IPv6 by its /64
/// (an IPv4-mapped IPv6 address as its IPv4 address).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests;
