//! What one call did: the connector's log lines, its stdout/stderr, every outbound request
//! (method, URL without secrets, status, bytes, duration) and every refusal. Stored with the
//! run's step by the engine, printed by the CLI.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// One line the connector logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text.
    pub message: String,
}

/// One outbound request.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundRecord {
    /// HTTP method.
    pub method: String,
    /// The URL as the connector asked for it (credentials are added after this is recorded).
    pub url: String,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// Response body bytes received.
    pub bytes: u64,
    /// Time to the answer's headers.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// Why it failed or was refused.
    pub error: Option<String>,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The log of one call. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Entries>>);

/// The entries of a [`CallLog`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Entries {
    /// Log lines, in order.
    pub lines: Vec<LogLine>,
    /// Outbound requests, in the order they were made.
    pub requests: Vec<OutboundRecord>,
    /// Requests the policy refused, with the reason.
    pub refusals: Vec<String>,
    /// What the connector wrote to stdout and stderr.
    pub output: String,
}

impl CallLog {
    fn with<R>(&self, f: impl FnOnce(&mut Entries) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-push; the entries stay usable.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Adds a log line.
    pub fn line(&self, level: &'static str, message: String) {
        self.with(|e| e.lines.push(LogLine { level, message }));
    }

    /// Adds a refusal.
    pub fn refusal(&self, reason: String) {
        self.with(|e| e.refusals.push(reason));
    }

    /// Adds a request record and returns its index.
    pub fn request(&self, record: OutboundRecord) -> usize {
        self.with(|e| {
            e.requests.push(record);
            e.requests.len() - 1
        })
    }

    /// Adds body bytes to request `index`.
    pub fn add_bytes(&self, index: usize, n: u64) {
        self.with(|e| {
            if let Some(r) = e.requests.get_mut(index) {
                r.bytes += n;
            }
        });
    }

    /// Marks request `index` as failed while reading its body.
    pub fn fail(&self, index: usize, error: String) {
        self.with(|e| {
            if let Some(r) = e.requests.get_mut(index) {
                r.error = Some(error);
            }
        });
    }

    /// Appends the connector's stdout/stderr.
    pub fn output(&self, text: &str) {
        self.with(|e| e.output.push_str(text));
    }

    /// How many log lines are stored.
    pub fn line_count(&self) -> usize {
        self.with(|e| e.lines.len())
    }

    /// A copy of the entries so far.
    pub fn snapshot(&self) -> Entries {
        self.with(|e| e.clone())
    }
}
