//! `ndb-cli`: an interactive shell for ndb and NemesisDB servers, in the
//! manner of `redis-cli`.
//!
//! Ways to run it:
//! - with a command after the options (`ndb-cli -p 1987 get a`): send it,
//!   print the reply, exit 1 if its status is an error;
//! - with standard input not a terminal: run each line as a command;
//! - `--latency` or `--stat`: watch the server ([`monitor`]);
//! - otherwise: an interactive shell with line editing, history, tab
//!   completion and hints ([`assist`]), which answers the server's close
//!   frame while it waits for a line ([`idle`]).
//!
//! Owns: options, the modes, the connection (reconnecting after a loss),
//! learning the server's status numbering, exit statuses. Lines are read by
//! [`line`](mod@line) against the table of [`forms`], replies shown by
//! [`render`]; the wire is spoken by `ndb_client`.

mod assist;
mod forms;
#[cfg(unix)]
mod idle;
mod line;
mod monitor;
mod render;

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ndb_client::{Builder, Client, DEFAULT_MAX_REPLY_BYTES, DEFAULT_TIMEOUT, Error, Protocol};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;

use line::Action;
use monitor::{Every, Format};
use render::{Output, Style, Verdict};

const HELP: &str = "\
ndb-cli: a shell for ndb (and NemesisDB) servers.

Usage: ndb-cli [OPTIONS] [COMMAND [ARG ...]]

With a COMMAND, sends it, prints the reply and exits: status 1 if the reply's
status is an error or the server cannot be reached, 2 for a usage mistake.
Without one, reads commands from standard input when it is not a terminal,
and otherwise starts an interactive shell (Tab completes, hints show the
arguments; history in ~/.ndb_cli_history, or $NDB_CLI_HISTFILE; empty turns
it off).

