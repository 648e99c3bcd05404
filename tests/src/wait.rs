//! Loopback ports and polling with a deadline (no fixed sleeps in tests).

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Poll interval of [`wait_until`]: 100 ms.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A TCP port on 127.0.0.1 that was free a moment ago (found by binding port 0
/// and releasing it). Another process can still take it before the caller binds;
/// [`crate::Broker::start`] retries with a new port when that happens.
///
/// # Panics
/// When no loopback port can be bound at all.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("binding 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// Calls `f` every 100 ms until it returns `true`, or fails once `deadline`
/// has passed since the call (the condition is evaluated at least once, and a
/// last time at the deadline).
///
/// # Errors
/// `timed out after {deadline} waiting for {what}`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - elapsed)).await;
    }
}

/// Blocking twin of [`wait_until`] for synchronous code (process start-up):
/// calls `f` every 100 ms until it returns `Ok(true)`, returns its first `Err`,
/// or fails after `deadline`.
pub(crate) fn wait_until_blocking<F>(what: &str, deadline: Duration, mut f: F) -> anyhow::Result<()>
where
    F: FnMut() -> anyhow::Result<bool>,
{
    let start = Instant::now();
    loop {
        if f()? {
            return Ok(());
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - elapsed));
    }
}
