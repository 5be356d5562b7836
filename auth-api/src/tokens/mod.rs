//! Token material: access tokens (signed JWTs), refresh tokens (opaque,
//! hashed at rest) and the signing key ring behind JWKS.

pub mod access;
pub mod keys;
pub mod refresh;

/// Fills a fixed-size buffer from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // A host that cannot produce randomness cannot issue a safe token; there
    // is no fallback worth having.
    getrandom::getrandom(&mut bytes).expect("the OS random number generator is unavailable");
    bytes
}
