//! Access-token verification, the one implementation both verifiers use (the
//! auth-api at its bearer endpoints, the frontend's guard on every page).
//!
//! The rules of the design, each a line below: exactly EdDSA; exactly type
//! `at+jwt`; the key found by `kid` in the verifier's own key set (never via
//! anything the token could point elsewhere, like `jku` or a path); `iss`,
//! `aud`, `exp` and `nbf` checked, time against the caller's clock.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::{ACCESS_TOKEN_TYPE, AccessClaims};

/// Tolerated clock difference between machines, in seconds.
pub const LEEWAY: i64 = 5;

/// What a token must claim to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// The frontend's client id.
    pub audience: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a JWT, or a header that is not ours (algorithm, type).
    Malformed,
    /// Well-formed, but signed by a key we do not hold: a verifier with a
    /// cached key set may refresh it once and try again.
    UnknownKey(String),
    /// Bad signature, issuer or audience.
    Invalid,
    Expired,
    NotYetValid,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed => f.write_str("malformed token"),
            VerifyError::UnknownKey(_) => f.write_str("unknown signing key"),
            VerifyError::Invalid => f.write_str("invalid token"),
            VerifyError::Expired => f.write_str("expired token"),
            VerifyError::NotYetValid => f.write_str("token not yet valid"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies `token`, looking its key up with `key_for(kid)`.
pub fn verify_access_token<'k>(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<&'k DecodingKey>,
    expected: Expected<'_>,
    now: i64,
) -> Result<AccessClaims, VerifyError> {
    // `alg: none` and unknown algorithms fail to parse here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(VerifyError::Malformed);
    }
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
    });
    if !typ_ok {
        return Err(VerifyError::Malformed);
    }
    // RFC 7515 §4.1.11: extensions a token declares critical must be
    // understood or the token refused; ours declare none and we know none.
    if header.crit.is_some() {
        return Err(VerifyError::Malformed);
    }
    let kid = header.kid.ok_or(VerifyError::Malformed)?;
    let key = key_for(&kid).ok_or(VerifyError::UnknownKey(kid))?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[expected.issuer]);
    validation.set_audience(&[expected.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    // The library would read the wall clock; time is checked below against
    // the caller's clock so that expiry is testable.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| VerifyError::Invalid)?
        .claims;
    check_time(&claims, now)?;
    Ok(claims)
}

/// The time rules alone, for a verifier that re-checks a token it verified
/// earlier: a cached verification never outlives the token.
pub fn check_time(claims: &AccessClaims, now: i64) -> Result<(), VerifyError> {
    if claims.exp + LEEWAY <= now {
        return Err(VerifyError::Expired);
    }
    if claims.nbf - LEEWAY > now {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

/// Properties, not examples: whatever an attacker sends (random text, a real
/// token with any byte changed, a re-signed token with a header or claims of
/// their choosing) verifies only if it is exactly what the rules above accept.
#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::{Signer, SigningKey};
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    const NOW: i64 = 1_800_000_000;
    const KID: &str = "good-kid";
    const EXPECTED: Expected<'static> = Expected { issuer: "https://auth", audience: "front" };

    fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn public_key() -> DecodingKey {
        DecodingKey::from_ed_der(signing_key().verifying_key().as_bytes())
    }

    /// Another key under the same kid: a key the verifier does not hold.
    fn foreign_key() -> SigningKey {
        SigningKey::from_bytes(&[8; 32])
    }

    fn our_header() -> Value {
        json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": KID })
    }

    fn claims() -> Value {
        json!({
            "iss": EXPECTED.issuer, "aud": EXPECTED.audience, "sub": "user-1", "sid": "session-1",
            "username": "alice", "roles": ["admin"], "iat": NOW, "nbf": NOW, "exp": NOW + 300,
            "jti": "jti-1", "auth_time": NOW, "amr": ["pwd"],
        })
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    /// A compact JWS over `header` and `claims`, signed by `key`.
    fn sign(header: &Value, claims: &Value, key: &SigningKey) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn verify(token: &str) -> Result<AccessClaims, VerifyError> {
        let key = public_key();
        verify_access_token(token, |kid| (kid == KID).then_some(&key), EXPECTED, NOW)
    }

    #[test]
    fn the_genuine_token_verifies() {
        // Every property below is about changes to this one.
        let claims = verify(&sign(&our_header(), &claims(), &signing_key())).unwrap();
        assert_eq!(claims.sid, "session-1");
    }

    /// One edit of a token's bytes: replace, insert or delete at `at`.
    #[derive(Debug, Clone)]
    enum Edit {
        Replace(usize, u8),
        Insert(usize, u8),
        Delete(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        // Mostly characters a JWT is made of, so edits reach the decoders
        // and the signature check rather than stopping at the first split.
        let byte = prop_oneof![
            3 => prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".to_vec()
            ),
            1 => any::<u8>(),
        ];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Replace(at, b)),
            (any::<usize>(), byte).prop_map(|(at, b)| Edit::Insert(at, b)),
            any::<usize>().prop_map(Edit::Delete),
        ]
    }

    fn apply(token: &str, edits: &[Edit]) -> Vec<u8> {
        let mut bytes = token.as_bytes().to_vec();
        for e in edits {
            match *e {
                Edit::Replace(at, b) if !bytes.is_empty() => {
                    let at = at % bytes.len();
                    bytes[at] = b;
                }
                Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
                Edit::Delete(at) if !bytes.is_empty() => {
                    bytes.remove(at % bytes.len());
                }
                _ => {}
            }
        }
        bytes
    }

    /// The header values an attacker would try: each field ours half the
    /// time, so that headers differing from ours in one field are common.
    fn attacker_header() -> impl Strategy<Value = Value> {
        fn ours_or(ours: &'static str, others: Vec<&'static str>) -> BoxedStrategy<&'static str> {
            prop_oneof![Just(ours), prop::sample::select(others)].boxed()
        }
        let alg = ours_or(
            "EdDSA",
            vec!["none", "None", "HS256", "HS512", "RS256", "ES256", "PS256", "eddsa", ""],
        );
        let typ = prop::option::weighted(
            0.9,
            ours_or("at+jwt", vec!["AT+JWT", "application/at+jwt", "JWT", "jwt", "id_token", ""]),
        );
        let kid = prop::option::weighted(
            0.9,
            ours_or(KID, vec!["other-kid", "", "../good-kid", "GOOD-KID"]),
        );
        // Pointers to keys elsewhere are never followed.
        let pointer = ours_or("", vec!["jku", "jwk", "x5u", "crit"]);
        (alg, typ, kid, pointer).prop_map(|(alg, typ, kid, pointer)| {
            let mut h = json!({ "alg": alg });
            if let Some(t) = typ {
                h["typ"] = json!(t);
            }
            if let Some(k) = kid {
                h["kid"] = json!(k);
            }
            match pointer {
                "" => {}
                // The attacker's own key, embedded (RFC 7515 §4.1.3).
                "jwk" => {
                    let x = URL_SAFE_NO_PAD.encode(foreign_key().verifying_key().as_bytes());
                    h["jwk"] = json!({ "kty": "OKP", "crv": "Ed25519", "x": x });
                }
                "crit" => h["crit"] = json!(["exp"]),
                url => h[url] = json!("https://evil.example/keys"),
            }
            h
        })
    }

    /// What the rules say about such a header, signed with the right key.
    fn header_is_acceptable(h: &Value) -> bool {
        h["alg"] == "EdDSA"
            && h["typ"].as_str().is_some_and(|t| {
                t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
            })
            && h["kid"] == KID
            && h.get("crit").is_none()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_never_verifies(text in ".{0,400}") {
            prop_assert!(verify(&text).is_err());
        }

        #[test]
        fn arbitrary_segments_never_verify(
            parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..5)
        ) {
            // Well-formed base64url pieces of anything at all.
            let token: Vec<String> = parts.iter().map(|p| URL_SAFE_NO_PAD.encode(p)).collect();
            prop_assert!(verify(&token.join(".")).is_err());
        }

        #[test]
        fn a_genuine_token_with_any_byte_changed_never_verifies(
            edits in prop::collection::vec(edit(), 1..4)
        ) {
            let genuine = sign(&our_header(), &claims(), &signing_key());
            let mutated = apply(&genuine, &edits);
            prop_assume!(mutated != genuine.as_bytes());
            // Bytes that are not UTF-8 never reach a verifier (headers and
            // cookies are read as strings); the rest must fail.
            if let Ok(text) = std::str::from_utf8(&mutated) {
                prop_assert!(verify(text).is_err(), "verified: {text}");
            }
        }

        #[test]
        fn a_genuine_signature_never_carries_another_header_or_payload(
            header in attacker_header(),
            sub in "[a-z0-9-]{1,12}",
        ) {
            // Splice a genuine signature onto a header and claims of the
            // attacker's choosing.
            let genuine = sign(&our_header(), &claims(), &signing_key());
            let signature = genuine.rsplit('.').next().unwrap();
            let mut forged_claims = claims();
            forged_claims["sub"] = json!(sub);
            prop_assume!(header != our_header() || sub != "user-1");
            let token = format!("{}.{}.{signature}", b64(&header), b64(&forged_claims));
            prop_assert!(verify(&token).is_err());
        }

        #[test]
        fn a_header_verifies_only_if_it_is_exactly_ours(header in attacker_header()) {
            let signed = sign(&header, &claims(), &signing_key());
            prop_assert_eq!(verify(&signed).is_ok(), header_is_acceptable(&header), "{}", header);
        }

        #[test]
        fn no_other_key_and_no_other_algorithm_is_believed(header in attacker_header()) {
            // The right kid, signed by a key we do not hold.
            prop_assert!(verify(&sign(&header, &claims(), &foreign_key())).is_err());
            // Algorithm confusion: an HMAC keyed with our public key (which
            // anyone can read from the JWKS), under any header.
            let input = format!("{}.{}", b64(&header), b64(&claims()));
            let public = signing_key().verifying_key().to_bytes();
            for secret in [public.to_vec(), URL_SAFE_NO_PAD.encode(public).into_bytes()] {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
                mac.update(input.as_bytes());
                let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
                let token = format!("{input}.{tag}");
                prop_assert!(verify(&token).is_err());
            }
            // `alg: none` with an empty signature.
            let unsigned = format!("{input}.");
            prop_assert!(verify(&unsigned).is_err());
        }

        #[test]
        fn claims_verify_only_for_our_issuer_audience_and_time(
            iss in prop::sample::select(vec!["https://auth", "https://auth/", "https://evil", ""]),
            aud in prop_oneof![
                prop::sample::select(vec!["front", "Front", "notes-api", ""]).prop_map(|a| json!(a)),
                Just(json!(["front"])),
                Just(json!(["notes-api"])),
                Just(json!(null)),
            ],
            nbf in NOW - 100..NOW + 100,
            exp in NOW - 100..NOW + 100,
            drop in prop::option::of(prop::sample::select(vec!["exp", "nbf", "iss", "aud", "sub"])),
        ) {
            let mut c = claims();
            c["iss"] = json!(iss);
            c["aud"] = aud.clone();
            c["nbf"] = json!(nbf);
            c["exp"] = json!(exp);
            if let Some(field) = drop {
                c.as_object_mut().unwrap().remove(field);
            }
            // `aud` is one string in our tokens; a list is not our token.
            let audience_ok = aud == json!("front");
            let expected = iss == EXPECTED.issuer
                && audience_ok
                && drop.is_none()
                && exp + LEEWAY > NOW
                && nbf - LEEWAY <= NOW;
            let result = verify(&sign(&our_header(), &c, &signing_key()));
            prop_assert_eq!(result.is_ok(), expected, "{:?} for {}", result, c);
        }
    }
}
