//! Wake-up on PostgreSQL: a thread of its own holds a connection that `LISTEN`s on
//! `persistence::NEW_EVENTS_CHANNEL` (receivers `NOTIFY` it after committing an event) and wakes
//! the claim loop, and on `persistence::COLLECTIONS_CHANNEL` (decisions that wrote notifications)
//! and wakes the dispatcher. diesel only drains notifications that already arrived, without blocking, so
//! the thread looks every `TICK`. A lost connection is reopened; notifications missed meanwhile
//! cost at most one `poll_interval`, and the loop is woken once after every (re)connection.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use persistence::{COLLECTIONS_CHANNEL, NEW_EVENTS_CHANNEL};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

// Short, because it is most of the lag between a commit and its processing at low load; a look
// is one non-blocking read of the socket.
const TICK: Duration = Duration::from_millis(10);
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Whom the listening thread wakes: the claim loop for new events, the dispatcher (when there is
/// one) for new notifications.
pub(crate) struct Wakes {
    pub events: Arc<Notify>,
    pub notifications: Option<Arc<Notify>>,
}

/// Starts the listening thread; it ends soon after `stop` is cancelled.
pub(crate) fn spawn_listener(
    url: String,
    wakes: Wakes,
    stop: CancellationToken,
) -> std::io::Result<()> {
    thread::Builder::new()
        .name("inbox-listen".to_owned())
        .spawn(move || listen(&url, &wakes, &stop))
        .map(drop)
}

fn listen(url: &str, wakes: &Wakes, stop: &CancellationToken) {
    let wake = &wakes.events;
    let channels = match &wakes.notifications {
        Some(_) => format!("LISTEN {NEW_EVENTS_CHANNEL}; LISTEN {COLLECTIONS_CHANNEL}"),
        None => format!("LISTEN {NEW_EVENTS_CHANNEL}"),
    };
    let mut reported_outage = false;
    while !stop.is_cancelled() {
        let connected = PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                conn.batch_execute(&channels).map_err(|e| e.to_string())?;
                Ok(conn)
            });
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(error) => {
                if !reported_outage {
                    tracing::warn!(%error, "Cannot LISTEN for new events: polling until it works");
                    reported_outage = true;
                }
                pause(stop, RECONNECT_PAUSE);
                continue;
            }
        };
        if reported_outage {
            tracing::info!("Listening for new events again");
            reported_outage = false;
        }
        wake.notify_one();
        if let Some(dispatcher) = &wakes.notifications {
            dispatcher.notify_one();
        }
        while !stop.is_cancelled() {
            let mut arrived = false;
            let mut told = false;
            let mut lost = None;
            for notification in conn.notifications_iter() {
                match notification {
                    Ok(n) if n.channel == COLLECTIONS_CHANNEL => told = true,
                    Ok(_) => arrived = true,
                    Err(error) => {
                        lost = Some(error);
                        break;
                    }
                }
            }
            if arrived {
                wake.notify_one();
            }
            if let (true, Some(dispatcher)) = (told, &wakes.notifications) {
                dispatcher.notify_one();
            }
            if let Some(error) = lost {
                tracing::warn!(%error, "Lost the LISTEN connection: reconnecting");
                reported_outage = true;
                break;
            }
            thread::sleep(TICK);
        }
    }
}

fn pause(stop: &CancellationToken, total: Duration) {
    let mut left = total;
    while !left.is_zero() && !stop.is_cancelled() {
        let step = left.min(TICK * 4);
        thread::sleep(step);
        left -= step;
    }
}
