//! Accepted events on their way to the queue, with concurrent requests
//! sharing messages: group commit at the level of queue messages.
//!
//! While one send is being made durable, the events of every request that
//! arrives meanwhile gather; they then go together, merged into as few
//! messages as fit, and each request is answered once its own send is
//! durable. Under concurrent single-event ingest (the local stack's busiest
//! path) that turns one queue message per event, each with its own row,
//! delivery and delete, into one per group, and hands the batch writer
//! many events per message. A Lambda serves one request at a time, so
//! there a group is a single request, sent as it would be without this.
//!
//! The gathering runs in a task of its own, so a request that goes away
//! (its client disconnected) cannot strand the requests grouped with it.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::domain::event::Event;
use crate::messages;
use crate::queue::{Queue, QueueError};

/// Messages in one send at most: SQS's `SendMessageBatch` limit. A request
/// whose own events need more still goes whole, alone.
const MAX_MESSAGES_PER_SEND: usize = 10;

pub struct Outbox {
    queue: Arc<dyn Queue>,
    /// To the task that gathers and sends; started on first use, in the
    /// caller's runtime, and again if that runtime has gone.
    courier: Mutex<Option<mpsc::UnboundedSender<Parcel>>>,
}

/// One request's events, packed, and where to tell it they are queued.
struct Parcel {
    bodies: Vec<String>,
    queued: oneshot::Sender<Result<(), QueueError>>,
}

impl Outbox {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue, courier: Mutex::new(None) }
    }

    /// Queues `events` durably (possibly in messages shared with other
    /// requests' events), or fails; on failure none of them was acknowledged
    /// to anyone.
    pub async fn send(&self, events: &[Event]) -> Result<(), QueueError> {
        let max = self.queue.max_message_bytes();
        let bodies = messages::pack(events, max).map_err(|err| QueueError::Internal(err.to_string()))?;
        // Only an event too large for a message alone makes one too large;
        // refuse it here rather than fail the group it would join.
        if let Some(body) = bodies.iter().find(|body| body.len() > max) {
            return Err(QueueError::TooLarge { size: body.len(), max });
        }
        let (queued, outcome) = oneshot::channel();
        self.courier().send(Parcel { bodies, queued }).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    fn courier(&self) -> mpsc::UnboundedSender<Parcel> {
        let mut courier = self.courier.lock().expect("outbox poisoned");
        match courier.as_ref() {
            Some(running) if !running.is_closed() => running.clone(),
            _ => {
                let (sender, parcels) = mpsc::unbounded_channel();
                tokio::spawn(deliver(self.queue.clone(), parcels));
                *courier = Some(sender.clone());
                sender
            }
        }
    }
}

fn stopped() -> QueueError {
    QueueError::Unavailable("the outbox stopped".into())
}

/// Sends each group of waiting parcels as one `Queue::send`.
async fn deliver(queue: Arc<dyn Queue>, mut parcels: mpsc::UnboundedReceiver<Parcel>) {
    let max = queue.max_message_bytes();
    let budget = MAX_MESSAGES_PER_SEND * max;
    while let Some(first) = parcels.recv().await {
        let mut bytes = first.bytes();
        let mut group = vec![first];
        while bytes < budget {
            match parcels.try_recv() {
                Ok(parcel) => {
                    bytes += parcel.bytes();
                    group.push(parcel);
                }
                Err(_) => break,
            }
        }
        let mut answers = Vec::with_capacity(group.len());
        let bodies = group.into_iter().flat_map(|parcel| {
            answers.push(parcel.queued);
            parcel.bodies
        });
        let bodies = messages::merge(bodies, max);
        let outcome = queue.send(bodies).await;
        if let Err(QueueError::Unavailable(_)) = &outcome {
            // Requests that arrived while the queue was failing get the
            // same prompt 503: trying them next would keep them waiting out
            // another timeout first.
            while let Ok(parcel) = parcels.try_recv() {
                answers.push(parcel.queued);
            }
        }
        for answer in answers {
            // A request that went away needs no answer.
            let _ = answer.send(outcome.clone());
        }
    }
}

