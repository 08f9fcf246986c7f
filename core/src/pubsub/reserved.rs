//! The attribute names Strata reserves for itself: `strata.` and what
//! follows it.
//!
//! Strata writes some of them (the Node binding's content type, the
//! dead-letter history) and readers trust what they say, so a publisher may
//! not set them: [`Topic::publish`](super::Topic::publish) refuses them with
//! `InvalidArgument`. The dead-letter history ([`DEAD_LETTER_HISTORY_PREFIX`],
//! [`ORIGINAL_MESSAGE_ID_ATTRIBUTE`]) is the exception: it describes where a
//! message has been, Strata never reads it to decide anything, and code that
//! redrives a dead letter republishes it with the attributes it arrived with.

use super::Attributes;
use super::subscriber_options::ORIGINAL_MESSAGE_ID_ATTRIBUTE;
use crate::{Error, Result};

/// The prefix of every attribute name Strata reserves.
pub const RESERVED_ATTRIBUTE_PREFIX: &str = "strata.";
/// The prefix of the attributes a dead letter carries (`reason`,
/// `subscription`), which a publisher may set when it redrives one.
pub const DEAD_LETTER_HISTORY_PREFIX: &str = "strata.dead_letter.";

/// Whether a publisher may set attribute `name`: any name outside
/// `strata.`, and the dead-letter history inside it.
///
/// ```
/// use strata_core::pubsub::publisher_may_set;
/// assert!(publisher_may_set("kind"));
/// assert!(publisher_may_set("strata.dead_letter.reason"));
/// assert!(!publisher_may_set("strata.content_type"));
/// ```
pub fn publisher_may_set(name: &str) -> bool {
    !name.starts_with(RESERVED_ATTRIBUTE_PREFIX)
        || name.starts_with(DEAD_LETTER_HISTORY_PREFIX)
        || name == ORIGINAL_MESSAGE_ID_ATTRIBUTE
}

/// Checks a publisher's attributes against the reserved names.
///
/// # Errors
/// `InvalidArgument` naming the first reserved attribute.
pub fn check_publisher_attributes(attributes: &Attributes) -> Result<()> {
    match attributes.keys().find(|name| !publisher_may_set(name)) {
        None => Ok(()),
        Some(name) => Err(Error::invalid_argument(format!(
            "attribute `{name}` is reserved: names starting with `{RESERVED_ATTRIBUTE_PREFIX}` \
             are Strata's own (only the dead-letter history, `{DEAD_LETTER_HISTORY_PREFIX}*` \
             and `{ORIGINAL_MESSAGE_ID_ATTRIBUTE}`, may be republished)"
        ))),
    }
}
