//! Saves and loads against real directories: round trips, the format byte
//! for byte, the original's fixtures, leftovers of crashes, and corruption.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::protocol::Expiry;
use crate::store::{Entry, Loaded, SessionRecord};

/// A directory removed when the test ends.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ndb-persist-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/original-saves")
}

pub(super) fn kv(pairs: &[(&str, &str)]) -> Snapshot {
    Snapshot::Kv(pairs.iter().map(|(k, v)| Entry::new(k, v)).collect())
}

fn members(snapshot: &Snapshot) -> Vec<String> {
    match snapshot {
        Snapshot::Kv(entries) => entries.iter().map(|e| String::from_utf8(e.member_json().to_vec()).unwrap()).collect(),
        Snapshot::Sessions(_) => panic!("not a KV snapshot"),
    }
}

pub(super) fn loaded(loaded: &Loaded) -> Vec<String> {
    match loaded {
        Loaded::Kv { map, .. } => members(&Snapshot::Kv(map.snapshot())),
        Loaded::Sessions(_) => panic!("not a KV load"),
    }
}

fn records(loaded: Loaded) -> Vec<SessionRecord> {
    match loaded {
        Loaded::Sessions(records) => records,
        Loaded::Kv { .. } => panic!("not a session load"),
    }
}

/// The stamps under the name directory `dir`, newest first, as paths.
fn stamp_paths(dir: &Path) -> Vec<(u64, PathBuf)> {
    let stamps = files::stamps(&Dir::open(dir).unwrap()).unwrap();
    stamps.into_iter().map(|(stamp, name, _)| (stamp, dir.join(name))).collect()
}

/// The stamp directories under the name directory `dir`, newest first.
pub(super) fn stamps_of(dir: &Path) -> Vec<PathBuf> {
    stamp_paths(dir).into_iter().map(|s| s.1).collect()
}

fn only_stamp(dir: &Path) -> PathBuf {
    let stamps = stamp_paths(dir);
    assert_eq!(stamps.len(), 1, "{stamps:?}");
    stamps[0].1.clone()
}

const AWKWARD_KEYS: [&str; 6] = ["plain", "q\"uote", "back\\slash", "żółw ☃ 𝄞", "new\nline\u{1}", ""];

#[test]
fn kv_round_trip_keeps_every_key_value_and_order() {
    let dir = TempDir::new("kv");
    let values = ["null", "true", "-1.5e3", "18446744073709551615", "\"s\\\"\\u00e9\"", "{ \"a\" : [1, {}] }"];
    let pairs: Vec<(&str, &str)> = AWKWARD_KEYS.iter().copied().zip(values).collect();
    let snapshot = kv(&pairs);
    save(&dir.0, "nightly", &snapshot).unwrap();
    let (got, _) = load(&dir.0, "nightly", SaveKind::Kv).unwrap();
    assert_eq!(loaded(&got), members(&snapshot));

    let stamp = only_stamp(&dir.0.join("nightly"));
    let text = fs::read_to_string(stamp.join("data/0")).unwrap();
    assert!(text.starts_with("{ \"keys\":{\"plain\":null,\"q\\\"uote\":true,"), "{text}");
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("a data file is valid JSON");
    assert_eq!(parsed["keys"]["back\\slash"], serde_json::json!(-1500.0));
    let md: serde_json::Value = serde_json::from_slice(&fs::read(stamp.join("md/md.json")).unwrap()).unwrap();
    assert_eq!(md["name"], "nightly");
    assert_eq!(
        (md["saveDataType"].as_u64(), md["status"].as_u64(), md["version"].as_u64()),
        (Some(0), Some(1), Some(2))
    );
    assert!(md["start"].as_u64().unwrap() <= md["complete"].as_u64().unwrap());
    let names: Vec<&String> = md.as_object().unwrap().keys().collect();
    assert_eq!(names, ["complete", "name", "saveDataType", "start", "status", "version"]);
}

