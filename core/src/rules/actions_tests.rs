use super::*;
use crate::rules::{by_user, parse, route, RuleIndex};
use serde_json::json;

const T0: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z

fn ev(name: &str, user: &str, n: i64) -> Event {
    let ts =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0 + n) * 1_000_000).unwrap();
    serde_json::from_value(json!({
        "messageId": format!("{user}-{name}-{n}"), "type": "track", "event": name,
        "userId": user, "properties": {}, "traits": {}, "context": {}, "integrations": {},
        "timestamp": ts.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "receivedAt": ts.format(&time::format_description::well_known::Rfc3339).unwrap(),
    }))
    .unwrap()
}

fn index(rules: &[serde_json::Value]) -> RuleIndex {
    RuleIndex::build(rules.iter().map(|r| parse(&r.to_string()).unwrap()), 7)
}

fn all_actions() -> serde_json::Value {
    json!({"id": "r", "trigger": {"events": ["Buy"]}, "actions": [
        {"type": "webhook", "url": "https://hooks.example.com/a"},
        {"type": "message", "title": "Hi", "body": "there"},
        {"type": "forward", "queue": "FORWARD_QUEUE"}]})
}

fn outcome(kind: &str, status: ActionStatus) -> Outcome {
    Outcome {
        kind: kind.into(),
        target: None,
        status,
        detail: None,
        done: Vec::new(),
        delivered: 0,
    }
}

#[test]
fn status_codes_are_the_stored_strings() {
    for s in [
        ActionStatus::Queued,
        ActionStatus::Returned,
        ActionStatus::PendingPickup,
        ActionStatus::Capped,
        ActionStatus::Delivered,
        ActionStatus::Retrying,
        ActionStatus::Forwarded,
        ActionStatus::Failed,
        ActionStatus::Skipped,
        ActionStatus::DeadLettered,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.code()));
        assert_eq!(
            serde_json::from_value::<ActionStatus>(json!(s.code())).unwrap(),
            s
        );
        assert_eq!(
            s.is_open(),
            matches!(s, ActionStatus::Queued | ActionStatus::Retrying)
        );
    }
    let stored =
        r#"[{"type":"webhook","target":"https://x","status":"retrying","detail":"HTTP 500"}]"#;
    let parsed: Vec<Outcome> = serde_json::from_str(stored).unwrap();
    assert_eq!(parsed[0].status, ActionStatus::Retrying);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), stored);
}

#[test]
fn attempts_move_open_actions_only() {
    let cases = [
        (Attempt::Answered(204), ActionStatus::Delivered, "HTTP 204"),
        (Attempt::Answered(500), ActionStatus::Retrying, "HTTP 500"),
        (Attempt::Answered(302), ActionStatus::Retrying, "HTTP 302"),
        (
            Attempt::RequestFailed("dns".into()),
            ActionStatus::Retrying,
            "request failed: dns",
        ),
        (
            Attempt::Forwarded("Q".into()),
            ActionStatus::Forwarded,
            "sent to Q",
        ),
        (
            Attempt::NoBinding("Q".into()),
            ActionStatus::Failed,
            "no queue binding named Q",
        ),
        (
            Attempt::SendFailed("full".into()),
            ActionStatus::Retrying,
            "send failed: full",
        ),
    ];
    for (attempt, status, detail) in cases {
        let mut o = outcome("webhook", ActionStatus::Queued);
        o.record(&attempt);
        assert_eq!((o.status, o.detail.as_deref()), (status, Some(detail)));
    }
    let mut no_secret = outcome("webhook", ActionStatus::Retrying);
    no_secret.record(&Attempt::NoSecret);
    assert_eq!(no_secret.status, ActionStatus::Failed);
    assert!(no_secret.detail.unwrap().contains("never sent unsigned"));
    for closed in [
        ActionStatus::Delivered,
        ActionStatus::Failed,
        ActionStatus::Capped,
        ActionStatus::DeadLettered,
    ] {
        let mut o = outcome("webhook", closed);
        o.record(&Attempt::Answered(500));
        assert_eq!((o.status, o.detail), (closed, None));
    }
}

