//! Config file tests: NemesisDB's versions 5 and 6, defaults, limits, and
//! one-line errors naming the field.

use super::*;

fn apply(text: &str) -> Result<Config, String> {
    Config::default().apply_json(text).map_err(|e| e.to_string())
}

#[test]
fn nemesisdb_v5_config_with_comments() {
    let config = apply(
        r#"{
          "version": 5,            // must equal 5
          "core": 0,
          /* a block
             comment with "quotes" */
          "ip": "127.0.0.1",
          "port": 1987,
          "maxPayload": 1024,
          "sessionsEnabled": true,
          "persist": { "enabled": false, "path": "./data // not a comment" }
        }"#,
    )
    .unwrap();
    assert_eq!(config.protocol, Protocol::V07);
    assert_eq!(config.core, Some(0));
    assert_eq!(config.max_payload, 1024);
    assert!(!config.persist_enabled);
    assert_eq!(config.persist_path, PathBuf::from("./data // not a comment"));
    assert_eq!(config.save_on_exit, None);
    let config = apply(r#"{"version":5,"persist":{"enabled":true,"path":"d","saveOnExit":"exit"}}"#).unwrap();
    assert_eq!(config.save_on_exit.as_deref(), Some("exit"));
}

#[test]
fn nemesisdb_v6_config_selects_09_numbering() {
    let config = apply(
        r#"{"version":6,"ip":"127.0.0.1","port":1987,"maxPayload":4096,
            "persist":{"enabled":true,"path":"./data"},
            "arrays":{"maxCapacity":10000,"maxResponseSize":10000},"lists":{"maxResponseSize":10000}}"#,
    )
    .unwrap();
    assert_eq!(config.protocol, Protocol::V09);
    assert_eq!(config.max_payload, 4096);
}

