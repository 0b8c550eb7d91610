//! What one call did: the connector's log lines, its stdout/stderr, every outbound request
//! (method, URL without secrets, status, bytes, duration) and every refusal. Stored with the
//! run's step by the engine, printed by the CLI.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::budget::HostBudget;

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

/// The log of one call. Cheap to clone (shared). Everything it keeps is charged to the call's
/// host budget; lines past the call's log bytes, and whatever the budget cannot hold, are
/// dropped and counted instead of kept.
#[derive(Debug, Clone)]
pub struct CallLog {
    entries: Arc<Mutex<Entries>>,
    budget: HostBudget,
    log_bytes: usize,
}

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
    /// What was not kept: log lines past the call's log bytes, request records past its
    /// request cap, output bytes past its output cap.
    #[serde(skip_serializing_if = "Dropped::is_empty")]
    pub dropped: Dropped,
    /// Bytes of the lines kept.
    #[serde(skip)]
    line_bytes: usize,
}

/// Counts of what a call log did not keep.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Dropped {
    /// Log lines.
    pub lines: usize,
    /// Request records and refusals.
    pub requests: usize,
    /// Bytes of stdout/stderr.
    pub output_bytes: usize,
}

impl Dropped {
    fn is_empty(&self) -> bool {
        *self == Dropped::default()
    }
}

/// The longest URL or message kept in a request record or refusal.
const MAX_TEXT: usize = 2 * 1024;
/// What a record costs the budget besides its text.
const RECORD_OVERHEAD: usize = 128;

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog::new(HostBudget::new(usize::MAX), usize::MAX)
    }
}

impl CallLog {
    /// A log charging `budget` and keeping `log_bytes` of lines.
    pub fn new(budget: HostBudget, log_bytes: usize) -> CallLog {
        CallLog {
            entries: Arc::default(),
            budget,
            log_bytes,
        }
    }

    /// The host budget the log charges.
    pub fn budget(&self) -> &HostBudget {
        &self.budget
    }

    fn with<R>(&self, f: impl FnOnce(&mut Entries) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-push; the entries stay usable.
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Adds a log line, unless the call's log bytes are spent.
    pub fn line(&self, level: &'static str, message: String) {
        let size = message.len() + RECORD_OVERHEAD;
        self.with(|e| {
            if e.line_bytes + message.len() > self.log_bytes || self.budget.charge(size).is_err() {
                e.dropped.lines += 1;
                return;
            }
            e.line_bytes += message.len();
            e.lines.push(LogLine { level, message });
        });
    }

    /// Adds a refusal (its text cut to a bounded length).
    pub fn refusal(&self, reason: String) {
        let reason = truncate(reason, MAX_TEXT);
        self.with(|e| {
            if self.budget.charge(reason.len() + RECORD_OVERHEAD).is_err() {
                e.dropped.requests += 1;
                return;
            }
            e.refusals.push(reason);
        });
    }

    /// Adds a request record (URL and error cut to a bounded length) and returns its index.
    pub fn request(&self, mut record: OutboundRecord) -> usize {
        record.url = truncate(record.url, MAX_TEXT);
        record.error = record.error.map(|e| truncate(e, MAX_TEXT));
        let size =
            record.url.len() + record.error.as_ref().map_or(0, String::len) + RECORD_OVERHEAD;
        self.with(|e| {
            if self.budget.charge(size).is_err() {
                e.dropped.requests += 1;
                return usize::MAX;
            }
            e.requests.push(record);
            e.requests.len() - 1
        })
    }

    /// How many requests were made or refused so far (kept or not).
    pub fn request_count(&self) -> usize {
        self.with(|e| e.requests.len() + e.dropped.requests)
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
                r.error = Some(truncate(error, MAX_TEXT));
            }
        });
    }

    /// Appends what the connector wrote to stdout and stderr (the pipe kept at most the call's
    /// output bytes and counted the rest as `dropped`).
    pub fn output(&self, text: &str, dropped: usize, cap: usize) {
        self.with(|e| {
            let charged = self.budget.charge(text.len()).is_ok();
            if charged {
                e.output.push_str(text);
            }
            let lost = dropped + if charged { 0 } else { text.len() };
            if lost > 0 {
                e.dropped.output_bytes += lost;
                e.output.push_str(&format!(
                    "\n[heph: {lost} more bytes of output were dropped; a call keeps {cap} bytes]"
                ));
            }
        });
    }

    /// A copy of the entries so far, with a closing line for what was dropped.
    pub fn snapshot(&self) -> Entries {
        self.with(|e| {
            let mut entries = e.clone();
            if entries.dropped.lines > 0 {
                entries.lines.push(LogLine {
                    level: "warn",
                    message: format!(
                        "{} more log lines were dropped: a call keeps {} bytes of log",
                        entries.dropped.lines, self.log_bytes
                    ),
                });
            }
            entries
        })
    }

    /// Empties the log (the call went over its host budget: what it kept is let go).
    pub fn clear(&self) {
        self.with(|e| {
            let dropped = e.dropped.clone();
            *e = Entries {
                dropped,
                ..Entries::default()
            };
        });
    }
}
