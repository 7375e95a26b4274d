//! Read-only access to request headers, case-insensitive by name, so the signature schemes do
//! not depend on any HTTP library. The receiver implements [`HeaderLookup`] for its header map.

/// Request headers, looked up case-insensitively. With repeated headers the first one counts.
pub trait HeaderLookup {
    fn header(&self, name: &str) -> Option<&str>;
}

fn find<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(
    pairs: impl IntoIterator<Item = &'a (K, V)>,
    name: &str,
) -> Option<&'a str> {
    pairs
        .into_iter()
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<&str> {
        find(self, name)
    }
}

/// The trimmed value of `name`, treating a blank value as absent (a proxy that forwards an
/// empty header has not forwarded a signature).
pub(crate) fn present<'h, H: HeaderLookup + ?Sized>(headers: &'h H, name: &str) -> Option<&'h str> {
    headers
        .header(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_for_every_container() {
        let borrowed = [("Stripe-Signature", "t=1,v1=ab")];
        assert_eq!(borrowed.header("stripe-signature"), Some("t=1,v1=ab"));
        assert_eq!(borrowed[..].header("STRIPE-SIGNATURE"), Some("t=1,v1=ab"));

        let owned = vec![("webhook-id".to_string(), "msg_1".to_string())];
        assert_eq!(owned.header("Webhook-Id"), Some("msg_1"));
        assert_eq!(owned.header("webhook-signature"), None);
    }

    #[test]
    fn the_first_of_repeated_headers_counts() {
        let headers = [("x-signature", "first"), ("X-Signature", "second")];
        assert_eq!(headers.header("x-signature"), Some("first"));
    }

    #[test]
    fn blank_values_count_as_absent_and_values_are_trimmed() {
        let headers = [("a", "   "), ("b", " v ")];
        assert_eq!(present(&headers, "a"), None);
        assert_eq!(present(&headers, "b"), Some("v"));
        assert_eq!(present(&headers, "c"), None);
    }
}
