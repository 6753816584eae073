//! The per-request path in pieces, without sockets:
//!
//! - `decode`: request text → validated command (KV_SET and KV_GET, as
//!   compact JSON and as the Python client's `json.dumps` writes them);
//! - `store`: KV_SET / KV_GET through `decode` and `Store::execute` against
//!   100,000 keys, each on a random key;
//! - `reply`: encoding a `KV_GET_RSP` holding one stored entry, and a
//!   status-only reply;
//! - `conn`: a batch of 16 masked KV_GET frames through a whole connection
//!   over an in-memory stream: unmask, UTF-8 check, decode, execute, reply
//!   framing, one write. Divide by 16 for one request.
//!
//! - `large`: what a large message costs whole: decoding a `KV_GET` of
//!   256 KiB and of 1,000,000 names (19 MB; where the decode threshold
//!   `DECODE_OFF_LOOP_BYTES` comes from), and unmasking, checking the
//!   UTF-8 of and copying a 64 MiB message (the loop's share of the
//!   largest message `maxPayload` allows).
//!
//! Run with `cargo bench --bench protocol`.

use std::io::{self, Read, Write};
use std::time::Instant;

use common::Rng;
use divan::{Bencher, black_box};
use ndb::internals::conn::{Conn, Limits, Message, Scratch, Transport};
use ndb::internals::protocol::{Protocol, Reply, Status, Verb, decode};
use ndb::internals::store::{ServerInfo, Store};

mod common;

fn main() {
    divan::main();
}

/// Keys in the store the `store` and `conn` benchmarks run against.
const KEYS: u64 = 100_000;
/// Requests in one `conn` batch (the pipelining depth of the Redis
/// comparison).
const BATCH: usize = 16;

const SET: &str = r#"{"KV_SET":{"keys":{"key:000000012345":"xxxxxxxxxxxxxxxx"}}}"#;
const GET: &str = r#"{"KV_GET":{"keys":["key:000000012345"]}}"#;
const SET_PYTHON: &str =
    r#"{"KV_SET": {"keys": {"key:000000012345": "xxxxxxxxxxxxxxxx", "\u017c\u00f3\u0142w": [1, 2, 3]}}}"#;

fn set_request(key: u64) -> String {
    format!(r#"{{"KV_SET":{{"keys":{{"key:{key:012}":"xxxxxxxxxxxxxxxx"}}}}}}"#)
}

fn get_request(key: u64) -> String {
    format!(r#"{{"KV_GET":{{"keys":["key:{key:012}"]}}}}"#)
}

/// Runs one request the way the server does; returns the reply length.
fn run(store: &mut Store, request: &str, now: Instant, out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => {
            let _ = store.execute(command, now, &mut reply);
        }
        Err(rejection) => reply.rejection(&rejection),
    }
    out.len()
}

/// A store holding keys `0..KEYS`.
fn filled_store(now: Instant) -> Store {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "data".into() });
    let mut out = Vec::new();
    for key in 0..KEYS {
        run(&mut store, &set_request(key), now, &mut out);
    }
    store
}

#[divan::bench_group]
mod decode_only {
    use super::*;

    #[divan::bench]
    fn kv_set() -> bool {
        decode(black_box(SET)).is_ok()
    }

    #[divan::bench]
    fn kv_get() -> bool {
        decode(black_box(GET)).is_ok()
    }

    #[divan::bench]
    fn kv_set_python_style() -> bool {
        decode(black_box(SET_PYTHON)).is_ok()
    }
}

#[divan::bench_group(sample_count = 10, sample_size = 1)]
mod large {
    use std::sync::LazyLock;

    use super::*;

    /// The largest `maxPayload`, 64 MiB.
    const MAX_MESSAGE: usize = 64 << 20;

