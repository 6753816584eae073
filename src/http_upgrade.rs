//! The HTTP/1.1 requests ndb answers, as a pure function of the bytes
//! received so far: the WebSocket upgrade (RFC 6455 §4.2), and the plain
//! `GET /healthz` and `GET /metrics` of probes and scrapers.
//!
//! Owns: deciding whether a request head is a valid upgrade or endpoint
//! request, what its credentials grant ([`Users::check`]), and the bytes of
//! the replies (101, 200, or a short 4xx/5xx). Must not touch: sockets,
//! time.
//!
//! Parsing is incremental without being quadratic: [`parse`] only looks for
//! the end of the head in bytes it has not searched before (the caller keeps
//! the search position), and `httparse` runs once, on the complete head.

use std::fmt;

use crate::auth::{Access, Users};

/// Default upper bound on the request head. A browser's upgrade request is
/// well under 2 KiB; 8 KiB leaves room for cookies without letting a peer
/// hold much memory.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Most header lines accepted in one request.
const MAX_HEADERS: usize = 64;

/// A valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Sec-WebSocket-Accept` value to answer with.
    pub accept: String,
    /// The request path (any path is served).
    pub path: String,
    /// Length of the head in bytes; anything after it is WebSocket data.
    pub head_len: usize,
    /// What the request's credentials grant.
    pub access: Access,
}

/// A plain HTTP request (no upgrade) for one of the endpoints served on
/// the WebSocket port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /healthz`: 200 while serving, 503 while loading or stopping.
    Health,
    /// `GET /metrics`: the Prometheus text exposition format.
    Metrics,
}

/// Why an upgrade was refused; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// 400: not a well-formed WebSocket upgrade request.
    BadRequest,
    /// 403: a browser `Origin` that is not allowed.
    Forbidden,
    /// 426: a `Sec-WebSocket-Version` other than 13.
    UpgradeRequired,
    /// 431: the head is larger than the limit (default [`MAX_HEAD_BYTES`])
    /// or has more than 64 lines.
    HeaderTooLarge,
    /// 503: the server is at its connection limit.
    Unavailable,
    /// 401: users are configured and the request's credentials match none
    /// (or it has none). Carries `WWW-Authenticate: Basic`.
    Unauthorized,
    /// 503: the server is still loading its saves at start-up.
    Loading,
    /// 503: the server is shutting down.
    ShuttingDown,
}

impl Reject {
    /// The complete HTTP response to send before closing.
    pub fn response(self) -> &'static [u8] {
        match self {
            Reject::BadRequest => {
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n\r\nThis is a WebSocket server (ndb).\r\n"
            }
            Reject::Forbidden => {
                b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\nOrigin not allowed\r\n"
            }
            Reject::UpgradeRequired => {
                b"HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\nContent-Type: text/plain\r\nContent-Length: 34\r\n\r\nSec-WebSocket-Version must be 13\r\n"
            }
            Reject::HeaderTooLarge => {
                b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            }
            Reject::Unavailable => {
                b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nToo many connections\r\n"
            }
            Reject::Unauthorized => {
                b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-Authenticate: Basic realm=\"ndb\", charset=\"UTF-8\"\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n\r\nAuthentication required\r\n"
            }
            Reject::Loading => {
                b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nloading\r\n"
            }
            Reject::ShuttingDown => {
                b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nshutting down\r\n"
            }
        }
    }

    /// The HTTP status number.
    pub fn status(self) -> u16 {
        match self {
            Reject::BadRequest => 400,
            Reject::Forbidden => 403,
            Reject::UpgradeRequired => 426,
            Reject::HeaderTooLarge => 431,
            Reject::Unavailable | Reject::Loading | Reject::ShuttingDown => 503,
            Reject::Unauthorized => 401,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status())
    }
}

/// What the bytes so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// The head is not complete yet.
    Incomplete,
    /// A valid upgrade.
    Upgrade(Upgrade),
    /// A plain request for an endpoint, with what its credentials grant.
    Endpoint(Endpoint, Access),
    /// A request to refuse.
    Reject(Reject),
}

/// Which browser origins may connect.
pub trait OriginPolicy {
    /// Whether a request carrying this `Origin` header is allowed.
    fn allows(&self, origin: &[u8]) -> bool;
}

