//! Opening a connection: TCP connect, the WebSocket upgrade, and the few
//! blocking requests made before a test starts (creating sessions).
//!
//! Everything here runs before the clock starts, on blocking sockets with
//! timeouts, and reports failures as one-line messages naming the URL. The
//! event loop in `worker` takes the socket over afterwards.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use tungstenite::handshake::{client::generate_key, derive_accept_key};

use crate::args::Target;
use crate::frame::{self, OP_PONG, OP_TEXT};
use crate::reader::{Frame, Reader};
use crate::rng::Rng;

/// How long connecting, the upgrade and each setup request may take. A local
/// server answers in microseconds; this only stops a dead one hanging the run.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest upgrade response accepted, in bytes; a real one is under 300.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The addresses `target` resolves to.
///
/// # Errors
/// A one-line message when the name does not resolve.
pub fn resolve(target: &Target) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {}", describe(&e)))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("cannot resolve {target}: no addresses"));
    }
    Ok(addrs)
}

/// Connects to the first of `addrs` that accepts and performs the WebSocket
/// upgrade. Returns the socket (blocking, `TCP_NODELAY` set) and a reader
/// already holding any bytes that came after the upgrade response.
///
/// # Errors
/// `cannot connect to ws://…: <reason>`, or a message saying what was wrong
/// with the upgrade response.
pub fn open(target: &Target, addrs: &[SocketAddr], reader: &mut Reader) -> Result<TcpStream, String> {
    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, SETUP_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let mut stream = match (stream, last_error) {
        (Some(stream), _) => stream,
        (None, Some(e)) => return Err(format!("cannot connect to {target}: {}", describe(&e))),
        (None, None) => return Err(format!("cannot connect to {target}: no addresses")),
    };
    let configure = |s: &TcpStream| -> io::Result<()> {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(SETUP_TIMEOUT))?;
        s.set_write_timeout(Some(SETUP_TIMEOUT))
    };
    configure(&stream).map_err(|e| format!("cannot connect to {target}: {}", describe(&e)))?;
    upgrade(&mut stream, target, reader)?;
    Ok(stream)
}

fn upgrade(stream: &mut TcpStream, target: &Target, reader: &mut Reader) -> Result<(), String> {
    let key = generate_key();
    let authorization =
        target.credentials.as_ref().map(|c| format!("Authorization: {}\r\n", c.authorization())).unwrap_or_default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{authorization}\
         User-Agent: ndb-bench/{}\r\n\r\n",
        target.path,
        target.authority(),
        env!("CARGO_PKG_VERSION"),
    );
    let failed = |what: &str, e: io::Error| format!("{target}: {what}: {}", describe(&e));
    stream.write_all(request.as_bytes()).map_err(|e| failed("sending the upgrade request", e))?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| failed("reading the upgrade response", e))?;
        if n == 0 {
            return Err(format!("{target}: connection closed during the WebSocket upgrade"));
        }
        head.extend_from_slice(&chunk[..n]);
        match check_upgrade(&head, &key) {
            Ok(Some(len)) => {
                reader.push_bytes(&head[len..]);
                return Ok(());
            }
            Ok(None) if head.len() < MAX_RESPONSE_HEAD => {}
            Ok(None) => return Err(format!("{target}: upgrade response too long")),
            Err(why) => return Err(format!("{target}: {why}")),
        }
    }
}

/// Checks an upgrade response for the request with `key`: the length of
/// its head once complete, `None` if incomplete, or why it is refused.
fn check_upgrade(head: &[u8], key: &str) -> Result<Option<usize>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad upgrade response: {e}")),
    };
    if response.code != Some(101) {
        return Err(format!("upgrade refused: HTTP {} {}", response.code.unwrap_or(0), response.reason.unwrap_or("")));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if !header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("upgrade response lacks Upgrade: websocket".to_string());
    }
    let expected = derive_accept_key(key.as_bytes());
    match header("Sec-WebSocket-Accept") {
        Some(accept) if accept == expected => Ok(Some(len)),
        Some(accept) => Err(format!("wrong Sec-WebSocket-Accept {accept:?}, expected {expected:?}")),
        None => Err("upgrade response lacks Sec-WebSocket-Accept".to_string()),
    }
}

