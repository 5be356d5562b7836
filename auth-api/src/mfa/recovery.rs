//! Recovery codes: ten single-use codes of ten characters from Crockford's
//! base32 alphabet (50 random bits each), shown as `xxxxx-xxxxx`. Input is
//! forgiving the way Crockford intended: case, spaces and dashes do not
//! matter, and `i`/`l` read as `1`, `o` as `0`.

use crate::tokens::random_bytes;

pub const COUNT: usize = 10;
const LEN: usize = 10;
/// Crockford's base32: no `i`, `l`, `o` or `u`. 32 symbols, so a random
/// byte's low five bits pick one without bias.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh set, formatted for people.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let raw = random_bytes::<LEN>();
            let chars: String = raw.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// The canonical form of what a user typed (what gets hashed), or `None`
/// if it cannot be a recovery code.
pub fn normalise(input: &str) -> Option<String> {
    let mut out = String::with_capacity(LEN);
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_formatted_codes_that_normalise_to_themselves() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(normalise(code).unwrap(), code.replace('-', ""));
        }
    }

    #[test]
    fn input_is_forgiving_but_exact_in_length() {
        assert_eq!(normalise(" ABCDE-FGH1J ").as_deref(), Some("abcdefgh1j"));
        assert_eq!(normalise("abcde fghij").as_deref(), Some("abcdefgh1j"), "i reads as 1");
        assert_eq!(normalise("0o0o0-lLiI1").as_deref(), Some("0000011111"));
        assert_eq!(normalise("abcde-fghj"), None, "too short");
        assert_eq!(normalise("abcde-fghjkm"), None, "too long");
        assert_eq!(normalise("abcde-fghu1"), None, "u is not in the alphabet");
        assert_eq!(normalise("abcdé-fgh1j"), None);
    }
}
