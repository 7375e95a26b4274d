//! The command line, as clap reads it: the modes and the arguments they share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use domain::provider::Preset;

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and invariant checker for webhook-inbox"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) mode: Mode,
}

#[derive(Subcommand)]
pub(crate) enum Mode {
    /// Send a run of signed webhooks to a receiver, wait for the processors, check.
    Ingest {
        #[command(flatten)]
        run: RunArgs,
        /// Receiver address(es), comma-separated: connections are spread over them.
        #[arg(long, default_value = "127.0.0.1:8080", value_delimiter = ',')]
        addr: Vec<String>,
        /// Connections sending at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Deliveries per second (default: as fast as answers come).
        #[arg(long)]
        rate: Option<f64>,
        /// How long to wait for processors to drain the run (0: do not wait, do not check).
        #[arg(long, default_value_t = 120)]
        drain_timeout_secs: u64,
        #[command(flatten)]
        retry: RetryArgs,
        #[command(flatten)]
        through: ApiArgs,
    },
    /// Write a run straight into the database as RECEIVED events (no receiver).
    Backlog {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Wait until processors have drained a run written by `backlog`; report the rate, check.
    Drain {
        #[command(flatten)]
        run: RunArgs,
        #[arg(long, default_value_t = 600)]
        drain_timeout_secs: u64,
    },
    /// Time the host API: POST /v1/collections of new collections, then GET
    /// /v1/collections/{ref} of those, each for --seconds (no receiver, no database).
    ApiBench {
        /// The api service's address.
        #[arg(long)]
        api: String,
        /// A key with the read and write scopes.
        #[arg(long, env = "LOADGEN_API_KEY", hide_env_values = true)]
        api_key: String,
        /// Names the collections created (`<run>-b<n>`): letters, digits, `-` and `_`.
        #[arg(long)]
        run: String,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// How long each of the two steps lasts.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Write the figures here as JSON.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Where `ingest` creates the run's collections: in the database unless `--api` is given.
#[derive(Args, Clone)]
pub(crate) struct ApiArgs {
    /// Create the collections through the api service at this address (POST /v1/collections).
    #[arg(long)]
    pub(crate) api: Option<String>,
    /// A key with the write scope, for --api.
    #[arg(long, env = "LOADGEN_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// Connections creating collections at once, with --api.
    #[arg(long, default_value_t = 16)]
    pub(crate) api_connections: usize,
}

/// How deliveries are retried, as a provider would, and what is logged of each attempt.
#[derive(Args, Clone)]
pub(crate) struct RetryArgs {
    /// Attempts per delivery before giving up on it.
    #[arg(long, default_value_t = 5)]
    pub(crate) attempts: u32,
    /// Pause before each retry, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub(crate) retry_ms: u64,
    /// An attempt unanswered after this many milliseconds counts as no answer (status 0).
    #[arg(long, default_value_t = 30_000)]
    pub(crate) attempt_timeout_ms: u64,
    /// Write every attempt here as CSV: index,attempt,started_ms,ended_ms,status (epoch ms).
    #[arg(long)]
    pub(crate) answers: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub(crate) struct RunArgs {
    /// Names the run's events and collections; several runs can share a database.
    #[arg(long)]
    pub(crate) run: String,
    #[arg(long, env = "DATABASE_URL")]
    pub(crate) database_url: String,
    /// The provider name in the receiver's configuration.
    #[arg(long, default_value = "bench")]
    pub(crate) provider: String,
    #[arg(long, value_enum, default_value = "generic")]
    pub(crate) preset: PresetArg,
    /// The provider's secret.
    #[arg(long, env = "LOADGEN_SECRET")]
    pub(crate) secret: String,
    #[arg(long, default_value_t = 10_000)]
    pub(crate) events: usize,
    #[arg(long, default_value_t = 1_000)]
    pub(crate) collections: usize,
    #[arg(long, default_value_t = 0.10)]
    pub(crate) duplicates: f64,
    #[arg(long, default_value_t = 0.20)]
    pub(crate) out_of_order: f64,
    #[arg(long, default_value_t = 1024)]
    pub(crate) body_bytes: usize,
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum PresetArg {
    Generic,
    Paystack,
    Stripe,
    StandardWebhooks,
}

impl PresetArg {
    pub(crate) fn preset(self) -> Preset {
        match self {
            PresetArg::Generic => Preset::Generic,
            PresetArg::Paystack => Preset::Paystack,
            PresetArg::Stripe => Preset::Stripe,
            PresetArg::StandardWebhooks => Preset::StandardWebhooks,
        }
    }
}
