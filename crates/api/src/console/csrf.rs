//! CSRF tokens. Every console form carries one: the session's token once signed in, and before
//! that a token also set in a short-lived cookie (double submit) for the sign-in form. A POST
//! whose token is missing or differs is refused with 403 before anything else is read.
//! `SameSite=Strict` cookies already keep other sites' forms out; the token is the second lock.

use subtle::ConstantTimeEq;

/// The cookie holding the sign-in form's token.
pub const LOGIN_COOKIE: &str = "inbox_console_login";

/// True when `given` is the expected token; an empty expected token matches nothing.
/// Compared in constant time.
pub fn matches(expected: &str, given: &str) -> bool {
    !expected.is_empty()
        && expected.len() == given.len()
        && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_non_empty_token_matches() {
        assert!(matches("abc123", "abc123"));
        assert!(!matches("abc123", "abc124"));
        assert!(!matches("abc123", "abc12"));
        assert!(!matches("abc123", ""));
        assert!(!matches("", ""));
    }
}
