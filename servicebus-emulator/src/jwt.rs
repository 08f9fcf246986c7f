//! Entra ID access tokens (JWTs), checked as far as can be done offline.
//!
//! The service verifies a token's signature against Entra's published keys; the
//! emulator has no network and no keys, so it checks only what a token claims: that it
//! is a JWT (three base64url parts, a JSON header naming its `alg`, a JSON payload), its
//! audience (`aud`: one of the config's `Audiences`), its lifetime (`exp`, and `nbf`
//! when present) and, when the config names them, its issuer (`iss`) and tenant (`tid`).
//! Anyone can forge a token this accepts: the emulator is for tests.

use crate::config::EntraConfig;
use crate::sas::Refused;
use base64::Engine;
use serde_json::Value;

/// A token's JSON part (`0` header, `1` payload), decoded.
fn part(token: &str, index: usize) -> Result<Value, Refused> {
    let text = token
        .split('.')
        .nth(index)
        .ok_or_else(|| Refused("the token is not a JWT (header.payload.signature)".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Refused("the token is not a JWT: a part is not base64url".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(Refused(
            "the token is not a JWT: a part is not a JSON object".into(),
        )),
    }
}

/// Checks a bearer token against the namespace's Entra settings at `now` (seconds since
/// the epoch); returns when it expires. Refused without Entra settings: the namespace
/// then takes shared access signatures only. The reason never repeats the token.
pub fn verify(token: &str, entra: Option<&EntraConfig>, now: i64) -> Result<i64, Refused> {
    let Some(entra) = entra else {
        return Err(Refused(
            "InvalidToken: this namespace takes no Entra ID tokens (its config has no Entra \
             section)"
                .into(),
        ));
    };
    if token.split('.').count() != 3 {
        return Err(Refused(
            "InvalidToken: the token is not a JWT (header.payload.signature)".into(),
        ));
    }
    let header = part(token, 0)?;
    if !header.get("alg").is_some_and(Value::is_string) {
        return Err(Refused(
            "InvalidToken: the token's header names no alg".into(),
        ));
    }
    let claims = part(token, 1)?;
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let accepted = |aud: &str| {
        entra
            .audiences
            .iter()
            .any(|a| a.trim_end_matches('/') == aud.trim_end_matches('/'))
    };
    if !audiences.iter().any(|aud| accepted(aud)) {
        return Err(Refused(format!(
            "InvalidAudience: the token's audience is not one of {}",
            entra.audiences.join(", ")
        )));
    }
    let Some(expires) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(Refused("InvalidToken: the token has no exp".into()));
    };
    if expires <= now {
        return Err(Refused("ExpiredToken: the token has expired".into()));
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now)
    {
        return Err(Refused(
            "InvalidToken: the token is not valid yet (nbf)".into(),
        ));
    }
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if let Some(issuer) = &entra.issuer
        && claim("iss") != Some(issuer.as_str())
    {
        return Err(Refused(format!(
            "InvalidIssuer: the token's issuer is not {issuer}"
        )));
    }
    if let Some(tenant) = &entra.tenant_id
        && claim("tid") != Some(tenant.as_str())
    {
        return Err(Refused(format!(
            "InvalidIssuer: the token is not of tenant {tenant}"
        )));
    }
    Ok(expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &Value) -> String {
        let enc = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.c2lnbmF0dXJl",
            enc(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            enc(claims)
        )
    }

    fn entra() -> EntraConfig {
        EntraConfig {
            audiences: vec!["https://servicebus.azure.net".into()],
            issuer: None,
            tenant_id: Some("t-1".into()),
        }
    }

    fn good() -> Value {
        serde_json::json!({"aud": "https://servicebus.azure.net/", "exp": 2_000, "tid": "t-1",
                           "iss": "https://sts.windows.net/t-1/"})
    }

    #[test]
    fn a_token_for_the_audience_and_tenant_is_accepted_until_it_expires() {
        assert_eq!(verify(&jwt(&good()), Some(&entra()), 1_000), Ok(2_000));
        let mut listed = good();
        listed["aud"] = serde_json::json!(["api://other", "https://servicebus.azure.net"]);
        assert!(verify(&jwt(&listed), Some(&entra()), 1_000).is_ok());
        let e = verify(&jwt(&good()), Some(&entra()), 2_000).expect_err("expired");
        assert!(e.0.starts_with("ExpiredToken"), "{e:?}");
    }

    #[test]
    fn another_audience_tenant_or_issuer_is_refused() {
        let mut other = good();
        other["aud"] = "https://storage.azure.com".into();
        let e = verify(&jwt(&other), Some(&entra()), 1_000).expect_err("audience");
        assert!(e.0.starts_with("InvalidAudience"), "{e:?}");
        let mut tenant = good();
        tenant["tid"] = "t-2".into();
        assert!(verify(&jwt(&tenant), Some(&entra()), 1_000).is_err());
        let issuer = EntraConfig {
            issuer: Some("https://login.microsoftonline.com/t-1/v2.0".into()),
            ..entra()
        };
        let e = verify(&jwt(&good()), Some(&issuer), 1_000).expect_err("issuer");
        assert!(e.0.starts_with("InvalidIssuer"), "{e:?}");
        let mut early = good();
        early["nbf"] = 1_500.into();
        assert!(verify(&jwt(&early), Some(&entra()), 1_000).is_err());
    }

    #[test]
    fn what_is_not_a_jwt_is_refused_without_repeating_it() {
        for token in [
            "opaque-s3cr3t",
            "a.b",
            "!!.!!.!!",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
        ] {
            let e = verify(token, Some(&entra()), 1_000).expect_err(token);
            assert!(!e.0.contains(token), "{e:?}");
        }
        let mut no_exp = good();
        if let Some(claims) = no_exp.as_object_mut() {
            claims.remove("exp");
        }
        assert!(verify(&jwt(&no_exp), Some(&entra()), 1_000).is_err());
    }

    #[test]
    fn without_an_entra_section_no_jwt_is_taken() {
        let e = verify(&jwt(&good()), None, 1_000).expect_err("disabled");
        assert!(e.0.contains("Entra section"), "{e:?}");
    }
}