Options (long ones may also follow the command; after -- every word is the
command's, e.g. ndb-cli set flag -- --raw stores the string \"--raw\"):
  -H, --host <HOST>       server host [default: 127.0.0.1]
  -p, --port <PORT>       server port [default: 1987]
  -u, --url <URL>         server URL, instead of -H and -p (ws://HOST:PORT/)
      --protocol <0.7|0.9>
                          the server's status numbering, which names save
                          statuses: 0.7 (save success 121) or 0.9 (120)
                          [default: asked of the server with SV_INFO when a
                          reply's status depends on it]
      --raw               print replies exactly as received
      --json              print each reply's result as one line of JSON
      --csv               print each reply's result as CSV rows
      --no-color          never colour (also: NO_COLOR set, or not a terminal)
      --max-reply-bytes <BYTES>
                          largest reply accepted [default: 1073741824]
      --latency           send KV_COUNT again and again and show the round
                          trip's min, max and average (ms) so far
      --stat              print the server's keys, sessions, connections,
                          requests and requests/s once per interval
  -i, --interval <SECS>   time between samples [default: 0.01 for --latency,
                          1 for --stat]
      --count <N>         stop --latency after N samples, --stat after N lines
                          [default: run until interrupted]
  -h, --help              print this help
  -V, --version           print the version

Commands: a raw request (KV_SET {\"keys\":{\"a\":1}}, or a whole JSON
document), or a short form; `help` lists them all, `help CMD` shows one:
  set KEY VALUE ...   get KEY ...   rmv KEY ...   contains KEY ...
  keys   count   clear   info   save NAME   load NAME
  find PATH [KEY ...] [--paths|--kv]   update KEY PATH VALUE
  append KEY ITEM ... [--name MEMBER]
  sh new [SECS [--delete]]   sh set TKN KEY VALUE   sh get TKN KEY   sh end TKN
  iarr create NAME LEN   iarr set NAME ITEM [--pos POS]   iarr get NAME POS
  iarr get-rng NAME START [STOP]   siarr min NAME N   siarr intersect NAME NAME
  olst add NAME ITEM ...   olst get-rng NAME START [STOP]   (oarr strarr sstrarr)
VALUEs are JSON where they parse (1, true, [1,2], '{\"a\": 1}'), else strings.

Examples:
  ndb-cli                                   # interactive, ws://127.0.0.1:1987/
  ndb-cli -p 1987 set user '\"ann\"' visits 3
  ndb-cli -p 1987 get user visits --json
  ndb-cli -u ws://db.internal:1987/ info
  ndb-cli find '$.tags[?@ == \"a\"]' --kv
  ndb-cli KV_GET '{\"keys\":[\"user\"]}'
  ndb-cli iarr create scores 100 && ndb-cli iarr set scores 7 --pos 3
  ndb-cli olst add tasks '{\"a\":1}'
  ndb-cli --latency --count 1000
  ndb-cli --stat -i 5
  printf 'set a 1\\ncount\\n' | ndb-cli --raw
";

/// What ndb-cli is asked to do besides sending commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Commands,
    Latency,
    Stat,
}

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    url: String,
    protocol: Option<Protocol>,
    output: OutputChoice,
    colour: bool,
    max_reply_bytes: usize,
    mode: Mode,
    interval: Option<Duration>,
    count: Option<u64>,
    words: Vec<String>,
}

/// `--raw`, `--json`, `--csv` or none (pretty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputChoice {
    Pretty,
    Raw,
    Json,
    Csv,
}

enum Parsed {
    Run(Options),
    Help,
    Version,
}

/// One option: its long name, short letter, whether it takes a value.
struct Spec {
    long: &'static str,
    short: Option<char>,
    value: bool,
}

const SPECS: &[Spec] = &[
    Spec { long: "host", short: Some('H'), value: true },
    Spec { long: "port", short: Some('p'), value: true },
    Spec { long: "url", short: Some('u'), value: true },
    Spec { long: "protocol", short: None, value: true },
    Spec { long: "raw", short: None, value: false },
    Spec { long: "json", short: None, value: false },
    Spec { long: "csv", short: None, value: false },
    Spec { long: "no-color", short: None, value: false },
    Spec { long: "max-reply-bytes", short: None, value: true },
    Spec { long: "latency", short: None, value: false },
    Spec { long: "stat", short: None, value: false },
    Spec { long: "interval", short: Some('i'), value: true },
    Spec { long: "count", short: None, value: true },
    Spec { long: "help", short: Some('h'), value: false },
    Spec { long: "version", short: Some('V'), value: false },
];

/// Options as they are read, before the URL is put together.
struct Reading {
    host: String,
    port: u16,
    url: Option<String>,
    options: Options,
    outputs: Vec<&'static str>,
    modes: Vec<&'static str>,
}

impl Reading {
    /// Applies option `spec` (with its value); `Some` ends parsing.
    fn apply(&mut self, spec: &Spec, value: Option<String>) -> Result<Option<Parsed>, String> {
        let flag = format!("--{}", spec.long);
        let value = value.unwrap_or_default();
        let o = &mut self.options;
        match spec.long {
            "host" => self.host = value,
            "port" => {
                self.port = value.parse().map_err(|_| format!("--port: must be a port number (got {value:?})"))?;
            }
            "url" => self.url = Some(value),
            "protocol" => {
                o.protocol = Some(match value.as_str() {
                    "0.7" => Protocol::V07,
                    "0.9" => Protocol::V09,
                    other => return Err(format!("--protocol: must be 0.7 or 0.9 (got {other:?})")),
                })
            }
            "raw" | "json" | "csv" => {
                o.output = match spec.long {
                    "raw" => OutputChoice::Raw,
                    "json" => OutputChoice::Json,
                    _ => OutputChoice::Csv,
                };
                self.outputs.push(spec.long);
            }
            "no-color" => o.colour = false,
            "max-reply-bytes" => {
                o.max_reply_bytes = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{flag}: must be a positive number of bytes (got {value:?})"))?;
            }
            "latency" | "stat" => {
                o.mode = if spec.long == "latency" { Mode::Latency } else { Mode::Stat };
                self.modes.push(spec.long);
            }
            "interval" => {
                let secs: f64 =
                    value.parse().map_err(|_| format!("{flag}: must be a number of seconds (got {value:?})"))?;
                o.interval = Some(
                    Duration::try_from_secs_f64(secs)
                        .ok()
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| format!("{flag}: must be a positive number of seconds (got {value:?})"))?,
                );
            }
            "count" => {
                o.count = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|&n: &u64| n > 0)
                        .ok_or_else(|| format!("{flag}: must be a positive whole number (got {value:?})"))?,
                );
            }
            "help" => return Ok(Some(Parsed::Help)),
            _ => return Ok(Some(Parsed::Version)),
        }
        Ok(None)
    }
}

