//! The password policy, the one place that decides whether a password may
//! become someone's password: the CLI (`user add`, `user set-password`),
//! administrators and users changing their own all pass through
//! [`PasswordPolicy::accept`]. Sign-in never does: a password set before the
//! policy tightened keeps working until its owner changes it.
//!
//! NIST SP 800-63B and OWASP ASVS 2.1: a minimum length, a generous maximum,
//! no composition rules ("one digit, one symbol" makes `Password1!`), and a
//! check against common and guessable passwords. The check is zxcvbn's
//! estimate of how many guesses a password takes, with the username and the
//! product's name as known words, so `alice2024` or `cloakroom123` score as
//! badly as they deserve. The message says why, in zxcvbn's words.

use serde::Serialize;

use crate::domain::Password;

/// Words an attacker tries first against this site, besides the username.
const SITE_WORDS: [&str; 1] = ["cloakroom"];

/// zxcvbn reads only the first 100 characters (its guard against slow
/// inputs); longer passwords are judged on those.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// Characters, not bytes: `PASSWORD_MIN_LENGTH`.
    pub min_length: usize,
    /// zxcvbn's 0–4 scale: `PASSWORD_MIN_SCORE`.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 12, min_score: 3 }
    }
}

/// The policy's answer, for the strength meter as much as for the refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// zxcvbn's score, 0 (guessed at once) to 4 (very unlikely to be guessed).
    pub score: u8,
    pub acceptable: bool,
    /// Why it is refused (or how to make it stronger), for a person to read.
    pub message: Option<String>,
}

/// A password the policy refused; the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(pub String);

/// A password that passed the policy: the only kind a user's password can be
/// set to (`users::add`, `users::set_password` take nothing else).
#[derive(Debug, Clone)]
pub struct NewPassword(Password);

impl NewPassword {
    pub fn into_password(self) -> Password {
        self.0
    }
}

impl PasswordPolicy {
    /// Judges `password` as `username`'s. Pure CPU (a few milliseconds for
    /// long inputs): async callers use [`accept`](Self::accept) or run it on
    /// the blocking pool.
    pub fn judge(&self, password: &str, username: &str) -> Verdict {
        let chars = password.chars().count();
        if chars < self.min_length {
            let message = format!(
                "Use at least {} characters (this one has {chars}). A few unrelated words make a long password that is easy to remember.",
                self.min_length
            );
            return Verdict { score: 0, acceptable: false, message: Some(message) };
        }
        if password.len() > Password::MAX_BYTES {
            let message = format!("Use at most {} bytes.", Password::MAX_BYTES);
            return Verdict { score: 0, acceptable: false, message: Some(message) };
        }
        let mut known: Vec<&str> = SITE_WORDS.to_vec();
        if !username.is_empty() {
            known.push(username);
        }
        let estimate = zxcvbn::zxcvbn(password, &known);
        let score = u8::from(estimate.score());
        let acceptable = score >= self.min_score;
        let message =
            if acceptable { None } else { Some(refusal(password, &known, estimate.feedback())) };
        Verdict { score, acceptable, message }
    }

    /// The password as a [`NewPassword`] if the policy accepts it, judged on
    /// the blocking pool.
    pub async fn accept(
        &self,
        password: Password,
        username: &str,
    ) -> Result<NewPassword, WeakPassword> {
        let (policy, username) = (*self, username.to_owned());
        let judged = tokio::task::spawn_blocking(move || {
            let verdict = policy.judge(password.expose(), &username);
            (verdict, password)
        })
        .await;
        match judged {
            Ok((verdict, password)) if verdict.acceptable => Ok(NewPassword(password)),
            Ok((verdict, _)) => Err(WeakPassword(verdict.message.unwrap_or_default())),
            // The judging task panicked: refuse, never wave a password through.
            Err(_) => Err(WeakPassword("This password could not be checked.".into())),
        }
    }
}

/// The sentence a refused password gets: that it is too easy to guess, what
/// gives it away, then how to do better.
fn refusal(
    password: &str,
    known: &[&str],
    feedback: Option<&zxcvbn::feedback::Feedback>,
) -> String {
    let lower = password.to_lowercase();
    let mut parts = vec!["This password is too easy to guess.".to_owned()];
    if known.iter().any(|word| word.len() >= 3 && lower.contains(&word.to_lowercase())) {
        parts.push("Do not build it from your username or this site's name.".to_owned());
    }
    if let Some(feedback) = feedback {
        parts.extend(feedback.warning().map(|w| w.to_string()));
        parts.extend(feedback.suggestions().iter().map(|s| s.to_string()));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(password: &str) -> Verdict {
        PasswordPolicy::default().judge(password, "dana")
    }

    #[test]
    fn common_repetitive_and_personal_passwords_are_refused_with_a_reason() {
        let common = judge("password1234");
        assert!(!common.acceptable);
        assert!(common.message.as_deref().unwrap().contains("common"), "{common:?}");

        let repeated = judge("aaaaaaaaaaaa");
        assert!(!repeated.acceptable);
        assert!(repeated.message.as_deref().unwrap().contains("Repeats"), "{repeated:?}");

        let personal = judge("dana12345678");
        assert!(!personal.acceptable);
        assert!(personal.message.as_deref().unwrap().contains("username"), "{personal:?}");

        let site = judge("cloakroom2026");
        assert!(!site.acceptable, "{site:?}");
        assert!(site.message.as_deref().unwrap().contains("site's name"), "{site:?}");
    }

    #[test]
    fn length_is_counted_in_characters() {
        let short = judge("kx8#Qm2!vZr");
        assert!(!short.acceptable);
        assert!(short.message.as_deref().unwrap().contains("at least 12"), "{short:?}");
        // Twelve two-byte characters are twelve characters.
        let policy = PasswordPolicy { min_length: 12, min_score: 0 };
        assert!(policy.judge(&"é".repeat(12), "dana").acceptable);
    }

    #[test]
    fn long_unrelated_words_pass_and_composition_is_not_required() {
        for good in ["correct horse battery staple", "vellum tortoise quarry gazebo"] {
            let verdict = judge(good);
            assert!(verdict.acceptable, "{good}: {verdict:?}");
            assert_eq!(verdict.message, None);
        }
    }

    #[tokio::test]
    async fn accept_gives_a_new_password_only_when_the_policy_agrees() {
        let policy = PasswordPolicy::default();
        let weak = Password::parse("password1234".into()).unwrap();
        assert!(policy.accept(weak, "dana").await.is_err());
        let strong = Password::parse("vellum tortoise quarry gazebo".into()).unwrap();
        let accepted = policy.accept(strong, "dana").await.unwrap();
        assert_eq!(accepted.into_password().expose(), "vellum tortoise quarry gazebo");
    }
}
