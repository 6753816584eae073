//! What compacting a durable log of a million keys costs another client:
//! its p99.9 round trip with and without a compaction under way, under the
//! same write load, through the `ndb-server` binary. Ignored by default
//! (it loads a million keys and runs for about half a minute):
//!
//! ```sh
//! cargo test --release -p ndb-server --test compaction_stalls -- --ignored --nocapture
//! ```

use testkit as common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::saves::TempDir;

/// Keys in the store.
const KEYS: usize = 1_000_000;

/// How long each phase measures.
const WINDOW: Duration = Duration::from_secs(8);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// SIGTERM, and the exit: the log is synced.
    fn stop(mut self) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
        assert_eq!(self.0.wait().unwrap().code(), Some(0));
    }
}

fn spawn(dir: &TempDir, extra: &[String]) -> (Server, SocketAddr) {
    let (server, addr, _) = spawn_lines(dir, extra);
    (server, addr)
}

/// [`spawn`], also returning the replay's log line.
fn spawn_lines(dir: &TempDir, extra: &[String]) -> (Server, SocketAddr, Option<String>) {
    let path = dir.path().join("saves");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ndb-server"))
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .args(["--port", "0", "--persist-path", path.to_str().unwrap(), "--log", "--log-fsync", "everysec"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut replayed = None;
    let addr = loop {
        let line = lines.next().expect("a start-up line").unwrap();
        if let Some(rest) = line.split("listening on ws://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
        if line.contains("replayed the log") {
            replayed = Some(line);
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("compact") || line.contains("base") {
                eprintln!("server: {line}");
            }
        }
    });
    (Server(child), addr, replayed)
}

fn log_info(c: &mut common::Client) -> serde_json::Value {
    c.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["log"].clone()
}

/// A writer keeps setting keys while a pinger times `KV_GET`s for
/// [`WINDOW`]; returns the pinger's round trips, sorted.
fn measure(addr: SocketAddr) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut c = common::Client::connect(addr);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let keys: Vec<String> = (0..50).map(|i| format!(r#""w{}":{n}"#, (n * 50 + i) % 100_000)).collect();
                c.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(",")));
                n += 1;
            }
        })
    };
    let mut c = common::Client::connect(addr);
    let mut times = Vec::new();
    let until = Instant::now() + WINDOW;
    let mut i = 0u64;
    while Instant::now() < until {
        let started = Instant::now();
        let reply = c.call(&format!(r#"{{"KV_GET":{{"keys":["k{}"]}}}}"#, (i * 7_919) % KEYS as u64));
        times.push(started.elapsed());
        assert!(reply.contains(r#""st":1"#), "{reply}");
        i += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    times.sort();
    times
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[test]
#[ignore = "benchmark: a million keys and half a minute; run with --ignored --nocapture"]
fn a_compaction_of_a_million_keys_keeps_another_clients_p999() {
    let dir = TempDir::new("compaction-stalls");
    // Loaded with compaction off.
    let (server, addr) = spawn(&dir, &["--log-rewrite-percent".into(), "0".into()]);
    let mut c = common::Client::connect(addr);
    for batch in 0..KEYS / 1_000 {
        let keys: Vec<String> =
            (0..1_000).map(|i| format!(r#""k{}":{{"n":{},"s":"some text"}}"#, batch * 1_000 + i, i)).collect();
        c.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(",")));
    }
    let without = measure(addr);
    let bytes = log_info(&mut c)["bytes"].as_u64().unwrap();
    drop(c);
    server.stop();

    // Restarted with a minimum size a little above what the log holds:
    // the writer's load crosses it within a second of the window's start.
    let min = bytes + (2 << 20);
    let (server, addr) =
        spawn(&dir, &["--log-rewrite-percent".into(), "100".into(), "--log-rewrite-min-size".into(), min.to_string()]);
    let with = measure(addr);
    let mut c = common::Client::connect(addr);
    let info = log_info(&mut c);
    drop(c);
    server.stop();
    assert_eq!(info["compactions"], 1, "one compaction within the window: {info}");

    let (p999_without, p999_with) = (quantile(&without, 0.999), quantile(&with, 0.999));
    eprintln!(
        "{KEYS} keys, log {bytes} bytes before; base {} bytes written in {} ms",
        info["baseBytes"], info["lastCompactionMs"]
    );
    for (name, t) in [("without compaction", &without), ("with compaction", &with)] {
        eprintln!(
            "{name}: {} round trips, p50 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
            t.len(),
            quantile(t, 0.5),
            quantile(t, 0.99),
            quantile(t, 0.999),
            t[t.len() - 1]
        );
    }
    eprintln!("p99.9 with / without: {:.2} (target: at most 2)", p999_with.as_secs_f64() / p999_without.as_secs_f64());

    // A restart from the base and the segment after it.
    let started = Instant::now();
    let (server, _, replayed) = spawn_lines(&dir, &[]);
    eprintln!("restart from the base: serving after {:?}; {}", started.elapsed(), replayed.unwrap_or_default());
    server.stop();
}
