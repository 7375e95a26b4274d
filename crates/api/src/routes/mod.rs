pub mod collections;
pub mod events;
