//! Single flight: concurrent requests for the same key share one computation.
//!
//! When a hot cache entry expires, hundreds of requests may miss at once; with [`SingleFlight`]
//! only the first loads from the database and the others wait for its result. If the leader is
//! cancelled (client gone), a waiter takes over, so nobody waits forever.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OnceCell};

/// Deduplicates concurrent computations by key.
#[derive(Debug)]
pub struct SingleFlight<T> {
    inflight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// Runs `load` for `key` unless a run for the same key is in flight, whose result is then
    /// shared. Results are not kept after the flight lands.
    pub async fn run<F, Fut>(&self, key: &str, load: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut inflight = self.inflight.lock().await;
            inflight
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(OnceCell::new()))
                .clone()
        };
        let value = cell.get_or_init(load).await.clone();
        let mut inflight = self.inflight.lock().await;
        if inflight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            inflight.remove(key);
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_load() {
        let flight = Arc::new(SingleFlight::<u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let flight = flight.clone();
                let loads = loads.clone();
                tokio::spawn(async move {
                    flight
                        .run("product:1", || async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            7
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 7);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // The flight has landed: the next call loads again.
        flight.run("product:1", || async { 8 }).await;
        assert!(flight.inflight.lock().await.is_empty());
    }
}
