//! Wake-up on PostgreSQL: a thread of its own holds a connection that `LISTEN`s on
//! `persistence::NEW_EVENTS_CHANNEL` (receivers `NOTIFY` it after committing an event) and wakes
//! the claim loop. diesel only drains notifications that already arrived, without blocking, so
//! the thread looks every `TICK`. A lost connection is reopened; notifications missed meanwhile
//! cost at most one `poll_interval`, and the loop is woken once after every (re)connection.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use persistence::NEW_EVENTS_CHANNEL;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

// Short, because it is most of the lag between a commit and its processing at low load; a look
// is one non-blocking read of the socket.
const TICK: Duration = Duration::from_millis(10);
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Starts the listening thread; it ends soon after `stop` is cancelled.
pub(crate) fn spawn_listener(
    url: String,
    wake: Arc<Notify>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    thread::Builder::new()
        .name("inbox-listen".to_owned())
        .spawn(move || listen(&url, &wake, &stop))
        .map(drop)
}

fn listen(url: &str, wake: &Notify, stop: &CancellationToken) {
    let mut reported_outage = false;
    while !stop.is_cancelled() {
        let connected = PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                conn.batch_execute(&format!("LISTEN {NEW_EVENTS_CHANNEL}"))
                    .map_err(|e| e.to_string())?;
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
        while !stop.is_cancelled() {
            let mut arrived = false;
            let mut lost = None;
            for notification in conn.notifications_iter() {
                match notification {
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
