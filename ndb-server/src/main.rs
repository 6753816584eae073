//! `ndb-server`: runs one ndb [`Server`] on the same loop an embedding
//! application writes, plus SIGINT/SIGTERM handling and SIGHUP (reload the
//! TLS certificate).
//!
//! This is the only place that reads the clock for the server and the only
//! owner of the `Poll`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cli::{Action, Options};
use log::{info, warn};
use mio::{Events, Interest, Poll, Token};
use ndb::{Error, Server, TokenRange};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

mod cli;
#[cfg(not(feature = "env-logger"))]
mod log_line;

/// The signal pipe's token; the server's range starts after it.
const SIGNAL_TOKEN: Token = Token(0);

/// How long a shutdown waits for clients to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    #[cfg(feature = "env-logger")]
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    #[cfg(not(feature = "env-logger"))]
    log_line::init();
    let options = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Action::Run(options)) => options,
        Ok(Action::Help) => {
            print!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("ndb-server {}", ndb::VERSION);
            return ExitCode::SUCCESS;
        }
        Ok(Action::CheckSave(path)) => return check_save(&path),
        Err(e) => return fail(&e),
    };
    match run(*options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints why the server cannot run, once, as one line with every cause
/// (`ndb-server: cannot load "x": cannot open the directory /d: No such
/// file or directory (os error 2)`), and gives the exit status 1.
fn fail(e: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut line = format!("ndb-server: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    eprintln!("{line}");
    ExitCode::FAILURE
}

#[cfg(feature = "introspection")]
/// `--check-save PATH`: checks the saves under PATH, prints one line per
/// save and a summary, and gives 0 when all are sound, 2 when one is
/// damaged, 1 when PATH cannot be checked or holds no save.
fn check_save(path: &std::path::Path) -> ExitCode {
    let report = match ndb::check_saves(path) {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    print!("{report}");
    match report.verdict() {
        ndb::CheckVerdict::Sound => ExitCode::SUCCESS,
        ndb::CheckVerdict::Damaged => ExitCode::from(2),
        ndb::CheckVerdict::Empty => ExitCode::FAILURE,
    }
}

/// `--check-save PATH` in a build without the `introspection` feature:
/// says so, and gives the exit status 1.
#[cfg(not(feature = "introspection"))]
fn check_save(_path: &std::path::Path) -> ExitCode {
    eprintln!(
        "ndb-server: --check-save: this ndb-server was built without the save checker (the cargo feature \
         `introspection`)"
    );
    ExitCode::FAILURE
}

fn run(options: Options) -> Result<(), Error> {
    if let Some(core) = options.config.core {
        pin_to_core(core);
    }
    raise_fd_limit(options.config.max_connections);
    ignore_file_size_signal();
    let tokens = TokenRange { base: SIGNAL_TOKEN.0 + 1, max_conns: options.config.max_connections };
    let persist_path = options.config.persist_path.clone();
    let persist_enabled = options.config.persist_enabled;
    let save_on_exit = options.config.save_on_exit.clone();
    let mut poll = Poll::new()?;
    let mut server = Server::bind(options.config.clone(), tokens)?;
    let scheme = if server.is_tls() { "wss" } else { "ws" };
    let listening = format!(
        "ndb {} listening on {scheme}://{}/ (protocol {}, saves in {}{}, pid {}, {})",
        ndb::VERSION,
        server.local_addr(),
        options.config.protocol.as_str(),
        persist_path.display(),
        if persist_enabled { "" } else { ", saves disabled" },
        std::process::id(),
        options.source
    );
    server.open_log(Instant::now())?;
    if let Some(load) = &options.load {
        let root = load.path.as_ref().unwrap_or(&persist_path);
        info!("loading {:?} from {} before serving (/healthz answers 503 until then)", load.name, root.display());
        if load.if_present {
            server.load_at_start_if_present(root, &load.name)?;
        } else {
            server.load_at_start(root, &load.name)?;
        }
    }
    server.register(poll.registry())?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    poll.registry().register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
    if options.load.is_none() {
        info!("{listening}");
    }

    let mut events = Events::with_capacity(1024);
    let mut shutdown_by: Option<Instant> = None;
    let mut trim = Trim::default();
    loop {
        let now = Instant::now();
        let mut timeout = server.poll_timeout(now);
        if let Some(by) = shutdown_by {
            let left = by.saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        let now = Instant::now();
        for event in events.iter() {
            if server.owns(event.token()) {
                server.handle_event(poll.registry(), event, now);
            } else if event.token() == SIGNAL_TOKEN {
                for signal in signals.pending() {
                    if signal == SIGHUP {
                        match server.reload_certificates() {
                            Ok(true) => {}
                            Ok(false) => info!("SIGHUP received: no TLS certificate to reload"),
                            Err(e) => log::error!("SIGHUP received: {e}; still serving the previous certificate"),
                        }
                        continue;
                    }
                    let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                    if shutdown_by.is_none() {
                        info!("{name} received: closing {} connections and exiting", server.connections());
                        server.shutdown(poll.registry());
                        shutdown_by = Some(now + SHUTDOWN_GRACE);
                    }
                }
            }
        }
        server.tick(poll.registry(), Instant::now());
        if let Some(loaded) = server.take_start_load() {
            loaded?;
            info!("{listening}");
        }
        trim.after_turn(server.connections());
        if let Some(by) = shutdown_by
            && (server.is_drained() || Instant::now() >= by)
        {
            break;
        }
    }
    // Saves and loads already asked for finish before the process ends.
    server.wait_for_jobs(Instant::now());
    if let Some(name) = save_on_exit {
        // An untouched store would only repeat the save it was loaded from,
        // or, with nothing loaded, write an empty save that the next start
        // would load instead of the real one.
        let same_as_loaded = server.loaded_from().is_none_or(|root| root == persist_path);
        if !server.changed_since_start() && same_as_loaded {
            info!(
                "nothing changed since start: not writing the save {name:?} in {} (it would repeat the save \
                 loaded at start, or be empty)",
                persist_path.display()
            );
        } else {
            server.save_all(&name, Instant::now())?;
        }
    }
    info!("stopped");
    Ok(())
}

/// Gives memory freed by departed connections back to the OS. glibc keeps
/// freed heap memory for reuse, so after a crowd leaves the process would
/// stay at its busiest size; `malloc_trim` releases the free pages once
/// connections fall to a quarter of their peak, and again when the last of
/// that crowd has gone. Rare by construction: the peak starts over after
/// each trim.
#[derive(Default)]
struct Trim {
    peak: usize,
    /// A trim happened while connections were still open.
    partial: bool,
}

/// Connections a peak needs before its fall is worth a trim.
const TRIM_MIN_PEAK: usize = 64;

impl Trim {
    fn after_turn(&mut self, connections: usize) {
        self.peak = self.peak.max(connections);
        let fell = self.peak >= TRIM_MIN_PEAK && connections <= self.peak / 4;
        if fell || (connections == 0 && self.partial) {
            self.peak = connections;
            self.partial = connections > 0;
            release_free_memory();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// Descriptors the process needs besides its connections: standard streams,
/// the poll, the signal pipe, the listener, and saves.
const SPARE_FDS: libc::rlim_t = 32;

/// Ignores SIGXFSZ, whose default action kills the process when a write
/// passes the file size limit (`RLIMIT_FSIZE`, `ulimit -f`): ignored, the
/// write fails with `EFBIG` instead, which the save thread reports as a
/// failed save and the log thread as a log that cannot be written (206
/// until it can), like a full disk.
fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN, at start-up,
    // before any thread that writes files exists.
    if unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) } == libc::SIG_ERR {
        log::warn!("cannot ignore SIGXFSZ: {}", std::io::Error::last_os_error());
    }
}

/// Raises the soft limit on open files to what `max_connections` needs (as
/// far as the hard limit allows), and warns when that is not enough: past
/// it, new connections wait in the backlog instead of getting a 503.
#[cfg(unix)]
fn raise_fd_limit(max_connections: usize) {
    let wanted = (max_connections as libc::rlim_t).saturating_add(SPARE_FDS);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), ..limit };
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        if raised.rlim_cur > limit.rlim_cur && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    let available = limit.rlim_cur;
    if available < wanted {
        warn!(
            "the open-file limit is {available}, too low for maxConnections {max_connections}: at about {} \
             connections new ones will wait unanswered; raise it (ulimit -n {wanted}) or lower maxConnections",
            available.saturating_sub(SPARE_FDS)
        );
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_max_connections: usize) {}

/// Pins the calling thread to `core` where the OS allows it, and sends the
/// server's helper threads (save, search, freeing, log) to the other cores the
/// process may use, so they never compete with the loop for its core.
#[cfg(target_os = "linux")]
fn pin_to_core(core: usize) {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `allowed` and `set` are plain bit masks owned by this frame;
    // the calls only read or fill them, and 0 names the calling thread.
    let (pinned, allowed) = unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        let known = libc::sched_getaffinity(0, size, &mut allowed) == 0;
        let others: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| known && cpu != core && libc::CPU_ISSET(cpu, &allowed))
            .collect();
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let pinned = if core >= libc::CPU_SETSIZE as usize {
            -1
        } else {
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, size, &set)
        };
        (pinned, others)
    };
    if pinned == 0 {
        info!("pinned to core {core}");
        if !allowed.is_empty() {
            info!("helper threads (save, search, freeing, log) run on cores {allowed:?}");
            ndb::set_helper_cpus(allowed);
        }
    } else {
        warn!("cannot pin to core {core}: {}; running unpinned", std::io::Error::last_os_error());
    }
}

/// Pins the calling thread to `core` where the OS allows it.
#[cfg(not(target_os = "linux"))]
fn pin_to_core(core: usize) {
    warn!("pinning to core {core} is not supported on this OS; running unpinned");
}
