//! Answering the request heads a connection holds (`conn/held.rs`): the
//! upgrade when users are configured or the server is not serving, and
//! `GET /healthz` and `GET /metrics`.
//!
//! A failed login is answered 401 at a time [`Failures`] decides: at once
//! for the first few failures from an address, then later and later, one
//! answer per delay per address, a right password included so that it is
//! not told apart from a wrong one by its speed. The connection waits in
//! [`Server`]'s answer queue meanwhile; the loop never sleeps for it.
//! Failures are logged: at `warn` for the 1st, 2nd, 4th, 8th... from one
//! address within [`crate::auth::FAILURE_MEMORY`], at `debug` for the rest.
//!
//! [`Failures`]: crate::auth::Failures

use std::cmp::Ordering;
use std::time::Instant;

use log::{debug, warn};

use super::{Health, Server};
use crate::auth::{Access, Role};
use crate::conn::{CloseReason, Held};
use crate::http_upgrade::{Endpoint, Reject, ok_response};

/// A held request to answer at a later time.
#[derive(Debug)]
pub(super) struct Due {
    pub at: Instant,
    pub key: usize,
    pub serial: u64,
    pub held: Held,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.key, self.serial) == (other.at, other.key, other.serial)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.key, self.serial).cmp(&(other.at, other.key, other.serial))
    }
}

/// The `Content-Type` of the Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Server {
    /// Takes a connection's held request, if it has one, and answers it now
    /// or queues it for later.
    pub(super) fn take_held(&mut self, key: usize, now: Instant) {
        let Some(slot) = self.conns.get_mut(key).filter(|s| !s.dead) else { return };
        let Some(held) = slot.conn.take_held() else { return };
        let serial = slot.serial;
        if self.limits.users.is_empty() {
            return self.answer(key, held, now);
        }
        let denied = matches!(held.access(), Access::Denied(_));
        let peer = slot.conn.stream().peer_addr();
        let Ok(peer) = peer else {
            // The peer is already gone.
            return self.kill(key);
        };
        let Some(answer) = self.failures.answer_at(peer.ip(), denied, now) else {
            debug!("conn {key}: {peer} sends logins faster than they are answered: dropped unanswered");
            return self.kill(key);
        };
        if let Access::Denied(why) = held.access() {
            self.store.metrics_mut().count_auth_failure();
            let wait = answer.at.saturating_duration_since(now);
            if answer.failures.is_power_of_two() {
                warn!(
                    "conn {key}: authentication failed from {peer}: {why} ({} failures from this address lately; \
                     401 in {} ms)",
                    answer.failures,
                    wait.as_millis() as u64
                );
            } else {
                debug!("conn {key}: authentication failed from {peer}: {why} (failure {})", answer.failures);
            }
        }
        if answer.at <= now {
            self.answer(key, held, now);
        } else {
            self.answers.push(std::cmp::Reverse(Due { at: answer.at, key, serial, held }));
        }
    }

    /// Answers the queued requests that are due.
    pub(super) fn answer_due(&mut self, now: Instant) {
        while self.answers.peek().is_some_and(|due| due.0.at <= now) {
            let Some(std::cmp::Reverse(due)) = self.answers.pop() else { break };
            if self.conns.get(due.key).is_some_and(|s| s.serial == due.serial && !s.dead) {
                self.answer(due.key, due.held, now);
            }
        }
    }

    /// Answers a held request now.
    fn answer(&mut self, key: usize, held: Held, now: Instant) {
        let denied = matches!(held.access(), Access::Denied(_));
        let response = match held {
            _ if denied => Response::Refuse(Reject::Unauthorized),
            Held::Upgrade(upgrade) => match (self.health, held_role(&upgrade.access)) {
                (Health::Serving, Some(role)) => {
                    let Some(slot) = self.conns.get_mut(key) else { return };
                    slot.conn.accept_held(&upgrade, role);
                    debug!("conn {key}: upgraded as {role}");
                    // Sends the 101 and serves what came after the head.
                    return self.drive(key, now, None);
                }
                (Health::Loading, _) => Response::Refuse(Reject::Loading),
                _ => Response::Refuse(Reject::ShuttingDown),
            },
            Held::Endpoint(Endpoint::Health, _) => match self.health {
                Health::Serving => Response::Ok(ok_response("text/plain; charset=utf-8", b"ok\n")),
                Health::Loading => Response::Refuse(Reject::Loading),
                Health::ShuttingDown => Response::Refuse(Reject::ShuttingDown),
            },
            Held::Endpoint(Endpoint::Metrics, _) => {
                Response::Ok(ok_response(METRICS_CONTENT_TYPE, &self.render_metrics(now)))
            }
        };
        let Some(slot) = self.conns.get_mut(key) else { return };
        let served = match &response {
            Response::Refuse(reject) => slot.conn.answer_held(reject.response(), CloseReason::Rejected(*reject)),
            Response::Ok(bytes) => slot.conn.answer_held(bytes, CloseReason::Answered),
        };
        self.after(key, served, false, now);
    }

    /// The `/metrics` body at `now`.
    pub(super) fn render_metrics(&self, now: Instant) -> Vec<u8> {
        let mut state = self.store.metrics_state(now);
        state.protocol = self.protocol.as_str();
        state.serving = self.health == Health::Serving;
        let mut text = String::with_capacity(8 * 1024);
        self.store.metrics().render(&state, &mut text);
        text.into_bytes()
    }
}

/// What a held request gets.
enum Response {
    /// An HTTP error, then close.
    Refuse(Reject),
    /// A `200 OK` response, then close.
    Ok(Vec<u8>),
}

fn held_role(access: &Access) -> Option<Role> {
    match access {
        Access::Granted(role) => Some(*role),
        Access::Denied(_) => None,
    }
}
