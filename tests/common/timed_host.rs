//! A host loop like `ndb-server`'s that also times each turn on the server
//! thread's CPU clock, for the stress tests that measure how long the loop
//! stops (mass expiry, saves). Stopping waits for saves in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use ndb::{Config, Server, TokenRange};

/// One loop turn: events handled plus `tick`.
pub struct Turn {
    pub started: Instant,
    pub cpu: Duration,
    pub wall: Duration,
}

pub struct Host {
    pub addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Turn>>,
}

fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Host {
    pub fn start(config: Config) -> Host {
        let mut server = Server::bind(config, TokenRange { base: 1, max_conns: 16 }).expect("bind");
        let addr = server.local_addr();
        let mut poll = Poll::new().expect("poll");
        server.register(poll.registry()).expect("register");
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).expect("waker"));
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut events = Events::with_capacity(256);
            let mut turns = Vec::with_capacity(1 << 20);
            while !stop_flag.load(Ordering::SeqCst) {
                let timeout = server.poll_timeout(Instant::now()).map(|t| t.min(Duration::from_millis(100)));
                if poll.poll(&mut events, timeout.or(Some(Duration::from_millis(100)))).is_err() {
                    continue;
                }
                let (started, cpu) = (Instant::now(), cpu_time());
                for event in events.iter() {
                    if server.owns(event.token()) {
                        server.handle_event(poll.registry(), event, started);
                    }
                }
                server.tick(poll.registry(), Instant::now());
                turns.push(Turn { started, cpu: cpu_time() - cpu, wall: started.elapsed() });
            }
            server.shutdown(poll.registry());
            server.wait_for_jobs(Instant::now());
            turns
        });
        Host { addr, waker, stop, thread }
    }

    /// Stops the loop; returns its turns.
    pub fn stop(self) -> Vec<Turn> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        self.thread.join().expect("server thread")
    }
}