#[test]
fn v6_array_and_list_limits_are_read_and_optional() {
    let config =
        apply(r#"{"version":6,"arrays":{"maxCapacity":5,"maxResponseSize":3},"lists":{"maxResponseSize":0}}"#).unwrap();
    assert_eq!((config.array_max_capacity, config.array_max_response_size, config.list_max_response_size), (5, 3, 0));
    let config = apply(r#"{"version":6,"arrays":{"maxCapacity":18446744073709551615}}"#).unwrap();
    assert_eq!(config.array_max_capacity, u64::MAX);
    assert_eq!((config.array_max_response_size, config.list_max_response_size), (10_000, 10_000));
    for text in [r#"{"version":6}"#, r#"{"version":6,"arrays":{},"lists":{}}"#] {
        let config = apply(text).unwrap();
        assert_eq!(
            (config.array_max_capacity, config.array_max_response_size, config.list_max_response_size),
            (10_000, 10_000, 10_000),
            "{text}"
        );
    }
}

/// A version-5 config has no `arrays` or `lists` sections: whatever is
/// there is ignored, as every unknown member is.
#[test]
fn v5_keeps_the_shipped_array_and_list_limits() {
    let config = apply(r#"{"version":5,"arrays":{"maxCapacity":5,"maxResponseSize":"x"},"lists":7}"#).unwrap();
    assert_eq!(
        (config.array_max_capacity, config.array_max_response_size, config.list_max_response_size),
        (10_000, 10_000, 10_000)
    );
}

#[test]
fn v6_array_and_list_errors_name_the_member() {
    let cases = [
        (r#"{"version":6,"arrays":[]}"#, "arrays: must be an object (got [])"),
        (r#"{"version":6,"lists":5}"#, "lists: must be an object (got 5)"),
        (r#"{"version":6,"arrays":{"maxCapacity":-1}}"#, "arrays.maxCapacity: must be a non-negative integer (got -1)"),
        (r#"{"version":6,"arrays":{"maxCapacity":1.5}}"#, "arrays.maxCapacity: must be a non-negative integer"),
        (
            r#"{"version":6,"arrays":{"maxResponseSize":"10"}}"#,
            "arrays.maxResponseSize: must be a non-negative integer (got \"10\")",
        ),
        (r#"{"version":6,"lists":{"maxResponseSize":null}}"#, "lists.maxResponseSize: must be a non-negative integer"),
    ];
    for (text, expected) in cases {
        let err = apply(text).unwrap_err();
        assert!(err.contains(expected), "{text}: {err}");
    }
    // Typed: the error names the member, as the user wrote it.
    for (text, member) in [
        (r#"{"version":6,"arrays":[]}"#, "arrays"),
        (r#"{"version":6,"arrays":{"maxResponseSize":-2}}"#, "arrays.maxResponseSize"),
        (r#"{"version":6,"lists":{"maxResponseSize":true}}"#, "lists.maxResponseSize"),
    ] {
        match Config::default().apply_json(text) {
            Err(e @ ConfigError::Field { .. }) => {
                assert_eq!((e.field_name(), e.file()), (Some(member), None), "{text}")
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn core_and_other_members_are_optional() {
    let config = apply(r#"{"version":5}"#).unwrap();
    assert_eq!(config, Config { protocol: Protocol::V07, ..Config::default() });
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (r#"{}"#, "version: is required (5 or 6)"),
        (r#"{"version":4}"#, "version: must be 5 or 6 (got 4)"),
        (r#"{"version":"5"}"#, "version: must be a non-negative integer (got \"5\")"),
        (r#"{"version":5,"port":"1987"}"#, "port: must be a non-negative integer"),
        (r#"{"version":5,"port":70000}"#, "port: must be at most 65535 (got 70000)"),
        (r#"{"version":5,"maxPayload":63}"#, "maxPayload: must be from 64 to 67108864 bytes (got 63)"),
        (r#"{"version":5,"maxPayload":67108865}"#, "maxPayload: must be from 64"),
        (r#"{"version":5,"core":-1}"#, "core: must be a non-negative integer (got -1)"),
        (r#"{"version":5,"persist":{"enabled":1}}"#, "persist.enabled: must be true or false (got 1)"),
        (r#"{"version":5,"persist":{"enabled":true,"path":""}}"#, "persist.path: must not be empty"),
        (r#"{"version":5,"persist":{"saveOnExit":"a/b"}}"#, "persist.saveOnExit: must be a save name"),
        (r#"{"version":5,"persist":{"saveOnExit":1}}"#, "persist.saveOnExit: must be a string (got 1)"),
        (r#"{"version":5,"ip":1}"#, "ip: must be a string (got 1)"),
        (r#"{"version":5,"allowedOrigins":["a",1]}"#, "allowedOrigins: must be an array of strings (got 1)"),
        (r#"{"version":5,"maxConnections":0}"#, "maxConnections: must be a positive integer (got 0)"),
        (r#"{"version":5,"messagesPerTurn":0}"#, "messagesPerTurn: must be a positive integer (got 0)"),
        (r#"{"version":5,"maxOutputBytes":-1}"#, "maxOutputBytes: must be a non-negative integer (got -1)"),
        (r#"{"version":5,"outputPauseBytes":0}"#, "outputPauseBytes: must be a positive integer (got 0)"),
        (
            r#"{"version":5,"maxOutputBytes":1000}"#,
            "outputPauseBytes: must not exceed maxOutputBytes (1048576 > 1000; flags",
        ),
        (r#"{"version":5,"maxHeaderBytes":100}"#, "maxHeaderBytes: must be from 1024 to 1048576 bytes (got 100)"),
        (r#"{"version":5,"handshakeTimeout":0}"#, "handshakeTimeout: must be more than 0 seconds (got 0)"),
        (r#"{"version":5,"idleTimeout":-1}"#, "idleTimeout: must be from 0 to 86400 seconds (got -1)"),
        (r#"{"version":5,"sendTimeout":"60"}"#, "sendTimeout: must be a number of seconds (got \"60\")"),
        (r#"{"version":5,"sendTimeout":1e9}"#, "sendTimeout: must be from 0 to 86400 seconds"),
        (r#"{"version":5,"searchTimeout":-0.5}"#, "searchTimeout: must be from 0 to 86400 seconds (got -0.5)"),
        (r#"{"version":5,"searchTimeout":true}"#, "searchTimeout: must be a number of seconds (got true)"),
        (r#"[5]"#, "must be a JSON object"),
        (r#"{"version":5,}"#, "not valid JSON"),
    ];
    for (text, expected) in cases {
        let err = apply(text).unwrap_err();
        assert!(err.starts_with(expected), "{text}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
        // The typed error names the same field as its text.
        let typed = Config::default().apply_json(text).unwrap_err();
        match typed.field_name() {
            Some(field) => assert!(expected.starts_with(&format!("{field}: ")), "{text}: {field}"),
            None => assert!(matches!(typed, ConfigError::Syntax { .. }), "{text}: {typed:?}"),
        }
    }
}

#[test]
fn limits_are_read_with_their_defaults_kept_when_absent() {
    let config = apply(
        r#"{"version":5,"maxConnections":50,"allowedOrigins":["https://app.example"],
            "maxHeaderBytes":2048,"handshakeTimeout":2.5,"idleTimeout":180,"sendTimeout":0,
            "searchTimeout":0.25,"outputPauseBytes":4096,"maxOutputBytes":65536,"messagesPerTurn":8}"#,
    )
    .unwrap();
    assert_eq!(config.max_connections, 50);
    assert_eq!(config.allowed_origins, ["https://app.example"]);
    assert_eq!(config.max_head_bytes, 2048);
    assert_eq!(config.handshake_timeout, Duration::from_millis(2500));
    assert_eq!(config.idle_timeout, Some(Duration::from_secs(180)));
    assert_eq!(config.send_timeout, None, "0 turns it off");
    assert_eq!(config.search_timeout, Some(Duration::from_millis(250)));
    assert_eq!((config.output_pause_bytes, config.max_output_bytes), (4096, 65536));
    assert_eq!(config.messages_per_turn, 8);
    let defaults = Config::default();
    assert_eq!(defaults.idle_timeout, None);
    assert_eq!(defaults.send_timeout, Some(Duration::from_secs(60)));
    assert_eq!(defaults.search_timeout, Some(Duration::from_secs(5)));
    assert_eq!(apply(r#"{"version":5,"searchTimeout":0}"#).unwrap().search_timeout, None, "0 turns it off");
    assert_eq!(defaults.handshake_timeout, Duration::from_secs(10));
    assert!(defaults.validate().is_ok());
}

#[test]
fn input_limits_are_read_and_checked() {
    let config = apply(r#"{"version":5,"maxPartialBytes":4194304,"messageTimeout":0.5}"#).unwrap();
    assert_eq!(config.max_partial_bytes, 4 << 20);
    assert_eq!(config.message_timeout, Some(Duration::from_millis(500)));
    assert_eq!(apply(r#"{"version":5,"messageTimeout":0}"#).unwrap().message_timeout, None, "0 turns it off");
    let defaults = Config::default();
    assert_eq!((defaults.max_partial_bytes, defaults.message_timeout), (256 << 20, Some(Duration::from_secs(30))));
    let err = apply(r#"{"version":5,"maxPayload":2097152,"maxPartialBytes":1048576}"#).unwrap_err();
    assert!(err.starts_with("maxPartialBytes: must be at least maxPayload"), "{err}");
    let err = apply(r#"{"version":5,"messageTimeout":"30"}"#).unwrap_err();
    assert_eq!(err, "messageTimeout: must be a number of seconds (got \"30\")");
    assert!(apply(r#"{"version":5,"maxPartialBytes":0}"#).unwrap_err().contains("must be a positive integer"));
}

#[test]
fn comments_are_stripped_only_outside_strings() {
    assert_eq!(strip_comments("{\"a\":\"//x\"}// c\n"), "{\"a\":\"//x\"}    \n");
    assert_eq!(strip_comments("1/* a\n*/2"), "1    \n  2");
    assert_eq!(strip_comments(r#""\"//""#), r#""\"//""#);
    assert_eq!(strip_comments("/* **/3"), "      3");
    for text in ["{\"a\":1}// x", "/* ☃ */{}", "\"/*\" // \"\n", "/**/"] {
        assert_eq!(strip_comments(text).chars().count(), text.chars().count(), "{text}");
    }
}

#[test]
fn errors_carry_the_field_the_file_and_the_cause() {
    let dir = std::env::temp_dir().join(format!("ndb-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ndb.json");
    std::fs::write(&file, r#"{"version":5,"persist":{"saveOnExit":"a/b"}}"#).unwrap();
    match Config::default().load_file(&file) {
        Err(e @ ConfigError::Field { .. }) => {
            assert_eq!((e.field_name(), e.file()), (Some("persist.saveOnExit"), Some(file.as_path())));
            let text = e.to_string();
            assert!(text.starts_with(&format!("config file {}: persist.saveOnExit: must be", file.display())));
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&file, "{\"version\":5,\n\"port\":}").unwrap();
    match Config::default().load_file(&file) {
        Err(e @ ConfigError::Syntax { .. }) => {
            assert_eq!((e.field_name(), e.file()), (None, Some(file.as_path())));
            assert!(e.to_string().contains("not valid JSON: expected value at line 2"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let missing = dir.join("missing.json");
    match Config::default().load_file(&missing) {
        Err(ConfigError::Read { path, source }) => {
            assert_eq!((path, source.kind()), (missing, std::io::ErrorKind::NotFound));
        }
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // The checks a host's flags go through name the flag they are given.
    for (e, field) in [
        (check_max_payload("--max-payload", 10).unwrap_err(), "--max-payload"),
        (check_max_head_bytes("--max-header-bytes", 1).unwrap_err(), "--max-header-bytes"),
        (check_timeout("--idle-timeout", -1.0).unwrap_err(), "--idle-timeout"),
        (check_positive("--max-connections", 0).unwrap_err(), "--max-connections"),
        (check_save_name("--loadName", "..").unwrap_err(), "--loadName"),
    ] {
        assert_eq!(e.field_name(), Some(field), "{e}");
        assert!(e.to_string().starts_with(&format!("{field}: must be")), "{e}");
    }
}

#[test]
fn users_protected_mode_and_tls_are_read() {
    let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    let config = apply(&format!(
        r#"{{"version":5,"protectedMode":false,
            "users":[{{"name":"app","passwordSha256":"{hex}","role":"write"}},
                     {{"name":"dev","password":"secret","role":"admin"}}]}}"#
    ))
    .unwrap();
    assert!(!config.protected_mode);
    let users: Vec<_> = config.users.iter().map(|u| (u.name(), u.role(), u.has_plaintext_password())).collect();
    assert_eq!(users, [("app", Role::Write, false), ("dev", Role::Admin, true)]);
    // app:secret and dev:secret, in Basic form.
    assert_eq!(config.users.check(Some(b"Basic YXBwOnNlY3JldA==")), crate::auth::Access::Granted(Role::Write));
    assert_eq!(config.users.check(Some(b"Basic ZGV2OnNlY3JldA==")), crate::auth::Access::Granted(Role::Admin));
    let defaults = Config::default();
    assert!(defaults.protected_mode && defaults.users.is_empty() && defaults.tls.is_none());

    let tls = apply(r#"{"version":5,"tls":{"certificate":"/etc/ndb/tls/cert.pem","key":"/etc/ndb/tls/key.pem"}}"#);
    if cfg!(feature = "tls") {
        let tls = tls.unwrap().tls.unwrap();
        assert_eq!(tls.certificate, PathBuf::from("/etc/ndb/tls/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/ndb/tls/key.pem"));
    } else {
        assert!(tls.unwrap_err().starts_with("tls: this ndb-server was built without TLS support"));
    }
}

#[test]
fn user_errors_name_the_member() {
    let cases = [
        (r#"{"version":5,"users":{}}"#, "users: must be an array (got {})"),
        (r#"{"version":5,"users":[1]}"#, "users[0]: must be an object with name, role and passwordSha256"),
        (r#"{"version":5,"users":[{"role":"read","password":"x"}]}"#, "users[0].name: is required"),
        (r#"{"version":5,"users":[{"name":"a","password":"x"}]}"#, "users[0].role: is required"),
        (
            r#"{"version":5,"users":[{"name":"a","role":"root","password":"x"}]}"#,
            "users[0].role: must be read, write or admin",
        ),
        (r#"{"version":5,"users":[{"name":"a","role":"read"}]}"#, "users[0].passwordSha256: is required"),
        (
            r#"{"version":5,"users":[{"name":"a","role":"read","passwordSha256":"ab"}]}"#,
            "users[0].passwordSha256: the password's SHA-256 must be 64 hexadecimal digits",
        ),
        (
            r#"{"version":5,"users":[{"name":"a","role":"read","password":"x","passwordSha256":"ab"}]}"#,
            "users[0]: give passwordSha256 or password, not both",
        ),
        (
            r#"{"version":5,"users":[{"name":"a:b","role":"read","password":"x"}]}"#,
            "users[0].name: a user name must not hold ':'",
        ),
        (
            r#"{"version":5,"users":[{"name":"a","role":"read","password":1}]}"#,
            "users[0].password: must be a string (got 1)",
        ),
        (
            r#"{"version":5,"users":[{"name":"a","role":"read","password":"x"},{"name":"a","role":"admin","password":"y"}]}"#,
            "users: user \"a\" is given twice",
        ),
        (r#"{"version":5,"protectedMode":"no"}"#, "protectedMode: must be true or false"),
        (r#"{"version":5,"tls":{"certificate":"c.pem"}}"#, "tls.key: is required"),
        (r#"{"version":5,"tls":{"certificate":"","key":"k.pem"}}"#, "tls.certificate: is required"),
    ];
    for (text, expected) in cases {
        let err = apply(text).unwrap_err();
        assert!(err.starts_with(expected), "{text}: {err}");
    }
}

#[test]
fn the_memory_cap_and_job_cap_are_read_and_checked() {
    assert_eq!(Config::default().max_memory, None, "unlimited by default");
    assert_eq!(Config::default().max_jobs, crate::store::DEFAULT_MAX_JOBS);
    let read = |value: &str| apply(&format!(r#"{{"version":5,"maxMemory":{value}}}"#)).map(|c| c.max_memory);
    assert_eq!(read("1048576"), Ok(Some(1 << 20)));
    assert_eq!(read(r#""256kb""#), Ok(Some(256 << 10)));
    assert_eq!(read(r#""512 MB""#), Ok(Some(512 << 20)));
    assert_eq!(read(r#""4gb""#), Ok(Some(4 << 30)));
    assert_eq!(read("0"), Ok(None), "0: unlimited");
    assert_eq!(read("null"), Ok(None));
    let err = read(r#""lots""#).unwrap_err();
    assert!(err.starts_with("maxMemory: must be a number of bytes, optionally with kb, mb or gb"), "{err}");
    assert!(read("1.5").unwrap_err().starts_with("maxMemory: must be a whole number of bytes"));
    assert!(read("true").unwrap_err().starts_with("maxMemory: must be a number of bytes or a string"));
    assert!(read(r#""99999999999999gb""#).is_err(), "overflow is refused");
    assert_eq!(apply(r#"{"version":5,"maxJobs":2}"#).unwrap().max_jobs, 2);
    assert!(apply(r#"{"version":5,"maxJobs":0}"#).unwrap_err().starts_with("maxJobs: must be a positive integer"));
}

#[test]
fn unknown_members_are_named_with_the_nearest_known_one() {
    let text = r#"{"version":5,"maxPayLoad":100,"idle_timeout":3,"sessionsEnabled":true,
        "arrays":{"maxCapacity":1},"lists":{"maxResponseSize":1},"zzz":1,
        "persist":{"enabled":true,"pth":"d"},"tls":{"certificate":"c","key":"k","chain":"x"},
        "users":[{"name":"a","role":"read","password":"p","rol":"x"}]}"#;
    let root: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    let mut warnings = super::unknown_members(&root);
    warnings.sort();
    assert_eq!(
        warnings,
        [
            r#"member "arrays" ignored: version 5 files have no arrays or lists sections (use "version": 6, or the flags --array-max-capacity, --array-max-response-size, --list-max-response-size)"#,
            r#"member "lists" ignored: version 5 files have no arrays or lists sections (use "version": 6, or the flags --array-max-capacity, --array-max-response-size, --list-max-response-size)"#,
            r#"unknown member "idle_timeout" ignored (the nearest known one is "idleTimeout")"#,
            r#"unknown member "maxPayLoad" ignored (the nearest known one is "maxPayload")"#,
            r#"unknown member "persist.pth" ignored (the nearest known one is "persist.path")"#,
            r#"unknown member "tls.chain" ignored (the nearest known one is "tls.key")"#,
            r#"unknown member "users[0].rol" ignored (the nearest known one is "users[0].role")"#,
            r#"unknown member "zzz" ignored (the nearest known one is "ip")"#,
        ]
    );
    // Version 6 reads its arrays and lists sections: a misspelt member of
    // theirs is named; a version 5 file ignores the sections, and says so.
    let text = r#"{"version":6,"arrays":{"maxCapacity":1,"maxCapasity":2},"lists":{"maxResponse":1},
        "list":{"maxResponseSize":1}}"#;
    let root: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    let mut warnings = super::unknown_members(&root);
    warnings.sort();
    assert_eq!(
        warnings,
        [
            r#"unknown member "arrays.maxCapasity" ignored (the nearest known one is "arrays.maxCapacity")"#,
            r#"unknown member "list" ignored (the nearest known one is "lists")"#,
            r#"unknown member "lists.maxResponse" ignored (the nearest known one is "lists.maxResponseSize")"#,
        ]
    );
    let (config, warnings) = Config::default().apply_document(r#"{"version":5,"arrays":{"maxCapacity":7}}"#).unwrap();
    assert_eq!(config.array_max_capacity, 10_000, "version 5 reads no arrays section");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].starts_with(r#"member "arrays" ignored: version 5 files have no arrays or lists"#));
    let clean = r#"{"version":6,"core":0,"persist":{"enabled":false,"path":"d","saveOnExit":"a","loadOnStart":"a"},
        "slowLogThreshold":0.5,"slowLogLength":3,"arrays":{"maxCapacity":5,"maxResponseSize":6},
        "lists":{"maxResponseSize":7}}"#;
    let (config, warnings) = Config::default().apply_document(clean).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.load_on_start.as_deref(), Some("a"));
    assert_eq!(config.slow_log_threshold, Some(std::time::Duration::from_millis(500)));
    assert_eq!(config.slow_log_length, 3);
    assert_eq!((config.array_max_capacity, config.array_max_response_size, config.list_max_response_size), (5, 6, 7));
    assert!(apply(r#"{"version":5,"slowLogLength":10001}"#).unwrap_err().contains("slowLogLength: must be from 0"));
}

#[test]
fn scheduled_saves_are_read_as_one_rule_or_several() {
    let rule = |seconds, changes| SaveRule { every: Duration::from_secs(seconds), changes };
    let config = apply(r#"{"version":6,"persist":{"saveEvery":{"seconds":300,"changes":100}}}"#).unwrap();
    assert_eq!(config.save_every, [rule(300, 100)]);
    assert_eq!((config.save_name.as_str(), config.save_keep), (DEFAULT_SAVE_NAME, DEFAULT_SAVE_KEEP));
    let config = apply(
        r#"{"version":6,"persist":{"saveName":"nightly","keep":2,
            "saveEvery":[{"seconds":900,"changes":1},{"seconds":60}]}}"#,
    )
    .unwrap();
    assert_eq!(config.save_every, [rule(900, 1), rule(60, 0)]);
    assert_eq!((config.save_name.as_str(), config.save_keep), ("nightly", 2));
    for (text, error) in [
        (r#"{"saveEvery":5}"#, "persist.saveEvery: must be an object"),
        (r#"{"saveEvery":[{"seconds":0}]}"#, "persist.saveEvery: rule 0: \"seconds\" must be a whole number"),
        (r#"{"saveEvery":[{"seconds":1},{"secs":1}]}"#, "persist.saveEvery: rule 1: unknown member \"secs\""),
        (r#"{"saveEvery":{"seconds":1,"changes":-1}}"#, "rule 0: \"changes\" must be a non-negative integer"),
        (r#"{"saveName":"a/b"}"#, "persist.saveName: must be a save name"),
        (r#"{"keep":0}"#, "persist.keep: must be at least 1"),
        (r#"{"enabled":false,"saveEvery":{"seconds":1}}"#, "persist.saveEvery: needs persist.enabled"),
    ] {
        let err = apply(&format!(r#"{{"version":6,"persist":{text}}}"#)).unwrap_err();
        assert!(err.contains(error), "{text}: {err}");
    }
    let many: Vec<String> = (1..=17).map(|s| format!(r#"{{"seconds":{s}}}"#)).collect();
    let err = apply(&format!(r#"{{"version":6,"persist":{{"saveEvery":[{}]}}}}"#, many.join(","))).unwrap_err();
    assert!(err.contains("at most 16 rules"), "{err}");
}

#[test]
fn the_log_compaction_trigger_is_read_and_checked() {
    let log = Config::default().log;
    assert_eq!((log.rewrite_percent, log.rewrite_min_size), (100, 64 << 20), "Redis's defaults");
    let read = |members: &str| {
        apply(&format!(r#"{{"version":5,"persist":{{"path":"d","log":{{"enabled":true,{members}}}}}}}"#)).map(|c| c.log)
    };
    let log = read(r#""rewritePercent":50,"rewriteMinSize":"16mb""#).unwrap();
    assert_eq!((log.rewrite_percent, log.rewrite_min_size), (50, 16 << 20));
    assert_eq!(read(r#""rewriteMinSize":4096"#).unwrap().rewrite_min_size, 4096);
    assert_eq!(read(r#""rewritePercent":0"#).unwrap().rewrite_percent, 0, "0: never");
    let err = read(r#""rewriteMinSize":"lots""#).unwrap_err();
    assert!(err.starts_with("persist.log.rewriteMinSize: must be a number of bytes"), "{err}");
    assert!(read(r#""rewriteMinSize":true"#).unwrap_err().starts_with("persist.log.rewriteMinSize: must be"));
    assert!(read(r#""rewritePercent":-1"#).unwrap_err().starts_with("persist.log.rewritePercent"));
}
