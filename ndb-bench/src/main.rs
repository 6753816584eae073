//! `ndb-bench`: a load generator for ndb and any server of the NemesisDB
//! WebSocket protocol, in the spirit of `redis-benchmark`, with HDR latency
//! percentiles and an open-loop mode that does not hide queueing delay.
//!
//! The main thread parses flags, starts one event-loop thread per
//! `--threads`, draws the progress line and prints each test's summary as
//! the threads report it. It never touches a socket; the workers never print.
//!
//! Module map:
//! - `args`: flags → `Config`
//! - `worker`: one mio loop per thread, phases in step across threads
//! - `plan`: each thread's share, the phases, key choice
//! - `conn`: one connection's buffers and in-flight stamps
//! - `ws`: connect, WebSocket upgrade, blocking setup requests
//! - `fixture`: the arrays and list the array and list tests work on
//! - `frame` and `reader`: masked frames out, replies and their `st` in
//! - `request`: the tests and their request templates
//! - `schedule` and `timer`: the open-loop schedule and precise wake-ups
//! - `report` and `progress`: results, summaries, JSON, the progress line

mod args;
mod conn;
mod fixture;
mod frame;
mod plan;
mod progress;
mod reader;
mod report;
mod request;
mod rng;
mod schedule;
mod timer;
mod worker;
mod ws;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use args::{Action, Config};
use plan::{Phase, Share};
use progress::Progress;
use report::{Outcome, Summary};
use worker::{Msg, Shared};

