//! WebSocket bytes built and read by hand: the upgrade request, masked
//! client frames (valid or not), and parsers for what a server sends back.
//! For tests of the connection layer (over a mock socket or a raw TCP
//! stream) and for benches and fuzz targets that feed it bytes.

/// A valid upgrade request for `/` (RFC 6455's sample key).
pub const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The `Authorization` value of HTTP Basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// [`UPGRADE`] carrying `Authorization: <authorization>`.
pub fn upgrade_with(authorization: &str) -> String {
    UPGRADE.replace("Host: localhost\r\n", &format!("Host: localhost\r\nAuthorization: {authorization}\r\n"))
}

/// A plain `GET path` request, with `Authorization: <authorization>` if
/// given.
pub fn get_request(path: &str, authorization: Option<&str>) -> String {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n")
}

/// Splits an HTTP response into (status, head, body).
pub fn split_response(response: &str) -> (u16, String, String) {
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, head.to_owned(), body.to_owned())
}

/// Percent-encodes everything but unreserved URL characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The mask [`frame`] uses.
pub const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A masked client frame whose first byte (FIN, RSV bits, opcode) is
/// `first`, exactly as given: it may be anything, valid or not.
pub fn masked_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A masked client frame (mask [`MASK`]).
pub fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    masked_frame(opcode | if fin { 0x80 } else { 0 }, payload, MASK)
}

/// A masked client text frame holding `text`, final.
pub fn text_frame(text: &str) -> Vec<u8> {
    frame(1, true, text.as_bytes())
}

/// The first server frame in `buf`, if all of it is there: ((opcode,
/// payload), bytes used). Panics on a masked frame, which a server must
/// never send.
pub fn parse_server_frame(buf: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    if buf.len() < head + len {
        return None;
    }
    Some(((buf[0] & 0x0f, buf[head..head + len].to_vec()), head + len))
}

/// The first HTTP response in `buf` (its head, and its body if the head
/// gives a `Content-Length`), if all of it is there: (text, bytes used).
pub fn parse_http_response(buf: &[u8]) -> Option<(String, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let body_len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().ok()))
        .map(|len| len.expect("a numeric Content-Length"))
        .unwrap_or(0);
    let used = end + body_len;
    (buf.len() >= used).then(|| (String::from_utf8_lossy(&buf[..used]).into_owned(), used))
}

/// Splits everything a server wrote to one connection into its HTTP head
/// and frames, checking the frames are whole, final, without reserved bits
/// or masks, and that nothing follows a close frame. A refused upgrade
/// (an HTTP 4xx or 5xx and nothing else, or nothing at all) has no frames.
pub fn server_frames(written: &[u8]) -> Vec<(u8, Vec<u8>)> {
    if !written.starts_with(b"HTTP/1.1 101 ") {
        assert!(
            written.is_empty() || written.starts_with(b"HTTP/1.1 4") || written.starts_with(b"HTTP/1.1 5"),
            "a refusal is an HTTP error: {}",
            String::from_utf8_lossy(written)
        );
        return Vec::new();
    }
    let start = written.windows(4).position(|w| w == b"\r\n\r\n").map_or(written.len(), |p| p + 4);
    let mut rest = &written[start..];
    let mut frames: Vec<(u8, Vec<u8>)> = Vec::new();
    while !rest.is_empty() {
        assert!(frames.last().is_none_or(|f| f.0 != 8), "nothing after a close frame");
        assert_eq!(rest[0] & 0xf0, 0x80, "final, no reserved bits");
        let (frame, used) = parse_server_frame(rest).expect("a whole frame");
        frames.push(frame);
        rest = &rest[used..];
    }
    frames
}
