//! A host loop whose clock the test moves: the server is handed
//! `start + offset` as `now`, and the offset changes only when the test
//! says so. The loop wakes every few milliseconds of real time so that a
//! clock moved by the test is seen at once, but no deadline passes
//! without the test moving the clock. The test can also have the loop call
//! `Server::shutdown` and keep running, to see what a stopping server
//! answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use ndb::{Config, Server, TokenRange};

pub struct VirtualHost {
    pub addr: SocketAddr,
    /// Milliseconds past the start the server is told it is.
    offset_ms: Arc<AtomicU64>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    shut: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VirtualHost {
    pub fn start(config: Config) -> VirtualHost {
        VirtualHost::start_with(config, |_| {})
    }

    /// Starts after `setup` has run on the bound, registered server.
    pub fn start_with(config: Config, setup: impl FnOnce(&mut Server)) -> VirtualHost {
        let mut server = Server::bind(config, TokenRange { base: 1, max_conns: 64 }).expect("bind");
        setup(&mut server);
        let addr = server.local_addr();
        let mut poll = Poll::new().expect("poll");
        server.register(poll.registry()).expect("register");
        let waker = Arc::new(Waker::new(poll.registry(), Token(0)).expect("waker"));
        let (stop, offset_ms) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (stop_flag, offset) = (stop.clone(), offset_ms.clone());
        let shut = Arc::new(AtomicBool::new(false));
        let shut_flag = shut.clone();
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut events = Events::with_capacity(64);
            let now = || start + Duration::from_millis(offset.load(Ordering::SeqCst));
            while !stop_flag.load(Ordering::SeqCst) {
                // Real time only bounds how soon a moved clock is noticed.
                let _ = poll.poll(&mut events, Some(Duration::from_millis(5)));
                for event in events.iter() {
                    if server.owns(event.token()) {
                        server.handle_event(poll.registry(), event, now());
                    }
                }
                server.tick(poll.registry(), now());
                if shut_flag.swap(false, Ordering::SeqCst) {
                    server.shutdown(poll.registry());
                }
            }
            server.shutdown(poll.registry());
        });
        VirtualHost { addr, offset_ms, waker, stop, shut, thread: Some(thread) }
    }

    /// Has the loop call `Server::shutdown` (and keep running).
    pub fn shutdown(&self) {
        self.shut.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Moves the server's clock forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

impl Drop for VirtualHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            if !std::thread::panicking() {
                joined.expect("server thread");
            }
        }
    }
}
