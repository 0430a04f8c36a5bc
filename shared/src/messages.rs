//! The queue message format: several events per message, as
//! `{"events": [...]}`, packed up to the queue's message size limit so a
//! large batch costs few queue calls.

use serde::{Deserialize, Serialize};

use crate::domain::event::Event;

#[derive(Serialize, Deserialize)]
struct Envelope {
    events: Vec<Event>,
}

const ENVELOPE_OVERHEAD: usize = r#"{"events":[]}"#.len();

/// Packs events into as few message bodies as fit in `max_bytes` each.
pub fn pack(events: &[Event], max_bytes: usize) -> Result<Vec<String>, serde_json::Error> {
    let mut bodies = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = ENVELOPE_OVERHEAD;
    for event in events {
        let json = serde_json::to_string(event)?;
        let added = json.len() + usize::from(!current.is_empty());
        if !current.is_empty() && size + added > max_bytes {
            bodies.push(wrap(&current));
            current.clear();
            size = ENVELOPE_OVERHEAD;
        }
        size += json.len() + usize::from(!current.is_empty());
        current.push(json);
    }
    if !current.is_empty() {
        bodies.push(wrap(&current));
    }
    Ok(bodies)
}

fn wrap(events: &[String]) -> String {
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

pub fn unpack(body: &str) -> Result<Vec<Event>, serde_json::Error> {
    serde_json::from_str::<Envelope>(body).map(|envelope| envelope.events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventType;

    fn event(i: usize) -> Event {
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
}
