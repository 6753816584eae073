//! `ndb-server`: runs one ndb [`Server`] on the same loop an embedding
//! application writes, plus SIGINT/SIGTERM handling.
//!
//! This is the only place that reads the clock for the server and the only
//! owner of the `Poll`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};
use ndb::cli::{self, Action, Options};
use ndb::{Error, Server, TokenRange};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The signal pipe's token; the server's range starts after it.
const SIGNAL_TOKEN: Token = Token(0);

/// How long a shutdown waits for clients to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
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
        Err(e) => {
            eprintln!("ndb-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(*options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("ndb-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), Error> {
    if let Some(core) = options.config.core {
        pin_to_core(core);
    }
    let tokens = TokenRange { base: SIGNAL_TOKEN.0 + 1, max_conns: options.config.max_connections };
    let persist_path = options.config.persist_path.clone();
    let save_on_exit = options.config.save_on_exit.clone();
    let mut poll = Poll::new()?;
    let mut server = Server::bind(options.config, tokens)?;
    if let Some(load) = &options.load {
        load_at_start(&mut server, load.path.as_ref().unwrap_or(&persist_path), &load.name)?;
    }
    server.register(poll.registry())?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    poll.registry().register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
    info!("ndb {} listening on ws://{}/ ({})", ndb::VERSION, server.local_addr(), options.source);

    let mut events = Events::with_capacity(1024);
    let mut shutdown_by: Option<Instant> = None;
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
        if let Some(by) = shutdown_by
            && (server.is_drained() || Instant::now() >= by)
        {
            break;
        }
    }
    if let Some(name) = save_on_exit {
        server.save_all(&name, Instant::now()).map_err(Error::Persist)?;
    }
    info!("stopped");
    Ok(())
}

/// Loads the newest complete saves named `name` under `root` into the
/// store before serving.
fn load_at_start(server: &mut Server, root: &std::path::Path, name: &str) -> Result<(), Error> {
    let loaded = ndb::persist::load_at_start(root, name).map_err(Error::Persist)?;
    let now = Instant::now();
    for snapshot in [loaded.kv, loaded.sessions].into_iter().flatten() {
        let kind = snapshot.kind().as_str();
        let applied = server.store_mut().apply(snapshot, now);
        info!(
            "loaded the {kind} save {name:?} from {}: {} sessions, {} keys",
            root.display(),
            applied.sessions,
            applied.keys
        );
    }
    Ok(())
}

/// Pins the calling thread to `core` where the OS allows it.
#[cfg(target_os = "linux")]
fn pin_to_core(core: usize) {
    // SAFETY: `set` is a plain bit mask owned by this frame; the calls only
    // read it, and 0 names the calling thread.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if core >= libc::CPU_SETSIZE as usize {
            -1
        } else {
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        }
    };
    if pinned == 0 {
        info!("pinned to core {core}");
    } else {
        warn!("cannot pin to core {core}: {}; running unpinned", std::io::Error::last_os_error());
    }
}

/// Pins the calling thread to `core` where the OS allows it.
#[cfg(not(target_os = "linux"))]
fn pin_to_core(core: usize) {
    warn!("pinning to core {core} is not supported on this OS; running unpinned");
}