/// Whether `word` looks like a host name or address (`db.internal`,
/// `10.0.0.5`, `::1`, `localhost`), for the hint after a redis-cli habit.
fn looks_like_host(word: &str) -> bool {
    !word.starts_with('-') && (word.contains('.') || word.contains(':') || word == "localhost")
}

fn parse_options(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(|_| "arguments must be valid UTF-8".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut r = Reading {
        host: "127.0.0.1".to_owned(),
        port: 1987,
        url: None,
        options: Options {
            url: String::new(),
            protocol: None,
            output: OutputChoice::Pretty,
            colour: true,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            mode: Mode::Commands,
            interval: None,
            count: None,
            words: Vec::new(),
        },
        outputs: Vec::new(),
        modes: Vec::new(),
    };
    let mut words = Vec::new();
    let mut rest = args.into_iter().peekable();
    while let Some(arg) = rest.next() {
        let in_command = !words.is_empty();
        if arg == "--" {
            words.extend(rest);
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (long, None),
            };
            let Some(spec) = SPECS.iter().find(|s| s.long == name) else {
                // A short form's own flag (`sh new 30 --delete`).
                if in_command {
                    words.push(arg);
                    continue;
                }
                return Err(format!("unknown option --{name}; see --help"));
            };
            let value = match (spec.value, inline) {
                (true, Some(value)) => Some(value),
                (true, None) => Some(rest.next().ok_or_else(|| format!("--{name} needs a value; see --help"))?),
                (false, None) => None,
                (false, Some(_)) => return Err(format!("--{name} takes no value; see --help")),
            };
            if let Some(done) = r.apply(spec, value)? {
                return Ok(done);
            }
            continue;
        }
        if !in_command && arg.len() > 1 && arg.starts_with('-') {
            let mut chars = arg[1..].chars();
            let letter = chars.next().unwrap_or('-');
            let attached = chars.as_str();
            let Some(spec) = SPECS.iter().find(|s| s.short == Some(letter)) else {
                return Err(format!("unknown option -{letter}; see --help"));
            };
            if letter == 'h' && rest.peek().is_some_and(|next| looks_like_host(next)) {
                return Err(format!(
                    "-h is help; give the host with -H or --host (ndb-cli -H {})",
                    rest.peek().map_or("", String::as_str)
                ));
            }
            let value = match (spec.value, attached.is_empty()) {
                (true, false) => Some(attached.to_owned()),
                (true, true) => Some(rest.next().ok_or_else(|| format!("-{letter} needs a value; see --help"))?),
                (false, true) => None,
                (false, false) => return Err(format!("unknown option {arg}; see --help")),
            };
            if let Some(done) = r.apply(spec, value)? {
                return Ok(done);
            }
            continue;
        }
        // The command: everything from here on is its, but for long options.
        words.push(arg);
    }
    if r.outputs.len() > 1 {
        return Err(format!("choose one of --raw, --json and --csv (got --{})", r.outputs.join(" and --")));
    }
    if r.modes.len() > 1 {
        return Err("choose one of --latency and --stat".to_owned());
    }
    let mut options = r.options;
    if options.mode != Mode::Commands && !words.is_empty() {
        return Err(format!("--{} takes no command (got {:?})", r.modes[0], words.join(" ")));
    }
    if options.mode == Mode::Commands && (options.interval.is_some() || options.count.is_some()) {
        return Err("--interval and --count go with --latency or --stat".to_owned());
    }
    if options.mode == Mode::Latency && options.output == OutputChoice::Raw {
        return Err("--latency prints text, --json or --csv, not --raw".to_owned());
    }
    if options.mode == Mode::Stat && options.output == OutputChoice::Raw {
        return Err("--stat prints text, --json or --csv, not --raw".to_owned());
    }
    options.url = r.url.unwrap_or_else(|| {
        let host = r.host;
        let bracketed = host.contains(':') && !host.starts_with('[');
        if bracketed { format!("ws://[{host}]:{}/", r.port) } else { format!("ws://{host}:{}/", r.port) }
    });
    options.words = words;
    Ok(Parsed::Run(options))
}

