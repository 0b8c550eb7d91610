//! The limits the runtime enforces, with their defaults. Every one can be changed in
//! [`RuntimeConfig`](super::RuntimeConfig); the README's security model lists them.
//!
//! They bound everything a connector can make the host spend: the guest's own memory and CPU,
//! the host's memory on its behalf (resources, call log, bodies, the parsed answer), what a
//! call may hand back, how many requests it may make, and how much of the instance pool one
//! user or one connector may hold while others wait.

use std::time::Duration;

/// Per-call limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory a connector instance may grow to.
    pub memory_bytes: usize,
    /// Host memory a call may make the host hold for it: its resources (header maps, streams),
    /// its call log, buffered bodies and its parsed answer. Past it: `memory_exceeded`.
    pub host_memory_bytes: usize,
    /// CPU time a call may spend executing WebAssembly (time waiting on the network or a
    /// clock is not charged).
    pub cpu_time: Duration,
    /// Wall-clock time a call may take, waiting on the network included.
    pub wall_time: Duration,
    /// Largest request body a connector may send.
    pub request_body_bytes: u64,
    /// Largest response body a connector may receive.
    pub response_body_bytes: u64,
    /// Time to connect to an upstream.
    pub connect_timeout: Duration,
    /// Time from sending a request to the first byte of its answer.
    pub first_byte_timeout: Duration,
    /// Longest pause between two chunks of an answer.
    pub between_bytes_timeout: Duration,
    /// Requests one call may have in flight at once (a manifest may ask for fewer).
    pub concurrent_requests: usize,
    /// Requests one call may make in all (refused ones included).
    pub requests_per_call: usize,
    /// Largest answer (JSON text) of an action, a connection test or one item.
    pub result_bytes: usize,
    /// Largest poll cursor a trigger may hand back (it is stored and sent back each poll).
    pub cursor_bytes: usize,
    /// Largest `describe()` answer; a larger one is refused at build, pack and install.
    pub describe_bytes: usize,
    /// Most items one poll page or one webhook delivery may yield.
    pub items_per_call: usize,
    /// Bytes of stdout and stderr kept per call; the rest is dropped and marked.
    pub output_bytes: usize,
    /// Bytes of log lines kept per call; later lines are dropped and counted.
    pub log_bytes: usize,
    /// Connector instances that may exist at once in the process (one per call in flight).
    pub instances: u32,
    /// Instances one user's calls may hold at once while others wait.
    pub instances_per_user: u32,
    /// Instances one connector's calls may hold at once while others wait.
    pub instances_per_connector: u32,
    /// How long a call waits for an instance slot before it ends as `busy` (retried).
    pub admission_wait: Duration,
    /// Calls that may wait for a slot at once; past it a call is `busy` at once.
    pub admission_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            host_memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(10),
            wall_time: Duration::from_secs(120),
            request_body_bytes: 16 << 20,
            response_body_bytes: 32 << 20,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(30),
            concurrent_requests: 8,
            requests_per_call: 1_000,
            result_bytes: 8 << 20,
            cursor_bytes: 64 << 10,
            describe_bytes: 1 << 20,
            items_per_call: 1_000,
            output_bytes: 64 << 10,
            log_bytes: 1 << 20,
            instances: 256,
            instances_per_user: 64,
            instances_per_connector: 128,
            admission_wait: Duration::from_secs(20),
            admission_queue: 4_096,
        }
    }
}

/// How often the epoch ticks: the granularity of the CPU deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest in-memory size of one header map a connector builds (wasi-http `fields`):
/// twice what proxies allow on the wire, which leaves room for the map's own structure.
pub const FIELDS_BYTES: usize = 16 << 10;

/// The limits an operator may set by name (`--call-limit NAME=VALUE`): name, unit, what it bounds.
const SETTABLE: &[(&str, &str, &str)] = &[
    (
        "host_memory_bytes",
        "bytes",
        "host memory a call may make the host hold",
    ),
    ("cpu_time_ms", "ms", "CPU time of one call"),
    (
        "request_body_bytes",
        "bytes",
        "largest request body a connector may send",
    ),
    (
        "response_body_bytes",
        "bytes",
        "largest response body a connector may receive",
    ),
    (
        "concurrent_requests",
        "count",
        "requests one call may have in flight",
    ),
    (
        "requests_per_call",
        "count",
        "requests one call may make in all",
    ),
    (
        "result_bytes",
        "bytes",
        "largest answer of an action, a test or one item",
    ),
    ("cursor_bytes", "bytes", "largest poll cursor"),
    ("describe_bytes", "bytes", "largest describe() answer"),
    (
        "items_per_call",
        "count",
        "most items in one poll page or webhook delivery",
    ),
    ("output_bytes", "bytes", "stdout and stderr kept per call"),
    ("log_bytes", "bytes", "log lines kept per call"),
    (
        "instances",
        "count",
        "connector instances at once in the process",
    ),
    (
        "instances_per_user",
        "count",
        "instances one user's calls may hold",
    ),
    (
        "instances_per_connector",
        "count",
        "instances one connector's calls may hold",
    ),
    (
        "admission_wait_ms",
        "ms",
        "how long a call waits for an instance before it is busy",
    ),
    (
        "admission_queue",
        "count",
        "calls that may wait for an instance at once",
    ),
];

