//! TLS (`wss://`) through real sockets, with certificates made at test
//! time: requests with the crate's client and with the Python clients'
//! library, big replies through the TLS layer's back-pressure, TLS 1.2 and
//! 1.3 only, `/healthz` and `/metrics` over HTTPS. The certificate
//! reloaded on SIGHUP is tested through the real binary, in
//! `ndb-server/tests/tls.rs`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::certs::Ca;
use common::saves::TempDir;
use ndb::{Role, User, Users};
use ndb_client::{Client, Error};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
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

#[test]
fn requests_over_wss_with_the_crates_client() {
    let t = tls("tls-client");
    let server = common::start_with(common::config().tls(&t.cert, &t.key));
    let url = format!("wss://127.0.0.1:{}/", server.addr.port());
    let mut c = client(&t.ca.file, &url).unwrap();
    c.kv_set(json!({"over": "tls", "n": 1})).unwrap();
    assert_eq!(c.kv_get_one("over").unwrap(), Some(json!("tls")));
    // By name too: the certificate is for localhost as well.
    let mut named = client(&t.ca.file, &format!("wss://localhost:{}/", server.addr.port())).unwrap();
    assert_eq!(named.kv_count().unwrap(), 2);
    // Plain ws:// to a TLS port gets no WebSocket, and harms no one.
    assert!(Client::connect(&server.url()).is_err());
    // A client trusting another CA refuses the server.
    let other = Ca::new(t.dir.path(), "other-ca");
    let err = client(&other.file, &url).unwrap_err();
    assert!(matches!(err, Error::Handshake { .. } | Error::WebSocket(_)), "{err:?}");
    assert_eq!(c.kv_count().unwrap(), 2);
}