/// The connection and how replies are shown.
struct Shell {
    url: String,
    builder: Builder,
    client: Option<Client>,
    /// The numbering given with `--protocol`.
    protocol: Option<Protocol>,
    /// The numbering the server said it uses, learned on this connection.
    learned: Option<Protocol>,
    output: Output,
}

impl Shell {
    /// The connection, made (again) if there is none.
    fn connect(&mut self) -> Result<&mut Client, Error> {
        let client = match self.client.take() {
            Some(client) => client,
            None => {
                self.learned = None;
                self.builder.connect(&self.url)?
            }
        };
        Ok(self.client.insert(client))
    }

    /// Sends a request and prints its reply; returns whether its status was
    /// success.
    fn send(&mut self, request: &str) -> Result<bool, Error> {
        let reply = match self.connect()?.call_text(request) {
            Ok(reply) => reply,
            Err(e) => {
                if e.is_connection_lost() {
                    self.client = None;
                }
                return Err(e);
            }
        };
        let protocol = self.protocol_for(&reply);
        let verdict = render::verdict(&reply, protocol);
        let shown = render::show(&reply, &verdict, self.output);
        emit(&shown.out);
        if !shown.err.is_empty() {
            eprint!("{}", shown.err);
        }
        Ok(verdict == Verdict::Success)
    }

    /// The numbering to judge `reply` by: `--protocol`'s, else, when the
    /// reply's status means different things under each (a save's), the
    /// server's own, asked with `SV_INFO` once per connection.
    fn protocol_for(&mut self, reply: &str) -> Protocol {
        if let Some(protocol) = self.protocol.or(self.learned) {
            return protocol;
        }
        if !render::depends_on_protocol(reply) {
            return Protocol::V07;
        }
        let Some(client) = self.client.as_mut() else { return Protocol::V07 };
        let learned = match client.call_text(r#"{"SV_INFO":{}}"#) {
            Ok(info) => protocol_of(&info),
            Err(e) => {
                if e.is_connection_lost() {
                    self.client = None;
                }
                Protocol::V07
            }
        };
        self.learned = Some(learned);
        learned
    }

    /// The prompt: the server's address (without credentials), or that
    /// there is no connection.
    fn prompt(&self) -> String {
        match &self.client {
            Some(_) => {
                let address = self.url.trim_start_matches("ws://").trim_start_matches("wss://").trim_end_matches('/');
                format!("{}> ", address.rsplit_once('@').map_or(address, |(_, host)| host))
            }
            None => "not connected> ".to_owned(),
        }
    }
}

/// The numbering an `SV_INFO` reply says the server uses: ndb's `protocol`
/// member, else NemesisDB's `serverVersion` (0.9 and later number saves
/// from 120), else 0.7.
fn protocol_of(info: &str) -> Protocol {
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(info) else { return Protocol::V07 };
    let Some(body) = doc.get("SV_INFO_RSP") else { return Protocol::V07 };
    match body.get("protocol").and_then(serde_json::Value::as_str) {
        Some("0.9") => return Protocol::V09,
        Some("0.7") => return Protocol::V07,
        _ => {}
    }
    let version = body.get("serverVersion").and_then(serde_json::Value::as_str).unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) if (major, minor) >= (0, 9) => Protocol::V09,
        _ => Protocol::V07,
    }
}