    /// A `KV_GET` of `n` names `key:000000000000..` (19 bytes each).
    fn get_of(n: usize) -> String {
        let names: Vec<String> = (0..n).map(|i| format!(r#""key:{:012}""#, i * 4)).collect();
        format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(","))
    }

    static GET_1M: LazyLock<String> = LazyLock::new(|| get_of(1_000_000));
    /// 13,790 names: just under 256 KiB.
    static GET_256K: LazyLock<String> = LazyLock::new(|| get_of(13_790));
    static MESSAGE: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let mut text = get_of(MAX_MESSAGE / 19);
        text.truncate(MAX_MESSAGE);
        text.into_bytes()
    });

    #[divan::bench]
    fn decode_kv_get_of_256_kib() -> usize {
        assert!(GET_256K.len() <= 256 * 1024 && GET_256K.len() > 255 * 1024);
        decode(black_box(&GET_256K)).map(|c| c.name().index()).unwrap_or_default()
    }

    #[divan::bench]
    fn decode_kv_get_of_1m_names() -> usize {
        decode(black_box(&GET_1M)).map(|c| c.name().index()).unwrap_or_default()
    }

    /// Keys in the store a large `KV_SET` writes into.
    const STORED: u64 = 1_000_000;

    /// A `KV_SET` of 16,384 new keys (16-byte values) into a store of a
    /// million, decoding included (2.6 ns a byte of its 560 KB, about
    /// 1.5 ms): what a write of many keys, run whole in its turn, costs.
    #[divan::bench]
    fn kv_set_of_16384_new_keys(bencher: Bencher<'_, '_>) {
        const KEYS: u64 = 16 * 1024;
        let now = Instant::now();
        let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "data".into() });
        let mut out = Vec::new();
        let set = |from: u64, n: u64| {
            let members: Vec<String> =
                (from..from + n).map(|i| format!(r#""key:{i:012}":"xxxxxxxxxxxxxxxx""#)).collect();
            format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))
        };
        for batch in 0..STORED / 10_000 {
            run(&mut store, &set(batch * 10_000, 10_000), now, &mut out);
        }
        let mut next = STORED;
        bencher
            .with_inputs(|| {
                next += KEYS;
                set(next, KEYS)
            })
            .bench_local_values(|request| {
                let len = run(&mut store, &request, now, &mut out);
                assert_eq!(&out[..], br#"{"KV_SET_RSP":{"st":1}}"#);
                len
            });
    }

    #[divan::bench]
    fn unmask_64_mib(bencher: Bencher<'_, '_>) {
        let mut message = MESSAGE.clone();
        bencher.bench_local(|| ndb::internals::conn::unmask(black_box(&mut message), [1, 2, 3, 4]));
    }

    #[divan::bench]
    fn utf8_check_64_mib() -> bool {
        std::str::from_utf8(black_box(&MESSAGE)).is_ok()
    }

    #[divan::bench]
    fn copy_64_mib() -> usize {
        black_box(MESSAGE.to_vec()).len()
    }
}

#[divan::bench_group]
mod store {
    use super::*;

    fn requests(make: fn(u64) -> String) -> Vec<String> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        (0..4096).map(|_| make(rng.below(KEYS))).collect()
    }

    #[divan::bench]
    fn kv_set(bencher: Bencher<'_, '_>) {
        let now = Instant::now();
        let mut store = filled_store(now);
        let requests = requests(set_request);
        let mut out = Vec::with_capacity(256);
        let mut i = 0;
        bencher.bench_local(|| {
            i = (i + 1) % requests.len();
            run(&mut store, &requests[i], now, &mut out)
        });
    }

    #[divan::bench]
    fn kv_get(bencher: Bencher<'_, '_>) {
        let now = Instant::now();
        let mut store = filled_store(now);
        let requests = requests(get_request);
        let mut out = Vec::with_capacity(256);
        let mut i = 0;
        bencher.bench_local(|| {
            i = (i + 1) % requests.len();
            run(&mut store, &requests[i], now, &mut out)
        });
    }
}

#[divan::bench_group]
mod reply {
    use super::*;

