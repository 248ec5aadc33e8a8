//! The background tasks a service cannot live without (event consumer, outbox relay,
//! sweepers), supervised.
//!
//! A task is meant to run until the service stops. One that ends before that, by a panic or
//! by returning, is a dead service that still answers HTTP. So the [`Supervisor`] turns
//! `/readyz` to 503 at once (the check [`Readiness::supervised`](crate::health::Readiness::supervised)
//! adds), waits a short grace period so the load balancer takes the pod out of rotation,
//! then stops the server like a SIGTERM would; [`Supervisor::serve`] returns the failure and
//! `main` exits non-zero, so Kubernetes restarts the pod. At shutdown the tasks are told to
//! stop and given time to finish what they hold.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::Server;

/// How long a service whose task died stays up, unready, before it stops.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// How long stopping tasks get to finish at shutdown.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Starts and watches a service's background tasks.
#[derive(Debug)]
pub struct Supervisor {
    stop: watch::Sender<bool>,
    failure: watch::Sender<Option<String>>,
    watchers: Vec<JoinHandle<()>>,
    grace: Duration,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

/// The panic message of a task, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

impl Supervisor {
    /// No tasks yet; a death stops the service after [`DEFAULT_GRACE`].
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            failure: watch::channel(None).0,
            watchers: Vec::new(),
            grace: DEFAULT_GRACE,
        }
    }

    /// How long the service stays up, unready, after a task died.
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The signal the tasks stop on (turns true at shutdown).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Why the service is failing, once a task died.
    pub fn failure(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// Starts `task`, which must run until the stop signal.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = tokio::spawn(task);
        let stop = self.stop.subscribe();
        let failure = self.failure.clone();
        self.watchers.push(tokio::spawn(async move {
            let ended = inner.await;
            let why = match ended {
                Ok(()) if *stop.borrow() => return,
                Ok(()) => format!("{name} stopped"),
                Err(err) if err.is_panic() => {
                    format!("{name} panicked: {}", panic_message(&*err.into_panic()))
                }
                Err(err) => format!("{name} was cancelled: {err}"),
            };
            if *stop.borrow() {
                tracing::error!(task = name, "{why} while stopping");
                return;
            }
            tracing::error!(task = name, "{why}; the service is unready and stops");
            failure.send_if_modified(|first| {
                if first.is_none() {
                    *first = Some(why);
                    true
                } else {
                    false
                }
            });
        }));
    }

    /// Starts `job` every `interval` until the stop signal (see [`crate::shutdown::every`]): a
    /// failed run is logged and the next one comes at its time.
    pub fn every<F, Fut, T, E>(&mut self, name: &'static str, interval: Duration, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: std::fmt::Display + 'static,
        T: 'static,
    {
        let stop = self.stop_signal();
        self.spawn(name, crate::shutdown::every(name, interval, stop, job));
    }

    /// Serves until `shutdown` completes or a task dies (plus the grace period), then stops
    /// the tasks and waits for them. A task's death is the error.
    pub async fn serve(
        self,
        server: Server,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut failed = self.failure.subscribe();
        let grace = self.grace;
        let stopped = async move {
            let died = async move {
                if failed.wait_for(Option::is_some).await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = shutdown => {}
                () = died => {}
            }
        };
        let served = server.run_until_stopped(stopped).await;
        let _ = self.stop.send(true);
        let finished = futures::future::join_all(self.watchers);
        if tokio::time::timeout(STOP_TIMEOUT, finished).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        served?;
        match self.failure.borrow().clone() {
            Some(why) => Err(anyhow::anyhow!(why)),
            None => Ok(()),
        }
    }
}
