//! Support for tests of saves: throwaway persist directories, the
//! original's fixtures, and replies with their `duration` taken out.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh (emptied) directory name with `tag` in it; created by
    /// whoever writes into it first.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ndb-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The saves written by the original NemesisDB, committed with the
/// library's tests (`tests/fixtures/original-saves` at the workspace root).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/original-saves")
}

/// A reply with its `duration` member replaced by 0, after checking it is
/// an unsigned integer; the reply text must be compact JSON.
pub fn without_duration(reply: &str) -> String {
    let Some(start) = reply.find("\"duration\":") else { return reply.to_owned() };
    let digits = &reply[start + 11..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    assert!(end > 0, "duration is not an unsigned integer: {reply}");
    format!("{}\"duration\":0{}", &reply[..start], &digits[end..])
}

/// The stamp directories under `<root>/<name>`, oldest first.
pub fn stamps(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(name))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())));
    found.sort();
    found
}
