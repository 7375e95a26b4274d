//! `inboxctl collections …`: create, show, history, set-status (audited; `--override` forces).

use domain::draft::Draft;
use domain::{Authority, CollectionStatus, Outcome, Request};
use persistence::{
    apply_requests, collection_history, create_collection, find_collection, now, write_transaction,
    Collection, DbConnection, Decide, EventsHeld, NewCollection, RequestOutcome, StoreError,
};
use serde_json::json;

use crate::cli::{CollectionsCommand, CreateArgs};
use crate::context::Context;
use crate::error::CtlError;
use crate::output;

pub fn run(ctx: &Context, command: CollectionsCommand) -> Result<(), CtlError> {
    match command {
        CollectionsCommand::Create(args) => create(ctx, args),
        CollectionsCommand::Show { request_ref } => show(ctx, &request_ref),
        CollectionsCommand::History { request_ref } => history(ctx, &request_ref),
        CollectionsCommand::SetStatus {
            request_ref,
            status,
            force,
            reason,
            actor,
        } => set_status(ctx, &request_ref, &status, force, reason, actor),
    }
}

fn create(ctx: &Context, args: CreateArgs) -> Result<(), CtlError> {
    let metadata = match &args.metadata {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|_| CtlError::Usage("--metadata must be a JSON object".to_owned()))?,
        ),
        None => None,
    };
    // The same rule as the host API's create; its field names become this command's flags.
    let draft = Draft::validate(
        &args.request_ref,
        args.amount.as_deref(),
        args.currency.as_deref(),
        metadata,
    )
    .map_err(
        |e| match (e.field, args.amount.is_some(), args.currency.is_some()) {
            ("currency", true, false) => CtlError::Usage(
                "--amount needs --currency (an ISO 4217 code such as NGN)".to_owned(),
            ),
            (field, ..) => CtlError::Usage(format!("--{}: {}", field.replace('_', "-"), e.message)),
        },
    )?;
    let new = NewCollection {
        request_ref: &draft.request_ref,
        status: CollectionStatus::Initiated,
        provider: args.provider.as_deref(),
        provider_ref: None,
        amount: draft.amount.as_deref(),
        currency: draft.currency.as_deref(),
        metadata: Some(&draft.metadata),
    };
    let created = create_collection(&mut ctx.connect()?, &new, now())?;
    if ctx.json {
        output::json(&created)
    } else {
        println!("created collection {}", created.request_ref);
        output::collection(&created);
        Ok(())
    }
}

fn find(conn: &mut DbConnection, request_ref: &str) -> Result<Collection, CtlError> {
    find_collection(conn, request_ref)?
        .ok_or_else(|| CtlError::Failed(format!("no collection with request_ref {request_ref:?}")))
}

fn show(ctx: &Context, request_ref: &str) -> Result<(), CtlError> {
    let mut conn = ctx.connect()?;
    let collection = find(&mut conn, request_ref)?;
    let decisions = collection_history(&mut conn, collection.id)?;
    if ctx.json {
        output::json(&json!({"collection": collection, "decisions": decisions}))
    } else {
        output::collection(&collection);
        println!("decisions:");
        output::transitions(&decisions);
        Ok(())
    }
}

fn history(ctx: &Context, request_ref: &str) -> Result<(), CtlError> {
    let mut conn = ctx.connect()?;
    let collection = find(&mut conn, request_ref)?;
    let decisions = collection_history(&mut conn, collection.id)?;
    if ctx.json {
        output::json(&decisions)
    } else {
        output::transitions(&decisions);
        Ok(())
    }
}

fn set_status(
    ctx: &Context,
    request_ref: &str,
    status: &str,
    force: bool,
    reason: Option<String>,
    actor: Option<String>,
) -> Result<(), CtlError> {
    let requested: CollectionStatus = status.to_ascii_uppercase().parse().map_err(|_| {
        CtlError::Usage(format!(
            "unknown status {status:?}: use INITIATED, PENDING, PROCESSING, SUCCESS or FAILED"
        ))
    })?;
    if force && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(CtlError::Usage("--override needs --reason".to_owned()));
    }
    let authority = if force {
        Authority::Override
    } else {
        Authority::Event
    };
    let actor = ctx.actor(actor);
    let mut conn = ctx.connect()?;
    find(&mut conn, request_ref)?;
    // Decided under the collection's row lock, by the same plan and writer as the processor's.
    let request = Request::from_operator(request_ref.to_owned(), requested, authority, reason);
    let decide = Decide {
        actor: &actor,
        events: EventsHeld::Leased,
        now: now(),
    };
    let outcomes = write_transaction(&mut conn, |conn| -> Result<_, StoreError> {
        apply_requests(conn, std::slice::from_ref(&request), &decide)
    })?;
    let Some(RequestOutcome::Recorded(decision)) = outcomes.into_iter().next() else {
        return Err(CtlError::Failed(format!(
            "could not change {request_ref}: it is gone"
        )));
    };
    let collection = find(&mut conn, request_ref)?;
    let summary = match decision.outcome {
        Outcome::Applied | Outcome::Override => {
            format!(
                "{} -> {} ({})",
                decision.from, decision.requested, decision.outcome
            )
        }
        _ => format!("unchanged: {}", decision.reason()),
    };
    if ctx.json {
        output::json(&json!({"outcome": decision.outcome, "collection": collection}))?;
    } else {
        println!("{request_ref}: {summary}");
    }
    // The refusal is recorded (audited), but the status did not change: say so.
    match decision.outcome {
        Outcome::SkippedTerminal | Outcome::SkippedBackward => Err(CtlError::Failed(format!(
            "{request_ref} not changed; use --override --reason TEXT to force it"
        ))),
        _ => Ok(()),
    }
}
