//! Saves and loads with hostile entries planted inside the persist path:
//! FIFOs, sockets, devices, symbolic links (to outside, to a device, in a
//! loop) and directories where files belong. Each gets its documented
//! error without blocking, nothing outside the persist path is read or
//! written, and the next save and load work.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::tests::{TempDir, kv, loaded};
use super::*;

/// How long a save or load may take before the test calls it blocked.
const BLOCKED_AFTER: Duration = Duration::from_secs(10);

/// Every entry under `dir` (links not followed): a file's bytes, a link's
/// target, `None` for a directory.
type Tree = BTreeMap<PathBuf, Option<Vec<u8>>>;

fn tree(dir: &Path) -> Tree {
    let mut found = Tree::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            found.insert(path.clone(), None);
            found.extend(tree(&path));
        } else if meta.file_type().is_symlink() {
            found.insert(path.clone(), Some(fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec()));
        } else if meta.is_file() {
            found.insert(path.clone(), Some(fs::read(&path).unwrap()));
        } else {
            found.insert(path.clone(), Some(b"(special)".to_vec()));
        }
    }
    found
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "{}", std::io::Error::last_os_error());
}

fn socket(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
}

/// Plants a character device (the one `/dev/zero` is) at `path`; false
/// where this process may not create devices.
fn zero_device(path: &Path) -> bool {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; makedev only computes a number.
    unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) == 0 }
}

/// Removes whatever is at `path` (a link itself, not its target).
fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

/// Runs `f` on a thread of its own and fails the test if it takes longer
/// than [`BLOCKED_AFTER`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BLOCKED_AFTER).unwrap_or_else(|_| panic!("{what} blocked"))
}

/// A persist path holding one KV save `n` (`{"a":1}`), beside a directory
/// outside it holding a save of the same name with other contents.
struct Layout {
    _dir: TempDir,
    root: PathBuf,
    outside: PathBuf,
    /// The newest stamp directory of `root/n`.
    stamp: PathBuf,
    before: Tree,
}

impl Layout {
    fn new(tag: &str) -> Layout {
        let dir = TempDir::new(tag);
        let root = dir.0.join("saves");
        let outside = dir.0.join("outside");
        save(&root, "n", &kv(&[("a", "1")])).unwrap();
        save(&outside, "n", &kv(&[("a", "\"outside\"")])).unwrap();
        fs::write(outside.join("sentinel"), "untouched").unwrap();
        let stamp = super::tests::stamps_of(&root.join("n"))[0].clone();
        let before = tree(&outside);
        Layout { _dir: dir, root, outside, stamp, before }
    }

    fn outside_stamp(&self) -> PathBuf {
        super::tests::stamps_of(&self.outside.join("n"))[0].clone()
    }

    fn load(&self) -> Result<(Loaded, Duration), LoadFailure> {
        let root = self.root.clone();
        within("a load", move || load(&root, "n", SaveKind::Kv))
    }

    fn save(&self, value: &str) -> Result<Duration, SaveFailure> {
        let (root, snapshot) = (self.root.clone(), kv(&[("a", value)]));
        within("a save", move || save(&root, "n", &snapshot))
    }

    /// Nothing outside the persist path changed, and a save and a load of
    /// `n` work.
    fn check_untouched_and_recovers(&self, value: &str) {
        assert_eq!(tree(&self.outside), self.before, "nothing outside the persist path changed");
        self.save(value).unwrap();
        assert_eq!(loaded(&self.load().unwrap().0), [format!("\"a\":{value}")]);
        assert_eq!(tree(&self.outside), self.before);
    }
}

/// Plants an entry at a path; false if this process may not create it.
type Plant = fn(&Layout, &Path) -> bool;

/// Plants an entry as the name's directory.
type PlantDir = fn(&Layout, &Path);

/// The kind a `WrongKind` error found at `path`.
fn wrong_kind(e: &PersistError, path: &Path) -> (FileKind, FileKind) {
    match e {
        PersistError::WrongKind { path: at, expected, found } => {
            assert_eq!(at, path, "{e}");
            (*expected, *found)
        }
        other => panic!("expected WrongKind at {}: {other:?}", path.display()),
    }
}

