//! The command decoder on arbitrary text: it never panics, a refused
//! request's reply is well formed, and string escaping round-trips.
#![no_main]

use testkit::replies as common;

use libfuzzer_sys::fuzz_target;
use ndb::internals::protocol::{Command, Protocol, Reply, decode, write_str};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let mut out = Vec::new();
    match decode(text) {
        Ok(command) => {
            // A decoded request is a JSON object naming its command.
            let name = match (&command, command.verb()) {
                (_, Some(verb)) => verb.name().to_owned(),
                (Command::Container(c), None) => c.verb.name(),
                (_, None) => panic!("a command without a verb: {text}"),
            };
            let names = common::member_names(text).expect("an accepted request is a JSON object");
            assert!(names.iter().any(|n| *n == name), "{name} from {text}");
        }
        Err(rejection) => {
            for protocol in [Protocol::V07, Protocol::V09] {
                out.clear();
                Reply::new(&mut out, protocol).rejection(&rejection);
                let key = common::check_reply(&out);
                common::check_compact(&out);
                common::check_reply_names_request(text, &key);
            }
        }
    }
    out.clear();
    write_str(&mut out, text);
    let back: String = serde_json::from_slice(&out).expect("an escaped string is a JSON string");
    assert_eq!(back, text);
});