/// Writes to standard output; a closed pipe (`| head`) ends the program
/// quietly.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            emit(HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            emit(&format!("ndb-cli {}\n", env!("CARGO_PKG_VERSION")));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ndb-cli: {e}");
            return ExitCode::from(2);
        }
    };
    let terminal = std::io::stdout().is_terminal();
    let colour = options.colour && std::env::var_os("NO_COLOR").is_none() && terminal;
    let style = if colour { Style::COLOUR } else { Style::PLAIN };
    let output = match options.output {
        OutputChoice::Pretty => Output::Pretty(style),
        OutputChoice::Raw => Output::Raw,
        OutputChoice::Json => Output::Json,
        OutputChoice::Csv => Output::Csv,
    };
    let mut shell = Shell {
        url: options.url.clone(),
        builder: Client::builder().max_reply_bytes(options.max_reply_bytes),
        client: None,
        protocol: options.protocol,
        learned: None,
        output,
    };
    match options.mode {
        Mode::Latency | Mode::Stat => watch(&mut shell, &options, terminal),
        Mode::Commands if !options.words.is_empty() => one_shot(&mut shell, &options.words),
        Mode::Commands if std::io::stdin().is_terminal() => interactive(&mut shell, colour),
        Mode::Commands => batch(&mut shell),
    }
}

/// `--latency` and `--stat`.
fn watch(shell: &mut Shell, options: &Options, terminal: bool) -> ExitCode {
    let format = match options.output {
        OutputChoice::Json => Format::Json,
        OutputChoice::Csv => Format::Csv,
        _ => Format::Text,
    };
    let client = match shell.connect() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("ndb-cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if options.mode == Mode::Latency {
        let every = Every { interval: options.interval.unwrap_or(Duration::from_millis(10)), count: options.count };
        monitor::latency(client, every, format, terminal)
    } else {
        let every = Every { interval: options.interval.unwrap_or(Duration::from_secs(1)), count: options.count };
        monitor::stat(client, every, format)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ndb-cli: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Shows `help` or `help TOPIC`; false for an unknown topic.
fn show_help(topic: Option<&str>) -> Result<(), String> {
    match topic {
        None => {
            emit(&forms::help());
            Ok(())
        }
        Some(topic) => forms::help_topic(topic).map(|text| emit(&text)),
    }
}

/// Runs the command given on the command line.
fn one_shot(shell: &mut Shell, words: &[String]) -> ExitCode {
    match line::parse_args(words) {
        Ok(Action::Send(request)) => match shell.send(&request) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("ndb-cli: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Action::Help(topic)) => match show_help(topic.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ndb-cli: {e}");
                ExitCode::from(2)
            }
        },
        Ok(Action::Nothing | Action::Quit) => ExitCode::SUCCESS,
        Err(usage) => {
            eprintln!("ndb-cli: {usage}");
            ExitCode::from(2)
        }
    }
}

