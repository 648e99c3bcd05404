//! The gateway's one retry helper ([`retry`]), on `backon`'s `Retryable`:
//! an operation run again after each retriable failure, with the delays of
//! a `backon` backoff, until it succeeds, fails with an error not to retry,
//! the backoff or a deadline is spent, or a cancellation token fires
//! ([`retry_cancellable`]).

use std::future::Future;
use std::time::Duration;

use backon::{Backoff, Retryable};
use tokio_util::sync::CancellationToken;

/// Why [`retry_cancellable`] ended without a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryError<E> {
    /// The last error: not retriable, or no delay left (backoff spent, or
    /// the next attempt would start after the deadline).
    Failed(E),
    /// The cancellation token fired before the next attempt.
    Cancelled,
}

/// `delay` when waiting it ends by `deadline` (`None`: no deadline), else
/// `None` (no further attempt).
fn within(deadline: Option<tokio::time::Instant>, delay: Option<Duration>) -> Option<Duration> {
    delay.filter(|d| {
        deadline.is_none_or(|dl| tokio::time::Instant::now().checked_add(*d) <= Some(dl))
    })
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
    backoff: impl Backoff,
    deadline: Option<tokio::time::Instant>,
    retry_if: impl FnMut(&E) -> bool,
    notify: impl FnMut(&E, Duration),
    op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    op.retry(backoff)
        .sleep(tokio::time::sleep)
        .when(retry_if)
        .notify(notify)
        .adjust(move |_, delay| within(deadline, delay))
        .await
}

/// [`retry`], ended when `cancel` fires: a wait for the next attempt ends
/// at once and no attempt starts after it; an attempt in progress is not
/// interrupted.
///
/// # Errors
/// [`RetryError::Failed`] with the last error of `op`, or
/// [`RetryError::Cancelled`].
pub async fn retry_cancellable<T, E, F, Fut>(
    backoff: impl Backoff,
    deadline: Option<tokio::time::Instant>,
    cancel: &CancellationToken,
    mut retry_if: impl FnMut(&E) -> bool,
    mut notify: impl FnMut(&E, Duration),
    mut op: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let token = cancel.clone();
    let sleep = move |delay: Duration| {
        let token = token.clone();
        async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
    };
    let attempt = || {
        let started = (!cancel.is_cancelled()).then(&mut op);
        async move {
            match started {
                Some(f) => f.await.map_err(RetryError::Failed),
                None => Err(RetryError::Cancelled),
            }
        }
    };
    attempt
        .retry(backoff)
        .sleep(sleep)
        .when(|e: &RetryError<E>| matches!(e, RetryError::Failed(e) if retry_if(e)))
        .notify(|e: &RetryError<E>, delay| {
            if let RetryError::Failed(e) = e {
                notify(e, delay);
            }
        })
        .adjust(move |_, delay| within(deadline, delay))
        .await
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
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry_cancellable(
            long,
            None,
            &token,
            |_| true,
            |_, _| {},
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(1) }
            },
        )
        .await;
        assert_eq!(r, Err(RetryError::Cancelled));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no attempt once cancelled");
        // Cancelled during the hour-long wait after the first failure: the
        // wait ends at once and no second attempt starts.
        let token = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let long = std::iter::repeat(Duration::from_secs(3600));
        let r: Result<(), _> = tokio::time::timeout(
            Duration::from_secs(30),
            retry_cancellable(
                long,
                None,
                &token,
                |_| true,
                |_, _| token.cancel(),
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(1) }
                },
            ),
        )
        .await
        .expect("the wait ends when cancelled");
        assert_eq!(r, Err(RetryError::Cancelled));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
