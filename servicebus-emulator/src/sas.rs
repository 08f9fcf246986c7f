//! Shared access signatures, checked as the service checks them, and what a checked
//! token grants (for Entra ID tokens too).
//!
//! A token is `SharedAccessSignature sr=<url-encoded resource>&sig=<url-encoded
//! base64 HMAC-SHA256>&se=<unix expiry>&skn=<key name>`; the signature is over the
//! resource exactly as it appears in the token, a newline, and the expiry
//! (learn.microsoft.com/azure/service-bus-messaging/service-bus-sas).

use crate::config::Policy;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a token was refused; the text goes back to the client (never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// A verified token: the resource it grants, without scheme and host, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `q1`, `t1/subscriptions/s1`, or empty for the whole namespace.
    pub path: String,
    /// When it expires (seconds since the epoch).
    pub expires: i64,
}

fn field<'a>(token: &'a str, name: &str) -> Option<&'a str> {
    token
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Checks a token against the namespace's keys at `now` (seconds since the epoch).
pub fn verify(token: &str, policies: &[Policy], now: i64) -> Result<Grant, Refused> {
    let body = token
        .strip_prefix("SharedAccessSignature ")
        .ok_or_else(|| Refused("the token is not a SharedAccessSignature".into()))?;
    let (Some(sr), Some(sig), Some(se), Some(skn)) = (
        field(body, "sr"),
        field(body, "sig"),
        field(body, "se"),
        field(body, "skn"),
    ) else {
        return Err(Refused("the token lacks one of sr, sig, se, skn".into()));
    };
    let key_name = decode(skn);
    let policy = policies
        .iter()
        .find(|p| p.name == key_name)
        .ok_or_else(|| Refused(format!("no shared access policy named {key_name:?}")))?;
    let expires: i64 = se
        .parse()
        .map_err(|_| Refused("se is not a number".into()))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(decode(sig))
        .map_err(|_| Refused("sig is not base64".into()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(policy.key.as_bytes())
        .map_err(|_| Refused("the policy key is unusable".into()))?;
    mac.update(format!("{sr}\n{se}").as_bytes());
    if mac.verify_slice(&signature).is_err() {
        return Err(Refused(format!(
            "InvalidSignature: the token's signature does not match key {key_name:?}"
        )));
    }
    if expires <= now {
        return Err(Refused("ExpiredToken: the token has expired".into()));
    }
    Ok(grant(&decode(sr), expires))
}

/// What a token for `resource` (`sb://host/q1`, a put-token's `name`) grants until
/// `expires`. A token for `<entity>/$management` (the Node SDK's audience for management
/// links) grants the entity's management node, which the entity's path covers.
pub fn grant(resource: &str, expires: i64) -> Grant {
    let path = crate::broker::entity_path(resource).to_ascii_lowercase();
    let path = path
        .strip_suffix("/$management")
        .unwrap_or(&path)
        .to_owned();
    Grant { path, expires }
}

/// Whether a grant covers an entity path (a namespace grant covers all).
pub fn covers(grant: &Grant, path: &str, now: i64) -> bool {
    if grant.expires <= now {
        return false;
    }
    let path = path.to_ascii_lowercase();
    grant.path.is_empty() || path == grant.path || path.starts_with(&format!("{}/", grant.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(sr: &str, se: i64, key: &str, skn: &str) -> String {
        let encoded: String =
            percent_encoding::utf8_percent_encode(sr, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
        mac.update(format!("{encoded}\n{se}").as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sig: String =
            percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        format!("SharedAccessSignature sr={encoded}&sig={sig}&se={se}&skn={skn}")
    }

    fn policies() -> Vec<Policy> {
        vec![Policy {
            name: "Root".into(),
            key: "secret".into(),
        }]
    }

    #[test]
    fn a_good_token_grants_its_resource() {
        let t = sign("sb://127.0.0.1:5673/Q1", 2_000, "secret", "Root");
        let g = verify(&t, &policies(), 1_000).expect("valid");
        assert_eq!(g.path, "q1");
        assert!(covers(&g, "q1/$management", 1_000));
        assert!(!covers(&g, "q2", 1_000));
        assert!(!covers(&g, "q1", 2_000));
        let m = sign("sb://h/q1/$management", 2_000, "secret", "Root");
        assert_eq!(verify(&m, &policies(), 1_000).expect("valid").path, "q1");
    }

    #[test]
    fn wrong_key_expired_and_unknown_name_are_refused() {
        let bad = sign("sb://h/q1", 2_000, "other", "Root");
        let e = verify(&bad, &policies(), 1_000).expect_err("bad key");
        assert!(e.0.contains("InvalidSignature") && !e.0.contains("secret"));
        let old = sign("sb://h/q1", 500, "secret", "Root");
        assert!(
            verify(&old, &policies(), 1_000)
                .expect_err("expired")
                .0
                .contains("Expired")
        );
        let who = sign("sb://h/q1", 2_000, "secret", "Nobody");
        assert!(verify(&who, &policies(), 1_000).is_err());
        assert!(verify("Bearer x", &policies(), 1_000).is_err());
    }
}