fn main() -> ExitCode {
    match args::parse(std::env::args_os().skip(1)) {
        Ok(Action::Run(config)) => run(&config),
        Ok(Action::Help) => {
            print!("{}", args::HELP);
            ExitCode::SUCCESS
        }
        Ok(Action::Version) => {
            println!("ndb-bench {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("ndb-bench: {msg}\nTry 'ndb-bench --help' for more information.");
            ExitCode::from(2)
        }
    }
}

/// Opens `-c` connections, upgrades them, and holds them without a request
/// until `--duration` passes (or forever).
fn idle(config: &Config) -> ExitCode {
    let opened = ws::resolve(&config.target).and_then(|addrs| {
        (0..config.connections)
            .map(|_| ws::open(&config.target, &addrs, &mut reader::Reader::with_capacity(4096)))
            .collect::<Result<Vec<_>, String>>()
    });
    let connections = match opened {
        Ok(connections) => connections,
        Err(msg) => {
            eprintln!("ndb-bench: {msg}");
            return ExitCode::FAILURE;
        }
    };
    println!("{} idle connections open to {}", connections.len(), config.target);
    let _ = std::io::stdout().flush();
    match config.duration {
        Some(duration) => std::thread::sleep(duration),
        None => loop {
            std::thread::park();
        },
    }
    drop(connections);
    ExitCode::SUCCESS
}

/// Raises the soft limit on open files towards `connections` plus room for
/// the process itself, as far as the hard limit allows.
fn raise_descriptor_limit(connections: usize) {
    let wanted = connections as u64 + 64;
    // SAFETY: plain get/set of this process's own resource limit.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < wanted {
            limit.rlim_cur = limit.rlim_max.min(wanted);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// What the run produced, for the final output and the exit status.
struct Results {
    preload: Option<Summary>,
    tests: Vec<Summary>,
    errors: Vec<String>,
}

impl Results {
    fn is_ok(&self) -> bool {
        self.errors.is_empty()
            && self.tests.iter().all(Summary::is_ok)
            && self.preload.as_ref().is_none_or(Summary::is_ok)
    }
}

fn run(config: &Config) -> ExitCode {
    raise_descriptor_limit(config.connections);
    if config.idle {
        return idle(config);
    }
    let mut phases = Vec::new();
    if config.preload > 0 {
        phases.push(Phase::Preload);
    }
    phases.extend(config.tests.iter().map(|&t| Phase::Test(t)));
    if !config.custom.is_empty() {
        phases.push(Phase::Custom);
    }
    let human = !config.json;
    if human && !config.quiet {
        println!("{}\n", report::banner(config));
    }
    let results = match ws::resolve(&config.target) {
        Ok(addrs) => run_threads(config, &addrs, &phases),
        Err(msg) => Results { preload: None, tests: Vec::new(), errors: vec![msg] },
    };
    for error in &results.errors {
        eprintln!("ndb-bench: {error}");
    }
    if config.json {
        let preload = results.preload.as_ref();
        println!("{}", report::json(config, preload, &results.tests, &results.errors));
    }
    let _ = std::io::stdout().flush();
    if results.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn run_threads(config: &Config, addrs: &[std::net::SocketAddr], phases: &[Phase]) -> Results {
    let shared = Shared::new(config.threads);
    let (tx, rx) = mpsc::channel();
    let mut results = Results { preload: None, tests: Vec::new(), errors: Vec::new() };
    std::thread::scope(|scope| {
        for share in Share::split(config.connections, config.threads) {
            let tx = tx.clone();
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name(format!("ndb-bench-{}", share.index))
                .spawn_scoped(scope, move || worker::run(share, config, addrs, phases, shared, tx));
            if let Err(e) = spawned {
                // The barrier counts every thread; without this one the
                // others would wait forever, so stop here.
                eprintln!("ndb-bench: cannot start a thread: {e}");
                std::process::exit(1);
            }
        }
        drop(tx);
        collect(config, phases, &shared, &rx, &mut results);
    });
    let done = results.tests.len() + usize::from(results.preload.is_some());
    if results.errors.is_empty() && done < phases.len() {
        let skipped: Vec<&str> = phases[done..].iter().map(|p| p.name()).collect();
        results.errors.push(format!("not run, no connection left: {}", skipped.join(", ")));
    }
    results
}

/// Receives the workers' messages until they all finish, drawing progress
/// and printing each phase as soon as every thread has reported it.
fn collect(config: &Config, phases: &[Phase], shared: &Shared, rx: &mpsc::Receiver<Msg>, results: &mut Results) {
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut pending: Vec<Vec<Outcome>> = phases.iter().map(|_| Vec::new()).collect();
    let mut current = 0;
    loop {
        match rx.recv_timeout(progress::INTERVAL) {
            Ok(Msg::SetupFailed(msg)) => {
                // Every thread fails the same way when the server is down: say it once.
                if !results.errors.contains(&msg) {
                    results.errors.push(msg);
                }
            }
            Ok(Msg::Done { phase, outcome }) => {
                if let Some(outcomes) = pending.get_mut(phase) {
                    outcomes.push(*outcome);
                }
                while current < phases.len() && pending[current].len() == config.threads {
                    let outcomes = std::mem::take(&mut pending[current]);
                    let summary = Summary::merge(phases[current].name(), outcomes);
                    progress.clear();
                    print_phase(config, phases[current], &summary);
                    match phases[current] {
                        Phase::Preload => results.preload = Some(summary),
                        Phase::Test(_) | Phase::Custom => results.tests.push(summary),
                    }
                    current += 1;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(phase) = phases.get(current) {
            let replies = shared.progress.iter().map(|slot| slot.replies_in(current)).sum();
            progress.tick(Instant::now(), current, phase.name(), replies);
        }
    }
    progress.clear();
}

fn print_phase(config: &Config, phase: Phase, summary: &Summary) {
    if config.json {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = match phase {
        Phase::Preload if config.quiet => Ok(()),
        Phase::Preload => writeln!(
            out,
            "preload: {} keys in {} requests, {:.3} s, {} errors\n",
            config.preload,
            summary.requests,
            summary.elapsed.as_secs_f64(),
            summary.errors + summary.lost
        ),
        Phase::Test(_) if config.quiet => writeln!(out, "{}", report::quiet(summary)),
        Phase::Test(_) => writeln!(out, "{}", report::human(summary, config.rate.is_some())),
        Phase::Custom if config.quiet => writeln!(out, "{}", report::quiet(summary)),
        Phase::Custom => {
            writeln!(out, "{}{}", report::human(summary, config.rate.is_some()), report::mix(config, summary))
        }
    };
    let _ = out.flush();
}