/// Runs each line of standard input; stops at a lost connection.
fn batch(shell: &mut Shell) -> ExitCode {
    let mut failed = false;
    for (n, text) in std::io::stdin().lock().lines().enumerate() {
        let Ok(text) = text else {
            eprintln!("ndb-cli: standard input is not UTF-8 text (line {})", n + 1);
            return ExitCode::FAILURE;
        };
        match line::parse_line(&text) {
            Ok(Action::Send(request)) => match shell.send(&request) {
                Ok(ok) => failed |= !ok,
                Err(e) => {
                    eprintln!("ndb-cli: {e}");
                    return ExitCode::FAILURE;
                }
            },
            Ok(Action::Help(topic)) => {
                if let Err(e) = show_help(topic.as_deref()) {
                    eprintln!("ndb-cli: line {}: {e}", n + 1);
                    failed = true;
                }
            }
            Ok(Action::Nothing) => {}
            Ok(Action::Quit) => break,
            Err(usage) => {
                eprintln!("ndb-cli: line {}: {usage}", n + 1);
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Where history is kept: `$NDB_CLI_HISTFILE` (empty: nowhere), else
/// `~/.ndb_cli_history`.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("NDB_CLI_HISTFILE") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ndb_cli_history")),
    }
}

type Editor = rustyline::Editor<assist::Assist, DefaultHistory>;

/// The interactive shell.
fn interactive(shell: &mut Shell, colour: bool) -> ExitCode {
    let config = rustyline::Config::builder()
        .max_history_size(1000)
        .map(|b| b.auto_add_history(false).completion_type(rustyline::CompletionType::List).build());
    let editor = config.and_then(Editor::with_config);
    let mut editor = match editor {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("ndb-cli: cannot start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(assist::Assist { colour }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    let style = if colour { Style::COLOUR } else { Style::PLAIN };
    let say_error = |what: &str| emit(&format!("{}\n", style.error(&format!("(error) {what}"))));
    if let Err(e) = shell.connect() {
        say_error(&e.to_string());
    }
    #[cfg(unix)]
    let mut printer = editor.create_external_printer().ok();
    loop {
        let prompt = shell.prompt();
        #[cfg(unix)]
        let watch = shell.client.take().map(|client| idle::Watch::start(client, printer.take(), Some(DEFAULT_TIMEOUT)));
        let read = editor.readline(&prompt);
        #[cfg(unix)]
        if let Some(watch) = watch {
            let (client, back) = watch.finish();
            printer = back;
            shell.client = client.ok();
        }
        match read {
            Ok(text) => {
                if !text.trim().is_empty() {
                    let _ = editor.add_history_entry(text.as_str());
                }
                match line::parse_line(&text) {
                    Ok(Action::Send(request)) => {
                        if let Err(e) = shell.send(&request) {
                            say_error(&e.to_string());
                        }
                    }
                    Ok(Action::Help(topic)) => {
                        if let Err(e) = show_help(topic.as_deref()) {
                            say_error(&e);
                        }
                    }
                    Ok(Action::Nothing) => {}
                    Ok(Action::Quit) => break,
                    Err(usage) => say_error(&usage),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("ndb-cli: {e}");
                break;
            }
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("ndb-cli: cannot save history to {}: {e}", path.display());
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        match parse_options(args.iter().map(OsString::from))? {
            Parsed::Run(options) => Ok(options),
            Parsed::Help => Err("help".into()),
            Parsed::Version => Err("version".into()),
        }
    }

    #[test]
    fn options_make_the_url_and_leave_the_command_alone() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.url.as_str(), o.words.len(), o.protocol), ("ws://127.0.0.1:1987/", 0, None));
        let o = parse(&["-H", "::1", "-p", "2000", "set", "a", "-1", "-p"]).unwrap();
        assert_eq!(o.url, "ws://[::1]:2000/");
        assert_eq!(o.words, ["set", "a", "-1", "-p"]);
        let o = parse(&["--url=ws://x:1/", "--protocol", "0.9", "--raw", "--no-color", "info"]).unwrap();
        assert_eq!(
            (o.url.as_str(), o.protocol, o.output, o.colour),
            ("ws://x:1/", Some(Protocol::V09), OutputChoice::Raw, false)
        );
        let o = parse(&["--host=db", "-p2000", "count"]).unwrap();
        assert_eq!(o.url, "ws://db:2000/");
    }

    #[test]
    fn long_options_may_follow_the_command_until_a_double_dash() {
        let o = parse(&["get", "a", "--raw"]).unwrap();
        assert_eq!((o.words.as_slice(), o.output), (&["get".to_owned(), "a".to_owned()][..], OutputChoice::Raw));
        let o = parse(&["set", "flag", "--", "--raw"]).unwrap();
        assert_eq!(
            (o.words.as_slice(), o.output),
            (&["set".to_owned(), "flag".into(), "--raw".into()][..], OutputChoice::Pretty)
        );
        let o = parse(&["--", "--json"]).unwrap();
        assert_eq!(o.words, ["--json"]);
        let o = parse(&["sh", "new", "30", "--delete", "--json"]).unwrap();
        assert_eq!((o.words.len(), o.output), (4, OutputChoice::Json), "short-form flags stay the command's");
        let o = parse(&["find", "$", "--kv", "--port", "5"]).unwrap();
        assert_eq!((o.words.len(), o.url.as_str()), (3, "ws://127.0.0.1:5/"));
        assert_eq!(parse(&["get", "a", "--help"]).err().as_deref(), Some("help"));
    }

    #[test]
    fn modes_and_their_settings() {
        let o = parse(&["--latency", "--count", "20", "-i", "0.05"]).unwrap();
        assert_eq!((o.mode, o.count, o.interval), (Mode::Latency, Some(20), Some(Duration::from_millis(50))));
        let o = parse(&["--stat", "--json", "--interval=2"]).unwrap();
        assert_eq!((o.mode, o.output, o.interval), (Mode::Stat, OutputChoice::Json, Some(Duration::from_secs(2))));
        assert_eq!(parse(&["--latency", "--stat"]).unwrap_err(), "choose one of --latency and --stat");
        assert!(parse(&["--latency", "count"]).unwrap_err().starts_with("--latency takes no command"));
        assert_eq!(parse(&["--count", "3", "keys"]).unwrap_err(), "--interval and --count go with --latency or --stat");
        assert!(parse(&["--stat", "-i", "0"]).unwrap_err().starts_with("--interval: must be a positive"));
        assert!(parse(&["--stat", "--count", "x"]).unwrap_err().starts_with("--count: must be a positive"));
        assert_eq!(
            parse(&["--raw", "--json", "keys"]).unwrap_err(),
            "choose one of --raw, --json and --csv (got --raw and --json)"
        );
        assert!(parse(&["--latency", "--raw"]).is_err());
    }

    #[test]
    fn help_version_and_mistakes() {
        assert_eq!(parse(&["--help"]).err().as_deref(), Some("help"));
        assert_eq!(parse(&["-h"]).err().as_deref(), Some("help"));
        assert_eq!(parse(&["-p", "5", "-h"]).err().as_deref(), Some("help"));
        assert_eq!(
            parse(&["-h", "10.0.0.5", "info"]).unwrap_err(),
            "-h is help; give the host with -H or --host (ndb-cli -H 10.0.0.5)"
        );
        assert_eq!(parse(&["-V"]).err().as_deref(), Some("version"));
        assert_eq!(parse(&["-p", "x"]).err().as_deref(), Some("--port: must be a port number (got \"x\")"));
        assert!(parse(&["--protocol", "1"]).unwrap_err().starts_with("--protocol: must be 0.7 or 0.9"));
        assert!(parse(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert!(parse(&["-x"]).unwrap_err().contains("-x"));
        assert_eq!(parse(&["--raw=1"]).unwrap_err(), "--raw takes no value; see --help");
        assert_eq!(parse(&["--port"]).unwrap_err(), "--port needs a value; see --help");
        assert!(parse(&["--max-reply-bytes", "0"]).is_err());
        assert_eq!(parse(&["--max-reply-bytes", "4096"]).unwrap().max_reply_bytes, 4096);
    }

    #[test]
    fn the_numbering_comes_from_sv_info() {
        let ndb = |p: &str| format!(r#"{{"SV_INFO_RSP":{{"protocol":"{p}","serverVersion":"0.1.0","st":1}}}}"#);
        assert_eq!(protocol_of(&ndb("0.9")), Protocol::V09);
        assert_eq!(protocol_of(&ndb("0.7")), Protocol::V07);
        let nemesis = |v: &str| format!(r#"{{"SV_INFO_RSP":{{"persistEnabled":true,"serverVersion":"{v}","st":1}}}}"#);
        assert_eq!(protocol_of(&nemesis("0.7.4")), Protocol::V07);
        assert_eq!(protocol_of(&nemesis("0.9")), Protocol::V09);
        assert_eq!(protocol_of(&nemesis("0.9.1")), Protocol::V09);
        assert_eq!(protocol_of(&nemesis("1.0.0")), Protocol::V09);
        assert_eq!(protocol_of(&nemesis("x")), Protocol::V07);
        assert_eq!(protocol_of(r#"{"ERR":{"m":"","st":10}}"#), Protocol::V07);
    }
}
