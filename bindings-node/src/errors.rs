//! Strata errors as JS errors: `code` is the stable [`ErrorCode`] string.

use std::borrow::Cow;

use napi::Status;
use strata_core::{Error, ErrorCode};

/// The `code` of an error thrown to JS: an [`ErrorCode`] string.
///
/// napi's own argument-conversion failures (`StringExpected`, …) become
/// `InvalidArgument`: they mean the caller passed the wrong type.
#[derive(Debug, Clone)]
pub struct Code(Cow<'static, str>);

impl Code {
    /// An `Internal` error with `message`.
    pub(crate) fn internal(message: impl ToString) -> napi::Error<Code> {
        napi::Error::new(Code(Cow::Borrowed(ErrorCode::Internal.as_str())), message)
    }
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Status> for Code {
    fn from(status: Status) -> Self {
        let code = match status {
            Status::InvalidArg
            | Status::ObjectExpected
            | Status::StringExpected
            | Status::NameExpected
            | Status::FunctionExpected
            | Status::NumberExpected
            | Status::BooleanExpected
            | Status::ArrayExpected
            | Status::BigintExpected
            | Status::DateExpected
            | Status::ArrayBufferExpected => ErrorCode::InvalidArgument,
            Status::Closing => ErrorCode::Closed,
            _ => ErrorCode::Internal,
        };
        Code(Cow::Borrowed(code.as_str()))
    }
}

/// A Strata error as a JS error.
pub(crate) fn js_error(err: Error) -> napi::Error<Code> {
    napi::Error::new(Code(Cow::Borrowed(err.code().as_str())), err.message())
}

/// An `InvalidArgument` JS error.
pub(crate) fn invalid(message: impl Into<String>) -> napi::Error<Code> {
    js_error(Error::invalid_argument(message))
}
