//! The queue contract: SQS behaviour every queue adapter must show.
//!
//! [`run_all`] takes an empty queue configured with a short visibility
//! timeout and the given maximum receive count.

use std::time::{Duration, Instant};

use super::{DeadLetter, Queue, QueueError};

pub async fn run_all(queue: &dyn Queue, visibility: Duration, max_receives: u32) {
    sent_messages_are_received_once_until_deleted(queue).await;
    unacknowledged_messages_come_back_after_the_visibility_timeout(queue, visibility).await;
    poison_messages_move_to_the_dead_letter_area(queue, visibility, max_receives).await;
    receive_waits_for_a_message(queue).await;
    oversized_messages_are_refused(queue).await;
    set_aside_letters_go_straight_to_the_dead_letter_area(queue).await;
    delayed_messages_arrive_after_their_delay_counted_afresh(queue).await;
}

/// Deletes every message left, in flight ones too once they come back: on
/// a loaded machine the SDK may time out a receive whose answer the
/// emulator was still sending, and that delivery returns only after the
/// visibility timeout, into whichever check runs next.
async fn drain(queue: &dyn Queue) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = queue.receive(10, Duration::ZERO).await.unwrap();
        if !messages.is_empty() {
            queue.delete(messages.into_iter().map(|m| m.receipt).collect()).await.unwrap();
            continue;
        }
        let depth = queue.depth().await.unwrap();
        if (depth.visible, depth.in_flight) == (0, 0) {
            return;
        }
        assert!(Instant::now() < deadline, "messages still in flight: {depth:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sent_messages_are_received_once_until_deleted(queue: &dyn Queue) {
    let bodies: Vec<String> = (0..25).map(|i| format!("message {i}")).collect();
    queue.send(bodies.clone()).await.unwrap();
    // Short polls may come back empty while messages remain (SQS samples
    // its servers): keep receiving until every message arrived or a few
    // empty polls in a row say nothing more will.
    let mut received = Vec::new();
    let mut empty_polls = 0;
    while received.len() < bodies.len() && empty_polls < 5 {
        let batch = queue.receive(10, Duration::from_millis(200)).await.unwrap();
        assert!(batch.len() <= 10);
        empty_polls = if batch.is_empty() { empty_polls + 1 } else { 0 };
        received.extend(batch);
    }
    let mut got: Vec<String> = received.iter().map(|m| m.body.clone()).collect();
    got.sort();
    let mut want = bodies.clone();
    want.sort();
    assert_eq!(got, want, "each message is delivered, once while hidden");
    assert!(received.iter().all(|m| m.receive_count == 1));
    // A slow emulator may already have let some become visible again (the
    // SQS contract test uses a 1 s visibility timeout); none is lost.
    let depth = queue.depth().await.unwrap();
    assert_eq!(depth.in_flight + depth.visible, 25);
    queue.delete(received.into_iter().map(|m| m.receipt).collect()).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

async fn unacknowledged_messages_come_back_after_the_visibility_timeout(
    queue: &dyn Queue,
    visibility: Duration,
) {
    queue.send(vec!["retry me".into()]).await.unwrap();
    let first = queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let second = queue.receive(10, visibility * 4 + Duration::from_secs(2)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].body, "retry me");
    // At least 2: on a loaded machine the SDK may time out a receive whose
    // answer moto was still sending and retry it, a delivery of its own.
    assert!(second[0].receive_count >= 2, "{}", second[0].receive_count);
    assert_ne!(first[0].receipt, second[0].receipt);
    // The latest receipt deletes it. (What a stale receipt does is left
    // open, as SQS leaves it: "the message might not be deleted".)
    queue.delete(vec![second[0].receipt.clone()]).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
    drain(queue).await;
}

