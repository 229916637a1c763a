//! A Lambda function's metrics line, written once per invocation after its response is posted.
//! The handler [`record`]s its metrics; [`MetricsLayer`], around lambda_runtime's service,
//! writes them when the invocation is done.
//!
//! Why then: the caller should not wait for the line, and the line must be out before the runtime
//! asks for the next event, which is when Lambda may freeze the environment: "Lambda freezes the
//! execution environment when the runtime and each extension have completed"
//! (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html); the runtime
//! completes with its next `GET /invocation/next`.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_runtime::tower::{Layer, Service};

use crate::{Emitter, Metric};

tokio::task_local! {
    /// The metrics of the invocation this task runs, from its handler ([`record`]) to the
    /// [`metered`] scope around it.
    static RECORDED: Cell<Option<Vec<Metric>>>;
}

/// Hands the invocation's metrics to the [`metered`] scope it runs in, replacing any recorded
/// before; outside a scope there is nothing to write them to, and they are dropped.
pub fn record(metrics: Vec<Metric>) {
    // Err only outside a scope: nobody asked for a line.
    let _ = RECORDED.try_with(|slot| slot.set(Some(metrics)));
}

/// Runs `invocation`, then writes what its handler [`record`]ed as one line; nothing when it
/// recorded nothing (lambda_runtime refused the event before the handler ran).
///
/// In a function `invocation` is the whole of lambda_runtime's service, the handler and the
/// POST of its response to the Runtime API ([`MetricsLayer`]): the caller has its answer before
/// the line is written, and the line is written before the runtime asks for the next event.
pub async fn metered<F: Future>(emitter: &Emitter, invocation: F) -> F::Output {
    let (output, metrics) = RECORDED
        .scope(Cell::new(None), async {
            let output = invocation.await;
            (output, RECORDED.with(Cell::take))
        })
        .await;
    if let Some(metrics) = metrics {
        emitter.emit(&metrics);
    }
    output
}

/// lambda_runtime's service (handler and response) in [`metered`]: each invocation's metrics
/// line is written after its response is posted. Add it with `Runtime::layer`, before the
/// tracing layer so that the line is written inside the invocation's span.
#[derive(Clone)]
pub struct MetricsLayer(Arc<Emitter>);

impl MetricsLayer {
    pub fn new(emitter: Emitter) -> MetricsLayer {
        MetricsLayer(Arc::new(emitter))
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            emitter: self.0.clone(),
        }
    }
}

/// The service [`MetricsLayer`] makes: `inner`, each call in [`metered`].
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    emitter: Arc<Emitter>,
}

impl<S, Request> Service<Request> for Metered<S>
where
    S: Service<Request>,
    S::Future: Send + 'static,
    S::Response: 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The handler's body runs when this future is polled, inside the scope.
        let inner = self.inner.call(request);
        let emitter = self.emitter.clone();
        Box::pin(async move { metered(&emitter, inner).await })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::Lines;

    fn written(n: u64) -> Vec<Metric> {
        vec![Metric::count("EventsWritten", n)]
    }

    fn emitter() -> (Emitter, Lines) {
        Emitter::in_memory("LambdaRdsIngest", "a-function").unwrap()
    }

    fn sum(line: &str) -> f64 {
        crate::parse(line).unwrap().sum("EventsWritten")
    }

    // In a function the metered future includes the POST of the response: the line must come
    // after it, and before `metered` returns (the runtime then asks for the next event).
    #[tokio::test]
    async fn the_line_is_written_after_the_invocation_and_before_metered_returns() {
        let (emitter, lines) = emitter();
        let answer = metered(&emitter, async {
            record(written(3));
            tokio::task::yield_now().await;
            // The response is being posted: no line yet.
            assert!(lines.take().is_empty());
            "response"
        })
        .await;
        assert_eq!(answer, "response");
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        assert_eq!(sum(&line), 3.0);
    }

    // The same through the layer, as lambda_runtime calls it: the line comes after the inner
    // service's future and before the layer's call returns.
    #[tokio::test]
    async fn the_layer_writes_after_the_inner_service_and_before_its_call_returns() {
        let (emitter, lines) = emitter();
        let seen = lines.clone();
        let inner = lambda_runtime::service_fn(move |n: u64| {
            let seen = seen.clone();
            async move {
                record(written(n));
                tokio::task::yield_now().await;
                assert!(seen.take().is_empty(), "a line before the response");
                Ok::<_, Infallible>(n * 10)
            }
        });
        let mut service = MetricsLayer::new(emitter).layer(inner);
        let call = service.call(2);
        assert!(lines.take().is_empty(), "a line before the call ran");
        assert_eq!(call.await, Ok(20));
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        assert_eq!(sum(&line), 2.0);
        // Each call writes its own line.
        assert_eq!(service.call(5).await, Ok(50));
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        assert_eq!(sum(&line), 5.0);
    }

    // An invocation whose handler never ran (lambda_runtime refused the event) has no metrics.
    #[tokio::test]
    async fn an_invocation_that_recorded_nothing_writes_no_line() {
        let (emitter, lines) = emitter();
        metered(&emitter, async {}).await;
        assert!(lines.take().is_empty());
        // Outside any scope, recording is a no-op rather than a panic.
        record(written(1));
    }

    // Invocations in flight together each write their own metrics.
    #[tokio::test]
    async fn invocations_in_flight_together_each_write_their_own_metrics() {
        let (emitter, lines) = emitter();
        let invocation = |n: u64| {
            metered(&emitter, async move {
                tokio::task::yield_now().await;
                record(written(n));
                tokio::task::yield_now().await;
            })
        };
        tokio::join!(invocation(1), invocation(2), invocation(4));
        let mut figures: Vec<f64> = lines.take().iter().map(|l| sum(l)).collect();
        figures.sort_by(f64::total_cmp);
        assert_eq!(figures, [1.0, 2.0, 4.0]);
    }
}
