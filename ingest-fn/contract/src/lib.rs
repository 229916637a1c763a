//! What ingest-fn and the tools that drive it (ingest-load, the local stack) agree on, kept
//! apart from the function so that a tool builds without the Lambda runtime or the AWS SDK:
//! how many events a request may carry, how long an event's fields may be, and how a load
//! run's events are named and verified ([`verify`]).

pub mod verify;

/// A request carries at most this many events.
pub const MAX_ITEMS: usize = 1000;

/// An event's `source`, in characters.
pub const MAX_SOURCE_CHARS: usize = 128;

/// An event's `event_id`, in characters (the column is `VARCHAR(64)`).
pub const MAX_EVENT_ID_CHARS: usize = 64;

/// An event's `payload` object, serialized, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