#[test]
fn session_round_trip_keeps_tokens_settings_and_keys() {
    let dir = TempDir::new("sh");
    let never = Expiry::default();
    let expiring = Expiry { duration: 600, delete_session: true, extend_on_get: false, extend_on_set_add: true };
    let saved = vec![
        SessionRecord {
            token: u64::MAX,
            expiry: never,
            keys: AWKWARD_KEYS.iter().map(|k| Entry::new(k, "[1]")).collect(),
        },
        SessionRecord { token: 7, expiry: expiring, keys: Vec::new() },
    ];
    save(&dir.0, "s", &Snapshot::Sessions(saved.clone())).unwrap();
    let (got, _) = load(&dir.0, "s", SaveKind::Sessions).unwrap();
    assert_eq!(records(got), saved);
    let text = fs::read_to_string(only_stamp(&dir.0.join("s")).join("data/0")).unwrap();
    assert!(text.ends_with(
        r#"{"keys":{},"sh":{"expiry":{"deleteSession":true,"duration":600,"extendOnGet":false,"extendOnSetAdd":true},"shared":false,"tkn":7}}]"#
    ), "{text}");
}

#[test]
fn big_saves_split_into_files_of_about_ten_mib() {
    let dir = TempDir::new("split");
    let value = format!("\"{}\"", "v".repeat(1000));
    let keys: Vec<String> = (0..25_000).map(|i| format!("key{i}")).collect();
    let snapshot = Snapshot::Kv(keys.iter().map(|k| Entry::new(k, &value)).collect());
    save(&dir.0, "big", &snapshot).unwrap();
    let data = only_stamp(&dir.0.join("big")).join("data");
    let names = files::data_files(&Dir::open(&data).unwrap()).unwrap();
    let sizes: Vec<u64> = names.iter().map(|n| data.join(n).metadata().unwrap().len()).collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes[..2].iter().all(|&s| (DATA_FILE_BYTES as u64..DATA_FILE_BYTES as u64 + 2048).contains(&s)));
    let (got, _) = load(&dir.0, "big", SaveKind::Kv).unwrap();
    assert_eq!(loaded(&got), members(&snapshot));
}

#[test]
fn empty_saves_have_an_empty_data_directory_and_load() {
    let dir = TempDir::new("empty");
    save(&dir.0, "e", &Snapshot::Kv(Vec::new())).unwrap();
    save(&dir.0, "f", &Snapshot::Sessions(Vec::new())).unwrap();
    let data = only_stamp(&dir.0.join("e")).join("data");
    assert_eq!(fs::read_dir(&data).unwrap().count(), 0);
    assert_eq!(load(&dir.0, "e", SaveKind::Kv).unwrap().0.key_count(), 0);
    assert!(records(load(&dir.0, "f", SaveKind::Sessions).unwrap().0).is_empty());
}

#[test]
fn the_persist_directory_is_created_on_first_save() {
    let dir = TempDir::new("create");
    let root = dir.0.join("a/b");
    save(&root, "n", &kv(&[("k", "1")])).unwrap();
    assert!(root.join("n").is_dir());
}

#[test]
fn newest_complete_save_of_the_kind_wins() {
    let dir = TempDir::new("newest");
    save(&dir.0, "n", &kv(&[("v", "1")])).unwrap();
    save(&dir.0, "n", &kv(&[("v", "2")])).unwrap();
    save(&dir.0, "n", &Snapshot::Sessions(Vec::new())).unwrap();
    let stamps = stamp_paths(&dir.0.join("n"));
    assert_eq!(stamps.len(), 3);
    assert!(stamps[0].0 > stamps[1].0 && stamps[1].0 > stamps[2].0);
    assert_eq!(loaded(&load(&dir.0, "n", SaveKind::Kv).unwrap().0), ["\"v\":2"]);
    assert!(matches!(load(&dir.0, "n", SaveKind::Sessions), Ok((Loaded::Sessions(_), _))));
    // A stamp in the future (the clock was set back since) still loses to
    // a new save.
    let future = dir.0.join("n").join("9000000000000000000");
    fs::rename(&stamps[1].1, &future).unwrap();
    assert_eq!(loaded(&load(&dir.0, "n", SaveKind::Kv).unwrap().0), ["\"v\":2"]);
    save(&dir.0, "n", &kv(&[("v", "3")])).unwrap();
    assert!(dir.0.join("n").join("9000000000000000001").is_dir());
    assert_eq!(loaded(&load(&dir.0, "n", SaveKind::Kv).unwrap().0), ["\"v\":3"]);
}

