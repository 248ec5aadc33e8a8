//! Liveness and readiness.
//!
//! `/healthz` answers 200 while the process serves HTTP. `/readyz` runs every registered
//! dependency check concurrently, each bounded by a short timeout, and answers 503 when a
//! critical one fails (PostgreSQL for most services). Non-critical dependencies (Redis, which is
//! an optimization) are reported but never take the service out of rotation.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One dependency check.
#[derive(Clone)]
struct Check {
    name: &'static str,
    critical: bool,
    run: CheckFn,
}

/// The set of dependency checks behind `/readyz`.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<Check>,
    timeout: Duration,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|c| c.name).collect();
        f.debug_struct("Readiness")
            .field("checks", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The state of one dependency in a readiness report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckReport {
    /// `up` or `down`.
    pub status: &'static str,
    /// Whether a failure makes the service unready.
    pub critical: bool,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadinessReport {
    /// `ready` or `unready`.
    pub status: &'static str,
    /// Every dependency by name.
    pub checks: std::collections::BTreeMap<&'static str, CheckReport>,
}

impl ReadinessReport {
    /// Whether every critical dependency answered.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Readiness {
    /// No checks yet; each check gets at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            checks: Vec::new(),
            timeout,
        }
    }

    /// Adds a dependency check.
    #[must_use]
    pub fn with_check<F, Fut>(mut self, name: &'static str, critical: bool, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move || Box::pin(check()));
        self.checks.push(Check {
            name,
            critical,
            run,
        });
        self
    }

    /// The check of a service that owns a PostgreSQL database (critical), bounded by one second.
    #[cfg(feature = "postgres")]
    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new(Duration::from_secs(1)).with_check("postgres", true, move || {
            let pool = pool.clone();
            async move { crate::db::ping(&pool).await }
        })
    }

    /// The checks of a service that owns a PostgreSQL database (critical) and uses Redis as an
    /// optimization (reported, never critical), each bounded by one second.
    #[cfg(all(feature = "postgres", feature = "redis"))]
    pub fn postgres_and_redis(pool: sqlx::PgPool, redis: crate::redis::RedisClient) -> Self {
        Self::postgres(pool).with_check("redis", false, move || {
            let redis = redis.clone();
            async move { redis.ping().await }
        })
    }

    /// Adds the critical check `background_tasks`, down once a supervised task died.
    #[must_use]
    pub fn supervised(self, supervisor: &crate::tasks::Supervisor) -> Self {
        let failure = supervisor.failure();
        self.with_check("background_tasks", true, move || {
            let failure = failure.borrow().clone();
            async move { failure.map_or(Ok(()), Err) }
        })
    }

    /// Runs every check concurrently.
    pub async fn report(&self) -> ReadinessReport {
        let timeout = self.timeout;
        let results = futures::future::join_all(self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(timeout, (check.run)()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
            };
            (check, outcome)
        }))
        .await;
        let mut ready = true;
        let mut checks = std::collections::BTreeMap::new();
        for (check, outcome) in results {
            if outcome.is_err() && check.critical {
                ready = false;
            }
            let report = CheckReport {
                status: if outcome.is_ok() { "up" } else { "down" },
                critical: check.critical,
                error: outcome.err(),
            };
            checks.insert(check.name, report);
        }
        ReadinessReport {
            status: if ready { "ready" } else { "unready" },
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failing_critical_check_makes_the_service_unready_but_an_optional_one_does_not() {
        let optional_down = Readiness::new(Duration::from_millis(50))
            .with_check("postgres", true, || async { Ok(()) })
            .with_check("redis", false, || async { Err("refused".to_owned()) });
        assert!(optional_down.report().await.is_ready());

        let critical_slow =
            Readiness::new(Duration::from_millis(50)).with_check("postgres", true, || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            });
        let report = critical_slow.report().await;
        assert!(!report.is_ready());
        assert!(
            report.checks["postgres"]
                .error
                .as_deref()
                .unwrap()
                .contains("no answer")
        );
    }
}
