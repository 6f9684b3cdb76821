//! The socket side: accepts connections and serves each with hyper's HTTP/1.1 connection,
//! handing every request to [`Dispatch`].
//!
//! In: a bound listener, the mock's state and a stop signal. Out: a future that serves until the
//! signal, then stops accepting, lets every open connection finish its request in flight
//! (hyper's graceful shutdown) and returns once all have closed.
//!
//! Why not `axum::serve`: it serves each connection with hyper-util's protocol-detecting
//! connection (a rewinding reader, HTTP upgrades, which put an upgrade handle in every
//! request) and routes every request through the router. The mock speaks HTTP/1.1 only (axum's
//! `http2` feature is off, so that connection never spoke HTTP/2 here either), and the layers
//! between hyper's dispatcher and the POST handler cost the POST path CPU it need not spend
//! (bench/README.md measures the mock against a bare server). The answers are the same: [`Dispatch`] sends
//! `POST /api/v1/orders` to the handler the router would pick and everything else through the
//! router (a test compares the two).

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::{Dispatch, MockState};

/// Pause after a failed `accept` (out of file descriptors, …) so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `state` on `listener` until `stop` completes, then shuts down gracefully (see the
/// module doc). Accepted sockets get `TCP_NODELAY`: answers are small and must not wait.
pub(crate) async fn serve(listener: TcpListener, state: MockState, stop: impl Future<Output = ()>) {
    let dispatch = Dispatch::new(state);
    // Dropping `closing` tells every connection to finish; `open.closed()` completes when
    // every connection task has dropped its `open` receiver.
    let (closing, _) = watch::channel(());
    let (open, _) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("mock orderbook: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
        tokio::spawn(connection(
            stream,
            dispatch.clone(),
            closing.subscribe(),
            open.subscribe(),
        ));
    }
    drop(listener);
    drop(closing);
    open.closed().await;
}

/// Serves one connection until the client closes it or `closing` is dropped (then the request
/// in flight is answered and the connection closed). `_open` is held until the end.
async fn connection(
    stream: tokio::net::TcpStream,
    dispatch: Dispatch,
    mut closing: watch::Receiver<()>,
    _open: watch::Receiver<()>,
) {
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let dispatch = dispatch.clone();
        async move { Ok::<_, std::convert::Infallible>(dispatch.call(req.map(Body::new)).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        biased;
        served = conn.as_mut() => served,
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::trace!("mock orderbook connection ended: {e}");
    }
}