/// The error of a load that could not choose a save.
fn no_save(result: Result<(Loaded, Duration), LoadFailure>) -> PersistError {
    match result {
        Err(LoadFailure::NoSave(e)) => e,
        other => panic!("expected LoadFailure::NoSave: {other:?}"),
    }
}

/// The error of a load whose data could not be read.
fn bad_data(result: Result<(Loaded, Duration), LoadFailure>) -> PersistError {
    match result {
        Err(LoadFailure::Data(e)) => e,
        other => panic!("expected LoadFailure::Data: {other:?}"),
    }
}

#[test]
fn planted_metadata_is_refused_without_being_opened() {
    let cases: [(&str, Plant, FileKind); 5] = [
        (
            "fifo",
            |_, md| {
                mkfifo(md);
                true
            },
            FileKind::Fifo,
        ),
        (
            "link-outside",
            |l, md| {
                symlink(l.outside_stamp().join("md/md.json"), md).unwrap();
                true
            },
            FileKind::Symlink,
        ),
        (
            "link-zero",
            |_, md| {
                symlink("/dev/zero", md).unwrap();
                true
            },
            FileKind::Symlink,
        ),
        (
            "link-loop",
            |_, md| {
                symlink("md.json", md).unwrap();
                true
            },
            FileKind::Symlink,
        ),
        (
            "directory",
            |_, md| {
                fs::create_dir(md).unwrap();
                true
            },
            FileKind::Directory,
        ),
    ];
    for (tag, plant, found) in cases {
        let layout = Layout::new(&format!("md-{tag}"));
        let md = layout.stamp.join("md/md.json");
        remove(&md);
        assert!(plant(&layout, &md));
        let e = no_save(layout.load());
        assert_eq!(wrong_kind(&e, &md), (FileKind::File, found), "{tag}");
        layout.check_untouched_and_recovers("2");
    }
}

#[test]
fn an_oversized_metadata_file_is_refused_before_it_is_read() {
    let layout = Layout::new("md-large");
    let md = layout.stamp.join("md/md.json");
    let mut text = fs::read(&md).unwrap();
    text.resize(MAX_METADATA_BYTES as usize + 1, b' ');
    fs::write(&md, &text).unwrap();
    match no_save(layout.load()) {
        PersistError::TooLarge { path, size, limit } => {
            assert_eq!((path, size, limit), (md.clone(), MAX_METADATA_BYTES + 1, MAX_METADATA_BYTES));
        }
        other => panic!("{other:?}"),
    }
    // At the limit it is read (and parses: JSON allows trailing spaces).
    text.truncate(MAX_METADATA_BYTES as usize);
    fs::write(&md, &text).unwrap();
    assert_eq!(loaded(&layout.load().unwrap().0), ["\"a\":1"]);
    layout.check_untouched_and_recovers("3");
}

#[test]
fn planted_data_files_are_refused_without_being_opened() {
    let cases: [(&str, Plant, FileKind); 6] = [
        (
            "fifo",
            |_, f| {
                mkfifo(f);
                true
            },
            FileKind::Fifo,
        ),
        (
            "socket",
            |_, f| {
                socket(f);
                true
            },
            FileKind::Socket,
        ),
        (
            "link-outside",
            |l, f| {
                symlink(l.outside_stamp().join("data/0"), f).unwrap();
                true
            },
            FileKind::Symlink,
        ),
        (
            "link-zero",
            |_, f| {
                symlink("/dev/zero", f).unwrap();
                true
            },
            FileKind::Symlink,
        ),
        (
            "directory",
            |_, f| {
                fs::create_dir(f).unwrap();
                true
            },
            FileKind::Directory,
        ),
        ("device", |_, f| zero_device(f), FileKind::CharDevice),
    ];
    for (tag, plant, found) in cases {
        let layout = Layout::new(&format!("data-{tag}"));
        let file = layout.stamp.join("data/0");
        remove(&file);
        if !plant(&layout, &file) {
            eprintln!("{tag}: this process may not create devices; case skipped");
            continue;
        }
        let e = bad_data(layout.load());
        assert_eq!(wrong_kind(&e, &file), (FileKind::File, found), "{tag}");
        layout.check_untouched_and_recovers("4");
    }
}