impl Limits {
    /// Sets the limit `name` (see [`Limits::help`]) from its text.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let number: u64 = value
            .parse()
            .map_err(|_| format!("`{value}` is not a whole number"))?;
        let count = usize::try_from(number).map_err(|_| format!("{number} is too large"))?;
        let small = u32::try_from(number).map_err(|_| format!("{number} is too large"));
        match name {
            "host_memory_bytes" => self.host_memory_bytes = count,
            "cpu_time_ms" => self.cpu_time = Duration::from_millis(number),
            "request_body_bytes" => self.request_body_bytes = number,
            "response_body_bytes" => self.response_body_bytes = number,
            "concurrent_requests" => self.concurrent_requests = count.max(1),
            "requests_per_call" => self.requests_per_call = count,
            "result_bytes" => self.result_bytes = count,
            "cursor_bytes" => self.cursor_bytes = count,
            "describe_bytes" => self.describe_bytes = count,
            "items_per_call" => self.items_per_call = count,
            "output_bytes" => self.output_bytes = count,
            "log_bytes" => self.log_bytes = count,
            "instances" => self.instances = small?.max(1),
            "instances_per_user" => self.instances_per_user = small?.max(1),
            "instances_per_connector" => self.instances_per_connector = small?.max(1),
            "admission_wait_ms" => self.admission_wait = Duration::from_millis(number),
            "admission_queue" => self.admission_queue = count,
            _ => {
                return Err(format!(
                    "no limit `{name}`; the limits are: {}",
                    SETTABLE
                        .iter()
                        .map(|(n, ..)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        Ok(())
    }

    /// One line per settable limit: its name, unit, default and what it bounds.
    pub fn help() -> String {
        let defaults = Limits::default();
        SETTABLE
            .iter()
            .map(|(name, unit, what)| {
                let value = defaults.value_of(name);
                format!("  {name:<24} {what} ({unit}, default {value})")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn value_of(&self, name: &str) -> u128 {
        match name {
            "host_memory_bytes" => self.host_memory_bytes as u128,
            "cpu_time_ms" => self.cpu_time.as_millis(),
            "request_body_bytes" => self.request_body_bytes.into(),
            "response_body_bytes" => self.response_body_bytes.into(),
            "concurrent_requests" => self.concurrent_requests as u128,
            "requests_per_call" => self.requests_per_call as u128,
            "result_bytes" => self.result_bytes as u128,
            "cursor_bytes" => self.cursor_bytes as u128,
            "describe_bytes" => self.describe_bytes as u128,
            "items_per_call" => self.items_per_call as u128,
            "output_bytes" => self.output_bytes as u128,
            "log_bytes" => self.log_bytes as u128,
            "instances" => self.instances.into(),
            "instances_per_user" => self.instances_per_user.into(),
            "instances_per_connector" => self.instances_per_connector.into(),
            "admission_wait_ms" => self.admission_wait.as_millis(),
            "admission_queue" => self.admission_queue as u128,
            _ => 0,
        }
    }

    /// The most resources (header maps, bodies, streams, pollables) a call may hold at once:
    /// with [`FIELDS_BYTES`] each, an eighth of the host budget (512 with the defaults; a
    /// connector needs a few dozen). The rest is what the call log, buffered bodies, the
    /// headers of the answers it receives and the parsed answer are charged against.
    pub fn max_resources(&self) -> usize {
        (self.host_memory_bytes / 8 / FIELDS_BYTES).max(64)
    }

    /// The host memory charged as a call goes (log, bodies, headers, answer): what resources
    /// leave.
    pub fn charged_host_bytes(&self) -> usize {
        self.host_memory_bytes
            .saturating_sub(self.max_resources() * FIELDS_BYTES)
            .max(self.host_memory_bytes / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_limit_can_be_set_and_unknown_ones_are_named() {
        let mut limits = Limits::default();
        for (name, ..) in SETTABLE {
            limits
                .set(name, "7")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(limits.value_of(name), 7, "{name}");
        }
        let err = limits.set("cursor", "1").unwrap_err();
        assert!(err.contains("cursor_bytes"), "{err}");
        assert!(limits.set("cursor_bytes", "lots").is_err());
        assert!(Limits::help().contains("cursor_bytes"));
    }
}