#[test]
fn big_replies_and_pipelines_go_through_the_tls_layer_whole() {
    let t = tls("tls-big");
    let server = common::start_with(common::config().tls(&t.cert, &t.key));
    let url = format!("wss://127.0.0.1:{}/", server.addr.port());
    let mut c = client(&t.ca.file, &url).unwrap();
    let value = "v".repeat(900_000);
    for i in 0..4 {
        c.kv_set(json!({ format!("big{i}"): value })).unwrap();
    }
    // A 3.6 MB reply: far more than a socket buffer, so it goes out over
    // many writable events.
    let reply = c.call(r#"{"KV_GET":{"keys":["big0","big1","big2","big3"]}}"#).unwrap();
    for i in 0..4 {
        assert_eq!(reply["KV_GET_RSP"]["keys"][format!("big{i}")].as_str().map(str::len), Some(900_000));
    }
    // Many small requests in one go, replies in order.
    let mut raw = TlsRaw::connect(server.addr, &t.ca.file, None);
    let mut head = raw.upgrade();
    head.clear();
    let frames: Vec<u8> =
        (0..500).flat_map(|i| common::text_frame(&format!(r#"{{"KV_SET":{{"keys":{{"p{i}":{i}}}}}}}"#))).collect();
    raw.stream.write_all(&frames).unwrap();
    for _ in 0..500 {
        assert_eq!(raw.text(), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    assert_eq!(c.kv_count().unwrap(), 504);
}

#[test]
fn users_log_in_over_tls() {
    let t = tls("tls-auth");
    let users = Users::new(vec![User::with_password("app", "s3cret", Role::Write).unwrap()]).unwrap();
    let server = common::start_with(common::config().tls(&t.cert, &t.key).users(users));
    let port = server.addr.port();
    let mut c = client(&t.ca.file, &format!("wss://app:s3cret@127.0.0.1:{port}/")).unwrap();
    c.kv_set(json!({"a": 1})).unwrap();
    let err = client(&t.ca.file, &format!("wss://app:wrong@127.0.0.1:{port}/")).unwrap_err();
    assert!(matches!(&err, Error::Handshake { reason, .. } if reason.contains("401")), "{err}");
    let (status, _) = https_get(server.addr, &t.ca.file, "/metrics", None);
    assert_eq!(status, 401);
    let (status, body) = https_get(server.addr, &t.ca.file, "/metrics", Some(&common::basic("app", "s3cret")));
    assert_eq!(status, 200);
    assert!(body.contains("ndb_requests_total{command=\"KV_SET\",status=\"Ok\"} 1\n"), "{body}");
}

#[test]
fn only_tls_1_2_and_1_3_are_spoken() {
    let t = tls("tls-versions");
    let server = common::start_with(common::config().tls(&t.cert, &t.key));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut raw = TlsRaw::connect_with(server.addr, &t.ca.file, &[version]);
        assert!(raw.upgrade().starts_with("HTTP/1.1 101 "));
        assert_eq!(raw.stream.conn.protocol_version(), Some(version.version));
    }
    // Python's ssl module can offer older versions: refused.
    if common::python::websockets_ready() {
        let out = python_tls(server.addr, &t.ca.file, &["old-versions"]);
        assert!(out.contains("old-versions: refused"), "{out}");
    }
}

#[test]
fn healthz_over_https() {
    let t = tls("tls-healthz");
    let server = common::start_with(common::config().tls(&t.cert, &t.key));
    assert_eq!(https_get(server.addr, &t.ca.file, "/healthz", None), (200, "ok\n".to_owned()));
}

#[test]
fn the_python_client_library_speaks_wss_with_an_ssl_context() {
    if !common::python::websockets_ready() {
        return;
    }
    let t = tls("tls-python");
    let server = common::start_with(common::config().tls(&t.cert, &t.key));
    let out = python_tls(server.addr, &t.ca.file, &["requests", "unchanged"]);
    assert!(out.contains("requests: ok") && out.contains("unchanged: ok"), "{out}");
}

fn python_tls(addr: SocketAddr, ca: &Path, sections: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls.py");
    let url = format!("wss://localhost:{}/", addr.port());
    // The clients' own code passes no ssl context: the default one trusts
    // what SSL_CERT_FILE names.
    let out = Command::new("python3")
        .env("SSL_CERT_FILE", ca)
        .arg(script)
        .arg(url)
        .arg(ca)
        .args(sections)
        .output()
        .expect("python3");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// A TLS connection made by hand, for requests the clients do not make.
struct TlsRaw {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

fn roots(ca: &Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

impl TlsRaw {
    fn connect(addr: SocketAddr, ca: &Path, _: Option<()>) -> TlsRaw {
        TlsRaw::connect_with(addr, ca, rustls::DEFAULT_VERSIONS)
    }

    fn connect_with(addr: SocketAddr, ca: &Path, versions: &[&'static rustls::SupportedProtocolVersion]) -> TlsRaw {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots(ca))
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(common::TIMEOUT)).unwrap();
        TlsRaw { stream: rustls::StreamOwned::new(conn, tcp), buf: Vec::new() }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Sends an upgrade request; returns the response head.
    fn upgrade(&mut self) -> String {
        self.stream.write_all(common::UPGRADE.as_bytes()).unwrap();
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            assert!(self.fill(), "closed before the response");
        }
    }

    /// The next text frame's payload.
    fn text(&mut self) -> String {
        loop {
            if self.buf.len() >= 2 {
                let (len, head) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4),
                    126 => (usize::MAX, 4),
                    n => (usize::from(n), 2),
                };
                if len != usize::MAX && self.buf.len() >= head + len {
                    let payload = String::from_utf8(self.buf[head..head + len].to_vec()).unwrap();
                    self.buf.drain(..head + len);
                    return payload;
                }
            }
            assert!(self.fill(), "closed before a frame");
        }
    }
}

/// A `GET` over HTTPS: (status, body).
fn https_get(addr: SocketAddr, ca: &Path, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut raw = TlsRaw::connect(addr, ca, None);
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    raw.stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n").as_bytes()).unwrap();
    while raw.fill() {}
    let text = String::from_utf8_lossy(&raw.buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}
