//! Request heads the server answers itself: an endpoint request
//! (`/healthz`, `/metrics`), and an upgrade while upgrades are held (users
//! are configured, or the server is not serving yet).
//!
//! The connection knows neither the clock, nor its peer's address, nor the
//! store, so it cannot tell how long to delay a failed login or what the
//! metrics say. It keeps the parsed head and reads nothing more; the
//! server takes it ([`Conn::take_held`]) after serving the connection and
//! answers it, at once or at a deadline of its own: it accepts the upgrade
//! ([`Conn::accept_held`]) or sends a whole HTTP response and closes
//! ([`Conn::answer_held`]).

use super::{CloseReason, Conn, Ending, Phase, Served, Transport};
use crate::auth::{Access, Role};
use crate::http_upgrade::{Endpoint, Upgrade};

/// A complete request head waiting for the server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// A valid WebSocket upgrade.
    Upgrade(Upgrade),
    /// A plain `GET` of an endpoint.
    Endpoint(Endpoint, Access),
}

impl Held {
    /// What the request's credentials grant.
    pub fn access(&self) -> &Access {
        match self {
            Held::Upgrade(upgrade) => &upgrade.access,
            Held::Endpoint(_, access) => access,
        }
    }
}

impl<S: Transport> Conn<S> {
    /// Keeps `held` for the server and stops reading.
    pub(super) fn hold(&mut self, held: Held) {
        self.bufs().held = Some(held);
        self.phase = Phase::Held;
    }

    /// The held request head, the first time it is asked for; the
    /// connection stays held, reading nothing, until it is answered.
    pub fn take_held(&mut self) -> Option<Held> {
        if self.phase != Phase::Held {
            return None;
        }
        let held = self.bufs.as_mut()?.held.take();
        self.release_if_empty();
        held
    }

    /// Completes a held upgrade, the peer having `role`: queues the 101.
    /// Serve the connection next ([`Conn::serve`]): that sends the 101 and
    /// serves the frames that came after the head.
    pub fn accept_held(&mut self, upgrade: &Upgrade, role: Role) {
        if self.phase == Phase::Held {
            self.open(upgrade, role);
        }
    }

    /// Answers a held request with `response`, a whole HTTP response, and
    /// closes once it is out.
    pub fn answer_held(&mut self, response: &[u8], reason: CloseReason) -> Served {
        if self.phase != Phase::Held {
            return Served::Drained;
        }
        self.bufs().output.extend_from_slice(response);
        self.start_closing(reason, Ending::Discard);
        if let Err(e) = self.write_pending() {
            return self.fail(e);
        }
        let served = self.finish_closing();
        self.release_if_empty();
        served
    }
}
