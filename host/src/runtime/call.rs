//! One call in a fresh instance: the store with its limits, the CPU clock, the export called,
//! and whatever went wrong turned into a [`CallError`] an admin can act on.
//!
//! CPU time is the time the guest spends executing WebAssembly. A call hook stops the clock
//! whenever the guest calls into the host (an outbound request, a sleep, a log line) and starts
//! it again when the host returns, so waiting on the network or a clock is never charged. The
//! epoch callback (every tick while the guest runs) charges what ran since the last stop and
//! yields, which lets the wall-clock timeout fire even while a guest spins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{CallHook, Store, StoreLimitsBuilder, UpdateDeadline};

use super::bindings::exports::heph::connector::connector as wit;
use super::bindings::PluginPre;
use super::connector::ConnectionContext;
use super::error::CallError;
use super::limits::EPOCH_TICK;
use super::outbound::CallNetwork;
use super::state::CallState;
use super::Shared;

/// What a call asks of the connector.
pub(super) enum Op {
    Describe,
    Test,
    Action(String, String),
    Poll(String, String, Option<String>),
    Webhook(String, Vec<(String, String)>, Vec<u8>),
}

/// The connector's answer, before it is checked and parsed.
pub(super) enum Raw {
    Json(String),
    Page(wit::Page),
    Items(Vec<wit::Item>),
}

/// The CPU budget ran out (raised from the epoch callback).
#[derive(Debug, thiserror::Error)]
#[error("CPU time exhausted")]
struct CpuExhausted;

/// The host budget ran out (raised from the call hook when the host returns to the guest).
#[derive(Debug, thiserror::Error)]
#[error("host memory budget exhausted")]
struct HostMemoryExhausted;

/// The guest's CPU clock: time executing WebAssembly, stopped while the host works or waits.
#[derive(Debug)]
pub struct CpuClock {
    budget: Duration,
    used: Duration,
    state: ClockState,
}

#[derive(Debug, Clone, Copy)]
enum ClockState {
    /// The guest executes since then.
    Running(Instant),
    /// The guest was charged at a tick and yielded; it executes again once resumed.
    Yielded,
    /// The host has control (a host call, or the guest returned): nothing is charged. Epoch
    /// callbacks also come here, while an async host call waits.
    Stopped,
}

impl CpuClock {
    /// A clock with `budget` to spend.
    pub fn new(budget: Duration) -> CpuClock {
        CpuClock {
            budget,
            used: Duration::ZERO,
            state: ClockState::Stopped,
        }
    }

    /// The guest starts (or resumes) executing.
    pub fn start(&mut self, now: Instant) {
        self.state = ClockState::Running(now);
    }

    /// The guest stops executing (it calls the host, or returns).
    pub fn stop(&mut self, now: Instant) {
        if let ClockState::Running(since) = self.state {
            self.used += now.saturating_duration_since(since);
        }
        self.state = ClockState::Stopped;
    }

    /// An epoch tick: charges what ran since the clock last started, or one tick for a guest
    /// that resumed from a yield without calling the host since; nothing while the host waits.
    /// Says whether budget is left.
    pub fn tick(&mut self, now: Instant) -> bool {
        match self.state {
            ClockState::Running(since) => {
                self.used += now.saturating_duration_since(since);
                self.state = ClockState::Yielded;
            }
            ClockState::Yielded => self.used += EPOCH_TICK,
            ClockState::Stopped => {}
        }
        self.used <= self.budget
    }

    /// CPU time used so far.
    #[cfg(test)]
    pub fn used(&self) -> Duration {
        self.used
    }
}

