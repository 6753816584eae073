//! The NemesisDB wire protocol: what a request means and what a reply looks
//! like. No I/O, no store, no time.
//!
//! - [`decode`] turns one text message into a validated [`Command`] or a
//!   [`Rejection`] saying which error reply to send;
//! - [`Reply`] writes a reply document into a byte buffer;
//! - [`Status`] holds every status number, [`Protocol`] the numbering in use.

mod command;
mod decode;
mod decoded;
mod reply;

pub use command::{
    ArrAppend, Command, CommandName, ContainerArgs, ContainerCommand, ContainerVerb, Expiry, Family, Find, FindRsp,
    Item, ItemType, Items, KeyNames, KeyValues, MapOp, Op, Range, Save, SaveRejected, SaveRequest, Update, Verb,
    is_valid_save_name,
};
pub use decode::{
    BAD_NAME, MISSING_PARAMETER, NO_INTROSPECTION, PARAM_TYPE_INCORRECT, PATH_EMPTY, RSP_INVALID, Rejection, RspName,
    Shape, decode,
};
pub use decoded::{Decoded, named_command};
pub use ndb_status::{Protocol, Status};
pub use reply::{Members, Reply, write_str};