#[test]
fn dead_letter_closes_open_actions_and_keeps_the_rest() {
    let mut all = vec![
        outcome("webhook", ActionStatus::Queued),
        outcome("webhook", ActionStatus::Retrying),
        outcome("webhook", ActionStatus::Delivered),
        outcome("message", ActionStatus::Returned),
        outcome("forward", ActionStatus::Forwarded),
    ];
    assert!(counts_attempt(&all));
    assert!(wants_retry(&all));
    dead_letter(&mut all);
    let statuses: Vec<_> = all.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            ActionStatus::DeadLettered,
            ActionStatus::DeadLettered,
            ActionStatus::Delivered,
            ActionStatus::Returned,
            ActionStatus::Forwarded,
        ]
    );
    assert!(!counts_attempt(&all));
    assert!(!wants_retry(&all));
    assert!(!counts_attempt(&[outcome("forward", ActionStatus::Queued)]));
}

#[test]
fn backoff_doubles_from_the_base_and_is_capped() {
    assert_eq!(backoff(10, 0), 10);
    assert_eq!(backoff(10, 1), 10);
    assert_eq!(backoff(10, 2), 20);
    assert_eq!(backoff(10, 5), 160);
    assert_eq!(backoff(10, 9), 2_560);
    assert_eq!(backoff(10, 10), MAX_RETRY_DELAY_SECS);
    assert_eq!(backoff(10, 40), MAX_RETRY_DELAY_SECS);
    assert_eq!(backoff(u32::MAX, 3), MAX_RETRY_DELAY_SECS);
    assert_eq!(backoff(0, 3), 0);
}

#[test]
fn prepare_gives_each_action_its_initial_state() {
    let idx = index(&[all_actions()]);
    let firing = |capped| Firing {
        rule: "r".into(),
        at: T0,
        events: vec!["m1".into()],
        event: None,
        capped,
    };
    let mut n = 0;
    let mut ids = || {
        n += 1;
        format!("f{n}")
    };
    let p = prepare(
        &idx,
        vec![
            firing(false),
            firing(true),
            Firing {
                rule: "gone".into(),
                ..firing(false)
            },
        ],
        "u1",
        "ingest",
        true,
        &mut ids,
    );
    assert_eq!(p.records.len(), 2, "a firing of an unknown rule is dropped");
    let fresh = &p.records[0];
    assert_eq!(
        (
            fresh.id.as_str(),
            fresh.user.as_str(),
            fresh.source.as_str(),
            fresh.at_ms
        ),
        ("f1", "u1", "ingest", T0)
    );
    let statuses: Vec<_> = fresh
        .actions
        .iter()
        .map(|o| (o.kind.as_str(), o.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("webhook", ActionStatus::Queued),
            ("message", ActionStatus::Returned),
            ("forward", ActionStatus::Queued)
        ]
    );
    assert_eq!(
        fresh.actions[0].target.as_deref(),
        Some("https://hooks.example.com/a")
    );
    assert_eq!(
        fresh.actions[1].target.as_deref(),
        Some(p.messages[0].id.as_str())
    );
    assert_eq!(fresh.actions[2].target.as_deref(), Some("FORWARD_QUEUE"));
    assert_eq!(p.messages.len(), 1, "a capped firing shows nothing");
    assert!(p.records[1]
        .actions
        .iter()
        .all(|o| o.status == ActionStatus::Capped));
    let later = prepare(&idx, vec![firing(false)], "u1", "state", false, &mut || {
        "x".into()
    });
    assert_eq!(
        later.records[0].actions[1].status,
        ActionStatus::PendingPickup
    );
}

