//! One [`Client`] method per command of the protocol (`docs/protocol.md`).
//!
//! Every method builds its request, sends it, checks the reply's status
//! against the command's success status (1, or the save and load statuses)
//! and reads the reply's fields into typed values. Adding a command is one
//! method here: a request, a success status and the fields to read.
//!
//! Arguments: stored values and key maps are anything `serde` can write as
//! JSON (`serde_json::json!({...})`, a `HashMap<String, T>`, a struct);
//! key names are any iterator of strings.

use serde::Serialize;
use serde_json::{Map, Value};

use super::types::{Expiry, FindReply, Found, KvLoaded, Saved, SessionInfo, SessionTotals, SessionsLoaded, SvInfo};
use super::{Client, Error, Request, Token};
use crate::Status;

/// The result of every command method.
pub type Result<T> = std::result::Result<T, Error>;

impl Client {
    /// `SV_INFO`: the server's version and statistics.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn sv_info(&mut self) -> Result<SvInfo> {
        let mut body = self.run(Request::new("SV_INFO"), Status::Ok)?;
        let server_version = body.string("serverVersion")?;
        let persist_enabled = body.bool("persistEnabled")?;
        body.map.remove("st");
        Ok(SvInfo { server_version, persist_enabled, members: body.map })
    }

    /// `KV_SET`: stores every member of `keys` (an object), overwriting.
    ///
    /// # Errors
    /// [`Error::Request`] when `keys` cannot be written as JSON;
    /// [`Error::Status`] 41 when it is not an object; transport errors.
    pub fn kv_set(&mut self, keys: impl Serialize) -> Result<()> {
        self.run(Request::new("KV_SET").serialize("keys", keys)?, Status::Ok).map(drop)
    }

    /// `KV_ADD`: stores the members of `keys` whose key is absent.
    ///
    /// # Errors
    /// As [`Client::kv_set`].
    pub fn kv_add(&mut self, keys: impl Serialize) -> Result<()> {
        self.run(Request::new("KV_ADD").serialize("keys", keys)?, Status::Ok).map(drop)
    }

    /// `KV_GET`: the named keys that exist, with their values.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn kv_get<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, names: I) -> Result<Map<String, Value>> {
        self.run(Request::new("KV_GET").names("keys", names), Status::Ok)?.object("keys")
    }

    /// `KV_GET` of one key: its value, or `None` when it does not exist.
    ///
    /// # Errors
    /// As [`Client::kv_get`].
    pub fn kv_get_one(&mut self, name: &str) -> Result<Option<Value>> {
        Ok(self.kv_get([name])?.remove(name))
    }

    /// `KV_RMV`: deletes the named keys (absent ones are ignored).
    ///
    /// # Errors
    /// [`Error::Status`] 42 (`ValueSize`) when `names` is empty; transport
    /// errors.
    pub fn kv_rmv<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, names: I) -> Result<()> {
        self.run(Request::new("KV_RMV").names("keys", names), Status::Ok).map(drop)
    }

    /// `KV_CLEAR`: deletes every key; returns how many there were.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn kv_clear(&mut self) -> Result<u64> {
        self.run(Request::new("KV_CLEAR"), Status::Ok)?.u64("cnt")
    }

    /// `KV_CLEAR_SET`: deletes every key, then stores `keys`; returns how
    /// many keys were deleted.
    ///
    /// # Errors
    /// As [`Client::kv_set`].
    pub fn kv_clear_set(&mut self, keys: impl Serialize) -> Result<u64> {
        self.run(Request::new("KV_CLEAR_SET").serialize("keys", keys)?, Status::Ok)?.u64("cnt")
    }

    /// `KV_CONTAINS`: the named keys that exist, in request order.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn kv_contains<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, names: I) -> Result<Vec<String>> {
        self.run(Request::new("KV_CONTAINS").names("keys", names), Status::Ok)?.strings("contains")
    }

    /// `KV_COUNT`: the number of keys.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn kv_count(&mut self) -> Result<u64> {
        self.run(Request::new("KV_COUNT"), Status::Ok)?.u64("cnt")
    }

    /// `KV_KEYS`: every key name, in key order.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn kv_keys(&mut self) -> Result<Vec<String>> {
        self.run(Request::new("KV_KEYS"), Status::Ok)?.strings("keys")
    }

    /// `KV_FIND`: the keys whose value the JSONPath `path` matches, searched
    /// among `keys` if given, else among all.
    ///
    /// # Errors
    /// [`Error::Status`]: 4 for a malformed path, 42 for an empty one, 10
    /// where the server does not serve `KV_FIND`; transport errors.
    pub fn kv_find(&mut self, path: &str, reply: FindReply, keys: Option<&[&str]>) -> Result<Found> {
        let mut request = Request::new("KV_FIND").value("path", path.into()).value("rsp", reply.as_str().into());
        if let Some(keys) = keys {
            request = request.names("keys", keys);
        }
        let mut body = self.run(request, Status::Ok)?;
        Ok(match reply {
            FindReply::Keys => Found::Keys(body.strings("keys")?),
            FindReply::Paths => Found::Paths(body.strings("paths")?),
            FindReply::Kv => Found::Kv(body.object("keys")?),
        })
    }

    /// `KV_UPDATE`: replaces every node the JSONPath `path` selects in the
    /// value of `key` by `value`; returns how many were replaced.
    ///
    /// # Errors
    /// [`Error::Status`] 22 when `key` does not exist, 4 for a malformed
    /// path, 42 when the new value would be too large, 10 where the server
    /// does not serve `KV_UPDATE`; transport errors.
    pub fn kv_update(&mut self, key: &str, path: &str, value: impl Serialize) -> Result<u64> {
        let request = Request::new("KV_UPDATE").value("key", key.into()).value("path", path.into());
        self.run(request.serialize("value", value)?, Status::Ok)?.u64("cnt")
    }

    /// `KV_ARR_APPEND`: appends `items` (an array) to the array value of
    /// `key`, or to its member `name` when given.
    ///
    /// # Errors
    /// [`Error::Status`] 22 when `key` does not exist, 1000 when the target
    /// is not an array, 42 when the new value would be too large, 10 where
    /// the server does not serve it; transport errors.
    pub fn kv_arr_append(&mut self, key: &str, items: impl Serialize, name: Option<&str>) -> Result<()> {
        let mut request = Request::new("KV_ARR_APPEND").serialize("items", items)?.value("key", key.into());
        if let Some(name) = name {
            request = request.value("name", name.into());
        }
        self.run(request, Status::Ok).map(drop)
    }

    /// `KV_SAVE`: saves every key under `name`.
    ///
    /// # Errors
    /// [`Error::Status`]: 14 when persistence is disabled, 42 for a bad
    /// name, a save error status, or 10 where saves are not served;
    /// transport errors.
    pub fn kv_save(&mut self, name: &str) -> Result<Saved> {
        let body = self.run(Request::new("KV_SAVE").value("name", name.into()), Status::SaveComplete)?;
        Ok(Saved { name: body.string("name")?, duration_ms: body.u64("duration")? })
    }

    /// `KV_LOAD`: loads the keys of the save `name`, merging them in.
    ///
    /// # Errors
    /// [`Error::Status`] 142 when the save cannot be loaded, 10 where loads
    /// are not served; transport errors.
    pub fn kv_load(&mut self, name: &str) -> Result<KvLoaded> {
        let body = self.run(Request::new("KV_LOAD").value("name", name.into()), Status::LoadComplete)?;
        Ok(KvLoaded { name: body.string("name")?, keys: body.u64("keys")?, duration_ms: body.u64("duration")? })
    }

    /// `SH_NEW`: creates a session, expiring as `expiry` says (never when
    /// `None`), and returns its token.
    ///
    /// ```no_run
    /// use ndb_client::{Client, Expiry};
    /// use serde_json::json;
    ///
    /// let mut client = Client::connect("ws://127.0.0.1:1987/")?;
    /// let cart = client.sh_new(Some(Expiry::after_secs(600).extend_on_get(true)))?;
    /// client.sh_set(cart, json!({"items": [3, 5]}))?;
    /// assert_eq!(client.sh_get_one(cart, "items")?, Some(json!([3, 5])));
    /// assert_eq!(client.sh_info(cart)?.key_count, 1);
    /// client.sh_end(cart)?;
    /// # Ok::<(), ndb_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn sh_new(&mut self, expiry: Option<Expiry>) -> Result<Token> {
        let mut request = Request::new("SH_NEW");
        if let Some(expiry) = expiry {
            request = request.value("expiry", expiry.to_json());
        }
        self.run(request, Status::Ok)?.u64("tkn").map(Token)
    }

    /// `SH_END`: deletes a session and its keys.
    ///
    /// # Errors
    /// [`Error::Status`] 100 when the session does not exist; transport
    /// errors.
    pub fn sh_end(&mut self, token: Token) -> Result<()> {
        self.run(Request::new("SH_END").token(token), Status::Ok).map(drop)
    }

    /// `SH_END_ALL`: deletes every session; returns how many there were.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn sh_end_all(&mut self) -> Result<u64> {
        self.run(Request::new("SH_END_ALL"), Status::Ok)?.u64("cnt")
    }

    /// `SH_EXISTS`: the given tokens that name live sessions, in order.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn sh_exists(&mut self, tokens: impl IntoIterator<Item = Token>) -> Result<Vec<Token>> {
        let tokens = tokens.into_iter().map(|t| Value::from(t.0)).collect();
        self.run(Request::new("SH_EXISTS").value("tkns", Value::Array(tokens)), Status::Ok)?.tokens("exist")
    }

    /// `SH_INFO`: what the server knows about one session.
    ///
    /// # Errors
    /// [`Error::Status`] 100 when the session does not exist; transport
    /// errors.
    pub fn sh_info(&mut self, token: Token) -> Result<SessionInfo> {
        self.run(Request::new("SH_INFO").token(token), Status::Ok)?.session_info()
    }

    /// `SH_INFO_ALL`: the number of sessions and of keys over them.
    ///
    /// # Errors
    /// Transport errors; [`Error::Status`] for a status other than 1.
    pub fn sh_info_all(&mut self) -> Result<SessionTotals> {
        let body = self.run(Request::new("SH_INFO_ALL"), Status::Ok)?;
        Ok(SessionTotals { sessions: body.u64("totalSessions")?, keys: body.u64("totalKeys")? })
    }

    /// `SH_SAVE`: saves every session under `name`, or only `tokens` when
    /// given (tokens of no live session are skipped).
    ///
    /// # Errors
    /// As [`Client::kv_save`]; 42 for an empty `tokens`.
    pub fn sh_save(&mut self, name: &str, tokens: Option<&[Token]>) -> Result<Saved> {
        let mut request = Request::new("SH_SAVE").value("name", name.into());
        if let Some(tokens) = tokens {
            request = request.value("tkns", tokens.iter().map(|t| Value::from(t.0)).collect());
        }
        let body = self.run(request, Status::SaveComplete)?;
        Ok(Saved { name: body.string("name")?, duration_ms: body.u64("duration")? })
    }

    /// `SH_LOAD`: creates the sessions of the save `name` whose tokens are
    /// not live already.
    ///
    /// # Errors
    /// As [`Client::kv_load`].
    pub fn sh_load(&mut self, name: &str) -> Result<SessionsLoaded> {
        let body = self.run(Request::new("SH_LOAD").value("name", name.into()), Status::LoadComplete)?;
        Ok(SessionsLoaded { name: body.string("name")?, sessions: body.u64("sessions")?, keys: body.u64("keys")? })
    }

    /// `SH_SET`: [`Client::kv_set`] in a session.
    ///
    /// # Errors
    /// As [`Client::kv_set`]; [`Error::Status`] 100 when the session does
    /// not exist.
    pub fn sh_set(&mut self, token: Token, keys: impl Serialize) -> Result<()> {
        self.run(Request::new("SH_SET").serialize("keys", keys)?.token(token), Status::Ok).map(drop)
    }

    /// `SH_ADD`: [`Client::kv_add`] in a session.
    ///
    /// # Errors
    /// As [`Client::sh_set`].
    pub fn sh_add(&mut self, token: Token, keys: impl Serialize) -> Result<()> {
        self.run(Request::new("SH_ADD").serialize("keys", keys)?.token(token), Status::Ok).map(drop)
    }

    /// `SH_GET`: [`Client::kv_get`] in a session.
    ///
    /// # Errors
    /// As [`Client::kv_get`]; 100 when the session does not exist.
    pub fn sh_get<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &mut self,
        token: Token,
        names: I,
    ) -> Result<Map<String, Value>> {
        self.run(Request::new("SH_GET").names("keys", names).token(token), Status::Ok)?.object("keys")
    }

    /// `SH_GET` of one key: its value, or `None` when it does not exist.
    ///
    /// # Errors
    /// As [`Client::sh_get`].
    pub fn sh_get_one(&mut self, token: Token, name: &str) -> Result<Option<Value>> {
        Ok(self.sh_get(token, [name])?.remove(name))
    }

    /// `SH_RMV`: [`Client::kv_rmv`] in a session.
    ///
    /// # Errors
    /// As [`Client::kv_rmv`]; 100 when the session does not exist.
    pub fn sh_rmv<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, token: Token, names: I) -> Result<()> {
        self.run(Request::new("SH_RMV").names("keys", names).token(token), Status::Ok).map(drop)
    }

    /// `SH_CLEAR`: [`Client::kv_clear`] in a session.
    ///
    /// # Errors
    /// 100 when the session does not exist; transport errors.
    pub fn sh_clear(&mut self, token: Token) -> Result<u64> {
        self.run(Request::new("SH_CLEAR").token(token), Status::Ok)?.u64("cnt")
    }

    /// `SH_CLEAR_SET`: [`Client::kv_clear_set`] in a session.
    ///
    /// # Errors
    /// As [`Client::sh_set`].
    pub fn sh_clear_set(&mut self, token: Token, keys: impl Serialize) -> Result<u64> {
        self.run(Request::new("SH_CLEAR_SET").serialize("keys", keys)?.token(token), Status::Ok)?.u64("cnt")
    }

    /// `SH_CONTAINS`: [`Client::kv_contains`] in a session.
    ///
    /// # Errors
    /// 100 when the session does not exist; transport errors.
    pub fn sh_contains<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &mut self,
        token: Token,
        names: I,
    ) -> Result<Vec<String>> {
        self.run(Request::new("SH_CONTAINS").names("keys", names).token(token), Status::Ok)?.strings("contains")
    }

    /// `SH_COUNT`: [`Client::kv_count`] in a session.
    ///
    /// # Errors
    /// 100 when the session does not exist; transport errors.
    pub fn sh_count(&mut self, token: Token) -> Result<u64> {
        self.run(Request::new("SH_COUNT").token(token), Status::Ok)?.u64("cnt")
    }

    /// `SH_KEYS`: [`Client::kv_keys`] in a session.
    ///
    /// # Errors
    /// 100 when the session does not exist; transport errors.
    pub fn sh_keys(&mut self, token: Token) -> Result<Vec<String>> {
        self.run(Request::new("SH_KEYS").token(token), Status::Ok)?.strings("keys")
    }
}
