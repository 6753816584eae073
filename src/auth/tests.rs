//! Users, credentials, roles and the failure slow-down, without sockets;
//! time is stepped by hand.

use super::*;

/// `printf %s secret | sha256sum`
const SECRET_SHA256: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

fn basic(user_password: &str) -> Vec<u8> {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_password)).into_bytes()
}

fn users() -> Users {
    Users::new(vec![
        User::new("app", parse_sha256_hex(SECRET_SHA256).unwrap(), Role::Write).unwrap(),
        User::with_password("ops", "pa:ss wörd", Role::Admin).unwrap(),
        User::from_flag(&format!("viewer:read:{}", SECRET_SHA256.to_uppercase())).unwrap(),
    ])
    .unwrap()
}

#[test]
fn the_sha256_of_a_password_is_what_sha256sum_prints() {
    assert_eq!(sha256(b"secret"), parse_sha256_hex(SECRET_SHA256).unwrap());
    assert_eq!(parse_sha256_hex(&SECRET_SHA256[1..]), None);
    assert_eq!(parse_sha256_hex(&SECRET_SHA256.replace('b', "g")), None);
    assert_eq!(parse_sha256_hex(&"é".repeat(32)), None);
}

#[test]
fn right_credentials_get_their_role() {
    let users = users();
    assert_eq!(users.check(Some(&basic("app:secret"))), Access::Granted(Role::Write));
    assert_eq!(users.check(Some(&basic("ops:pa:ss wörd"))), Access::Granted(Role::Admin), "a password may hold ':'");
    assert_eq!(users.check(Some(&basic("viewer:secret"))), Access::Granted(Role::Read));
    let unpadded = format!("basic  {}  ", base64::engine::general_purpose::STANDARD_NO_PAD.encode("app:secret"));
    assert_eq!(users.check(Some(unpadded.as_bytes())), Access::Granted(Role::Write), "scheme case, padding, spaces");
}

#[test]
fn wrong_missing_or_malformed_credentials_are_denied() {
    let users = users();
    let wrong = |s: &str| Access::Denied(Denied::Wrong(s.to_owned()));
    assert_eq!(users.check(Some(&basic("app:Secret"))), wrong("app"));
    assert_eq!(users.check(Some(&basic("app:"))), wrong("app"));
    assert_eq!(users.check(Some(&basic("viewer:pa:ss wörd"))), wrong("viewer"), "another user's password");
    assert_eq!(users.check(Some(&basic("nobody:secret"))), wrong("nobody"));
    assert_eq!(users.check(Some(&basic(&format!("{}:x", "n".repeat(100))))), wrong(&"n".repeat(MAX_NAME_BYTES)));
    assert_eq!(users.check(None), Access::Denied(Denied::Missing));
    for malformed in [&b"Bearer abc"[..], b"Basic", b"Basic !!!!", b"Basic YXBw", b""] {
        assert_eq!(users.check(Some(malformed)), Access::Denied(Denied::Malformed), "{malformed:?}");
    }
}

#[test]
fn without_users_everyone_is_admin() {
    let none = Users::default();
    assert_eq!(none.check(None), Access::Granted(Role::Admin));
    assert_eq!(none.check(Some(&basic("app:wrong"))), Access::Granted(Role::Admin));
}

#[test]
fn user_definitions_are_checked() {
    assert!(User::new("", [0; 32], Role::Read).is_err());
    assert!(User::new("a:b", [0; 32], Role::Read).is_err());
    assert!(User::new("a\nb", [0; 32], Role::Read).is_err());
    assert!(User::new(&"a".repeat(MAX_NAME_BYTES + 1), [0; 32], Role::Read).is_err());
    assert!(User::from_flag("app:write").unwrap_err().contains("NAME:ROLE:SHA256HEX"));
    assert!(User::from_flag("app:root:00").unwrap_err().contains("role must be read, write or admin"));
    assert!(User::from_flag("app:read:00").unwrap_err().contains("64 hexadecimal digits"));
    let twice = vec![User::new("a", [0; 32], Role::Read).unwrap(), User::new("a", [1; 32], Role::Admin).unwrap()];
    assert_eq!(Users::new(twice).unwrap_err(), "user \"a\" is given twice");
    let mut users = users();
    users.insert(User::new("app", [0; 32], Role::Read).unwrap());
    assert_eq!(users.iter().filter(|u| u.name() == "app").map(User::role).collect::<Vec<_>>(), [Role::Read]);
    assert!(!format!("{users:?}").contains("password_sha256"), "no hash in debug output");
}

