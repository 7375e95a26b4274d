//! What every handler shares: the pool, the keys, the limits.

use std::time::Duration;

use persistence::DbPool;

use crate::auth::Keys;

pub struct AppState {
    pub pool: DbPool,
    pub keys: Keys,
    pub body_limit: usize,
    /// The whole body must arrive within this once the headers are in.
    pub request_timeout: Duration,
    pub max_page_size: u32,
}

/// Rows in a page when `limit` is not given.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
