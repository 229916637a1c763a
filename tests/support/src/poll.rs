//! Waiting for a condition with a deadline, where a test would otherwise sleep and hope that
//! the other side is done by then.

use std::time::{Duration, Instant};

/// Checks `condition` until it holds, pausing a little longer each time (up to 100 ms);
/// panics naming `what` if it still does not hold after `within`.
pub async fn until<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    let mut pause = Duration::from_millis(2);
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let checks = AtomicUsize::new(0);
        until("the third check", Duration::from_secs(60), || {
            std::future::ready(checks.fetch_add(1, Ordering::SeqCst) == 2)
        })
        .await;
        assert_eq!(checks.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "never: not within 10ms")]
    async fn panics_at_the_deadline() {
        until("never", Duration::from_millis(10), || {
            std::future::ready(false)
        })
        .await;
    }
}
