//! Captures the `tracing` events weir emits, so a test can check their
//! levels and fields. Include it with
//! `#[path = "../support/events.rs"] mod events;` (or `"support/events.rs"`).
//!
//! [`capture`] records what one closure's thread emits, plus the threads
//! weir starts from it that take the caller's subscriber along (stdio's
//! reader). [`global`] records every thread of the process, for backends
//! whose events come from threads of a library (Kafka's); tests in one
//! binary then share it, so pick events by a field that names your test's
//! stream or group.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event as recorded: its level, target and fields (`message` included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub level: Level,
    pub target: String,
    pub fields: BTreeMap<String, String>,
}

impl Recorded {
    /// The event's message.
    pub fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }

    /// A field's value as text (`Display` for `%` fields, `Debug` otherwise;
    /// strings unquoted).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.level, self.target, self.message())?;
        for (name, value) in self.fields.iter().filter(|(name, _)| *name != "message") {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

/// The events recorded so far, shared with the recording layer.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Recorded>>>);

impl Events {
    /// A copy of everything recorded so far, in order.
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The recorded events whose message is `message`, in order.
    pub fn named(&self, message: &str) -> Vec<Recorded> {
        self.all().into_iter().filter(|e| e.message() == message).collect()
    }

    /// Every event as one line each, for assertion messages.
    pub fn dump(&self) -> String {
        self.all().iter().map(|e| format!("{e}\n")).collect()
    }
}

/// The layer that records into [`Events`].
struct Record(Events);

impl<S: Subscriber> Layer<S> for Record {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let recorded = Recorded {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields: fields.0,
        };
        (self.0).0.lock().unwrap_or_else(PoisonError::into_inner).push(recorded);
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Runs `f` with every event of this thread (at every level) recorded.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Events) {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(Record(events.clone()));
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, events)
}

/// Records the events of every thread from now on, for the rest of the
/// process (the first call installs the recorder as the global subscriber).
/// Panics if another global subscriber was installed first.
pub fn global() -> Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Events::default();
            let subscriber = tracing_subscriber::registry().with(Record(events.clone()));
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
            events
        })
        .clone()
}
