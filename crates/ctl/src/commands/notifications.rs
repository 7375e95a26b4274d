//! `inboxctl notifications …`: list, show, replay. What the host application is told, read from
//! the outbox; a replay hands a finished notification back to the processors' dispatchers.

use persistence::{
    find_notification, list_notifications, now, replay_notification, NotificationQuery,
    NotificationStatus,
};
use uuid::Uuid;

use crate::cli::NotificationsCommand;
use crate::context::Context;
use crate::error::CtlError;
use crate::output;

pub fn run(ctx: &Context, command: NotificationsCommand) -> Result<(), CtlError> {
    match command {
        NotificationsCommand::List {
            status,
            request_ref,
            limit,
        } => {
            let status = status
                .map(|s| {
                    s.parse::<NotificationStatus>().map_err(|e| {
                        CtlError::Usage(format!("{e}: use PENDING, DELIVERED or FAILED"))
                    })
                })
                .transpose()?;
            let query = NotificationQuery {
                status,
                request_ref: request_ref.as_deref(),
                before: None,
                limit,
            };
            let listed = list_notifications(&mut ctx.connect()?, &query)?;
            if ctx.json {
                return output::json(&listed);
            }
            if listed.is_empty() {
                println!("(no notifications)");
            }
            listed.iter().for_each(output::notification_line);
            Ok(())
        }
        NotificationsCommand::Show { id } => {
            let found = find_notification(&mut ctx.connect()?, id)?.ok_or_else(|| unknown(id))?;
            if ctx.json {
                output::json(&found)
            } else {
                output::notification(&found);
                Ok(())
            }
        }
        NotificationsCommand::Replay { id } => replay(ctx, id),
    }
}

fn replay(ctx: &Context, id: Uuid) -> Result<(), CtlError> {
    let mut conn = ctx.connect()?;
    let replayed = replay_notification(&mut conn, id, now())?;
    let current = find_notification(&mut conn, id)?.ok_or_else(|| unknown(id))?;
    if !replayed {
        return Err(CtlError::Failed(format!(
            "notification {id} is PENDING already (waiting for its turn or being delivered)"
        )));
    }
    if ctx.json {
        output::json(&current)
    } else {
        println!("notification {id} is PENDING again; the processors will deliver it");
        Ok(())
    }
}

fn unknown(id: Uuid) -> CtlError {
    CtlError::Failed(format!("no notification {id}"))
}
