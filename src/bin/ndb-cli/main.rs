//! `ndb-cli`: an interactive shell for ndb and NemesisDB servers, in the
//! manner of `redis-cli`.
//!
//! Three ways to run it:
//! - with a command after the options (`ndb-cli -p 1987 get a`): send it,
//!   print the reply, exit 1 if its status is an error;
//! - with standard input not a terminal: run each line as a command;
//! - otherwise: an interactive shell with line editing and history.
//!
//! Owns: options, the three modes, the connection (reconnecting after a
//! loss), exit statuses. Lines are read by [`line`](mod@line), replies shown by
//! [`render`]; the wire is spoken by `ndb::client`.

mod line;
mod render;

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;
use ndb::client::{Builder, Client, Error};
use ndb::protocol::Protocol;
use rustyline::error::ReadlineError;

use line::Action;
use render::{Style, Verdict};

const HELP: &str = "\
ndb-cli: a shell for ndb (and NemesisDB) servers.

Usage: ndb-cli [OPTIONS] [COMMAND [ARG ...]]

With a COMMAND, sends it, prints the reply and exits: status 1 if the reply's
status is an error or the server cannot be reached, 2 for a usage mistake.
Without one, reads commands from standard input when it is not a terminal,
and otherwise starts an interactive shell (history in ~/.ndb_cli_history,
or $NDB_CLI_HISTFILE; empty turns it off).