/// Sends one request on a blocking, upgraded connection and returns the
/// text of its reply, answering pings on the way.
///
/// # Errors
/// A one-line message when the socket fails, the server closes, or the
/// reply is not a text message.
pub fn call(stream: &mut TcpStream, reader: &mut Reader, rng: &mut Rng, payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    frame::push_frame(&mut out, OP_TEXT, payload, rng.mask());
    stream.write_all(&out).map_err(|e| describe(&e))?;
    loop {
        while let Some(frame) = reader.next().map_err(str::to_string)? {
            match frame {
                Frame::Reply { .. } => return Ok(reader.last_text().to_vec()),
                Frame::Binary => return Err("binary reply".to_string()),
                Frame::Close { code } => return Err(closed_by_server(code)),
                Frame::Ping { payload, len } => {
                    out.clear();
                    frame::push_frame(&mut out, OP_PONG, &payload[..usize::from(len)], rng.mask());
                    stream.write_all(&out).map_err(|e| describe(&e))?;
                }
            }
        }
        let n = stream.read(reader.spare()).map_err(|e| describe(&e))?;
        if n == 0 {
            return Err("server closed the connection".to_string());
        }
        reader.commit(n);
    }
}

/// Why the server closed, from its close code (RFC 6455 §7.4.1).
pub fn closed_by_server(code: Option<u16>) -> String {
    let meaning = match code {
        None => return "server closed the connection".to_string(),
        Some(1000) => "normal closure",
        Some(1001) => "going away",
        Some(1002) => "protocol error",
        Some(1003) => "unsupported data",
        Some(1007) => "invalid payload",
        Some(1008) => "policy violation",
        Some(1009) => "message too big",
        Some(1011) => "server error",
        Some(_) => "",
    };
    let code = code.unwrap_or_default();
    if meaning.is_empty() {
        format!("server closed the connection (close code {code})")
    } else {
        format!("server closed the connection (close code {code}: {meaning})")
    }
}

/// A short, lower-case description of a socket error, as in
/// `cannot connect to ws://…: connection refused`.
pub fn describe(e: &io::Error) -> String {
    use io::ErrorKind::*;
    let text = match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        NotConnected => "not connected",
        BrokenPipe => "broken pipe",
        TimedOut | WouldBlock => "timed out",
        AddrNotAvailable => "address not available",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        UnexpectedEof => "connection closed",
        _ => {
            let full = e.to_string();
            let short = full.split(" (os error").next().unwrap_or(&full);
            return short.to_lowercase();
        }
    };
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(accept: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    }

    #[test]
    fn upgrade_response_is_checked_at_every_split() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let mut bytes = response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").into_bytes();
        let head_len = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x00]);
        for cut in 0..head_len {
            assert_eq!(check_upgrade(&bytes[..cut], key), Ok(None), "cut {cut}");
        }
        assert_eq!(check_upgrade(&bytes, key), Ok(Some(head_len)));
    }

    #[test]
    fn refused_upgrades_say_why() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let wrong = check_upgrade(response("AAAA").as_bytes(), key).unwrap_err();
        assert!(wrong.contains("Sec-WebSocket-Accept"), "{wrong}");
        let http = check_upgrade(b"HTTP/1.1 404 Not Found\r\n\r\n", key).unwrap_err();
        assert_eq!(http, "upgrade refused: HTTP 404 Not Found");
        let garbage = check_upgrade(b"SSH-2.0-OpenSSH\r\n\r\n", key).unwrap_err();
        assert!(garbage.starts_with("bad upgrade response"), "{garbage}");
    }

    #[test]
    fn close_codes_are_explained() {
        assert_eq!(closed_by_server(Some(1009)), "server closed the connection (close code 1009: message too big)");
        assert_eq!(closed_by_server(Some(4000)), "server closed the connection (close code 4000)");
        assert_eq!(closed_by_server(None), "server closed the connection");
    }

    #[test]
    fn refused_connection_is_one_readable_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let target =
            Target { host: "127.0.0.1".to_string(), port: addr.port(), path: "/".to_string(), credentials: None };
        let err = open(&target, &[addr], &mut Reader::with_capacity(64)).unwrap_err();
        assert_eq!(err, format!("cannot connect to ws://127.0.0.1:{}/: connection refused", addr.port()));
    }
}
