//! The processor's metrics. Each processor has its own Prometheus recorder rather than the
//! process-wide one, so several processors in one process (the tests) each report their own;
//! the handles are registered once here and updated without any lookup on the hot path. Names
//! share the `webhook_inbox_` prefix with the receiver's; docs/operations.md lists them all (a test
//! compares that table with what `/metrics` exposes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const EVENTS: &str = "webhook_inbox_processor_events_total";
const QUEUE_DEPTH: &str = "webhook_inbox_processor_queue_depth";
const OLDEST_PENDING: &str = "webhook_inbox_processor_oldest_pending_age_seconds";
const LAG: &str = "webhook_inbox_processor_lag_seconds";
const LOCK_WAIT: &str = "webhook_inbox_processor_lock_wait_seconds";
const LOCK_ACQUIRED: &str = "webhook_inbox_processor_lock_acquired_total";
const LOCK_TIMEOUTS: &str = "webhook_inbox_processor_lock_timeouts_total";
const LOCK_FALLBACKS: &str = "webhook_inbox_processor_lock_fallbacks_total";
const AMOUNT_MISMATCHES: &str = "webhook_inbox_processor_amount_mismatches_total";
const IGNORED: &str = "webhook_inbox_processor_ignored_total";
const NOTIFICATIONS: &str = "webhook_inbox_processor_notifications_total";
const NOTIFICATION_LATENCY: &str = "webhook_inbox_processor_notification_latency_seconds";
const OLDEST_UNDELIVERED: &str = "webhook_inbox_processor_oldest_undelivered_age_seconds";

/// What became of one delivery attempt of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Delivered,
    /// Failed; due again later.
    Retried,
    /// Failed its last attempt: FAILED.
    Failed,
}

impl Delivery {
    const ALL: [Delivery; 3] = [Delivery::Delivered, Delivery::Retried, Delivery::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Retried => "retried",
            Delivery::Failed => "failed",
        }
    }
}

/// Seconds, from a millisecond lock wait to a five-minute lag.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// What became of one claimed event, as counted by `webhook_inbox_processor_events_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tally {
    Applied,
    Unchanged,
    SkippedTerminal,
    SkippedBackward,
    /// Ended FAILED: a permanent problem, or transient ones until `max_attempts`.
    Failed,
    /// A transient problem: tried again later.
    Retried,
    /// Another processor finished it first (its lease had run out): nothing written.
    AlreadyFinished,
    /// Given back unstarted at shutdown.
    Released,
    /// A success whose amount differs from the collection's: audited, the event FAILED.
    AmountMismatch,
    /// Its type does not concern a payment: PROCESSED.
    Ignored,
}

impl Tally {
    const ALL: [Tally; 10] = [
        Tally::Applied,
        Tally::Unchanged,
        Tally::SkippedTerminal,
        Tally::SkippedBackward,
        Tally::Failed,
        Tally::Retried,
        Tally::AlreadyFinished,
        Tally::Released,
        Tally::AmountMismatch,
        Tally::Ignored,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Tally::Applied => "applied",
            Tally::Unchanged => "unchanged",
            Tally::SkippedTerminal => "skipped_terminal",
            Tally::SkippedBackward => "skipped_backward",
            Tally::Failed => "failed",
            Tally::Retried => "retried",
            Tally::AlreadyFinished => "already_finished",
            Tally::Released => "released",
            Tally::AmountMismatch => "amount_mismatch",
            Tally::Ignored => "ignored",
        }
    }
}

