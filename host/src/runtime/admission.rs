//! Fair admission to the instance pool. Every call holds a slot while its instance exists; a
//! call that finds none free waits (in a bounded queue, for a bounded time) instead of failing
//! in the pooling allocator, and when it cannot be admitted it ends as `busy`, which the engine
//! retries: a full pool is the host's state, never the connector crashing.
//!
//! One user's calls may hold at most `instances_per_user` slots and one connector's at most
//! `instances_per_connector`, so a flood of slow calls by one member, or against one slow
//! upstream, leaves slots for everyone else. Shares are taken in a fixed order (user, then
//! connector, then the pool), so waits never deadlock, and each semaphore queues first come,
//! first served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::limits::Limits;

/// The instance slots of a runtime.
pub struct Admission {
    pool: Arc<Semaphore>,
    users: Shares,
    connectors: Shares,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

/// Why a call was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAdmitted {
    /// Too many calls wait already.
    #[error("the host is busy: {0} calls are already waiting for a connector instance; try again shortly")]
    QueueFull(usize),
    /// No slot came free in time.
    #[error(
        "the host is busy: no connector instance came free within {0:?} ({1}); try again shortly"
    )]
    Timeout(Duration, &'static str),
}

/// A call's slot; dropping it frees the slot and the shares.
pub struct Slot {
    _pool: OwnedSemaphorePermit,
    _connector: Share,
    _user: Share,
}

impl Admission {
    /// Slots as the limits say.
    pub fn new(limits: &Limits) -> Admission {
        let total = limits.instances.max(1);
        Admission {
            pool: Arc::new(Semaphore::new(total as usize)),
            users: Shares::new(limits.instances_per_user.clamp(1, total)),
            connectors: Shares::new(limits.instances_per_connector.clamp(1, total)),
            waiting: AtomicUsize::new(0),
            queue: limits.admission_queue,
            wait: limits.admission_wait,
        }
    }

    /// Waits for a slot for a call by `user` to `connector`.
    pub async fn admit(&self, user: &str, connector: &str) -> Result<Slot, NotAdmitted> {
        // The common case: free slots and free shares, no waiting, no queue accounting.
        if let (Some(u), Some(c)) = (
            self.users.try_take(user),
            self.connectors.try_take(connector),
        ) {
            if let Ok(pool) = self.pool.clone().try_acquire_owned() {
                return Ok(Slot {
                    _pool: pool,
                    _connector: c,
                    _user: u,
                });
            }
        }
        let waiting = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiter = Waiter(&self.waiting);
        if waiting >= self.queue {
            return Err(NotAdmitted::QueueFull(waiting));
        }
        let timeout = |what| NotAdmitted::Timeout(self.wait, what);
        let deadline = tokio::time::Instant::now() + self.wait;
        let user = tokio::time::timeout_at(deadline, self.users.take(user))
            .await
            .map_err(|_| timeout("this user's calls hold their share of the instances"))?;
        let connector = tokio::time::timeout_at(deadline, self.connectors.take(connector))
            .await
            .map_err(|_| timeout("this connector's calls hold their share of the instances"))?;
        let pool = tokio::time::timeout_at(deadline, self.pool.clone().acquire_owned())
            .await
            .map_err(|_| timeout("every instance is in use"))?
            .map_err(|_| timeout("the runtime is shutting down"))?;
        Ok(Slot {
            _pool: pool,
            _connector: connector,
            _user: user,
        })
    }

    /// Slots free now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.pool.available_permits()
    }
}

/// Counts a waiting call while it waits.
struct Waiter<'a>(&'a AtomicUsize);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One semaphore per key (user or connector), made on first use and forgotten when its last
/// holder leaves, so the map holds only keys with calls in flight.
struct Shares {
    per_key: u32,
    map: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// A permit of one key's share.
struct Share {
    key: String,
    semaphore: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    map: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

impl Shares {
    fn new(per_key: u32) -> Shares {
        Shares {
            per_key,
            map: Arc::default(),
        }
    }

    fn semaphore(&self, key: &str) -> Arc<Semaphore> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_key as usize)))
            .clone()
    }

    fn share(&self, key: &str, semaphore: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Share {
        Share {
            key: key.to_string(),
            semaphore,
            permit: Some(permit),
            map: self.map.clone(),
        }
    }

    fn try_take(&self, key: &str) -> Option<Share> {
        let semaphore = self.semaphore(key);
        let permit = semaphore.clone().try_acquire_owned().ok()?;
        Some(self.share(key, semaphore, permit))
    }

    async fn take(&self, key: &str) -> Share {
        let semaphore = self.semaphore(key);
        // The semaphore is never closed, so acquiring only ends with a permit.
        loop {
            if let Ok(permit) = semaphore.clone().acquire_owned().await {
                return self.share(key, semaphore, permit);
            }
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this share hold it, and nobody waits: forget the key.
        if Arc::strong_count(&self.semaphore) == 2 {
            if let Some(current) = map.get(&self.key) {
                if Arc::ptr_eq(current, &self.semaphore) {
                    map.remove(&self.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(instances: u32, per_user: u32, per_connector: u32) -> Limits {
        Limits {
            instances,
            instances_per_user: per_user,
            instances_per_connector: per_connector,
            admission_wait: Duration::from_secs(3600),
            admission_queue: 8,
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_user_cannot_take_more_than_their_share() {
        let a = Arc::new(Admission::new(&limits(4, 2, 4)));
        let _held = [
            a.admit("mallory", "slow").await.unwrap(),
            a.admit("mallory", "slow").await.unwrap(),
        ];
        // Mallory's third call waits (and ends as busy after the admission wait) …
        let third = tokio::spawn({
            let a = a.clone();
            async move { a.admit("mallory", "slow").await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        // … while another user is admitted at once, with slots still free.
        assert!(a.admit("alice", "fast").await.is_ok());
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(matches!(
            third.await.unwrap(),
            Err(NotAdmitted::Timeout(_, m)) if m.contains("user")
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pool_makes_calls_wait_then_admits_them_in_turn() {
        let a = Arc::new(Admission::new(&limits(1, 1, 1)));
        let first = a.admit("u1", "c1").await.unwrap();
        let waiting = tokio::spawn({
            let a = a.clone();
            async move { a.admit("u2", "c2").await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert_eq!(a.available(), 0);
        drop(first);
        assert!(waiting.await.unwrap(), "admitted once the slot came free");
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_is_bounded() {
        let a = Arc::new(Admission::new(&limits(1, 1, 1)));
        let _held = a.admit("u", "c").await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..8 {
            let a = a.clone();
            waiters.push(tokio::spawn(
                async move { a.admit("u", "c").await.map(|_| ()) },
            ));
        }
        tokio::task::yield_now().await;
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            a.admit("u", "c").await.map(|_| ()),
            Err(NotAdmitted::QueueFull(8))
        ));
        for w in waiters {
            w.abort();
        }
    }

    #[tokio::test]
    async fn shares_are_forgotten_when_their_last_call_ends() {
        let a = Admission::new(&limits(4, 2, 2));
        let slot = a.admit("u", "c").await.unwrap();
        assert_eq!(a.users.map.lock().unwrap().len(), 1);
        drop(slot);
        assert!(a.users.map.lock().unwrap().is_empty());
        assert!(a.connectors.map.lock().unwrap().is_empty());
    }
}
