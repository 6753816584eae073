//! Limits through the `ndb-server` binary: a server in a child process
//! under a small `ulimit -n`, and limits set by a config file and flags.
//! The in-process limit tests are the library's (`tests/limits.rs`).

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::{Raw, UPGRADE, text_frame};

const COUNT: &str = r#"{"KV_COUNT":{}}"#;
const COUNT_RSP: &str = r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#;

/// `ndb-server` in a child process with at most `fds` file descriptors.
struct ChildServer {
    child: Child,
    addr: std::net::SocketAddr,
}

impl ChildServer {
    /// Starts `ndb-server --port 0` with `args`, under `ulimit -n fds`.
    fn start(fds: u32, args: &[&str]) -> ChildServer {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {fds} && exec \"$0\" --port 0 \"$@\""))
            .arg(env!("CARGO_BIN_EXE_ndb-server"))
            .args(args)
            .env("RUST_LOG", "info")
            .env("RUST_LOG_STYLE", "never")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ndb-server");
        let mut stderr = child.stderr.take().unwrap();
        let mut log = Vec::new();
        let addr = loop {
            let mut byte = [0u8; 1];
            assert_eq!(stderr.read(&mut byte).unwrap(), 1, "ndb-server exited: {}", String::from_utf8_lossy(&log));
            log.push(byte[0]);
            let text = String::from_utf8_lossy(&log);
            if let Some(at) = text.find("listening on ws://")
                && let Some(end) = text[at..].find("/ ")
            {
                break text[at + "listening on ws://".len()..at + end].parse().unwrap();
            }
        };
        // Keep draining the log so the server never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        ChildServer { child, addr }
    }

    /// User plus system CPU time so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_sec)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg(target_os = "linux")]
fn running_out_of_file_descriptors_does_not_spin_the_loop() {
    let server = ChildServer::start(40, &["--max-connections", "1000"]);
    // Fill every descriptor the server has, and then some.
    let mut clients: Vec<TcpStream> = Vec::new();
    for _ in 0..60 {
        let stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).unwrap();
        clients.push(stream);
    }
    // More keep arriving while it is out of descriptors.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let knocking = {
        let (stop, addr) = (stop.clone(), server.addr);
        std::thread::spawn(move || {
            let mut extra = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                    extra.push(s);
                }
                // Knocks at a steady pace, not as fast as possible.
                std::thread::sleep(Duration::from_millis(20));
                extra.truncate(20);
            }
        })
    };
    // The child's CPU use is measured over a stretch of wall-clock time
    // (a real process: there is no clock to drive), after a moment for it
    // to reach the state of having no descriptor left.
    std::thread::sleep(Duration::from_millis(200));
    let (before, started) = (server.cpu(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (used, watched) = (server.cpu() - before, started.elapsed());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    knocking.join().unwrap();
    assert!(used < watched / 5, "{used:?} of CPU in {watched:?}: the loop spins");
    // Once clients leave, it accepts and serves again.
    clients.clear();
    let mut raw = Raw::connect(server.addr);
    raw.write(UPGRADE.as_bytes());
    assert!(raw.http_response().starts_with("HTTP/1.1 101 "));
    raw.write(&text_frame(COUNT));
    assert_eq!(raw.text(), COUNT_RSP);
}

/// A config file named `name` in a fresh directory, holding `text`.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ndb-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

/// The file's limits reach the server. No idle timeout, and every slot is
/// held by an upgraded connection when the 503 is checked, so nothing here
/// depends on how fast the machine is.
#[test]
fn limits_from_a_config_file_reach_the_server() {
    let file = config_file(
        "limits.jsonc",
        r#"{"version":5, // limits only
            "maxConnections":4,"maxHeaderBytes":1024,"allowedOrigins":["https://app.example"]}"#,
    );
    let server = ChildServer::start(1024, &["--config", file.to_str().unwrap()]);
    let mut browser = Raw::connect(server.addr);
    browser.write(UPGRADE.replace("Host:", "Origin: https://app.example\r\nHost:").as_bytes());
    assert!(browser.http_response().starts_with("HTTP/1.1 101 "), "a listed origin");
    let mut other = Raw::connect(server.addr);
    other.write(UPGRADE.replace("Host:", "Origin: https://evil.example\r\nHost:").as_bytes());
    assert!(other.http_response().starts_with("HTTP/1.1 403 "), "an unlisted origin");
    let mut big = Raw::connect(server.addr);
    big.write(UPGRADE.replace("Host:", &format!("X-Filler: {}\r\nHost:", "a".repeat(1100))).as_bytes());
    assert!(big.http_response().starts_with("HTTP/1.1 431 "), "over maxHeaderBytes");
    // Refused connections hold their slot until they end (or for 2 s):
    // end them, and wait until the server has let them go.
    drop((other, big));
    let connections = |raw: &mut Raw| {
        raw.write(&text_frame(r#"{"SV_INFO":{}}"#));
        let info: serde_json::Value = serde_json::from_str(&raw.text()).unwrap();
        info["SV_INFO_RSP"]["connections"].as_u64().unwrap()
    };
    let deadline = std::time::Instant::now() + testkit::TIMEOUT;
    while connections(&mut browser) != 1 {
        assert!(std::time::Instant::now() < deadline, "the refused connections were never freed");
    }
    let _held: Vec<Raw> = (0..3).map(|_| Raw::open(server.addr)).collect();
    let mut fifth = Raw::connect(server.addr);
    fifth.write(UPGRADE.as_bytes());
    assert!(fifth.http_response().starts_with("HTTP/1.1 503 "), "past maxConnections");
    assert_eq!(connections(&mut browser), 4);
}

/// A flag overrides the file: `--idle-timeout 0.3` over the file's 60 s.
/// What the measured time proves: the close came no sooner than 0.3 s
/// after the last byte sent, and long before the file's 60 s.
#[test]
fn a_flag_overrides_the_config_file() {
    let file = config_file("idle.jsonc", r#"{"version":5,"idleTimeout":60}"#);
    let server = ChildServer::start(1024, &["--config", file.to_str().unwrap(), "--idle-timeout", "0.3"]);
    let mut client = Raw::open(server.addr);
    // Timed from before the last byte leaves: the server reads it later.
    let sent = std::time::Instant::now();
    client.write(&text_frame(COUNT));
    assert_eq!(client.text(), COUNT_RSP);
    assert_eq!(client.close_code(), Some(1001), "idle past --idle-timeout");
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(300), "closed after {waited:?}: before the flag's timeout");
    assert!(waited < Duration::from_secs(60), "closed after {waited:?}: the file's timeout");
}
