//! Printing results: JSON with `--json`, else short aligned text.

use chrono::{DateTime, Utc};
use persistence::{Collection, NotificationEntry, Transition, WebhookEvent};
use serde::Serialize;

use crate::error::CtlError;

pub fn json<T: Serialize>(value: &T) -> Result<(), CtlError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CtlError::Failed(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

pub fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

fn or_dash(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

pub fn collection(c: &Collection) {
    println!("request_ref   {}", c.request_ref);
    println!("status        {}", c.status);
    println!("id            {}", c.id);
    println!("provider      {}", or_dash(&c.provider));
    println!("provider_ref  {}", or_dash(&c.provider_ref));
    println!(
        "amount        {} {}",
        or_dash(&c.amount),
        c.currency.as_deref().unwrap_or("")
    );
    println!("version       {}", c.version);
    println!("created_at    {}", time(&c.created_at));
    println!("updated_at    {}", time(&c.updated_at));
    if c.metadata.as_object().is_some_and(|m| !m.is_empty()) {
        println!("metadata      {}", c.metadata);
    }
}

pub fn transitions(rows: &[Transition]) {
    if rows.is_empty() {
        println!("(no decisions yet)");
    }
    for t in rows {
        println!(
            "{}  {:<10} -> {:<10}  {:<16}  {:<20}  {}",
            time(&t.created_at),
            t.from_status.as_str(),
            t.to_status.as_str(),
            t.outcome.as_str(),
            t.actor,
            t.reason
        );
    }
}

pub fn event_line(e: &WebhookEvent) {
    println!(
        "{}  {:<9}  {:<12}  attempts={:<2}  {}  event_id={}  request_ref={}{}",
        e.id,
        e.status.as_str(),
        e.provider,
        e.attempts,
        time(&e.received_at),
        or_dash(&e.event_id),
        or_dash(&e.request_ref),
        e.last_error
            .as_deref()
            .map(|err| format!("  error={err}"))
            .unwrap_or_default()
    );
}

pub fn event(e: &WebhookEvent) {
    println!("id               {}", e.id);
    println!("provider         {}", e.provider);
    println!("status           {}", e.status);
    println!("event_id         {}", or_dash(&e.event_id));
    println!("dedup_key        {}", e.dedup_key);
    println!("request_ref      {}", or_dash(&e.request_ref));
    println!("attempts         {}", e.attempts);
    println!("next_attempt_at  {}", time(&e.next_attempt_at));
    println!("last_error       {}", or_dash(&e.last_error));
    println!("duplicate_count  {}", e.duplicate_count);
    println!("received_at      {}", time(&e.received_at));
    println!("last_seen_at     {}", time(&e.last_seen_at));
    println!(
        "processed_at     {}",
        e.processed_at
            .as_ref()
            .map(time)
            .unwrap_or_else(|| "-".to_owned())
    );
    println!("payload          {}", e.payload);
}

pub fn notification_line(entry: &NotificationEntry) {
    let n = &entry.notification;
    println!(
        "{}  {:<9}  {:<26}  attempts={:<2}  {}  request_ref={}  version={}{}",
        n.id,
        n.status,
        n.kind,
        n.attempts,
        time(&n.created_at),
        entry.request_ref,
        n.payload["data"]["version"],
        n.last_error
            .as_deref()
            .map(|err| format!("  error={err}"))
            .unwrap_or_default()
    );
}

pub fn notification(entry: &NotificationEntry) {
    let n = &entry.notification;
    println!("id               {}", n.id);
    println!("type             {}", n.kind);
    println!("status           {}", n.status);
    println!("request_ref      {}", entry.request_ref);
    println!("attempts         {}", n.attempts);
    match n.next_attempt() {
        Some(at) => println!("next_attempt_at  {}", time(&at)),
        None => println!("next_attempt_at  after the collection's earlier notification"),
    }
    println!("last_error       {}", or_dash(&n.last_error));
    println!(
        "delivered_at     {}",
        n.delivered_at
            .as_ref()
            .map(time)
            .unwrap_or_else(|| "-".to_owned())
    );
    println!("created_at       {}", time(&n.created_at));
    println!("body             {}", n.payload);
}
