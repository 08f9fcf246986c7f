//! Redis errors → portable [`Error`]s with the right [`ErrorCode`].

use ::redis::{ErrorKind, RedisError, ServerErrorKind};
use strata_core::{Error, ErrorCode};

/// What failed: the command, its key (prefix included) and the server, for
/// messages. Also holds the password so no message can carry it.
pub(super) struct Context<'a> {
    pub(super) command: &'a str,
    pub(super) key: Option<&'a str>,
    pub(super) endpoint: &'a str,
    pub(super) secret: Option<&'a str>,
    /// Added to `Unavailable` messages: what may be wrong besides the network.
    pub(super) unavailable_hint: Option<&'a str>,
}

/// Maps a Redis error to a portable one; the original stays as the source.
pub(super) fn map_error(err: RedisError, cx: &Context<'_>) -> Error {
    let code = classify(&err);
    let detail = err.to_string();
    let on = match cx.key {
        Some(key) => format!("{} on key `{key}`", cx.command),
        None => cx.command.to_owned(),
    };
    let message = match code {
        ErrorCode::InvalidArgument if is_wrong_type(&err) => format!(
            "{on}: the key holds another type of value than {} works on (WRONGTYPE)",
            cx.command
        ),
        ErrorCode::InvalidArgument => format!("{on}: {}", server_detail(&err, &detail)),
        ErrorCode::Unavailable => match cx.unavailable_hint {
            Some(hint) => format!(
                "{on}: redis at {} is unavailable: {detail} ({hint})",
                cx.endpoint
            ),
            None => format!("{on}: redis at {} is unavailable: {detail}", cx.endpoint),
        },
        ErrorCode::PermissionDenied => format!(
            "{on}: redis at {} refused the credentials or the command: {detail}",
            cx.endpoint
        ),
        ErrorCode::ResourceExhausted => {
            format!("{on}: redis at {} is out of memory: {detail}", cx.endpoint)
        }
        ErrorCode::InvalidConfig if is_untrusted_certificate(&err) => format!(
            "{on}: TLS with redis at {} failed: {detail} (is `tls_ca_file` the CA that \
             signed the server's certificate, and the URL's host one it names?)",
            cx.endpoint
        ),
        ErrorCode::InvalidConfig => format!(
            "{on}: the settings for redis at {} are not usable: {detail}",
            cx.endpoint
        ),
        ErrorCode::Unsupported => format!(
            "{on}: redis at {} does not support this: {detail}",
            cx.endpoint
        ),
        _ => format!("{on}: redis at {} failed: {detail}", cx.endpoint),
    };
    let message = scrub(message, cx.secret);
    let error = Error::new(code, message);
    // A server never echoes a password, but the source's text is checked too.
    match cx.secret {
        Some(secret)
            if !secret.is_empty()
                && (detail.contains(secret) || format!("{err:?}").contains(secret)) =>
        {
            error
        }
        _ => error.with_source(err),
    }
}

/// Replaces every occurrence of the password.
pub(super) fn scrub(message: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() && message.contains(secret) => {
            message.replace(secret, "<redacted>")
        }
        _ => message,
    }
}

fn classify(err: &RedisError) -> ErrorCode {
    // A certificate the client does not trust will not be trusted on retry:
    // the fix is the URL's host or `tls_ca_file`.
    if is_untrusted_certificate(err) {
        return ErrorCode::InvalidConfig;
    }
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
    {
        return ErrorCode::Unavailable;
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm) => {
            return ErrorCode::PermissionDenied;
        }
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly,
        ) => return ErrorCode::Unavailable,
        ErrorKind::Server(
            ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::CrossSlot,
        ) => return ErrorCode::Unsupported,
        ErrorKind::InvalidClientConfig => return ErrorCode::InvalidConfig,
        _ => {}
    }
    let code = err.code().unwrap_or_default();
    match code {
        "WRONGTYPE" => return ErrorCode::InvalidArgument,
        "NOAUTH" | "WRONGPASS" | "NOPERM" => return ErrorCode::PermissionDenied,
        "OOM" => return ErrorCode::ResourceExhausted,
        "LOADING" | "BUSY" | "MASTERDOWN" | "READONLY" | "TRYAGAIN" => {
            return ErrorCode::Unavailable;
        }
        _ => {}
    }
    // Errors raised inside a script may arrive as `ERR … <code> …` on older
    // servers, so the text decides what the code did not.
    let text = err.to_string();
    if is_wrong_type(err) {
        ErrorCode::InvalidArgument
    } else if text.contains("NOAUTH") || text.contains("WRONGPASS") {
        ErrorCode::PermissionDenied
    } else if text.contains("OOM command not allowed") {
        ErrorCode::ResourceExhausted
    } else if [
        "not an integer",
        "not a valid float",
        "would overflow",
        "NaN or Infinity",
        "invalid expire time",
        "out of range",
    ]
    .iter()
    .any(|needle| text.contains(needle))
    {
        ErrorCode::InvalidArgument
    } else if text.contains("unknown command") {
        ErrorCode::Unsupported
    } else {
        ErrorCode::Internal
    }
}

fn is_untrusted_certificate(err: &RedisError) -> bool {
    err.to_string().contains("invalid peer certificate")
}

fn is_wrong_type(err: &RedisError) -> bool {
    err.code() == Some("WRONGTYPE") || err.to_string().contains("WRONGTYPE")
}

/// The server's words without the script location Redis appends to errors
/// raised inside a script.
fn server_detail<'a>(err: &'a RedisError, display: &'a str) -> &'a str {
    let detail = err.detail().unwrap_or(display);
    match detail.find(" script:") {
        Some(at) => &detail[..at],
        None => detail,
    }
}
