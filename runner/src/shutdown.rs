//! Turns SIGINT/SIGTERM/SIGHUP into a cancellation the pipeline checks between steps.
//! The first signal stops the run cleanly (guards drop, a partial outcome is
//! written, exit 130); a second one kills every child group and exits at once.

use tokio::signal::unix::{signal, SignalKind};
pub use tokio_util::sync::CancellationToken as Cancel;

/// Spawns the signal listener and returns the token it cancels.
pub fn listen() -> Cancel {
    let cancel = Cancel::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot listen for signals; Ctrl-C will not stop the run cleanly");
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
        eprintln!("interrupted: stopping the run (press Ctrl-C again to kill everything now)");
        token.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {}, _ = hup.recv() => {} }
        crate::process::kill_all_now();
        std::process::exit(130);
    });
    cancel
}

/// Runs `work` unless a signal comes first (`None`); whatever `work` had started
/// is dropped, and so ended, with the abandoned future.
pub async fn or_cancelled<T>(
    cancel: &Cancel,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        result = work => Some(result),
        _ = cancel.cancelled() => None,
    }
}