#[test]
fn roles_nest_and_guard_what_changes_or_exposes_everything() {
    assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
    for verb in [Verb::KvGet, Verb::KvFind, Verb::SvInfo, Verb::ShGet, Verb::ShInfoAll, Verb::ShExists] {
        assert!(Role::Read.allows(verb), "{verb:?}");
    }
    for verb in [Verb::KvSet, Verb::KvRmv, Verb::KvUpdate, Verb::ShNew, Verb::ShEnd, Verb::ShSet, Verb::ShClear] {
        assert!(!Role::Read.allows(verb) && Role::Write.allows(verb), "{verb:?}");
    }
    for verb in [Verb::KvClear, Verb::KvClearSet, Verb::ShEndAll, Verb::KvSave, Verb::KvLoad, Verb::ShSave] {
        assert!(!Role::Write.allows(verb) && Role::Admin.allows(verb), "{verb:?}");
    }
    assert_eq!(Role::from_name("admin"), Some(Role::Admin));
    assert_eq!(Role::from_name("Admin"), None);
}

#[test]
fn failures_are_free_then_doubling_then_capped() {
    let delays: Vec<u64> = (1..=9).map(|n| delay(n).as_millis() as u64).collect();
    assert_eq!(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000, 4000]);
}

#[test]
fn answers_to_one_address_are_spaced_by_its_failures() {
    let mut failures = Failures::default();
    let t0 = Instant::now();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let other: IpAddr = "192.0.2.8".parse().unwrap();
    for n in 1..=FREE_FAILURES {
        assert_eq!(failures.answer_at(ip, true, t0), Some(Answer { at: t0, failures: n }));
    }
    // Sent at the same moment, the next failures are answered one delay
    // apart, and a right password waits behind them.
    let fourth = failures.answer_at(ip, true, t0).unwrap();
    assert_eq!(fourth.at, t0 + Duration::from_millis(250));
    let fifth = failures.answer_at(ip, true, t0).unwrap();
    assert_eq!(fifth.at, t0 + Duration::from_millis(750));
    assert_eq!(failures.answer_at(ip, false, t0), Some(Answer { at: fifth.at, failures: 5 }));
    // Another address is not affected.
    assert_eq!(failures.answer_at(other, false, t0), Some(Answer { at: t0, failures: 0 }));
    assert_eq!(failures.answer_at(other, true, t0), Some(Answer { at: t0, failures: 1 }));
    // Later, an attempt is not held back past the queue.
    let later = t0 + Duration::from_secs(2);
    assert_eq!(failures.answer_at(ip, false, later), Some(Answer { at: later, failures: 5 }));
    assert_eq!(failures.answer_at(ip, true, later).unwrap().at, later + Duration::from_secs(1));
    // Forgotten after FAILURE_MEMORY without a failure.
    let much_later = later + FAILURE_MEMORY + Duration::from_secs(1);
    assert_eq!(failures.answer_at(ip, true, much_later), Some(Answer { at: much_later, failures: 1 }));
}

#[test]
fn a_flood_from_one_address_is_dropped_past_the_queue_limit() {
    let mut failures = Failures::default();
    let t0 = Instant::now();
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let mut dropped = 0;
    for _ in 0..20 {
        match failures.answer_at(ip, true, t0) {
            Some(answer) => assert!(answer.at <= t0 + MAX_ANSWER_WAIT),
            None => dropped += 1,
        }
    }
    assert!(dropped > 0);
    // The same /64 counts as the same address: a right password waits at
    // the end of the queue.
    let queued = failures.answer_at("2001:db8::2".parse().unwrap(), false, t0 + Duration::from_millis(1));
    assert_eq!(queued, Some(Answer { at: t0 + Duration::from_millis(7750), failures: 8 }));
    assert_eq!(failures.tracked(), 1);
    let elsewhere = failures.answer_at("2001:db8:0:1::1".parse().unwrap(), false, t0);
    assert_eq!(elsewhere, Some(Answer { at: t0, failures: 0 }));
}

#[test]
fn a_full_table_counts_new_addresses_together() {
    let mut failures = Failures::default();
    let t0 = Instant::now();
    for i in 0..MAX_TRACKED_ADDRESSES as u32 {
        failures.answer_at(IpAddr::V4((0x0a00_0000 + i).into()), true, t0);
    }
    assert_eq!(failures.tracked(), MAX_TRACKED_ADDRESSES);
    let fresh = |i: u32| IpAddr::V4((0xc000_0000 + i).into());
    for i in 0..FREE_FAILURES {
        assert_eq!(failures.answer_at(fresh(i), true, t0).unwrap().at, t0);
    }
    let held = failures.answer_at(fresh(99), true, t0).unwrap();
    assert_eq!((held.at, held.failures), (t0 + FIRST_FAILURE_DELAY, FREE_FAILURES + 1));
    assert_eq!(failures.tracked(), MAX_TRACKED_ADDRESSES);
    // Once the old records are forgotten, the table makes room again.
    let later = t0 + FAILURE_MEMORY + Duration::from_secs(1);
    assert_eq!(failures.answer_at(fresh(1000), true, later), Some(Answer { at: later, failures: 1 }));
    assert_eq!(failures.tracked(), 1);
}
