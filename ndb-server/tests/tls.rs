//! TLS through the real `ndb-server` binary: the certificate reloaded on
//! SIGHUP while a client stays connected, new clients getting the new
//! certificate, and a broken pair keeping the last good one in use.

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::certs::Ca;
use common::saves::TempDir;
use ndb_client::{Client, Error};
use serde_json::json;

struct Tls {
    dir: TempDir,
    ca: Ca,
    cert: PathBuf,
    key: PathBuf,
}

fn tls(name: &str) -> Tls {
    let dir = TempDir::new(name);
    let ca = Ca::new(dir.path(), "test-ca");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    ca.issue(&cert, &key);
    Tls { dir, ca, cert, key }
}

fn client(ca: &Path, url: &str) -> Result<Client, Error> {
    Client::builder().ca_file(ca).connect(url)
}

/// A reload (SIGHUP) while a client stays connected: the client keeps its
/// session, new clients get the new certificate; a broken pair keeps the
/// old one in use.
#[test]
fn sighup_reloads_the_certificate_and_open_connections_stay() {
    let t = tls("tls-reload");
    let cert = t.cert.to_str().unwrap().to_owned();
    let key = t.key.to_str().unwrap().to_owned();
    let (mut child, addr, lines) = spawn(&["--tls-cert", &cert, "--tls-key", &key]);
    let url = format!("wss://127.0.0.1:{}/", addr.port());
    let mut stays = client(&t.ca.file, &url).unwrap();
    stays.kv_set(json!({"before": 1})).unwrap();

    let renewed = Ca::new(t.dir.path(), "renewed-ca");
    renewed.issue(&t.cert, &t.key);
    signal(&child, libc::SIGHUP);
    wait_for(&lines, "reloaded the TLS certificate");
    assert_eq!(stays.kv_get_one("before").unwrap(), Some(json!(1)), "the open connection stays");
    assert!(client(&t.ca.file, &url).is_err(), "new clients get the new certificate");
    let mut fresh = client(&renewed.file, &url).unwrap();
    assert_eq!(fresh.kv_count().unwrap(), 1);

    // A key that does not match: the reload fails, the last good pair stays.
    let stranger = Ca::new(t.dir.path(), "stranger-ca");
    let (other_cert, other_key) = (t.dir.path().join("other.pem"), t.dir.path().join("other-key.pem"));
    stranger.issue(&other_cert, &other_key);
    std::fs::copy(&other_key, &t.key).unwrap();
    signal(&child, libc::SIGHUP);
    wait_for(&lines, "still serving the previous certificate");
    let mut after = client(&renewed.file, &url).unwrap();
    assert_eq!(after.kv_count().unwrap(), 1);
    assert_eq!(stays.kv_count().unwrap(), 1);

    signal(&child, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn spawn(args: &[&str]) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndb-server"))
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .args(["--port", "0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ndb-server");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        if let Some(rest) = line.split("listening on wss://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, addr, rx)
}

fn wait_for(lines: &mpsc::Receiver<String>, text: &str) {
    loop {
        let line = lines.recv_timeout(common::TIMEOUT).unwrap_or_else(|_| panic!("no log line with {text:?}"));
        if line.contains(text) {
            return;
        }
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}
