//! Shutdown signals.

/// Completes on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Runs `job` every `interval` until `stop` turns true, logging failures as `what`.
pub async fn every<F, Fut, T, E>(
    what: &'static str,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    job: F,
) where
    F: Fn() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send,
    E: std::fmt::Display,
{
    while !*stop.borrow() {
        if let Err(err) = job().await {
            tracing::warn!(error = %err, "{what} failed");
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}
