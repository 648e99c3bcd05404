//! The gateway's one retry loop ([`retry`]): an operation run again after
//! each retriable failure, with the delays of a `backon` backoff, until it
//! succeeds, fails with an error not to retry, the backoff or a deadline is
//! spent, or a cancellation token fires ([`retry_cancellable`]).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Why [`retry`] ended without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryError<E> {
    /// The last error: not retriable, or no delay left (backoff spent, or
    /// the next attempt would start after the deadline).
    Failed(E),
    /// The cancellation token fired while waiting for the next attempt.
    Cancelled,
}

/// Runs `op` until it succeeds. After a failure `e`: when `retry_if(&e)`
/// is false, or `backoff` yields no further delay, or waiting that delay
/// would pass `deadline`, the result is `e`; otherwise `notify(&e, delay)`
/// is called and `op` runs again after `delay`.
///
/// `backoff` is any `backon` backoff (an iterator of delays), e.g.
/// `ExponentialBuilder::default().build()`.
///
/// # Errors
/// The last error of `op`.
pub async fn retry<T, E, F, Fut>(
    backoff: impl Iterator<Item = Duration>,
    deadline: Option<tokio::time::Instant>,
    retry_if: impl FnMut(&E) -> bool,
    notify: impl FnMut(&E, Duration),
    op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match run(backoff, deadline, None, retry_if, notify, op).await {
        Ok(v) => Ok(v),
        Err(RetryError::Failed(e)) => Err(e),
        // Without a token the wait is never cancelled; kept total.
        Err(RetryError::Cancelled) => std::future::pending().await,
    }
}

/// [`retry`], ended early when `cancel` fires while waiting for the next
/// attempt. An attempt in progress is not interrupted.
///
/// # Errors
/// [`RetryError::Failed`] with the last error of `op`, or
/// [`RetryError::Cancelled`].
pub async fn retry_cancellable<T, E, F, Fut>(
    backoff: impl Iterator<Item = Duration>,
    deadline: Option<tokio::time::Instant>,
    cancel: &CancellationToken,
    retry_if: impl FnMut(&E) -> bool,
    notify: impl FnMut(&E, Duration),
    op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run(backoff, deadline, Some(cancel), retry_if, notify, op).await
}

/// The loop of [`retry`] and [`retry_cancellable`].
async fn run<T, E, F, Fut>(
    mut backoff: impl Iterator<Item = Duration>,
    deadline: Option<tokio::time::Instant>,
    cancel: Option<&CancellationToken>,
    mut retry_if: impl FnMut(&E) -> bool,
    mut notify: impl FnMut(&E, Duration),
    mut op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        let e = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !retry_if(&e) {
            return Err(RetryError::Failed(e));
        }
        let Some(delay) = backoff.next() else {
            return Err(RetryError::Failed(e));
        };
        if deadline.is_some_and(|d| tokio::time::Instant::now().checked_add(delay) > Some(d)) {
            return Err(RetryError::Failed(e));
        }
        notify(&e, delay);
        match cancel {
            Some(token) => {
                tokio::select! {
                    _ = token.cancelled() => return Err(RetryError::Cancelled),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            None => tokio::time::sleep(delay).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn delays(n: usize) -> impl Iterator<Item = Duration> {
        std::iter::repeat_n(Duration::from_millis(1), n)
    }

    #[tokio::test]
    async fn retries_until_success_and_notifies_each_failure() {
        let calls = AtomicU32::new(0);
        let mut notified = 0;
        let r: Result<u32, &str> = retry(
            delays(5),
            None,
            |_| true,
            |_, _| notified += 1,
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Err("down")
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(r, Ok(2));
        assert_eq!(notified, 2);
    }

    #[tokio::test]
    async fn stops_on_an_error_not_to_retry_or_a_spent_backoff() {
        let r: Result<(), _> = retry(
            delays(5),
            None,
            |e: &&str| *e != "fatal",
            |_, _| {},
            || async { Err("fatal") },
        )
        .await;
        assert_eq!(r, Err("fatal"));
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry(
            delays(2),
            None,
            |_| true,
            |_, _| {},
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("down")
            },
        )
        .await;
        assert_eq!(r, Err("down"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn deadline_and_cancellation_end_the_wait() {
        let long = std::iter::repeat(Duration::from_secs(3600));
        let soon = tokio::time::Instant::now() + Duration::from_secs(1);
        let r: Result<(), _> =
            retry(long, Some(soon), |_| true, |_, _| {}, || async { Err(1) }).await;
        assert_eq!(r, Err(1));
        let token = CancellationToken::new();
        token.cancel();
        let long = std::iter::repeat(Duration::from_secs(3600));
        let r: Result<(), _> =
            retry_cancellable(long, None, &token, |_| true, |_, _| {}, || async { Err(1) }).await;
        assert_eq!(r, Err(RetryError::Cancelled));
    }
}
