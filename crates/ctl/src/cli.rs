//! The command line, as clap reads it. Every read command prints text, or JSON with `--json`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "inboxctl",
    version,
    about = "Operate webhook-inbox: migrations, collections, events, notifications, stats, purge, \
             send, listen.",
    after_help = "Exit codes: 0 done; 1 the operation failed (not found, refused, non-2xx answer); \
                  2 bad arguments or configuration; 3 the database is unavailable."
)]
pub struct Cli {
    /// Configuration file (default: $INBOX_CONFIG, else built-in defaults plus environment).
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations (safe to run from several places at once).
    Migrate {
        /// Only report pending migrations; exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Payments the host application expects.
    #[command(subcommand)]
    Collections(CollectionsCommand),
    /// Recorded webhook deliveries.
    #[command(subcommand)]
    Events(EventsCommand),
    /// What the host application is told (the outbox), and its delivery.
    #[command(subcommand)]
    Notifications(NotificationsCommand),
    /// Counts by status, duplicates suppressed, decisions by outcome, oldest pending age.
    Stats,
    /// Delete PROCESSED and FAILED events received before a cutoff, then DELIVERED and FAILED
    /// notifications created before it, in batches (never RECEIVED events or PENDING
    /// notifications); and the console sessions that are over, whatever the cutoff.
    Purge {
        /// Age of the newest event or notification to delete: e.g. 90d, 12h, 30m.
        #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
        older_than: chrono::TimeDelta,
        /// Rows deleted per transaction (events, then notifications).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        batch_size: i64,
        /// Count what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Sign a payload as a provider would and post it to the receiver (for local use).
    Send {
        /// A provider name from the configuration.
        #[arg(long)]
        provider: String,
        /// The JSON payload, sent byte for byte as it is in the file ("-" reads stdin).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Receiver URL, http:// or https:// (default: http://<receiver.bind>/webhooks/<provider>).
        /// Timeouts: 5 s to connect (TLS included), 30 s in all.
        #[arg(long)]
        url: Option<String>,
    },
    /// A local endpoint for notifications, to see the whole loop on one machine (for local use).
    ///
    /// Verifies each POST's Standard Webhooks signature, prints it and answers 204; 401 when the
    /// signature is missing, wrong or expired. Runs until Ctrl-C. Notifications print on stdout,
    /// the rest on stderr.
    Listen {
        /// Port to listen on; 0 picks a free one (printed on start).
        #[arg(long)]
        port: u16,
        /// NAME of the environment variable holding the whsec_ secret, as in `[notify] secrets`;
        /// give it twice during a rotation (either secret is accepted).
        #[arg(long, value_name = "VAR", required = true)]
        secret_env: Vec<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
    },
}

#[derive(Debug, Subcommand)]
pub enum CollectionsCommand {
    /// Create a collection in INITIATED.
    Create(CreateArgs),
    /// A collection and the decisions taken on it.
    Show { request_ref: String },
    /// The decisions taken on a collection, oldest first.
    History { request_ref: String },
    /// Change a collection's status by hand. Without --override the forward-only rule applies.
    SetStatus {
        request_ref: String,
        /// INITIATED, PENDING, PROCESSING, SUCCESS or FAILED.
        status: String,
        /// Force the change even against the rule (terminal or backward); needs --reason.
        #[arg(long = "override")]
        force: bool,
        /// Why, for the audit trail.
        #[arg(long)]
        reason: Option<String>,
        /// Who, for the audit trail (default: operator:$USER).
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub request_ref: String,
    /// A decimal number as text: 5000, 100.50.
    #[arg(long)]
    pub amount: Option<String>,
    #[arg(long)]
    pub currency: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// A JSON object kept with the collection.
    #[arg(long)]
    pub metadata: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Recorded events, newest first.
    List {
        /// RECEIVED, PROCESSED or FAILED.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        request_ref: Option<String>,
        /// Only events received within this long: e.g. 1h, 2d.
        #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
        since: Option<chrono::TimeDelta>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
    /// One event, payload included.
    Show { id: uuid::Uuid },
    /// Send a PROCESSED or FAILED event back to the processors (attempts reset; audited in the
    /// event's last_error).
    Replay {
        id: uuid::Uuid,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        actor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Notifications, newest first, with their delivery state.
    List {
        /// PENDING, DELIVERED or FAILED.
        #[arg(long)]
        status: Option<String>,
        /// Only the notifications of this collection.
        #[arg(long)]
        request_ref: Option<String>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
    },
    /// One notification, body included.
    Show { id: uuid::Uuid },
    /// Send a FAILED or DELIVERED notification again: PENDING, due now, attempts from zero.
    Replay { id: uuid::Uuid },
}
