//! When a running bot stops: Ctrl-C, SIGTERM, or its caller's `stop` turning true (the tests,
//! the demo), whichever comes first, for every messenger's adapter.

use tokio::sync::watch;

/// Returns once a stop is asked for.
pub async fn requested(mut stop: watch::Receiver<bool>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = async { while !*stop.borrow() { if stop.changed().await.is_err() { break } } } => {}
    }
}