async fn poison_messages_move_to_the_dead_letter_area(
    queue: &dyn Queue,
    visibility: Duration,
    max_receives: u32,
) {
    let dead_before = queue.depth().await.unwrap().dead_letters;
    queue.send(vec!["poison".into(), "healthy".into()]).await.unwrap();
    let mut deliveries = 0;
    let started = Instant::now();
    while started.elapsed() < visibility * (max_receives + 4) * 4 + Duration::from_secs(5) {
        for message in queue.receive(10, visibility * 2).await.unwrap() {
            if message.body == "healthy" {
                queue.delete(vec![message.receipt]).await.unwrap();
            } else {
                deliveries += 1;
                assert!(message.receive_count <= max_receives);
            }
        }
        if queue.depth().await.unwrap().dead_letters > dead_before {
            break;
        }
    }
    assert_eq!(deliveries, max_receives);
    let depth = queue.depth().await.unwrap();
    assert_eq!(depth.dead_letters, dead_before + 1);
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

async fn receive_waits_for_a_message(queue: &dyn Queue) {
    let (received, sent) = tokio::join!(queue.receive(10, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        queue.send(vec!["late".into()]).await
    });
    sent.unwrap();
    let received = received.unwrap();
    assert_eq!(received.len(), 1, "a waiting receive sees a message sent meanwhile");
    queue.delete(received.into_iter().map(|m| m.receipt).collect()).await.unwrap();
}

async fn oversized_messages_are_refused(queue: &dyn Queue) {
    let too_big = "x".repeat(queue.max_message_bytes() + 1);
    let result = queue.send(vec![too_big]).await;
    assert!(matches!(result, Err(QueueError::TooLarge { .. })));
    assert_eq!(queue.depth().await.unwrap().visible, 0);
}

async fn set_aside_letters_go_straight_to_the_dead_letter_area(queue: &dyn Queue) {
    drain(queue).await;
    let before = queue.depth().await.unwrap().dead_letters;
    let letters: Vec<DeadLetter> = (0..12)
        .map(|i| DeadLetter {
            body: format!("poison {i}"),
            reason: format!("reason {i}: {}", "é".repeat(600)),
        })
        .collect();
    queue.set_aside(letters).await.unwrap();
    queue.set_aside(Vec::new()).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!(depth.dead_letters, before + 12);
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "set-aside letters are not delivered");
    assert!(queue.receive(10, Duration::from_millis(100)).await.unwrap().is_empty());

    // Listed with their reasons, then moved back as new messages.
    let listed = queue.dead_letters(100).await.unwrap();
    assert_eq!(listed.len() as u64, before + 12);
    let poison: Vec<_> = listed.iter().filter(|entry| entry.body.starts_with("poison ")).collect();
    assert_eq!(poison.len(), 12);
    assert!(
        poison.iter().all(|entry| entry
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("reason ") && r.len() <= 1024))
    );
    assert_eq!(queue.dead_letters(3).await.unwrap().len(), 3);
    let moved = queue.redrive(100).await.unwrap();
    assert_eq!(moved as u64, before + 12);
    assert_eq!(queue.depth().await.unwrap().dead_letters, 0);
    let mut redelivered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while redelivered.len() < moved && Instant::now() < deadline {
        let batch = queue.receive(10, Duration::from_millis(500)).await.unwrap();
        queue.delete(batch.iter().map(|m| m.receipt.clone()).collect()).await.unwrap();
        redelivered.extend(batch);
    }
    assert_eq!(redelivered.len(), moved);
    assert!(redelivered.iter().all(|m| m.receive_count == 1), "counted afresh");
}

async fn delayed_messages_arrive_after_their_delay_counted_afresh(queue: &dyn Queue) {
    drain(queue).await;
    let delay = Duration::from_secs(2);
    let sent = Instant::now();
    queue.send_delayed(vec!["later".into()], delay).await.unwrap();
    let mut received = queue.receive(10, Duration::ZERO).await.unwrap();
    // Asked within the delay (by this clock, which started before the
    // send), the message is hidden. On a loaded machine the send and the
    // receive may take the whole delay (a CI run once did, with 1 s):
    // then the message may already be visible, as it should.
    if sent.elapsed() < delay {
        assert!(received.is_empty(), "hidden during its delay");
    }
    while received.is_empty() && sent.elapsed() < Duration::from_secs(15) {
        received = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    }
    assert!(sent.elapsed() >= delay - Duration::from_millis(100), "{:?}", sent.elapsed());
    assert_eq!(received.len(), 1);
    assert_eq!((received[0].body.as_str(), received[0].receive_count), ("later", 1));
    queue.delete(vec![received[0].receipt.clone()]).await.unwrap();
}