#[test]
fn wrong_kind_or_unknown_name_is_no_save() {
    let dir = TempDir::new("kind");
    save(&dir.0, "kv", &kv(&[("a", "1")])).unwrap();
    assert!(matches!(load(&dir.0, "kv", SaveKind::Sessions), Err(LoadFailure::NoSave(_))));
    assert!(matches!(load(&dir.0, "nope", SaveKind::Kv), Err(LoadFailure::NoSave(_))));
    assert!(matches!(load(&dir.0.join("missing-root"), "kv", SaveKind::Kv), Err(LoadFailure::NoSave(_))));
}

#[test]
fn leftovers_of_a_crash_are_never_loaded_and_are_cleaned_up() {
    let dir = TempDir::new("crash");
    save(&dir.0, "n", &kv(&[("v", "\"good\"")])).unwrap();
    let name_dir = dir.0.join("n");
    let good = only_stamp(&name_dir);
    // A partial save with newer, complete-looking contents.
    let partial = name_dir.join(format!("{}{}", u64::MAX - 1, files::PARTIAL_SUFFIX));
    copy_dir(&good, &partial);
    fs::write(partial.join("data/0"), "{ \"keys\":{\"v\":\"partial\"}}").unwrap();
    // An original-style interrupted save: newer, status 0, and one with no md.json.
    let pending = name_dir.join((u64::MAX - 2).to_string());
    copy_dir(&good, &pending);
    let md = fs::read_to_string(pending.join("md/md.json")).unwrap().replace("\"status\":1", "\"status\":0");
    fs::write(pending.join("md/md.json"), md).unwrap();
    let bare = name_dir.join((u64::MAX - 3).to_string());
    fs::create_dir_all(bare.join("data")).unwrap();
    assert_eq!(loaded(&load(&dir.0, "n", SaveKind::Kv).unwrap().0), ["\"v\":\"good\""]);
    save(&dir.0, "n", &kv(&[("v", "\"next\"")])).unwrap();
    assert!(!partial.exists(), "the next save removes the partial directory");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn corrupt_files_fail_the_whole_load() {
    let dir = TempDir::new("corrupt");
    let value = format!("\"{}\"", "x".repeat(1000));
    let keys: Vec<String> = (0..12_000).map(|i| format!("k{i}")).collect();
    save(&dir.0, "n", &Snapshot::Kv(keys.iter().map(|k| Entry::new(k, &value)).collect())).unwrap();
    let stamp = only_stamp(&dir.0.join("n"));
    let last = stamp.join("data/1");
    let bytes = fs::read(&last).unwrap();
    fs::write(&last, &bytes[..bytes.len() / 2]).unwrap();
    match load(&dir.0, "n", SaveKind::Kv) {
        Err(LoadFailure::Data(PersistError::Corrupt { path, problem })) => {
            assert_eq!(path, stamp.join("data/1"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    for garbage in ["", "{", "[]", "{\"keys\":[]}", "{\"other\":{}}"] {
        fs::write(&last, garbage).unwrap();
        assert!(matches!(load(&dir.0, "n", SaveKind::Kv), Err(LoadFailure::Data(_))), "{garbage:?}");
    }
    fs::write(stamp.join("md/md.json"), "garbage").unwrap();
    match load(&dir.0, "n", SaveKind::Kv) {
        Err(LoadFailure::NoSave(PersistError::Corrupt { path, .. })) => assert_eq!(path, stamp.join("md/md.json")),
        other => panic!("{other:?}"),
    }
    fs::write(stamp.join("md/md.json"), r#"{"status":1,"saveDataType":9}"#).unwrap();
    assert!(matches!(load(&dir.0, "n", SaveKind::Kv), Err(LoadFailure::NoSave(PersistError::Corrupt { .. }))));
}

#[test]
fn data_files_and_metadata_that_are_not_utf8_are_refused() {
    let (mut entries, mut records) = (Vec::new(), Vec::new());
    let kv = b"{\"keys\":{\"k\":\"\xff\"}}";
    assert_eq!(format::parse_kv(kv, &mut entries).unwrap_err(), "not UTF-8 text (at byte 14)");
    let sessions = b"[{\"keys\":{\"\xc3\":1},\"sh\":{\"expiry\":{\"deleteSession\":false,\"duration\":0},\"tkn\":1}}]";
    assert!(format::parse_sessions(sessions, &mut records).unwrap_err().starts_with("not UTF-8 text"));
    let md = b"{\"status\":1,\"saveDataType\":0,\"x\":\"\x80\"}";
    assert!(format::parse_metadata(md).unwrap_err().starts_with("not valid metadata: not UTF-8 text"));
    assert!(entries.is_empty() && records.is_empty());
    format::parse_kv("{\"keys\":{\"é\":\"ü\"}}".as_bytes(), &mut entries).unwrap();
    assert_eq!(entries[0].key(), "é");
}

#[test]
fn session_records_need_token_duration_and_delete_flag() {
    let mut out = Vec::new();
    for bad in [
        r#"[{"keys":{},"sh":{"expiry":{"deleteSession":false},"tkn":1}}]"#,
        r#"[{"keys":{},"sh":{"expiry":{"duration":0},"tkn":1}}]"#,
        r#"[{"keys":{},"sh":{"expiry":{"deleteSession":false,"duration":0}}}]"#,
        r#"[{"keys":{},"sh":{"expiry":{"deleteSession":false,"duration":0},"tkn":-1}}]"#,
        r#"{"keys":{}}"#,
    ] {
        assert!(format::parse_sessions(bad.as_bytes(), &mut out).is_err(), "{bad}");
    }
    assert!(out.is_empty());
}

#[test]
fn the_originals_kv_save_loads_exactly() {
    let (got, _) = load(&fixtures(), "kv_sample", SaveKind::Kv).unwrap();
    assert_eq!(
        loaded(&got),
        [
            r#""big":18446744073709551615"#,
            r#""enabled":true"#,
            r#""nothing":null"#,
            r#""password":"billy_passy""#,
            r#""ratio":1.5"#,
            r#""server_port":1987"#,
            r#""server_users":{"admins":["user1","user2"],"banned":["user3"]}"#,
            r#""tags":["a","b",3]"#,
            r#""unicode":"żółw ☃ 𝄞""#,
            r#""username":"billy""#,
        ]
    );
    assert!(matches!(load(&fixtures(), "kv_sample", SaveKind::Sessions), Err(LoadFailure::NoSave(_))));
}

#[test]
fn the_originals_session_saves_load_exactly() {
    let expiry = |duration, delete_session, extend_on_get, extend_on_set_add| Expiry {
        duration,
        delete_session,
        extend_on_get,
        extend_on_set_add,
    };
    let keys = |pairs: &[(&str, &str)]| -> Vec<Entry> { pairs.iter().map(|(k, v)| Entry::new(k, v)).collect() };
    let ann = SessionRecord {
        token: 7711818061385558871,
        expiry: expiry(0, false, false, false),
        keys: keys(&[("cart", "[3,5]"), ("user", r#"{"age":31,"name":"ann"}"#)]),
    };
    let otp = SessionRecord {
        token: 14479067358851019227,
        expiry: expiry(600, true, false, true),
        keys: keys(&[("otp", "\"123456\"")]),
    };
    let device = SessionRecord {
        token: 7613396276306151991,
        expiry: expiry(3600, false, true, false),
        keys: keys(&[("device", "\"sensor-7\""), ("readings", "[1.25,2.5]")]),
    };
    let sample = records(load(&fixtures(), "sessions_sample", SaveKind::Sessions).unwrap().0);
    assert_eq!(sample, [ann.clone(), otp, device.clone()]);
    let selected = records(load(&fixtures(), "sessions_selected", SaveKind::Sessions).unwrap().0);
    assert_eq!(selected, [ann, device]);
    let v06 = records(load(&fixtures(), "sessions_v06_style", SaveKind::Sessions).unwrap().0);
    assert_eq!(
        v06,
        [
            SessionRecord {
                token: 1234567890123,
                expiry: expiry(120, true, false, false),
                keys: keys(&[("user", "\"ann\"")])
            },
            SessionRecord {
                token: 9876543210,
                expiry: expiry(0, false, false, false),
                keys: keys(&[("a", "1"), ("b", "[true,null]")])
            },
        ]
    );
    assert!(matches!(load(&fixtures(), "sessions_sample", SaveKind::Kv), Err(LoadFailure::NoSave(_))));
}

#[test]
fn startup_load_reads_each_kind_the_name_holds() {
    let got = load_at_start(&fixtures(), "kv_sample").unwrap();
    assert_eq!(got.kv.map(|s| s.key_count()), Some(10));
    assert!(got.sessions.is_none());
    let dir = TempDir::new("startup");
    save(&dir.0, "exit", &kv(&[("a", "1")])).unwrap();
    save(
        &dir.0,
        "exit",
        &Snapshot::Sessions(vec![SessionRecord { token: 5, expiry: Expiry::default(), keys: Vec::new() }]),
    )
    .unwrap();
    let got = load_at_start(&dir.0, "exit").unwrap();
    assert_eq!((got.kv.map(|s| s.key_count()), got.sessions.map(records).map(|r| r.len())), (Some(1), Some(1)));
    match load_at_start(&dir.0, "nope") {
        Err(PersistError::NoSave { root, name, kind: None }) => {
            assert_eq!((root, name.as_str()), (dir.0.clone(), "nope"))
        }
        other => panic!("{other:?}"),
    }
    for name in ["../x", "", ".", "a/b", "nul\0"] {
        match load_at_start(&dir.0, name) {
            Err(e @ PersistError::InvalidName { .. }) => assert!(e.to_string().contains("not a valid save name")),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    let missing = dir.0.join("missing");
    match load_at_start(&missing, "exit") {
        Err(PersistError::Io { op: PersistOp::OpenDir, path, source }) => {
            assert_eq!((path, source.kind()), (missing, std::io::ErrorKind::NotFound));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_save_that_cannot_create_its_directory_fails_without_trace() {
    let dir = TempDir::new("nodir");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(dir.0.join("file"), "not a directory").unwrap();
    let root = dir.0.join("file");
    match save(&root, "n", &kv(&[("a", "1")])) {
        Err(SaveFailure::Directory(PersistError::Io { op: PersistOp::OpenDir, path, source })) => {
            assert_eq!(path, root);
            assert_eq!(source.raw_os_error(), Some(libc::ENOTDIR), "{source}");
        }
        other => panic!("{other:?}"),
    }
}

/// A writer whose disk is full.
struct FullDisk;

impl std::io::Write for FullDisk {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the rest of the calling thread's file-system checks as user
/// `nobody` while it lives, if the process runs as root (which permission
/// bits do not stop): `setfsuid` is per thread on Linux, and dropping the
/// file-system uid from 0 drops the capabilities that override them.
struct AsNobody(bool);

impl AsNobody {
    #[cfg(not(target_os = "linux"))]
    fn new() -> AsNobody {
        AsNobody(false)
    }

    #[cfg(target_os = "linux")]
    fn new() -> AsNobody {
        // SAFETY: geteuid and setfsuid only read and set the calling
        // thread's credentials.
        unsafe {
            if libc::geteuid() != 0 {
                return AsNobody(false);
            }
            libc::setfsuid(65534);
            AsNobody(libc::setfsuid(u32::MAX) == 65534)
        }
    }
}

impl Drop for AsNobody {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.0 {
            // SAFETY: back to root's file-system uid on this thread.
            unsafe { libc::setfsuid(0) };
        }
    }
}

#[test]
fn a_full_disk_and_a_permission_error_are_told_apart() {
    use std::os::unix::fs::PermissionsExt;
    // A full disk: the write step, on the file being written.
    let path = Path::new("/saves/n/1.partial/data/0");
    let full = files::write_chunks(&mut FullDisk, b"{ \"keys\":{}}", path, |_| {}).unwrap_err();
    assert_eq!(full.op(), Some(PersistOp::Write));
    assert_eq!(full.path(), Some(path));
    assert_eq!(full.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::StorageFull));
    assert!(full.to_string().starts_with("cannot write /saves/n/1.partial/data/0"), "{full}");

    // No permission: creating the name's directory, in a persist path the
    // server may read but not write.
    let dir = TempDir::new("denied");
    fs::create_dir_all(&dir.0).unwrap();
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o555)).unwrap();
    let denied = {
        let _nobody = AsNobody::new();
        save(&dir.0, "n", &kv(&[("a", "1")]))
    };
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
    let Err(SaveFailure::Directory(denied)) = denied else { panic!("{denied:?}") };
    assert_eq!(denied.op(), Some(PersistOp::CreateDir));
    assert_eq!(denied.path(), Some(dir.0.join("n").as_path()));
    assert_eq!(denied.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::PermissionDenied));
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 0);
}

/// The variable that makes [`file_size_limit_child`] run, naming its
/// persist path.
const FSIZE_CHILD: &str = "NDB_TEST_FSIZE_CHILD_DIR";

/// Largest file the child may write: room for `md.json`, not for the data.
const FSIZE_LIMIT: libc::rlim_t = 4096;

#[test]
fn a_file_size_limit_fails_the_data_write_and_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("fsize");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "persist::tests::file_size_limit_child", "--include-ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(FSIZE_CHILD, &dir.0);
    // SAFETY: setrlimit and signal are async-signal-safe; they run in the
    // child between fork and exec, and both settings survive the exec.
    unsafe {
        child.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: FSIZE_LIMIT, rlim_max: FSIZE_LIMIT };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Past the limit write() fails with EFBIG instead of the
            // process being killed.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("file size limit checked"), "the child ran: {stdout}");
}

/// The child of [`a_file_size_limit_fails_the_data_write_and_leaves_nothing`]:
/// saves under a file size limit.
#[test]
#[ignore = "run by a_file_size_limit_fails_the_data_write_and_leaves_nothing, under a file size limit"]
fn file_size_limit_child() {
    let Some(root) = std::env::var_os(FSIZE_CHILD).map(PathBuf::from) else { return };
    let value = format!("\"{}\"", "v".repeat(100));
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let snapshot = Snapshot::Kv(keys.iter().map(|k| Entry::new(k, &value)).collect());
    let Err(SaveFailure::Data { error, .. }) = save(&root, "n", &snapshot) else { panic!("the save must fail") };
    let Some(path) = error.path() else { panic!("{error:?}") };
    assert_eq!(error.op(), Some(PersistOp::Write), "{error:?}");
    assert!(path.starts_with(root.join("n")) && path.ends_with("data/0"), "{error:?}");
    assert!(path.parent().unwrap().parent().unwrap().to_str().unwrap().ends_with(files::PARTIAL_SUFFIX));
    let source = error.io_error().unwrap();
    assert_eq!((source.raw_os_error(), source.kind()), (Some(libc::EFBIG), std::io::ErrorKind::FileTooLarge));
    assert_eq!(fs::read_dir(root.join("n")).unwrap().count(), 0, "the partial save is removed");
    // A save that fits still works.
    save(&root, "n", &kv(&[("a", "1")])).unwrap();
    assert_eq!(loaded(&load(&root, "n", SaveKind::Kv).unwrap().0), ["\"a\":1"]);
    println!("file size limit checked");
}

#[test]
fn a_file_of_many_write_back_pieces_is_written_whole() {
    let dir = TempDir::new("writeback");
    let root = files::Dir::create_root(&dir.0).unwrap();
    // Three pieces of write-back and a tail, none aligned to a chunk.
    let bytes: Vec<u8> = (0..3 * (1 << 20) + 12_345).map(|i| (i % 251) as u8).collect();
    root.write_new("big", &bytes).unwrap();
    assert_eq!(fs::read(dir.0.join("big")).unwrap(), bytes);
    let mut offsets = Vec::new();
    files::write_chunks(&mut Vec::new(), &bytes, Path::new("x"), |done| offsets.push(done)).unwrap();
    assert_eq!(offsets.len(), bytes.len().div_ceil(256 * 1024), "one call a chunk");
    assert_eq!(offsets.last(), Some(&bytes.len()));
}
