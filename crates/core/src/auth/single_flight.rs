//! Identical concurrent work done once: the first caller for a key runs it, callers arriving while it runs wait
//! for its result. Nothing is kept once it is done (that is what the caches are for), so a failure reaches the
//! callers that were waiting for it and no one after. If the caller running the work goes away, one of the
//! waiting callers runs it instead (tokio's `OnceCell` hands the initialisation on).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OnceCell;

/// Work in flight by key.
pub struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Weak<OnceCell<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

/// Whether a caller ran the work or was given another caller's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This caller ran the work.
    Ran,
    /// This caller waited for another caller's run.
    Shared,
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// The result of `work` for `key`: run here, or shared with the caller already running it.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (V, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let flight = self.join(key);
        let cell = flight.cell();
        let mut role = Role::Shared;
        let value = cell
            .get_or_init(|| {
                role = Role::Ran;
                async {
                    let value = work().await;
                    // Done: later callers start afresh; the waiting ones get `value` from the cell.
                    self.land(&flight.key, cell);
                    value
                }
            })
            .await
            .clone();
        (value, role)
    }

    /// Number of keys in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// Callers in the flight for `key`.
    pub fn callers(&self, key: &K) -> usize {
        self.lock().get(key).map_or(0, Weak::strong_count)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Weak<OnceCell<V>>>> {
        self.flights.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn join(&self, key: K) -> Flight<'_, K, V> {
        let mut flights = self.lock();
        let cell = match flights.get(&key).and_then(Weak::upgrade) {
            Some(cell) => cell,
            None => {
                let cell = Arc::new(OnceCell::new());
                flights.insert(key.clone(), Arc::downgrade(&cell));
                cell
            }
        };
        Flight {
            owner: self,
            key,
            cell: Some(cell),
        }
    }

    fn land(&self, key: &K, cell: &Arc<OnceCell<V>>) {
        let mut flights = self.lock();
        if flights
            .get(key)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(cell)))
        {
            flights.remove(key);
        }
    }
}

/// One caller's part in a flight. Leaving (done or cancelled) with no one left removes the flight.
struct Flight<'a, K: Hash + Eq + Clone, V: Clone> {
    owner: &'a SingleFlight<K, V>,
    key: K,
    cell: Option<Arc<OnceCell<V>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Flight<'_, K, V> {
    fn cell(&self) -> &Arc<OnceCell<V>> {
        self.cell.as_ref().expect("a flight holds its cell until dropped")
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for Flight<'_, K, V> {
    fn drop(&mut self) {
        // Joins and leaves both happen under the lock, so the count read here is exact.
        let mut flights = self.owner.lock();
        drop(self.cell.take());
        if flights.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use tokio::sync::Notify;

    async fn wait_for(condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "condition not met in 5s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_run_and_later_callers_run_again() {
        let flights = Arc::new(SingleFlight::<u8, Result<u32, String>>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    flights
                        .run(1, || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            gate.notified().await;
                            Err::<u32, _>("wrong password".to_string())
                        })
                        .await
                })
            })
            .collect();
        // Every caller has joined before the run may finish.
        wait_for(|| flights.callers(&1) == 20).await;
        gate.notify_one();
        let mut roles = Vec::new();
        for task in tasks {
            let (value, role) = task.await.unwrap();
            assert_eq!(value, Err("wrong password".to_string()), "the failure is shared");
            roles.push(role);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(roles.iter().filter(|r| **r == Role::Ran).count(), 1);
        assert_eq!(flights.in_flight(), 0, "nothing kept");
        // The failure is not remembered: the next caller runs again.
        let (value, role) = flights.run(1, || async { Ok(7) }).await;
        assert_eq!((value, role), (Ok(7), Role::Ran));
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_takes_over_when_the_runner_goes_away_and_cancelled_flights_leave_nothing() {
        let flights = Arc::new(SingleFlight::<u8, u32>::default());
        let started = Arc::new(Notify::new());
        let runner = {
            let (flights, started) = (flights.clone(), started.clone());
            tokio::spawn(async move {
                flights
                    .run(1, || async move {
                        started.notify_one();
                        std::future::pending::<u32>().await
                    })
                    .await
            })
        };
        started.notified().await;
        let waiter = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(1, || async { 42 }).await })
        };
        wait_for(|| flights.callers(&1) == 2).await;
        runner.abort();
        assert_eq!(waiter.await.unwrap(), (42, Role::Ran));
        assert_eq!(flights.in_flight(), 0);
        // A flight whose only caller is cancelled is removed too.
        let lone = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(2, std::future::pending::<u32>).await })
        };
        wait_for(|| flights.in_flight() == 1).await;
        lone.abort();
        let _ = lone.await;
        assert_eq!(flights.in_flight(), 0);
    }
}
