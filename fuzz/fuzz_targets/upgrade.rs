//! The HTTP upgrade parser on arbitrary bytes: it never panics, and the
//! result does not depend on how the bytes were split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndb::internals::http_upgrade::{MAX_HEAD_BYTES, Parse, parse};

fuzz_target!(|input: (u8, u16, &[u8])| {
    let (step, max_head, bytes) = input;
    let max_head = usize::from(max_head).max(64);
    let origins = ["http://ok.example".to_owned()];
    // One user, so that credentials are parsed too.
    let users = ndb::Users::new(vec![
        ndb::User::with_password("app", "secret", ndb::Role::Read).expect("a valid user"),
    ])
    .expect("one user");
    let whole = parse(bytes, &mut 0, max_head, &origins[..], &users);
    // Fed in steps, it settles on the same answer at the same point.
    let step = usize::from(step).max(1);
    let (mut searched, mut end) = (0, 0);
    let mut stepped = Parse::Incomplete;
    while stepped == Parse::Incomplete && end < bytes.len() {
        end = (end + step).min(bytes.len());
        stepped = parse(&bytes[..end], &mut searched, max_head, &origins[..], &users);
    }
    if end == bytes.len() || stepped != Parse::Incomplete {
        match (&whole, &stepped) {
            (Parse::Upgrade(a), Parse::Upgrade(b)) => assert_eq!(a, b),
            (Parse::Reject(a), Parse::Reject(b)) => assert_eq!(a, b),
            (Parse::Endpoint(a, x), Parse::Endpoint(b, y)) => assert_eq!((a, x), (b, y)),
            (Parse::Incomplete, Parse::Incomplete) => {}
            other => panic!("whole vs stepped: {other:?}"),
        }
    }
    if let Parse::Upgrade(upgrade) = &whole {
        assert!(upgrade.head_len <= bytes.len() && upgrade.head_len <= max_head);
        assert_eq!(upgrade.accept.len(), 28);
        let response = ndb::internals::http_upgrade::accept_response(upgrade);
        assert!(response.starts_with(b"HTTP/1.1 101 ") && response.ends_with(b"\r\n\r\n"));
    }
    let _ = MAX_HEAD_BYTES;
});
