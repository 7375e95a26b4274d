//! Random (version 4) UUIDs for event and request ids, drawn from the thread's cryptographically
//! secure generator (`rand::rng()`, seeded from the OS) instead of one `getrandom` system call
//! per id: a request needs two.

use uuid::{Builder, Uuid};

pub fn random_uuid() -> Uuid {
    Builder::from_random_bytes(rand::random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_and_differ() {
        let (a, b) = (random_uuid(), random_uuid());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
