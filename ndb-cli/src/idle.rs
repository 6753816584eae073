//! Keeping an idle connection answered while the interactive shell waits
//! for a line: a server that closes (a shutdown, an idle timeout) gets its
//! close reply at once instead of waiting out its grace period, and a ping
//! gets its pong.
//!
//! Owns: one watcher thread per wait, which holds the [`Client`] while the
//! line editor blocks on the keyboard and hands it back (or says why it is
//! gone) when the line is in. Must not touch: the terminal, except for one
//! note through the editor's external printer when the server closes.
//!
//! The thread sleeps in `poll(2)` on the socket and on a pipe; dropping the
//! pipe's write end wakes it. Nothing spins and nothing is read while a
//! request is in flight, so replies are never taken out of turn.

use std::io::{PipeReader, PipeWriter};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ndb_client::{Client, Error};
use rustyline::ExternalPrinter;

/// Longest wait for the rest of a frame the server started while the shell
/// was idle. Those are close frames and pings (at most 127 bytes, one TCP
/// segment), so this is only reached on a broken stream; it bounds how long
/// the next command can be held up by one.
const IDLE_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// What a watch ends with: the client if it is still usable (else why
/// not), and the printer back for the next wait.
pub type Ended<P> = (Result<Client, Error>, Option<P>);

/// A watch of the client: a watcher thread holding it, or (when no thread
/// could be started) the client held here, unwatched.
pub struct Watch<P>(Inner<P>);

enum Inner<P> {
    Watching { wake: PipeWriter, thread: JoinHandle<Ended<P>> },
    Held(Box<Ended<P>>),
}

impl<P: ExternalPrinter + Send + 'static> Watch<P> {
    /// Hands `client` to a watcher thread until [`Watch::finish`]; `timeout`
    /// is the client's reply timeout, restored when it comes back.
    pub fn start(client: Client, printer: Option<P>, timeout: Option<Duration>) -> Watch<P> {
        let (stop, wake) = match std::io::pipe() {
            Ok(pipe) => pipe,
            Err(_) => return Watch(Inner::Held(Box::new((Ok(client), printer)))),
        };
        // Handed back if the thread cannot start.
        let parts = Arc::new(Mutex::new(Some((client, printer))));
        let held = parts.clone();
        let spawned = std::thread::Builder::new().name("ndb-cli-idle".to_owned()).spawn(move || {
            match held.lock().ok().and_then(|mut slot| slot.take()) {
                Some((client, printer)) => watch(client, printer, &stop, timeout),
                None => (Err(Error::Closed(None)), None),
            }
        });
        match spawned {
            Ok(thread) => Watch(Inner::Watching { wake, thread }),
            Err(_) => match parts.lock().ok().and_then(|mut slot| slot.take()) {
                Some((client, printer)) => Watch(Inner::Held(Box::new((Ok(client), printer)))),
                None => Watch(Inner::Held(Box::new((Err(Error::Closed(None)), None)))),
            },
        }
    }

    /// Stops watching and returns what the watch ended with.
    pub fn finish(self) -> Ended<P> {
        match self.0 {
            Inner::Watching { wake, thread } => {
                // Closing the write end makes the pipe readable (end of file).
                drop(wake);
                thread.join().unwrap_or((Err(Error::Closed(None)), None))
            }
            Inner::Held(ended) => *ended,
        }
    }
}

/// The watcher thread: waits for the socket or the stop pipe.
fn watch<P: ExternalPrinter>(
    mut client: Client,
    mut printer: Option<P>,
    stop: &PipeReader,
    timeout: Option<Duration>,
) -> Ended<P> {
    let _ = client.socket().set_read_timeout(Some(IDLE_READ_TIMEOUT));
    let ended = loop {
        match wait(client.socket().as_raw_fd(), stop.as_raw_fd()) {
            Ready::Stop => break Ok(client),
            Ready::Socket => {
                if let Err(e) = client.read_idle() {
                    if let Some(printer) = printer.as_mut() {
                        // The shell prints its own message on the next line if this fails.
                        let _ = printer.print(format!("(closed) {e}\n"));
                    }
                    break Err(e);
                }
            }
        }
    };
    if let Ok(client) = &ended {
        let _ = client.socket().set_read_timeout(timeout);
    }
    (ended, printer)
}

enum Ready {
    Socket,
    Stop,
}

/// Blocks until `socket` or `stop` is readable (or hung up); the stop pipe
/// wins when both are. A failing `poll` stops the watch.
fn wait(socket: i32, stop: i32) -> Ready {
    let mut fds = [
        libc::pollfd { fd: socket, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: stop, events: libc::POLLIN, revents: 0 },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd for the whole call,
        // and both descriptors stay open while this thread runs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Ready::Stop;
        }
        if fds[1].revents != 0 {
            return Ready::Stop;
        }
        if fds[0].revents != 0 {
            return Ready::Socket;
        }
    }
}
