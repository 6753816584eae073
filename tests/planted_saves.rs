//! Entries planted inside the persist path, over the wire: a FIFO, a
//! socket, a link to a device, to outside or in a loop, a directory where
//! a file belongs, an oversized `md.json`. Each request gets its
//! documented status (122 for a save, 142 for a load, in the reply shape
//! of `docs/persistence.md`) without blocking, nothing outside the persist
//! path is read or written, and the next save and load on the same server
//! work: the save thread is never stuck.

mod common;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::saves::{TempDir, stamps, without_duration};

/// Every entry under `dir` (links not followed): a file's bytes, a link's
/// target, `None` for a directory.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.insert(path.clone(), None);
            found.extend(tree(&path));
        } else if meta.file_type().is_symlink() {
            found.insert(path.clone(), Some(fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec()));
        } else {
            found.insert(path.clone(), Some(fs::read(&path).unwrap()));
        }
    }
    found
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "{}", std::io::Error::last_os_error());
}

/// Removes whatever is at `path` (a link itself, not its target).
fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// One server saving into `saves/`, beside `outside/` holding a save `n`
/// written by another server.
struct Site {
    _dir: TempDir,
    saves: PathBuf,
    outside: PathBuf,
    before: BTreeMap<PathBuf, Option<Vec<u8>>>,
    server: common::TestServer,
    client: common::Client,
}

