//! TLS (`wss://`) between the socket and the frame layer, with rustls:
//! the certificate and key the server serves, and one connection's TLS
//! session over its non-blocking socket.
//!
//! Owns: reading the PEM files into a `rustls::ServerConfig` (TLS 1.3 and
//! 1.2 only, ring as the crypto provider), and moving bytes between the
//! socket and the session without ever blocking. Must not touch: frames,
//! the store, the clock.
//!
//! The session is driven by the connection's own reads and writes, so it
//! runs inside the server's one-thread loop like everything else:
//! - `read` hands out decrypted bytes; when there are none it reads TLS
//!   records from the socket until the socket says `WouldBlock` (as a
//!   plain socket read would), answering handshake messages on the way;
//! - `write` encrypts at most [`WRITE_CHUNK_BYTES`] per call, and refuses
//!   (`WouldBlock`) while records of an earlier call still wait for the
//!   socket: the connection's own output buffer and back-pressure keep
//!   working as over plain TCP, and a session holds at most one chunk.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

use super::socket::Tcp;
use crate::config::TlsFiles;

/// Plaintext encrypted per `write`: one TLS record's worth (16 KiB), well
/// under rustls's 64 KiB default buffer, so a write after a full flush is
/// always accepted whole.
pub const WRITE_CHUNK_BYTES: usize = 16 * 1024;

/// Reads the certificate chain and key and builds the TLS settings.
///
/// # Errors
/// One line naming the file or what is wrong with the pair.
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read the TLS file {}: {e}", path.display()))
    };
    let cert_pem = read(&files.certificate)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", files.certificate.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", files.certificate.display()));
    }
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: not a PEM private key: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("{} and {} do not make a usable pair: {e}", files.certificate.display(), files.key.display())
        })?;
    Ok(Arc::new(config))
}

/// One connection's TLS session over its socket.
pub struct TlsSocket {
    tcp: Tcp,
    session: ServerConnection,
}

impl std::fmt::Debug for TlsSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSocket").field("tcp", &self.tcp).finish_non_exhaustive()
    }
}

impl TlsSocket {
    /// A session for a socket just accepted.
    ///
    /// # Errors
    /// rustls's, if the settings cannot start a session.
    pub fn new(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<TlsSocket, rustls::Error> {
        Ok(TlsSocket { tcp: Tcp(tcp, super::socket::Cork::default()), session: ServerConnection::new(config)? })
    }

    pub(super) fn tcp(&self) -> &TcpStream {
        &self.tcp.0
    }

    pub(super) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp.0
    }

    /// Whether TLS records wait for the socket.
    pub fn has_buffered(&self) -> bool {
        self.session.wants_write()
    }

    /// Writes waiting records; `Ok(false)` when the socket is full.
    ///
    /// # Errors
    /// The socket's.
    pub fn send_buffered(&mut self) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Queues `close_notify`.
    pub fn end_stream(&mut self) {
        self.session.send_close_notify();
    }
}

impl Read for TlsSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The peer ended TCP without close_notify: an end of stream
                // all the same (the WebSocket layer has its own close).
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            let read = match self.session.read_tls(&mut self.tcp) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Handshake replies queued by earlier records go out now.
                    self.send_buffered()?;
                    return Err(e);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Err(e) = self.session.process_new_packets() {
                // rustls queued an alert saying why; send it if it fits.
                let _ = self.send_buffered();
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            self.send_buffered()?;
            if read == 0 {
                // End of stream: whatever plaintext is left, then the end.
                return match self.session.reader().read(buf) {
                    Ok(n) => Ok(n),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::UnexpectedEof) => Ok(0),
                    Err(e) => Err(e),
                };
            }
        }
    }
}

impl Write for TlsSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.send_buffered()? {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = self.session.writer().write(&buf[..buf.len().min(WRITE_CHUNK_BYTES)])?;
        if n == 0 && !buf.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        // What the socket does not take now waits in the session; the
        // next write, or a writable event, sends it.
        self.send_buffered()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