Options:
  -h, --host <HOST>       server host [default: 127.0.0.1]
  -p, --port <PORT>       server port [default: 1987]
  -u, --url <URL>         server URL, instead of -h and -p (ws://HOST:PORT/)
      --protocol <0.7|0.9>
                          the server's status numbering, for naming save
                          statuses: 0.7 (save success 121) or 0.9 (120)
                          [default: 0.7]
      --raw               print replies exactly as received
      --no-color          never colour (also: NO_COLOR set, or not a terminal)
      --help              print this help
  -V, --version           print the version

Commands: a raw request (KV_SET {\"keys\":{\"a\":1}}, or a whole JSON
document), or a short form; type `help` in the shell for the list:
  set KEY VALUE ...   get KEY ...   rmv KEY ...   contains KEY ...
  keys   count   clear   info   save NAME   load NAME
  sh new [SECS [--delete]]   sh set TKN KEY VALUE   sh get TKN KEY   sh end TKN
VALUEs are JSON where they parse (1, true, [1,2], '{\"a\": 1}'), else strings.

Examples:
  ndb-cli                                   # interactive, ws://127.0.0.1:1987/
  ndb-cli -p 1987 set user '\"ann\"' visits 3
  ndb-cli -p 1987 get user visits
  ndb-cli -u ws://db.internal:1987/ info
  ndb-cli KV_GET '{\"keys\":[\"user\"]}'
  printf 'set a 1\\ncount\\n' | ndb-cli --raw
";

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    url: String,
    protocol: Protocol,
    raw: bool,
    colour: bool,
    words: Vec<String>,
}

enum Parsed {
    Run(Options),
    Help,
    Version,
}

fn parse_options(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let (mut host, mut port, mut url) = ("127.0.0.1".to_owned(), 1987u16, None);
    let (mut protocol, mut raw, mut colour) = (Protocol::V07, false, true);
    let mut words = Vec::new();
    let text = |parser: &mut lexopt::Parser, flag: &str| -> Result<String, String> {
        let value = parser.value().map_err(|e| e.to_string())?;
        value.into_string().map_err(|_| format!("{flag}: must be valid UTF-8"))
    };
    while let Some(arg) = parser.next().map_err(|e| format!("{e}; see --help"))? {
        match arg {
            Short('h') | Long("host") => host = text(&mut parser, "--host")?,
            Short('p') | Long("port") => {
                let value = text(&mut parser, "--port")?;
                port = value.parse().map_err(|_| format!("--port: must be a port number (got {value:?})"))?;
            }
            Short('u') | Long("url") => url = Some(text(&mut parser, "--url")?),
            Long("protocol") => {
                protocol = match text(&mut parser, "--protocol")?.as_str() {
                    "0.7" => Protocol::V07,
                    "0.9" => Protocol::V09,
                    other => return Err(format!("--protocol: must be 0.7 or 0.9 (got {other:?})")),
                }
            }
            Long("raw") => raw = true,
            Long("no-color") => colour = false,
            Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Value(first) => {
                // Everything from the command on is the command's, `-1` included.
                words.push(first);
                words.extend(parser.raw_args().map_err(|e| e.to_string())?);
            }
            other => return Err(format!("{}; see --help", other.unexpected())),
        }
    }
    let words = words
        .into_iter()
        .map(|w| w.into_string().map_err(|_| "arguments must be valid UTF-8".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let url = url.unwrap_or_else(|| {
        let bracketed = host.contains(':') && !host.starts_with('[');
        if bracketed { format!("ws://[{host}]:{port}/") } else { format!("ws://{host}:{port}/") }
    });
    Ok(Parsed::Run(Options { url, protocol, raw, colour, words }))
}

/// The connection and how replies are shown.
struct Shell {
    url: String,
    builder: Builder,
    client: Option<Client>,
    protocol: Protocol,
    raw: bool,
    style: Style,
}

impl Shell {
    /// The connection, made (again) if there is none.
    fn connect(&mut self) -> Result<&mut Client, Error> {
        let client = match self.client.take() {
            Some(client) => client,
            None => self.builder.connect(&self.url)?,
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
        let verdict = render::verdict(&reply, self.protocol);
        let text = if self.raw { format!("{reply}\n") } else { render::reply(&reply, &verdict, self.style) };
        emit(&text);
        Ok(verdict == Verdict::Success)
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
            emit(&format!("ndb-cli {}\n", ndb::VERSION));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ndb-cli: {e}");
            return ExitCode::from(2);
        }
    };
    let colour = options.colour && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let mut shell = Shell {
        url: options.url,
        builder: Client::builder().protocol(options.protocol),
        client: None,
        protocol: options.protocol,
        raw: options.raw,
        style: if colour { Style::COLOUR } else { Style::PLAIN },
    };
    if !options.words.is_empty() {
        one_shot(&mut shell, &options.words)
    } else if std::io::stdin().is_terminal() {
        interactive(&mut shell)
    } else {
        batch(&mut shell)
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
        Ok(Action::Help) => {
            emit(&line::help());
            ExitCode::SUCCESS
        }
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
            Ok(Action::Help) => emit(&line::help()),
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

/// The interactive shell.
fn interactive(shell: &mut Shell) -> ExitCode {
    let config = rustyline::Config::builder().max_history_size(1000).map(|b| b.auto_add_history(false).build());
    let editor = config.and_then(rustyline::DefaultEditor::with_config);
    let mut editor = match editor {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("ndb-cli: cannot start the line editor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }
    let style = shell.style;
    let say_error = |what: &str| emit(&format!("{}\n", style.error(&format!("(error) {what}"))));
    if let Err(e) = shell.connect() {
        say_error(&e.to_string());
    }
    loop {
        match editor.readline(&shell.prompt()) {
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
                    Ok(Action::Help) => emit(&line::help()),
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
        assert_eq!((o.url.as_str(), o.words.len()), ("ws://127.0.0.1:1987/", 0));
        let o = parse(&["-h", "::1", "-p", "2000", "set", "a", "-1", "--raw"]).unwrap();
        assert_eq!(o.url, "ws://[::1]:2000/");
        assert_eq!(o.words, ["set", "a", "-1", "--raw"]);
        assert!(!o.raw);
        let o = parse(&["--url=ws://x:1/", "--protocol", "0.9", "--raw", "--no-color", "info"]).unwrap();
        assert_eq!((o.url.as_str(), o.protocol, o.raw, o.colour), ("ws://x:1/", Protocol::V09, true, false));
    }

    #[test]
    fn help_version_and_mistakes() {
        assert_eq!(parse(&["--help"]).err().as_deref(), Some("help"));
        assert_eq!(parse(&["-V"]).err().as_deref(), Some("version"));
        assert_eq!(parse(&["-p", "x"]).err().as_deref(), Some("--port: must be a port number (got \"x\")"));
        assert!(parse(&["--protocol", "1"]).unwrap_err().starts_with("--protocol: must be 0.7 or 0.9"));
        assert!(parse(&["--bogus"]).unwrap_err().contains("--bogus"));
    }
}
