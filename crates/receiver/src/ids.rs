//! Event ids, drawn from the thread's cryptographically secure generator (`rand::rng()`, seeded
//! from the OS) instead of one `getrandom` system call per id.

use uuid::{Builder, Uuid};

/// A time-ordered (version 7) UUID: event ids. The primary key of `webhook_events` then grows at
/// its right edge, where its pages are in memory, instead of at a random leaf of an index as big
/// as the table; 74 of its bits are still random, so ids stay unguessable and unique across
/// receivers.
pub fn event_uuid() -> Uuid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_version_7_ordered_by_time_and_differ() {
        let a = event_uuid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (b, c) = (event_uuid(), event_uuid());
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert!(a < b, "a later id sorts after an earlier one");
        assert_ne!(b, c);
    }
}
