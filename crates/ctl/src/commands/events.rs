//! `inboxctl events …`: list, show, replay.

use persistence::{find_event, list_events, now, replay_event, EventFilter, EventStatus, Replayed};

use crate::cli::EventsCommand;
use crate::context::Context;
use crate::error::CtlError;
use crate::output;

pub fn run(ctx: &Context, command: EventsCommand) -> Result<(), CtlError> {
    match command {
        EventsCommand::List {
            status,
            provider,
            request_ref,
            since,
            limit,
        } => {
            let status = status
                .map(|s| s.parse::<EventStatus>().map_err(CtlError::Usage))
                .transpose()?;
            let filter = EventFilter {
                status,
                provider: provider.as_deref(),
                request_ref: request_ref.as_deref(),
                since: since.map(|d| now() - d),
                limit,
            };
            let events = list_events(&mut ctx.connect()?, &filter)?;
            if ctx.json {
                return output::json(&events);
            }
            if events.is_empty() {
                println!("(no events)");
            }
            events.iter().for_each(output::event_line);
            Ok(())
        }
        EventsCommand::Show { id } => {
            let event = find_event(&mut ctx.connect()?, id)?
                .ok_or_else(|| CtlError::Failed(format!("no event {id}")))?;
            if ctx.json {
                output::json(&event)
            } else {
                output::event(&event);
                Ok(())
            }
        }
        EventsCommand::Replay { id, reason, actor } => {
            let actor = ctx.actor(actor);
            let note = match reason {
                Some(reason) => format!("replayed by {actor}: {reason}"),
                None => format!("replayed by {actor}"),
            };
            match replay_event(&mut ctx.connect()?, id, &note, now())? {
                Replayed::Queued(event) => {
                    if ctx.json {
                        output::json(&event)
                    } else {
                        println!("event {id} is RECEIVED again; the processors will take it");
                        Ok(())
                    }
                }
                Replayed::AlreadyPending => Err(CtlError::Failed(format!(
                    "event {id} is RECEIVED already (waiting or being processed)"
                ))),
                Replayed::NotFound => Err(CtlError::Failed(format!("no event {id}"))),
            }
        }
    }
}