impl Site {
    fn new(tag: &str) -> Site {
        let dir = TempDir::new(tag);
        let saves = dir.path().join("saves");
        let outside = dir.path().join("outside");
        {
            let other = common::start_with(common::config().persist(true, &outside));
            let mut client = other.client();
            client.call(r#"{"KV_SET":{"keys":{"a":"outside","b":2}}}"#);
            assert!(client.call(r#"{"KV_SAVE":{"name":"n"}}"#).contains(r#""st":121"#));
            assert!(client.call(r#"{"SH_SAVE":{"name":"s"}}"#).contains(r#""st":121"#));
        }
        fs::write(outside.join("sentinel"), "untouched").unwrap();
        let before = tree(&outside);
        let server = common::start_with(common::config().persist(true, &saves));
        let client = server.client();
        Site { _dir: dir, saves, outside, before, server, client }
    }

    /// Sends `request` and checks its reply (`duration` compared as 0).
    fn expect(&mut self, request: &str, reply: &str) {
        assert_eq!(without_duration(&self.client.call(request)), reply, "{request}");
    }

    /// The newest stamp of `name` in the persist path.
    fn newest(&self, name: &str) -> PathBuf {
        stamps(&self.saves, name).pop().expect("a stamp")
    }

    fn outside_stamp(&self, name: &str) -> PathBuf {
        stamps(&self.outside, name).pop().expect("a stamp outside")
    }

    /// Nothing outside changed; a new save of `n` and its load work.
    fn recovers(&mut self, value: u32) {
        assert_eq!(tree(&self.outside), self.before, "nothing outside the persist path changed");
        self.client.call(&format!(r#"{{"KV_SET":{{"keys":{{"a":{value}}}}}}}"#));
        self.expect(r#"{"KV_SAVE":{"name":"n"}}"#, r#"{"KV_SAVE_RSP":{"duration":0,"name":"n","st":121}}"#);
        self.client.call(r#"{"KV_CLEAR":{}}"#);
        self.expect(
            r#"{"KV_LOAD":{"name":"n"}}"#,
            r#"{"KV_LOAD_RSP":{"duration":0,"keys":1,"name":"n","sessions":0,"st":141}}"#,
        );
        assert_eq!(
            self.client.call(r#"{"KV_GET":{"keys":["a"]}}"#),
            format!(r#"{{"KV_GET_RSP":{{"keys":{{"a":{value}}},"st":1}}}}"#)
        );
        assert_eq!(tree(&self.outside), self.before);
    }
}

const LOAD_NO_SAVE: &str = r#"{"KV_LOAD_RSP":{"name":"n","st":142}}"#;
const LOAD_BAD_DATA: &str = r#"{"KV_LOAD_RSP":{"duration":0,"keys":0,"name":"n","sessions":0,"st":142}}"#;

#[test]
fn planted_metadata_gets_142_and_the_next_save_and_load_work() {
    let mut site = Site::new("planted-md");
    site.recovers(1);
    type Plant = fn(&Site, &Path);
    let plants: [(&str, Plant); 6] = [
        ("fifo", |_, md| mkfifo(md)),
        ("link to /dev/zero", |_, md| symlink("/dev/zero", md).unwrap()),
        ("link outside", |s, md| symlink(s.outside_stamp("n").join("md/md.json"), md).unwrap()),
        ("link loop", |_, md| symlink("md.json", md).unwrap()),
        ("directory", |_, md| fs::create_dir(md).unwrap()),
        ("oversized", |_, md| {
            let mut text = fs::read(md).unwrap();
            text.resize(64 * 1024 + 1, b' ');
            fs::write(md, text).unwrap();
        }),
    ];
    for (i, (what, plant)) in plants.into_iter().enumerate() {
        let md = site.newest("n").join("md/md.json");
        if what != "oversized" {
            remove(&md);
        }
        plant(&site, &md);
        site.client.call(r#"{"KV_CLEAR":{}}"#);
        site.expect(r#"{"KV_LOAD":{"name":"n"}}"#, LOAD_NO_SAVE);
        assert_eq!(site.client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#, "{what}");
        site.recovers(i as u32 + 2);
    }
}

#[test]
fn planted_data_files_get_142_and_the_next_save_and_load_work() {
    let mut site = Site::new("planted-data");
    site.recovers(1);
    type Plant = fn(&Site, &Path);
    let plants: [(&str, Plant); 5] = [
        ("fifo", |_, f| mkfifo(f)),
        ("socket", |_, f| drop(std::os::unix::net::UnixListener::bind(f).unwrap())),
        ("link to /dev/zero", |_, f| symlink("/dev/zero", f).unwrap()),
        ("link outside", |s, f| symlink(s.outside_stamp("n").join("data/0"), f).unwrap()),
        ("directory", |_, f| fs::create_dir(f).unwrap()),
    ];
    for (i, (what, plant)) in plants.into_iter().enumerate() {
        let file = site.newest("n").join("data/0");
        remove(&file);
        plant(&site, &file);
        site.client.call(r#"{"KV_CLEAR":{}}"#);
        site.expect(r#"{"KV_LOAD":{"name":"n"}}"#, LOAD_BAD_DATA);
        assert_eq!(site.client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#, "{what}");
        site.recovers(i as u32 + 2);
    }
    // The same for a session save, in SH_LOAD's shape.
    site.client.call(r#"{"SH_NEW":{}}"#);
    site.expect(r#"{"SH_SAVE":{"name":"s"}}"#, r#"{"SH_SAVE_RSP":{"duration":0,"name":"s","st":121}}"#);
    let file = site.newest("s").join("data/0");
    remove(&file);
    mkfifo(&file);
    site.expect(r#"{"SH_LOAD":{"name":"s"}}"#, r#"{"SH_LOAD_RSP":{"keys":0,"name":"s","sessions":0,"st":142}}"#);
    site.recovers(10);
}

#[test]
fn a_planted_stamp_or_name_directory_never_leads_outside() {
    let mut site = Site::new("planted-dirs");
    site.recovers(1);
    // The newest stamp replaced by a link to the save outside.
    let stamp = site.newest("n");
    remove(&stamp);
    symlink(site.outside_stamp("n"), &stamp).unwrap();
    site.expect(r#"{"KV_LOAD":{"name":"n"}}"#, LOAD_NO_SAVE);
    site.recovers(2);

    // Name directories that are a link outside, a link loop, a FIFO.
    symlink(site.outside.join("n"), site.saves.join("away")).unwrap();
    symlink("loop", site.saves.join("loop")).unwrap();
    mkfifo(&site.saves.join("fifo"));
    for name in ["away", "loop", "fifo"] {
        site.expect(
            &format!(r#"{{"KV_SAVE":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"KV_SAVE_RSP":{{"name":"{name}","st":122}}}}"#),
        );
        site.expect(
            &format!(r#"{{"SH_SAVE":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"SH_SAVE_RSP":{{"name":"{name}","st":122}}}}"#),
        );
        site.expect(
            &format!(r#"{{"KV_LOAD":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"KV_LOAD_RSP":{{"name":"{name}","st":142}}}}"#),
        );
        site.expect(
            &format!(r#"{{"SH_LOAD":{{"name":"{name}"}}}}"#),
            &format!(r#"{{"SH_LOAD_RSP":{{"name":"{name}","st":142}}}}"#),
        );
    }
    let info = site.client.call_json(r#"{"SV_INFO":{}}"#);
    assert_eq!(info["SV_INFO_RSP"]["lastSave"]["status"], 122);
    site.recovers(3);

    // A partial save that is a link outside is removed, not followed.
    let partial = site.saves.join("n").join("9000000000000000000.partial");
    symlink(site.outside.join("n"), &partial).unwrap();
    site.recovers(4);
    assert!(fs::symlink_metadata(&partial).is_err(), "the planted partial entry is gone");
    assert_eq!(site.server.connections(), 1);
}