impl OriginPolicy for [String] {
    fn allows(&self, origin: &[u8]) -> bool {
        self.iter().any(|o| o.as_bytes() == origin)
    }
}

/// Parses the request head in `buf`; a head longer than `max_head_bytes`
/// is refused (431) as soon as that many bytes arrived without its end.
/// A valid request's `Authorization` header is checked against `users`;
/// the result is in the [`Access`] returned, not a refusal, so that the
/// caller decides when to answer a failure.
///
/// `searched` is how many leading bytes earlier calls already searched for
/// the end of the head; it is advanced, so each byte is searched about once.
pub fn parse(
    buf: &[u8],
    searched: &mut usize,
    max_head_bytes: usize,
    origins: &(impl OriginPolicy + ?Sized),
    users: &Users,
) -> Parse {
    // Only GET can upgrade: refuse anything else (TLS, garbage) at once
    // rather than waiting for a head that will never end.
    let method = &b"GET "[..buf.len().min(4)];
    if !buf.starts_with(method) {
        return Parse::Reject(Reject::BadRequest);
    }
    let Some(head_len) = find_head_end(buf, searched) else {
        if buf.len() > max_head_bytes {
            return Parse::Reject(Reject::HeaderTooLarge);
        }
        return Parse::Incomplete;
    };
    if head_len > max_head_bytes {
        return Parse::Reject(Reject::HeaderTooLarge);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Parse::Reject(Reject::BadRequest),
        Err(httparse::Error::TooManyHeaders) => return Parse::Reject(Reject::HeaderTooLarge),
        Err(_) => return Parse::Reject(Reject::BadRequest),
    }
    let authorization = request.headers.iter().find(|h| h.name.eq_ignore_ascii_case("authorization")).map(|h| h.value);
    if let Some(endpoint) = endpoint(&request) {
        return Parse::Endpoint(endpoint, users.check(authorization));
    }
    match validate(&request, origins) {
        Ok(key) => Parse::Upgrade(Upgrade {
            accept: tungstenite::handshake::derive_accept_key(key),
            path: request.path.unwrap_or("/").to_owned(),
            head_len,
            access: users.check(authorization),
        }),
        Err(reject) => Parse::Reject(reject),
    }
}

/// The endpoint a plain `GET` asks for: `/healthz` or `/metrics` (a query
/// is ignored) without an `Upgrade` header, over HTTP/1.1 or 1.0 (some
/// load balancers' health checks); a WebSocket upgrade may use any path,
/// those two included.
fn endpoint(request: &httparse::Request<'_, '_>) -> Option<Endpoint> {
    if request.method != Some("GET") {
        return None;
    }
    let path = request.path?;
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let endpoint = match path {
        "/healthz" => Endpoint::Health,
        "/metrics" => Endpoint::Metrics,
        _ => return None,
    };
    let upgrading = request.headers.iter().any(|h| h.name.eq_ignore_ascii_case("upgrade"));
    (!upgrading).then_some(endpoint)
}