    #[divan::bench]
    fn kv_get_one_entry(bencher: Bencher<'_, '_>) {
        let member: &[u8] = br#""key:000000012345":"xxxxxxxxxxxxxxxx""#;
        let mut out = Vec::with_capacity(256);
        bencher.bench_local(|| {
            out.clear();
            Reply::new(&mut out, Protocol::V07).object(Verb::KvGet, |o| {
                o.members("keys", [black_box(member)]).st(Status::Ok);
            });
            out.len()
        });
    }

    #[divan::bench]
    fn status_only(bencher: Bencher<'_, '_>) {
        let mut out = Vec::with_capacity(64);
        bencher.bench_local(|| {
            out.clear();
            Reply::new(&mut out, Protocol::V07).status(black_box(Verb::KvSet), Status::Ok);
            out.len()
        });
    }
}

/// An in-memory socket: reads what was queued, then `WouldBlock`; keeps
/// what was written.
#[derive(Default)]
struct MemStream {
    input: Vec<u8>,
    read_at: usize,
    written: Vec<u8>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.read_at..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read_at += n;
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for MemStream {
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

#[divan::bench]
fn conn_batch_of_16_kv_get(bencher: Bencher<'_, '_>) {
    let now = Instant::now();
    let mut store = filled_store(now);
    let limits = Limits::default();
    let mut scratch = Scratch::default();
    let mut conn = Conn::new(MemStream::default());
    let mut handler = |message: Message<'_>, out: &mut Vec<u8>| {
        let mut reply = Reply::new(out, Protocol::V07);
        if let Message::Text(text) = message
            && let Ok(command) = decode(text)
        {
            let _ = store.execute(command, now, &mut reply);
        }
    };
    conn.stream_mut().input = testkit::UPGRADE.as_bytes().to_vec();
    conn.serve(&mut scratch, &limits, &mut handler);
    assert!(conn.is_open());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let batches: Vec<Vec<u8>> = (0..256)
        .map(|_| (0..BATCH).flat_map(|_| testkit::text_frame(&get_request(rng.below(KEYS)))).collect())
        .collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % batches.len();
        let stream = conn.stream_mut();
        stream.input.clear();
        stream.input.extend_from_slice(&batches[i]);
        stream.read_at = 0;
        stream.written.clear();
        conn.serve(&mut scratch, &limits, &mut handler);
        conn.stream().written.len()
    });
}

/// `conn_batch_of_16_kv_get` with the server's own message handler: what
/// `Server` does per request besides the command itself (counting it by
/// command and status, keeping it as a slow-log candidate, noting the
/// connection's last command).
#[divan::bench]
fn conn_batch_of_16_kv_get_served(bencher: Bencher<'_, '_>) {
    use ndb::internals::auth::Role;
    use ndb::internals::server::{Context, handle};
    let now = Instant::now();
    let mut store = filled_store(now);
    let limits = Limits::default();
    let mut scratch = Scratch::default();
    let mut conn = Conn::new(MemStream::default());
    let mut context = Context::new(Protocol::V07, Role::Admin, now, 0, None);
    let mut handler = |message: Message<'_>, out: &mut Vec<u8>| handle(&mut store, &mut context, message, out);
    conn.stream_mut().input = testkit::UPGRADE.as_bytes().to_vec();
    conn.serve(&mut scratch, &limits, &mut handler);
    assert!(conn.is_open());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let batches: Vec<Vec<u8>> = (0..256)
        .map(|_| (0..BATCH).flat_map(|_| testkit::text_frame(&get_request(rng.below(KEYS)))).collect())
        .collect();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % batches.len();
        let stream = conn.stream_mut();
        stream.input.clear();
        stream.input.extend_from_slice(&batches[i]);
        stream.read_at = 0;
        stream.written.clear();
        conn.serve(&mut scratch, &limits, &mut handler);
        conn.stream().written.len()
    });
}
