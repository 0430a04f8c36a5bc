//! The queue message format: several events per message, as
//! `{"events": [...]}`, packed up to the queue's message size limit so a
//! large batch costs few queue calls.

use serde::{Deserialize, Serialize};

use crate::domain::event::Event;

#[derive(Serialize, Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

const OPEN: &[u8] = br#"{"events":["#;
const CLOSE: &[u8] = b"]}";

/// Packs events into as few message bodies as fit in `max_bytes` each
/// (an event too large for one body alone still gets a body of its own, for
/// the queue to refuse). Each event is serialised once, straight into its
/// body.
pub fn pack(events: &[Event], max_bytes: usize) -> Result<Vec<String>, serde_json::Error> {
    let mut bodies = Vec::new();
    let mut body = OPEN.to_vec();
    for event in events {
        let before = body.len();
        let first = before == OPEN.len();
        if !first {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, event)?;
        if !first && body.len() + CLOSE.len() > max_bytes {
            // Full: this event starts the next body.
            let json = body.split_off(before + 1);
            body.truncate(before);
            bodies.push(close(body));
            body = [OPEN, &json].concat();
        }
    }
    if body.len() > OPEN.len() {
        bodies.push(close(body));
    }
    Ok(bodies)
}

/// Joins bodies made by [`pack`], in order, into as few as fit in
/// `max_bytes` each. A body is never split, so one over the limit stays
/// alone.
pub fn merge(bodies: impl IntoIterator<Item = String>, max_bytes: usize) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    for body in bodies {
        debug_assert!(body.as_bytes().starts_with(OPEN) && body.as_bytes().ends_with(CLOSE));
        match merged.last_mut() {
            // The joined body drops one envelope and gains a comma.
            Some(last) if last.len() + body.len() + 1 - OPEN.len() - CLOSE.len() <= max_bytes => {
                last.truncate(last.len() - CLOSE.len());
                last.push(',');
                last.push_str(&body[OPEN.len()..]);
            }
            _ => merged.push(body),
        }
    }
    merged
}

fn close(mut body: Vec<u8>) -> String {
    body.extend_from_slice(CLOSE);
    String::from_utf8(body).expect("serde_json writes UTF-8")
}

pub fn unpack(body: &str) -> Result<Vec<Event>, serde_json::Error> {
    serde_json::from_str::<Envelope>(body).map(|envelope| envelope.events)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::event::EventType;

    /// Event number `i` of a test batch (also the outbox's tests').
    pub(crate) fn event(i: usize) -> Event {
        Event {
            id: format!("e{i}"),
            tenant_id: "t".into(),
            user_id: format!("user-{i}"),
            event_type: EventType::Click,
            experiment_id: Some("exp".into()),
            variant: Some("A".into()),
            properties: Default::default(),
            timestamp: "2026-11-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn packs_within_the_limit_and_round_trips() {
        let events: Vec<Event> = (0..1000).map(event).collect();
        let bodies = pack(&events, 16 * 1024).unwrap();
        assert!(bodies.len() > 1);
        assert!(bodies.iter().all(|b| b.len() <= 16 * 1024));
        let back: Vec<Event> = bodies.iter().flat_map(|b| unpack(b).unwrap()).collect();
        assert_eq!(back, events);
        assert_eq!(pack(&events, 256 * 1024).unwrap().len(), 1);
    }

    #[test]
    fn fills_each_body_up_to_the_limit() {
        let events: Vec<Event> = (0..50).map(event).collect();
        let one = pack(&events[..1], usize::MAX).unwrap().remove(0);
        // Room for exactly three events per body (two commas between them).
        let event_bytes = one.len() - r#"{"events":[]}"#.len();
        let limit = r#"{"events":[]}"#.len() + 3 * event_bytes + 2;
        let bodies = pack(&events[..10], limit).unwrap();
        assert_eq!(bodies.iter().map(|b| unpack(b).unwrap().len()).collect::<Vec<_>>(), [3, 3, 3, 1]);
        assert!(bodies.iter().all(|b| b.len() <= limit));
        assert_eq!(pack(&events[..1], 10).unwrap().len(), 1, "an oversized event still gets a body");
    }

    #[test]
    fn merges_bodies_as_pack_would_have_packed_their_events() {
        let events: Vec<Event> = (0..10).map(event).collect();
        let one = pack(&events[..1], usize::MAX).unwrap().remove(0);
        let limit = r#"{"events":[]}"#.len() + 3 * (one.len() - r#"{"events":[]}"#.len()) + 2;
        let singles: Vec<String> =
            events.iter().map(|e| pack(std::slice::from_ref(e), limit).unwrap().remove(0)).collect();
        let merged = merge(singles, limit);
        assert_eq!(merged, pack(&events, limit).unwrap());
        assert_eq!(merge(vec![one.clone()], 10), [one], "a body over the limit stays whole");
    }
}