/// A complete `200 OK` response that closes the connection.
pub fn ok_response(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The end of the head (just past the blank line), searching only bytes not
/// searched before. Accepts bare `\n` line ends, as `httparse` does.
fn find_head_end(buf: &[u8], searched: &mut usize) -> Option<usize> {
    // A terminator may straddle the previous boundary by up to 2 bytes.
    let start = searched.saturating_sub(2);
    *searched = buf.len();
    (start..buf.len()).find_map(|i| match &buf[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Checks the RFC 6455 requirements and returns the `Sec-WebSocket-Key`.
fn validate<'b>(
    request: &httparse::Request<'_, 'b>,
    origins: &(impl OriginPolicy + ?Sized),
) -> Result<&'b [u8], Reject> {
    if request.method != Some("GET") || request.version != Some(1) {
        return Err(Reject::BadRequest);
    }
    let (mut upgrade, mut connection, mut version, mut key, mut host) = (false, false, None, None, false);
    let mut origin = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(header.value, b"websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(header.value, b"upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            version = Some(header.value);
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(header.value);
        } else if name.eq_ignore_ascii_case("origin") {
            origin = Some(header.value);
        } else if name.eq_ignore_ascii_case("host") {
            host = true;
        }
    }
    if !upgrade || !connection || !host {
        return Err(Reject::BadRequest);
    }
    if version.map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(Reject::UpgradeRequired);
    }
    let key = key.map(<[u8]>::trim_ascii).filter(|k| is_key(k)).ok_or(Reject::BadRequest)?;
    if let Some(origin) = origin
        && !origins.allows(origin.trim_ascii())
    {
        return Err(Reject::Forbidden);
    }
    Ok(key)
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Whether `key` is the base64 of 16 bytes, as RFC 6455 requires.
fn is_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The `101 Switching Protocols` response for an accepted upgrade.
pub fn accept_response(upgrade: &Upgrade) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        upgrade.accept
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_ORIGINS: &[String] = &[];

    const PYTHON: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:1987\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Python/3.11 websockets/17.4\r\n\r\n";

    fn parse_all(buf: &[u8]) -> Parse {
        parse(buf, &mut 0, MAX_HEAD_BYTES, NO_ORIGINS, &Users::default())
    }

    fn upgrade(buf: &[u8]) -> Upgrade {
        match parse_all(buf) {
            Parse::Upgrade(u) => u,
            other => panic!("{other:?}"),
        }
    }

    fn with_header(replace: &str, by: &str) -> Vec<u8> {
        String::from_utf8(PYTHON.to_vec()).unwrap().replace(replace, by).into_bytes()
    }

    #[test]
    fn accepts_the_python_client_and_derives_the_rfc_example_key() {
        let u = upgrade(PYTHON);
        assert_eq!(u.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(u.path, "/");
        assert_eq!(u.head_len, PYTHON.len());
        let response = String::from_utf8(accept_response(&u)).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 "));
        assert!(!response.contains("Extensions"), "permessage-deflate is declined");
    }

    #[test]
    fn same_result_whatever_the_split() {
        let mut with_tail = PYTHON.to_vec();
        with_tail.extend_from_slice(b"\x81\x85tail!");
        let whole = parse_all(&with_tail);
        for step in [1, 2, 3, 7] {
            let mut searched = 0;
            let mut result = Parse::Incomplete;
            let mut end = 0;
            while result == Parse::Incomplete && end < with_tail.len() {
                end = (end + step).min(with_tail.len());
                result = parse(&with_tail[..end], &mut searched, MAX_HEAD_BYTES, NO_ORIGINS, &Users::default());
            }
            assert_eq!(result, whole, "step {step}");
        }
    }

    #[test]
    fn a_prefix_of_get_waits_for_more() {
        for partial in [&b""[..], b"G", b"GE", b"GET", b"GET /", b"GET / HTTP/1.1\r\nHost: x\r\n"] {
            assert_eq!(parse_all(partial), Parse::Incomplete);
        }
    }

    #[test]
    fn bytes_after_the_head_are_left_for_the_frames() {
        let mut buf = PYTHON.to_vec();
        buf.extend_from_slice(b"\x81\x80abcd");
        assert_eq!(upgrade(&buf).head_len, PYTHON.len());
    }

    #[test]
    fn any_path_and_token_lists() {
        let u = upgrade(&with_header("GET / ", "GET /any/path?x=1 "));
        assert_eq!(u.path, "/any/path?x=1");
        upgrade(&with_header("Connection: Upgrade", "Connection: keep-alive, UPGRADE"));
        upgrade(&with_header("Upgrade: websocket", "upgrade: WebSocket"));
        upgrade(&with_header("\r\n", "\n"));
    }

    #[test]
    fn refusals() {
        let cases = [
            (with_header("GET /", "POST /"), Reject::BadRequest),
            (b"\x16\x03\x01".to_vec(), Reject::BadRequest),
            (b"GEX".to_vec(), Reject::BadRequest),
            (with_header("HTTP/1.1\r\n", "HTTP/1.0\r\n"), Reject::BadRequest),
            (with_header("Upgrade: websocket\r\n", ""), Reject::BadRequest),
            (with_header("Connection: Upgrade", "Connection: keep-alive"), Reject::BadRequest),
            (with_header("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), Reject::BadRequest),
            (with_header("dGhlIHNhbXBsZSBub25jZQ==", "short"), Reject::BadRequest),
            (with_header("Host: 127.0.0.1:1987\r\n", ""), Reject::BadRequest),
            (with_header("Version: 13", "Version: 8"), Reject::UpgradeRequired),
            (with_header("Sec-WebSocket-Version: 13\r\n", ""), Reject::UpgradeRequired),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n".to_vec(), Reject::BadRequest),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Reject::BadRequest),
        ];
        for (request, reject) in cases {
            assert_eq!(parse_all(&request), Parse::Reject(reject), "{}", String::from_utf8_lossy(&request));
        }
    }

    #[test]
    fn oversized_heads_are_431_before_the_end_arrives() {
        let mut big = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(parse_all(&big), Parse::Reject(Reject::HeaderTooLarge));
        let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
        let request = with_header("Host:", &format!("{many}Host:"));
        assert_eq!(parse_all(&request), Parse::Reject(Reject::HeaderTooLarge));
    }

    #[test]
    fn origins_are_checked_only_when_sent() {
        let browser = with_header("Host:", "Origin: http://evil.example\r\nHost:");
        assert_eq!(parse_all(&browser), Parse::Reject(Reject::Forbidden));
        let allowed = ["http://evil.example".to_owned()];
        assert!(matches!(parse(&browser, &mut 0, MAX_HEAD_BYTES, &allowed[..], &Users::default()), Parse::Upgrade(_)));
        upgrade(PYTHON);
    }

    #[test]
    fn credentials_are_checked_and_reported_not_refused() {
        use crate::auth::{Denied, Role, User};
        let users = Users::new(vec![User::with_password("app", "secret", Role::Write).unwrap()]).unwrap();
        let with_auth = |value: &str| with_header("Host:", &format!("Authorization: {value}\r\nHost:"));
        let access = |request: &[u8]| match parse(request, &mut 0, MAX_HEAD_BYTES, NO_ORIGINS, &users) {
            Parse::Upgrade(u) => u.access,
            other => panic!("{other:?}"),
        };
        assert_eq!(access(&with_auth("Basic YXBwOnNlY3JldA==")), Access::Granted(Role::Write));
        assert_eq!(access(&with_auth("Basic YXBwOnNlY3JldQ==")), Access::Denied(Denied::Wrong("app".into())));
        assert_eq!(access(PYTHON), Access::Denied(Denied::Missing));
        // Malformed requests are refused as before, whatever their credentials.
        let bad = with_header("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
        assert_eq!(parse(&bad, &mut 0, MAX_HEAD_BYTES, NO_ORIGINS, &users), Parse::Reject(Reject::UpgradeRequired));
        assert_eq!(upgrade(&with_auth("Basic YXBwOnNlY3JldQ==")).access, Access::Granted(Role::Admin), "no users");
    }

    #[test]
    fn healthz_and_metrics_are_plain_gets() {
        let plain = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: db:1987\r\nUser-Agent: kube-probe/1.30\r\n\r\n");
        let admin = Access::Granted(crate::auth::Role::Admin);
        assert_eq!(parse_all(plain("/healthz").as_bytes()), Parse::Endpoint(Endpoint::Health, admin.clone()));
        assert_eq!(parse_all(plain("/metrics?x=1").as_bytes()), Parse::Endpoint(Endpoint::Metrics, admin));
        assert_eq!(parse_all(plain("/other").as_bytes()), Parse::Reject(Reject::BadRequest));
        assert!(matches!(parse_all(b"GET /healthz HTTP/1.0\r\n\r\n"), Parse::Endpoint(Endpoint::Health, _)));
        assert_eq!(parse_all(b"GET / HTTP/1.0\r\n\r\n"), Parse::Reject(Reject::BadRequest));
        // An upgrade may use those paths too.
        assert_eq!(upgrade(&with_header("GET / ", "GET /metrics ")).path, "/metrics");
        let body = ok_response("text/plain", b"ok\n");
        assert_eq!(
            body,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
        );
    }

    #[test]
    fn responses_have_correct_content_lengths() {
        for reject in [
            Reject::BadRequest,
            Reject::Forbidden,
            Reject::UpgradeRequired,
            Reject::HeaderTooLarge,
            Reject::Unavailable,
            Reject::Unauthorized,
            Reject::Loading,
            Reject::ShuttingDown,
        ] {
            let text = std::str::from_utf8(reject.response()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
            assert_eq!(len, body.len(), "{reject}");
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", reject.status())));
        }
    }
}