/// Instantiates the connector in a fresh store under the limits and calls `op`.
pub(super) async fn instantiate_and_call(
    pre: &PluginPre<CallState>,
    shared: &Shared,
    network: Arc<CallNetwork>,
    conn: &ConnectionContext,
    op: Op,
) -> Result<Raw, CallError> {
    let limits = &shared.limits;
    let store_limits = StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .trap_on_grow_failure(true)
        .build();
    let mut store = Store::new(
        &shared.engine,
        CallState::new(
            network,
            store_limits,
            CpuClock::new(limits.cpu_time),
            limits,
        ),
    );
    store.limiter(|state| &mut state.limits);
    store.call_hook(|mut ctx, hook| {
        let now = Instant::now();
        let state = ctx.data_mut();
        match hook {
            CallHook::CallingWasm => state.cpu.start(now),
            CallHook::ReturningFromHost => {
                if state.budget_exceeded() {
                    return Err(HostMemoryExhausted.into());
                }
                state.cpu.start(now)
            }
            CallHook::CallingHost | CallHook::ReturningFromWasm => state.cpu.stop(now),
        }
        Ok(())
    });
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if !state.cpu.tick(Instant::now()) {
            return Err(CpuExhausted.into());
        }
        if state.budget_exceeded() {
            return Err(HostMemoryExhausted.into());
        }
        // Yielding lets the wall-clock timeout fire even while the guest spins.
        Ok(UpdateDeadline::Yield(1))
    });
    store.set_epoch_deadline(1);

    let ctx = wit::Context {
        connection: Some(conn.public.to_string()),
        run_id: conn.run_id.clone(),
    };
    let result = async {
        let plugin = pre.instantiate_async(&mut store).await?;
        let exports = plugin.heph_connector_connector();
        Ok::<_, wasmtime::Error>(match op {
            Op::Describe => Ok(Raw::Json(exports.call_describe(&mut store).await?)),
            Op::Test => exports
                .call_test_connection(&mut store, &ctx)
                .await?
                .map(Raw::Json),
            Op::Action(name, input) => exports
                .call_run_action(&mut store, &ctx, &name, &input)
                .await?
                .map(Raw::Json),
            Op::Poll(trigger, config, cursor) => exports
                .call_poll(&mut store, &ctx, &trigger, &config, cursor.as_deref())
                .await?
                .map(Raw::Page),
            Op::Webhook(trigger, headers, body) => exports
                .call_webhook(&mut store, &ctx, &trigger, &headers, &body)
                .await?
                .map(Raw::Items),
        })
    }
    .await;
    store.data().flush_output();
    match result {
        Ok(answer) => answer.map_err(CallError::from),
        Err(error) => Err(classify(shared, error)),
    }
}

/// Turns a wasmtime error into what went wrong, in words an admin can act on.
fn classify(shared: &Shared, error: wasmtime::Error) -> CallError {
    let limits = &shared.limits;
    if error.downcast_ref::<CpuExhausted>().is_some() {
        return CallError::CpuTime(limits.cpu_time);
    }
    if error.downcast_ref::<HostMemoryExhausted>().is_some() {
        return CallError::HostMemory(limits.host_memory_bytes >> 20);
    }
    let table_full = error.chain().any(|e| {
        e.downcast_ref::<wasmtime::component::ResourceTableError>()
            .is_some()
    });
    if table_full {
        // The table is full: the guest holds as many resources as its host budget allows.
        return CallError::HostMemory(limits.host_memory_bytes >> 20);
    }
    let chain = format!("{error:#}");
    if chain.contains("total size of fields exceeds limit") {
        return CallError::Limit(format!(
            "the connector built a header map larger than the {} KiB one may hold",
            super::limits::FIELDS_BYTES >> 10
        ));
    }
    if chain.contains("growing memory") || chain.contains("memory growth failure") {
        return CallError::Memory(limits.memory_bytes >> 20);
    }
    if chain.contains("concurrent limit") || chain.contains("maximum concurrent") {
        // The pool itself ran out despite admission (a component with more core instances
        // than the pool was sized for): the host's state, not the connector crashing.
        return CallError::Busy(format!("the host is busy: {}", first_line(&chain)));
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => {
            CallError::Trap("stack overflow (unbounded recursion?)".into())
        }
        Some(wasmtime::Trap::UnreachableCodeReached) => CallError::Trap(
            "the connector panicked or aborted (see its output in the call log)".into(),
        ),
        Some(trap) => CallError::Trap(trap.to_string()),
        // The cause, not wasmtime's "error while executing at wasm backtrace:" heading.
        None => CallError::Trap(error.root_cause().to_string()),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_charges_running_time_not_waiting_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut clock = CpuClock::new(ms(100));
        // Runs 5 ms, then waits 10 s in a host call (a sleep), a thousand times over.
        let mut now = t0;
        clock.start(now);
        for _ in 0..1000 {
            now += ms(5);
            clock.stop(now);
            now += Duration::from_secs(10);
            clock.start(now);
        }
        assert_eq!(clock.used(), ms(5000), "only the running time");
        // A tick after 3 ms of running charges 3 ms.
        let mut clock = CpuClock::new(ms(100));
        clock.start(t0);
        assert!(clock.tick(t0 + ms(3)));
        assert_eq!(clock.used(), ms(3));
        // A spinning guest (resumed after each yield, never calling the host) is charged a
        // tick per tick and runs out.
        let ticks = (0..20).take_while(|_| clock.tick(t0)).count();
        assert_eq!(ticks, 9, "(100 - 3) ms is 9 more ticks of 10 ms");
        // Ticks while the host has control (an async host call waiting) charge nothing.
        let mut clock = CpuClock::new(ms(100));
        clock.start(t0);
        clock.stop(t0 + ms(1));
        for _ in 0..1000 {
            assert!(clock.tick(t0 + ms(2)));
        }
        assert_eq!(clock.used(), ms(1));
    }
}
