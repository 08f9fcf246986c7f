//! Shared access signatures: the token a CBS put-token and a management
//! request carry, signed with the policy's key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::Secret;
use hmac::{Hmac, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;
use strata_core::{Error, Result};

/// How long a token is valid; connections put a fresh one well before.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// `SharedAccessSignature sr=…&sig=…&se=…&skn=…` for `audience`, valid for
/// [`TOKEN_LIFETIME`], and its expiry in seconds since the epoch.
///
/// The string signed is the URL-encoded audience, a newline and the expiry;
/// the key is used as its UTF-8 bytes (Service Bus keys are not decoded).
///
/// # Errors
/// `Internal` only if the clock is before 1970.
pub(crate) fn token(audience: &str, key_name: &str, key: &Secret) -> Result<(String, u64)> {
    let expiry = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::internal("the system clock is before 1970"))?
        .as_secs()
        + TOKEN_LIFETIME.as_secs();
    let resource = utf8_percent_encode(audience, NON_ALPHANUMERIC).to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key.secret().as_bytes())
        .map_err(|_| Error::internal("an HMAC key of any length is accepted"))?;
    mac.update(format!("{resource}\n{expiry}").as_bytes());
    let signature = azure_core::base64::encode(mac.finalize().into_bytes());
    let signature = utf8_percent_encode(&signature, NON_ALPHANUMERIC);
    let key_name = utf8_percent_encode(key_name, NON_ALPHANUMERIC);
    Ok((
        format!("SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={key_name}"),
        expiry,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_the_resource_and_key_name_but_not_the_key() {
        let (token, expiry) = token("sb://ns/", "Root", &Secret::new("s3cr3t")).unwrap();
        assert!(token.starts_with("SharedAccessSignature sr=sb%3A%2F%2Fns%2F&sig="));
        assert!(token.ends_with(&format!("&se={expiry}&skn=Root")));
        assert!(!token.contains("s3cr3t"));
    }
}
