//! The client's byte stream: TCP, or (feature `tls`) TLS over TCP for
//! `wss://`, and the credentials of a URL's user information.

use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(feature = "tls")]
use std::path::Path;

use base64::Engine;

/// A connection's stream.
#[derive(Debug)]
pub(super) enum Stream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket under it.
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Where the certificates a `wss://` server is checked against come from
/// when none are given: `SSL_CERT_FILE`, else the system bundle of Debian
/// and its derivatives.
#[cfg(feature = "tls")]
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Starts TLS over `tcp` to `host`, trusting the certificates in `ca`
/// (PEM), or the system's bundle when `None`.
///
/// # Errors
/// One line saying what is wrong with the certificates or the host name.
#[cfg(feature = "tls")]
pub(super) fn tls(tcp: TcpStream, host: &str, ca: Option<&Path>) -> Result<Stream, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let path = ca.map(Path::to_path_buf).or(env).unwrap_or_else(|| SYSTEM_BUNDLE.into());
    let pem = std::fs::read(&path).map_err(|e| format!("cannot read the CA certificates {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    let session = rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(|e| e.to_string())?;
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(session, tcp))))
}

/// The `Authorization` header value for a URL's `user:password@`, if it
/// has one: `Basic` with the percent-decoded user and password, as
/// browsers and the Python `websockets` library send them.
pub(super) fn basic_authorization(userinfo: &str) -> String {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let credentials = [percent_decode(user), b":".to_vec(), percent_decode(password)].concat();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_becomes_basic_credentials() {
        assert_eq!(basic_authorization("app:secret"), "Basic YXBwOnNlY3JldA==");
        // "p@ss:w/rd" percent-encoded, as a URL must carry it.
        assert_eq!(basic_authorization("app:p%40ss%3Aw%2Frd"), basic_authorization_raw("app", "p@ss:w/rd"));
        assert_eq!(basic_authorization("app"), "Basic YXBwOg==");
        assert_eq!(percent_decode("100%"), b"100%");
    }

    fn basic_authorization_raw(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }
}
