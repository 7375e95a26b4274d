pub mod collections;
pub mod events;
pub mod notifications;