impl Parcel {
    fn bytes(&self) -> usize {
        self.bodies.iter().map(String::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::messages::tests::event;
    use crate::queue::{Message, QueueDepth};

    /// Records each send; holds the first until released, so later sends
    /// pile up behind it; fails every send while `failing` is set.
    #[derive(Default)]
    struct Recording {
        sends: StdMutex<Vec<Vec<String>>>,
        release: tokio::sync::Notify,
        failing: std::sync::atomic::AtomicBool,
        max: usize,
    }

    #[async_trait]
    impl Queue for Recording {
        async fn send(&self, bodies: Vec<String>) -> Result<(), QueueError> {
            let first = {
                let mut sends = self.sends.lock().unwrap();
                sends.push(bodies);
                sends.len() == 1
            };
            if first {
                self.release.notified().await;
            }
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(QueueError::Unavailable("down".into()));
            }
            Ok(())
        }
        async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Message>, QueueError> {
            Ok(Vec::new())
        }
        async fn delete(&self, _: Vec<String>) -> Result<(), QueueError> {
            Ok(())
        }
        async fn depth(&self) -> Result<QueueDepth, QueueError> {
            Ok(QueueDepth::default())
        }
        async fn set_aside(&self, _: Vec<crate::queue::DeadLetter>) -> Result<(), QueueError> {
            Ok(())
        }
        async fn send_delayed(&self, bodies: Vec<String>, _: Duration) -> Result<(), QueueError> {
            self.send(bodies).await
        }
        async fn dead_letters(&self, _: usize) -> Result<Vec<crate::queue::DeadLetterEntry>, QueueError> {
            Ok(Vec::new())
        }
        async fn redrive(&self, _: usize) -> Result<usize, QueueError> {
            Ok(0)
        }
        fn max_message_bytes(&self) -> usize {
            self.max
        }
    }

    fn ids(body: &str) -> Vec<String> {
        messages::unpack(body).unwrap().into_iter().map(|e| e.id).collect()
    }

    /// Starts `first`, then `rest` while `first`'s send is held, and
    /// releases it once all of `rest` are waiting.
    async fn held_then_released(
        queue: Arc<Recording>,
        rest: usize,
    ) -> (Result<(), QueueError>, Vec<Result<(), QueueError>>) {
        let outbox = Arc::new(Outbox::new(queue.clone()));
        let first = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.send(&[event(0)]).await }
        });
        while queue.sends.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (1..=rest)
            .map(|i| {
                let outbox = outbox.clone();
                tokio::spawn(async move { outbox.send(&[event(i)]).await })
            })
            .collect();
        // On this single-threaded test runtime, a few rounds of yielding let
        // every later request hand over its parcel and wait.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        queue.release.notify_one();
        let first = first.await.unwrap();
        let mut results = Vec::new();
        for request in later {
            results.push(request.await.unwrap());
        }
        (first, results)
    }

    #[tokio::test]
    async fn requests_arriving_during_a_send_share_the_next_message() {
        let queue = Arc::new(Recording { max: 256 * 1024, ..Default::default() });
        let (first, rest) = held_then_released(queue.clone(), 20).await;
        assert!(first.is_ok() && rest.iter().all(Result::is_ok));
        let sends = queue.sends.lock().unwrap().clone();
        assert_eq!(sends.len(), 2, "one send for the first request, one for all that waited");
        assert_eq!(sends[0].iter().map(|b| ids(b)).collect::<Vec<_>>(), [["e0"]]);
        assert_eq!(sends[1].len(), 1, "twenty events in one message");
        let mut later = ids(&sends[1][0]);
        later.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
        assert_eq!(later, (1..=20).map(|i| format!("e{i}")).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_shared_send_never_exceeds_the_message_size() {
        let one = messages::pack(&[event(1)], usize::MAX).unwrap().remove(0).len();
        // Three one-event bodies fit in a message; four do not.
        let queue = Arc::new(Recording { max: 3 * one, ..Default::default() });
        let (_, rest) = held_then_released(queue.clone(), 7).await;
        assert!(rest.iter().all(Result::is_ok));
        let sends = queue.sends.lock().unwrap().clone();
        assert_eq!(sends.len(), 2);
        assert_eq!(sends[1].iter().map(|b| ids(b).len()).collect::<Vec<_>>(), [3, 3, 1]);
        assert!(sends[1].iter().all(|b| b.len() <= 3 * one));
    }

    #[tokio::test]
    async fn requests_waiting_on_a_failing_queue_are_refused_with_it() {
        let queue = Arc::new(Recording { max: 256 * 1024, ..Default::default() });
        queue.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        let (first, rest) = held_then_released(queue.clone(), 5).await;
        assert!(matches!(first, Err(QueueError::Unavailable(_))));
        assert!(rest.iter().all(|r| matches!(r, Err(QueueError::Unavailable(_)))), "{rest:?}");
        assert_eq!(queue.sends.lock().unwrap().len(), 1, "the waiting requests were not tried again");
    }

    #[tokio::test]
    async fn an_event_too_large_for_any_message_is_refused_alone() {
        let queue = Arc::new(Recording { max: 64, ..Default::default() });
        let outbox = Outbox::new(queue.clone());
        let refused = outbox.send(&[event(1)]).await;
        assert!(matches!(refused, Err(QueueError::TooLarge { max: 64, .. })), "{refused:?}");
        assert!(queue.sends.lock().unwrap().is_empty());
    }
}