impl From<domain::Outcome> for Tally {
    fn from(outcome: domain::Outcome) -> Self {
        match outcome {
            // An event never overrides; counted with the changes it resembles.
            domain::Outcome::Applied | domain::Outcome::Override => Tally::Applied,
            domain::Outcome::Unchanged => Tally::Unchanged,
            domain::Outcome::SkippedTerminal => Tally::SkippedTerminal,
            domain::Outcome::SkippedBackward => Tally::SkippedBackward,
            domain::Outcome::AmountMismatch => Tally::AmountMismatch,
            domain::Outcome::Ignored => Tally::Ignored,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockBackend {
    Redis,
    Database,
}

impl LockBackend {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LockBackend::Redis => "redis",
            LockBackend::Database => "database",
        }
    }

    fn index(self) -> usize {
        match self {
            LockBackend::Redis => 0,
            LockBackend::Database => 1,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Metrics(Arc<Inner>);

struct Inner {
    /// For series whose labels are known only when first counted (`ignored`).
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    events: Vec<Counter>,
    queue_depth: Gauge,
    oldest_pending: Gauge,
    lag: Histogram,
    lock_wait: [Histogram; 2],
    lock_acquired: [Counter; 2],
    lock_timeouts: [Counter; 2],
    lock_fallbacks: Counter,
    /// By provider, each configured one registered at start (at 0).
    amount_mismatches: BTreeMap<String, Counter>,
    notifications: Vec<Counter>,
    notification_latency: Histogram,
    oldest_undelivered: Gauge,
}

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

impl Metrics {
    /// The counters of `providers` (their names) are registered at once, so that they show at 0.
    pub(crate) fn new<'a>(providers: impl IntoIterator<Item = &'a str>) -> Metrics {
        let builder = PrometheusBuilder::new();
        // Only an empty bucket list is refused; without buckets histograms become summaries.
        let builder = builder
            .set_buckets(BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        describe(&recorder);
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let backend = |b: LockBackend| vec![Label::new("backend", b.as_str())];
        let histogram = |name: &'static str, labels: Vec<Label>| {
            recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
        };
        let gauge = |name: &'static str| recorder.register_gauge(&Key::from_name(name), &METADATA);
        let both = [LockBackend::Redis, LockBackend::Database];
        let inner = Inner {
            handle: recorder.handle(),
            events: Tally::ALL
                .iter()
                .map(|t| counter(EVENTS, vec![Label::new("outcome", t.as_str())]))
                .collect(),
            queue_depth: gauge(QUEUE_DEPTH),
            oldest_pending: gauge(OLDEST_PENDING),
            lag: histogram(LAG, Vec::new()),
            lock_wait: both.map(|b| histogram(LOCK_WAIT, backend(b))),
            lock_acquired: both.map(|b| counter(LOCK_ACQUIRED, backend(b))),
            lock_timeouts: both.map(|b| counter(LOCK_TIMEOUTS, backend(b))),
            lock_fallbacks: counter(LOCK_FALLBACKS, Vec::new()),
            amount_mismatches: providers
                .into_iter()
                .map(|p| {
                    let labels = vec![Label::new("provider", p.to_owned())];
                    (p.to_owned(), counter(AMOUNT_MISMATCHES, labels))
                })
                .collect(),
            notifications: Delivery::ALL
                .iter()
                .map(|d| counter(NOTIFICATIONS, vec![Label::new("outcome", d.as_str())]))
                .collect(),
            notification_latency: histogram(NOTIFICATION_LATENCY, Vec::new()),
            oldest_undelivered: gauge(OLDEST_UNDELIVERED),
            recorder,
        };
        Metrics(Arc::new(inner))
    }

    pub(crate) fn event(&self, tally: Tally) {
        if let Some(index) = Tally::ALL.iter().position(|t| *t == tally) {
            self.0.events[index].increment(1);
        }
    }

    /// A success refused for its amount, by the event's provider.
    pub(crate) fn amount_mismatch(&self, provider: &str) {
        if let Some(counter) = self.0.amount_mismatches.get(provider) {
            counter.increment(1);
        }
    }

    /// An event whose type concerns no payment, by provider and type. Registered when first
    /// counted: types are the provider's (only signed events get here).
    pub(crate) fn ignored(&self, provider: &str, kind: &str) {
        let labels = vec![
            Label::new("provider", provider.to_owned()),
            Label::new("type", kind.to_owned()),
        ];
        let key = Key::from_parts(IGNORED, labels);
        self.0
            .recorder
            .register_counter(&key, &METADATA)
            .increment(1);
    }

    /// Received -> processed, for events that reached an end (PROCESSED or FAILED).
    pub(crate) fn lag(&self, lag: Duration) {
        self.0.lag.record(lag.as_secs_f64());
    }

    pub(crate) fn queue(&self, depth: i64, oldest_age: Duration) {
        self.0.queue_depth.set(depth as f64);
        self.0.oldest_pending.set(oldest_age.as_secs_f64());
    }

    pub(crate) fn lock_acquired(&self, backend: LockBackend, waited: Duration) {
        self.0.lock_wait[backend.index()].record(waited.as_secs_f64());
        self.0.lock_acquired[backend.index()].increment(1);
    }

    pub(crate) fn lock_timeout(&self, backend: LockBackend, waited: Duration) {
        self.0.lock_wait[backend.index()].record(waited.as_secs_f64());
        self.0.lock_timeouts[backend.index()].increment(1);
    }

    /// A lock taken from the database because Redis was configured but failing.
    pub(crate) fn lock_fallback(&self) {
        self.0.lock_fallbacks.increment(1);
    }

    /// A notification's delivery attempt; `latency` (change committed -> endpoint answered 2xx)
    /// for a delivered one.
    pub(crate) fn notification(&self, outcome: Delivery, latency: Option<Duration>) {
        if let Some(index) = Delivery::ALL.iter().position(|d| *d == outcome) {
            self.0.notifications[index].increment(1);
        }
        if let Some(latency) = latency {
            self.0.notification_latency.record(latency.as_secs_f64());
        }
    }

    pub(crate) fn oldest_undelivered(&self, age: Duration) {
        self.0.oldest_undelivered.set(age.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        self.0.handle.render()
    }

    /// Folds recorded histogram samples into their buckets; call every few seconds.
    pub(crate) fn upkeep(&self) {
        self.0.handle.run_upkeep();
    }
}

fn describe(recorder: &PrometheusRecorder) {
    let text = |name: &'static str, unit: Option<Unit>, help: &'static str| {
        (KeyName::from_const_str(name), unit, help.into())
    };
    let counters = [
        text(EVENTS, None, "Claimed events by what became of them."),
        text(
            LOCK_ACQUIRED,
            None,
            "Payment locks acquired, by lock backend.",
        ),
        text(
            LOCK_TIMEOUTS,
            None,
            "Payment locks not acquired within processor.lock_wait_ms.",
        ),
        text(
            LOCK_FALLBACKS,
            None,
            "Payment locks taken from the database because Redis failed.",
        ),
        text(
            IGNORED,
            None,
            "Events PROCESSED without a decision: their type concerns no payment.",
        ),
        text(
            AMOUNT_MISMATCHES,
            None,
            "Successes refused because their amount or currency differs from the collection's.",
        ),
        text(
            NOTIFICATIONS,
            None,
            "Notification delivery attempts by outcome: delivered, retried, failed (no attempt left).",
        ),
    ];
    for (name, unit, help) in counters {
        recorder.describe_counter(name, unit, help);
    }
    let gauges = [
        text(
            QUEUE_DEPTH,
            Some(Unit::Count),
            "Events RECEIVED and not yet finished.",
        ),
        text(
            OLDEST_PENDING,
            Some(Unit::Seconds),
            "Age of the oldest RECEIVED event.",
        ),
        text(
            OLDEST_UNDELIVERED,
            Some(Unit::Seconds),
            "Age of the oldest notification not yet delivered (PENDING).",
        ),
    ];
    for (name, unit, help) in gauges {
        recorder.describe_gauge(name, unit, help);
    }
    let histograms = [
        text(
            LAG,
            Some(Unit::Seconds),
            "From an event's receipt to its end.",
        ),
        text(
            LOCK_WAIT,
            Some(Unit::Seconds),
            "Time spent waiting for a payment lock, had or not.",
        ),
        text(
            NOTIFICATION_LATENCY,
            Some(Unit::Seconds),
            "From a change's commit to the endpoint's 2xx for its notification.",
        ),
    ];
    for (name, unit, help) in histograms {
        recorder.describe_histogram(name, unit, help);
    }
}