#[test]
fn fanout_calls_the_first_users_and_queues_the_rest() {
    let window = json!({"id": "w", "trigger": {"events": ["Buy"]}, "window": {"count": 2, "within": "1h"},
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/a"}]});
    let idx = index(&[window]);
    let events = vec![
        ev("Buy", "u2", 1),
        ev("Other", "u1", 2),
        ev("Buy", "u1", 3),
        ev("Buy", "u3", 4),
        ev("Buy", "u2", 5),
    ];
    let f = by_user(&idx, &events, 2);
    let inline: Vec<_> = f.inline.iter().map(|(u, e)| (*u, e.len())).collect();
    assert_eq!(inline, [("u2", 2), ("u1", 1)]);
    let queued: Vec<_> = f.queued.iter().map(|(u, e)| (*u, e.len())).collect();
    assert_eq!(queued, [("u3", 1)]);
    assert_eq!(
        f.inline[0].1[1].message_id, "u2-Buy-5",
        "events keep their order"
    );
    assert!(by_user(&idx, &[ev("Other", "u1", 1)], 8).inline.is_empty());
}

#[test]
fn fanout_with_deferred_messages_calls_every_sender_for_pickup() {
    let deferred = json!({"id": "a", "trigger": {"events": ["Cart"]}, "absence": {"events": ["Buy"], "within": "1h"},
        "actions": [{"type": "message", "title": "Hi", "body": "there"}]});
    let idx = index(&[deferred]);
    assert!(idx.has_deferred_messages());
    let events = vec![
        ev("Other", "u1", 1),
        ev("Other", "u2", 2),
        ev("Other", "u3", 3),
    ];
    let f = by_user(&idx, &events, 2);
    let inline: Vec<_> = f.inline.iter().map(|(u, e)| (*u, e.len())).collect();
    assert_eq!(inline, [("u1", 0), ("u2", 0)]);
    assert!(
        f.queued.is_empty(),
        "a pickup beyond the inline users is not queued"
    );
}

#[test]
fn routing_a_request_gives_the_firings_and_the_same_fanout() {
    let window = json!({"id": "w", "trigger": {"events": ["Buy"]}, "window": {"count": 2, "within": "1h"},
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/a"}]});
    let now = json!({"id": "n", "trigger": {"events": ["Buy"]},
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/b"}]});
    let idx = index(&[window, now]);
    let events = vec![
        ev("Buy", "u2", 1),
        ev("Other", "u1", 2),
        ev("Buy", "u1", 3),
        ev("Buy", "u3", 4),
    ];
    let routing = route(&idx, &events, 10, 2);
    let fired: Vec<_> = routing
        .firings
        .iter()
        .map(|(e, f)| (e.message_id.as_str(), f.len()))
        .collect();
    assert_eq!(fired, [("u2-Buy-1", 1), ("u1-Buy-3", 1), ("u3-Buy-4", 1)]);
    for (e, f) in &routing.firings {
        assert_eq!(f.len(), idx.stateless_firings(e, 10).len());
    }
    let users = |f: &crate::rules::Fanout<'_>| {
        let part = |p: &[(&str, Vec<crate::Event>)]| -> Vec<(String, usize)> {
            p.iter().map(|(u, e)| ((*u).to_owned(), e.len())).collect()
        };
        (part(&f.inline), part(&f.queued))
    };
    assert_eq!(users(&routing.fanout), users(&by_user(&idx, &events, 2)));
}

#[test]
fn push_actions_validate_and_prepare_a_spec_per_action() {
    let rule = json!({"id": "p", "trigger": {"events": ["Buy"]}, "actions": [
        {"type": "push", "title": "Hi", "body": "there", "url": "/cart", "ttl": "1h",
         "urgency": "high", "topic": "cart"},
        {"type": "push", "title": "Again", "body": "b"}]});
    let idx = index(&[rule]);
    let mut n = 0;
    let mut new_id = || {
        n += 1;
        format!("f{n}")
    };
    let firing = Firing {
        rule: "p".into(),
        at: T0,
        events: vec!["m1".into()],
        event: None,
        capped: false,
    };
    let prepared = prepare(&idx, vec![firing], "u1", "ingest", true, &mut new_id);
    let rec = &prepared.records[0];
    assert!(prepared.messages.is_empty());
    assert_eq!(rec.actions[0].kind, "push");
    assert_eq!(rec.actions[0].status, ActionStatus::Queued);
    assert_eq!(rec.actions[0].target.as_deref(), Some("f1:0"));
    assert!(rec.actions[0].attemptable());
    assert_eq!(rec.pushes.len(), 2);
    assert_eq!(rec.pushes[0].ttl, 3_600);
    assert_eq!(rec.pushes[0].urgency, crate::push::Urgency::High);
    assert_eq!(rec.pushes[1].id, "f1:1");
    assert_eq!(rec.pushes[1].ttl, crate::limits::DEFAULT_PUSH_TTL_SECS);
    assert_eq!(rec.pushes[1].urgency, crate::push::Urgency::Normal);
    let payload: serde_json::Value =
        serde_json::from_slice(&rec.pushes[0].payload("p", Some("u1"), None).unwrap()).unwrap();
    assert_eq!(
        payload,
        json!({"id": "f1:0", "rule": "p", "title": "Hi", "body": "there", "url": "/cart", "userId": "u1"})
    );
    // The record survives the queue's JSON.
    let again: FiringRecord = serde_json::from_str(&serde_json::to_string(rec).unwrap()).unwrap();
    assert_eq!(again.pushes, rec.pushes);

    for (bad, at) in [
        (
            json!({"type": "push", "title": "", "body": "b"}),
            "/actions/0/title",
        ),
        (
            json!({"type": "push", "title": "t", "body": "b", "ttl": "29d"}),
            "/actions/0/ttl",
        ),
        (
            json!({"type": "push", "title": "t", "body": "b", "topic": "a b"}),
            "/actions/0/topic",
        ),
        (
            json!({"type": "push", "title": "t", "body": "b", "url": "javascript:x"}),
            "/actions/0/url",
        ),
    ] {
        let text = json!({"id": "p", "trigger": {"events": ["Buy"]}, "actions": [bad]}).to_string();
        let e = crate::rules::compile_json(&crate::rules::Engine::new(), &text).unwrap_err();
        assert_eq!(e.code(), "invalid_action", "{text}");
        assert_eq!(e.at, at, "{text}");
    }
}

#[test]
fn push_tallies_decide_the_outcome() {
    use crate::push::Answer;
    let mut o = outcome("push", ActionStatus::Queued);
    let mut t = PushTally::default();
    assert!(t.add(Answer::Delivered, "HTTP 201".into()));
    assert!(!t.add(Answer::Retry, "HTTP 503".into()));
    o.record(&Attempt::Pushed(t));
    assert_eq!(o.status, ActionStatus::Retrying);
    assert_eq!(o.delivered, 1);
    // The retry finds the second subscription gone: delivered overall.
    let mut t = PushTally::default();
    assert!(t.add(Answer::Gone, "HTTP 410".into()));
    o.record(&Attempt::Pushed(t));
    assert_eq!(o.status, ActionStatus::Delivered);
    assert!(o.detail.as_deref().unwrap().contains("gone 1"));
    // Nobody subscribed: failed, with the reason.
    let mut o = outcome("push", ActionStatus::Queued);
    o.record(&Attempt::Pushed(PushTally::default()));
    assert_eq!(o.status, ActionStatus::Failed);
    assert_eq!(
        o.detail.as_deref(),
        Some("no push subscription for this person")
    );
    let mut o = outcome("push", ActionStatus::Queued);
    o.record(&Attempt::NoVapid);
    assert_eq!(o.status, ActionStatus::Failed);
    assert!(counts_attempt(&[outcome("push", ActionStatus::Queued)]));
}

#[test]
fn email_actions_render_once_when_prepared_and_attempts_decide_the_outcome() {
    let rule = json!({"id": "e", "trigger": {"events": ["Buy"]}, "actions": [
        {"type": "email", "subject": "Hi {{ traits.name }}", "html": "<p>{{ event.properties.item }}</p>"},
        {"type": "email", "to": "{{ traits.work }}", "subject": "s", "text": "t"}]});
    let idx = index(&[rule]);
    let mut new_id = || "f1".to_owned();
    let mut event = ev("Buy", "u1", 0);
    event.context.insert(
        "traits".into(),
        json!({"email": "ada@example.com", "name": "Ada"}),
    );
    event.properties.insert("item".into(), json!("<tea>"));
    let firing = |capped| Firing {
        rule: "e".into(),
        at: T0,
        events: vec![event.message_id.clone()],
        event: Some(event.clone()),
        capped,
    };
    let prepared = prepare(&idx, vec![firing(false)], "u1", "ingest", true, &mut new_id);
    let rec = &prepared.records[0];
    assert_eq!(rec.actions[0].kind, "email");
    assert_eq!(rec.actions[0].status, ActionStatus::Queued);
    assert_eq!(rec.actions[0].target.as_deref(), Some("f1:0"));
    assert!(rec.actions[0].attemptable());
    let first = rec.emails[0].email.as_ref().unwrap();
    assert_eq!(first.to, "ada@example.com");
    assert_eq!(first.subject, "Hi Ada");
    assert_eq!(first.html.as_deref(), Some("<p>&lt;tea&gt;</p>"));
    // No `work` trait: the spec records why, the consumer fails the action with it.
    assert_eq!(rec.emails[1].id, "f1:1");
    assert!(rec.emails[1]
        .error
        .as_deref()
        .unwrap()
        .starts_with("no_recipient"));
    let again: FiringRecord = serde_json::from_str(&serde_json::to_string(rec).unwrap()).unwrap();
    assert_eq!(again.emails, rec.emails);
    // A capped firing renders nothing.
    let capped = prepare(&idx, vec![firing(true)], "u1", "ingest", true, &mut new_id);
    assert!(capped.records[0].emails.is_empty());
    assert_eq!(capped.records[0].actions[0].status, ActionStatus::Capped);

    use crate::email::Answer;
    let mut o = outcome("email", ActionStatus::Queued);
    o.record(&Attempt::Emailed(Answer::Retry, "HTTP 503".into()));
    assert_eq!(o.status, ActionStatus::Retrying);
    o.record(&Attempt::Emailed(Answer::Sent, "HTTP 202".into()));
    assert_eq!(o.status, ActionStatus::Delivered);
    o.record(&Attempt::Emailed(Answer::HardBounce, "HTTP 422".into()));
    assert_eq!(
        o.status,
        ActionStatus::Delivered,
        "closed outcomes never change"
    );
    let mut o = outcome("email", ActionStatus::Queued);
    o.record(&Attempt::Emailed(Answer::HardBounce, "HTTP 422".into()));
    assert_eq!(o.status, ActionStatus::Failed);
    assert!(o.detail.as_deref().unwrap().starts_with("hard_bounce"));
    let mut o = outcome("email", ActionStatus::Retrying);
    o.record(&Attempt::EmailSuppressed("unsubscribed".into()));
    assert_eq!(o.status, ActionStatus::Skipped);
    assert_eq!(o.detail.as_deref(), Some("suppressed: unsubscribed"));
    assert!(!o.is_open());
    assert!(counts_attempt(&[outcome("email", ActionStatus::Queued)]));
}

#[test]
fn a_firings_emails_share_one_size_budget() {
    let big = "x".repeat(crate::limits::MAX_EMAIL_BODY_BYTES * 2 / 3);
    let rule = json!({"id": "e", "trigger": {"events": ["Buy"]}, "actions": [
        {"type": "email", "subject": "one", "text": "{{ event.properties.big }}"},
        {"type": "email", "subject": "two", "text": "{{ event.properties.big }}"}]});
    let idx = index(&[rule]);
    let mut event = ev("Buy", "u1", 0);
    event.properties.insert("big".into(), json!(big));
    event
        .context
        .insert("traits".into(), json!({"email": "ada@example.com"}));
    let firing = Firing {
        rule: "e".into(),
        at: T0,
        events: vec![event.message_id.clone()],
        event: Some(event),
        capped: false,
    };
    let prepared = prepare(&idx, vec![firing], "u1", "ingest", true, &mut || "f".into());
    let emails = &prepared.records[0].emails;
    assert!(emails[0].email.is_some());
    assert!(emails[1].email.is_none());
    assert!(emails[1]
        .error
        .as_deref()
        .unwrap()
        .starts_with("email_too_large"));
}

#[test]
fn a_send_the_frequency_cap_refused_is_skipped_with_its_reason() {
    for kind in ["push", "email"] {
        let mut o = outcome(kind, ActionStatus::Queued);
        o.record(&Attempt::NotAdmitted(
            "quiet_hours: quiet hours 21:00–08:00 UTC".into(),
        ));
        assert_eq!(o.status, ActionStatus::Skipped);
        assert!(!o.is_open(), "a skipped send is never retried");
        assert!(o.detail.as_deref().unwrap().starts_with("quiet_hours"));
    }
}

#[test]
fn closed_push_outcomes_leave_campaign_events_once() {
    use crate::email::outcome_events;
    use crate::push::Answer;
    let rule = json!({"id": "p", "trigger": {"events": ["Buy"]}, "actions": [
        {"type": "push", "title": "Hi", "body": "there"},
        {"type": "push", "title": "Again", "body": "b"},
        {"type": "webhook", "url": "https://hooks.example.com/a"}]});
    let idx = index(&[rule]);
    let mut new_id = || "f1".to_owned();
    let firing = Firing {
        rule: "p".into(),
        at: T0,
        events: vec!["m1".into()],
        event: None,
        capped: false,
    };
    let prepared = prepare(&idx, vec![firing], "u1", "ingest", true, &mut new_id);
    let rec = &prepared.records[0];
    let mut outcomes = rec.actions.clone();
    let before: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    // Push 0: one subscription accepted it (201); push 1: its only subscription is gone (410).
    let mut ok = PushTally::default();
    ok.add(Answer::Delivered, "HTTP 201".into());
    outcomes[0].record(&Attempt::Pushed(ok));
    let mut gone = PushTally::default();
    gone.add(Answer::Gone, "HTTP 410".into());
    outcomes[1].record(&Attempt::Pushed(gone));
    outcomes[2].record(&Attempt::Answered(200));
    let events = outcome_events(rec, &before, &outcomes, T0);
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.message_id.as_str(), e.properties["channel"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("f1:0:$message_sent", Some("push")),
            ("f1:0:$message_delivered", Some("push")),
            ("f1:1:$message_failed", Some("push")),
        ]
    );
    assert_eq!(events[0].properties["messageId"], "f1:0");
    assert_eq!(events[0].properties["ruleId"], "p");
    assert_eq!(events[0].user_id.as_deref(), Some("u1"));
    let reason = events[2].properties["reason"].as_str().unwrap();
    assert!(
        reason.contains("gone 1") && reason.contains("HTTP 410"),
        "{reason}"
    );
    // Recorded again (a redelivered queue message): nothing closes a second time.
    let now: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    assert!(outcome_events(rec, &now, &outcomes, T0 + 1).is_empty());

    // A push still retrying leaves nothing; dead-lettered, it fails with its last detail.
    let mut outcomes = rec.actions.clone();
    let mut later = PushTally::default();
    later.add(Answer::Retry, "HTTP 503".into());
    outcomes[0].record(&Attempt::Pushed(later));
    assert!(outcome_events(rec, &before, &outcomes, T0).is_empty());
    let retrying: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    dead_letter(&mut outcomes);
    let events = outcome_events(rec, &retrying, &outcomes, T0);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event.as_deref(), Some("$message_failed"));
    assert_eq!(events[0].properties["status"], "dead_lettered");
    // A skip by the frequency policy is a failure with its reason code, like email's.
    let mut outcomes = rec.actions.clone();
    outcomes[0].record(&Attempt::NotAdmitted("quiet_hours: 22:00-07:00".into()));
    let events = outcome_events(rec, &before, &outcomes, T0);
    assert_eq!(events[0].properties["status"], "skipped");
    assert_eq!(events[0].properties["reason"], "quiet_hours: 22:00-07:00");
}