#[test]
fn planted_save_directories_are_refused_not_followed() {
    // The stamp itself, its md/ and its data/.
    for (tag, target) in [("stamp", ""), ("md", "md"), ("data", "data")] {
        for link in [true, false] {
            let layout = Layout::new(&format!("dir-{tag}-{link}"));
            let at = if target.is_empty() { layout.stamp.clone() } else { layout.stamp.join(target) };
            remove(&at);
            let found = if link {
                let outside = layout.outside_stamp();
                symlink(if target.is_empty() { outside } else { outside.join(target) }, &at).unwrap();
                FileKind::Symlink
            } else {
                mkfifo(&at);
                FileKind::Fifo
            };
            let e = no_save(layout.load());
            assert_eq!(wrong_kind(&e, &at), (FileKind::Directory, found), "{tag}");
            layout.check_untouched_and_recovers("5");
        }
    }
}

#[test]
fn a_planted_name_directory_fails_saves_and_loads_and_nothing_leaves_the_persist_path() {
    let cases: [(&str, PlantDir, FileKind); 4] = [
        ("link-outside", |l, n| symlink(l.outside.join("n"), n).unwrap(), FileKind::Symlink),
        ("link-loop", |_, n| symlink("n", n).unwrap(), FileKind::Symlink),
        ("fifo", |_, n| mkfifo(n), FileKind::Fifo),
        ("file", |_, n| fs::write(n, "{}").unwrap(), FileKind::File),
    ];
    for (tag, plant, found) in cases {
        let layout = Layout::new(&format!("name-{tag}"));
        let name_dir = layout.root.join("n");
        remove(&name_dir);
        plant(&layout, &name_dir);
        match layout.save("6") {
            Err(SaveFailure::Directory(e)) => {
                assert_eq!(wrong_kind(&e, &name_dir), (FileKind::Directory, found), "{tag}");
            }
            other => panic!("{tag}: {other:?}"),
        }
        let e = no_save(layout.load());
        assert_eq!(wrong_kind(&e, &name_dir), (FileKind::Directory, found), "{tag}");
        assert_eq!(tree(&layout.outside), layout.before, "{tag}: nothing written outside");
        remove(&name_dir);
        layout.check_untouched_and_recovers("7");
    }
}

#[test]
fn planted_partial_entries_are_removed_without_following_them() {
    let layout = Layout::new("partial");
    let name_dir = layout.root.join("n");
    // A link to a directory outside, named as a partial save; a FIFO; and
    // a partial directory holding a link to outside.
    symlink(&layout.outside, name_dir.join(format!("9000000000000000000{}", files::PARTIAL_SUFFIX))).unwrap();
    mkfifo(&name_dir.join(format!("1{}", files::PARTIAL_SUFFIX)));
    let nested = name_dir.join(format!("2{}", files::PARTIAL_SUFFIX));
    fs::create_dir_all(nested.join("md")).unwrap();
    symlink(layout.outside.join("n"), nested.join("md/link")).unwrap();
    symlink(&layout.outside, nested.join("data")).unwrap();
    // Deeper than any save: left in place, the save goes on.
    let deep = name_dir.join(format!("3{}", files::PARTIAL_SUFFIX));
    fs::create_dir_all(deep.join("a/b/c/d/e/f/g/h/i")).unwrap();
    layout.save("8").unwrap();
    let mut left: Vec<String> = fs::read_dir(&name_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(files::PARTIAL_SUFFIX))
        .collect();
    left.sort();
    assert_eq!(left, [format!("3{}", files::PARTIAL_SUFFIX)], "every partial entry but the too deep one is gone");
    assert_eq!(loaded(&layout.load().unwrap().0), ["\"a\":8"]);
    assert_eq!(tree(&layout.outside), layout.before, "nothing outside was removed or written");
}

#[test]
fn a_persist_path_that_is_a_fifo_fails_without_blocking() {
    let dir = TempDir::new("root-fifo");
    fs::create_dir_all(&dir.0).unwrap();
    let root = dir.0.join("saves");
    mkfifo(&root);
    let (r, s) = (root.clone(), root.clone());
    match within("a save", move || save(&s, "n", &kv(&[("a", "1")]))) {
        Err(SaveFailure::Directory(PersistError::Io { op: PersistOp::OpenDir, path, source })) => {
            assert_eq!((path, source.raw_os_error()), (root.clone(), Some(libc::ENOTDIR)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(within("a load", move || load(&r, "n", SaveKind::Kv)), Err(LoadFailure::NoSave(_))));
}
