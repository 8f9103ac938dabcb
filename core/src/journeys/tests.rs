use serde_json::{json, Value};

use super::*;
use crate::Event;

pub(super) const MIN: i64 = 60_000;
pub(super) const T0: i64 = 1_714_564_800_000;

pub(super) fn ev(name: &str, at: i64, props: Value) -> Event {
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000).unwrap();
    Event {
        message_id: format!("{name}@{at}"),
        kind: crate::MessageType::Track,
        event: Some(name.into()),
        name: None,
        category: None,
        user_id: Some("u1".into()),
        anonymous_id: None,
        group_id: None,
        previous_id: None,
        properties: props.as_object().cloned().unwrap_or_default(),
        traits: Default::default(),
        context: Default::default(),
        integrations: Default::default(),
        timestamp: ts,
        original_timestamp: None,
        sent_at: None,
        received_at: ts,
    }
}

/// `u1` meets `e` at `now`, with no outside facts (no profile, no membership).
pub(super) fn meet(index: &JourneyIndex, p: &mut PersonJourneys, e: &Event, now: i64) -> Output {
    on_event(index, p, "u1", e, Facts::default(), now)
}

/// `u1`'s timers at `now`, with no outside facts.
pub(super) fn wake(index: &JourneyIndex, p: &mut PersonJourneys, now: i64) -> Output {
    on_time(index, p, "u1", Facts::default(), now)
}

/// Enters `u1` into `id` at `now` (an API entry without variables), with no outside facts.
pub(super) fn enter_u1(
    index: &JourneyIndex,
    p: &mut PersonJourneys,
    id: &str,
    now: i64,
) -> Result<Output, Refusal> {
    enter(
        index,
        p,
        "u1",
        id,
        Value::Null,
        Value::Null,
        Facts::default(),
        now,
    )
}

pub(super) fn cart(holdout: u8) -> Value {
    json!({
        "id": "cart", "trigger": {"type": "event", "events": ["Product Added"]},
        "start": "wait",
        "nodes": [
            {"id": "wait", "type": "wait_until", "events": ["Order Completed"],
             "match": "properties.cart_id", "timeout": "30m", "next": "bye", "onTimeout": "tier"},
            {"id": "tier", "type": "branch", "branches": [
                {"condition": {"==": [{"var": "trigger.properties.plan"}, "pro"]}, "next": "sales"}],
             "else": "remind"},
            {"id": "sales", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/sales"}, "next": "bye"},
            {"id": "remind", "type": "action", "action": {"type": "message", "title": "Cart", "body": "Still there"}, "next": "day"},
            {"id": "day", "type": "delay", "for": "1d", "next": "email"},
            {"id": "email", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/email"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ],
        "goal": {"events": ["Order Completed"], "within": "3d"},
        "holdout": holdout
    })
}

pub(super) fn index_of(docs: Vec<Value>) -> JourneyIndex {
    let js: Vec<(Journey, u64)> = docs
        .into_iter()
        .map(|d| (serde_json::from_value(d).unwrap(), 1))
        .collect();
    let index = JourneyIndex::build(js, 1);
    assert!(index.skipped().is_empty(), "{:?}", index.skipped());
    index
}

fn refused(doc: Value) -> String {
    let engine = crate::rules::condition::Engine::new();
    let j: Journey = serde_json::from_value(doc).unwrap();
    compile(&engine, j, 1).unwrap_err().code().to_owned()
}

fn keys(out: &Output) -> Vec<String> {
    out.effects.iter().map(|e| e.key.clone()).collect()
}

#[test]
fn the_cart_journey_waits_then_branches_on_the_trigger() {
    let index = index_of(vec![cart(0)]);
    let mut p = PersonJourneys::default();
    let out = meet(
        &index,
        &mut p,
        &ev(
            "Product Added",
            T0,
            json!({"cart_id": "c1", "plan": "free"}),
        ),
        T0,
    );
    assert!(out.effects.is_empty());
    assert_eq!(p.next_wake(), Some(T0 + 30 * MIN));
    // Nothing before the timeout.
    assert!(wake(&index, &mut p, T0 + 29 * MIN).effects.is_empty());
    // The alarm rings late: the step still runs at its due time.
    let out = wake(&index, &mut p, T0 + 31 * MIN);
    assert_eq!(keys(&out), ["cart:0:remind:u1"]);
    assert_eq!(out.effects[0].at, T0 + 30 * MIN);
    assert_eq!(p.next_wake(), Some(T0 + 30 * MIN + 1440 * MIN));
    let out = wake(&index, &mut p, T0 + 3 * 1440 * MIN);
    assert_eq!(keys(&out), ["cart:0:email:u1"]);
    assert!(p.runs.is_empty());
    let ended = &p.history["cart"].ended[0];
    assert_eq!(ended.ended.as_ref().unwrap().reason, "exit");
    let outcomes: Vec<&str> = ended.path.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        ["waiting", "timeout", "else", "sent", "waiting", "waited", "sent", "exit"]
    );
    assert_eq!(
        ended.path[2].read,
        Some(json!({"trigger.properties.plan": "free"}))
    );
}

#[test]
fn a_pro_customer_goes_to_sales() {
    let index = index_of(vec![cart(0)]);
    let mut p = PersonJourneys::default();
    meet(
        &index,
        &mut p,
        &ev("Product Added", T0, json!({"cart_id": "c1", "plan": "pro"})),
        T0,
    );
    let out = wake(&index, &mut p, T0 + 30 * MIN);
    assert_eq!(keys(&out), ["cart:0:sales:u1"]);
    assert!(p.runs.is_empty());
}

#[test]
fn the_matching_order_converts_and_exits_but_another_cart_does_not() {
    let index = index_of(vec![cart(0)]);
    let mut p = PersonJourneys::default();
    let added = ev("Product Added", T0, json!({"cart_id": "c1"}));
    meet(&index, &mut p, &added, T0);
    // An order of another cart: the goal (no condition) converts and exits.
    let out = meet(
        &index,
        &mut p,
        &ev("Order Completed", T0 + MIN, json!({"cart_id": "c2"})),
        T0 + MIN,
    );
    assert!(out.effects.is_empty());
    assert!(out.ticks.iter().any(|t| t.what == "converted"));
    let ended = &p.history["cart"].ended[0];
    assert_eq!(ended.ended.as_ref().unwrap().reason, "goal");
    assert_eq!(ended.converted_at, Some(T0 + MIN));
}

#[test]
fn wait_match_requires_the_same_value_when_the_goal_stays_open() {
    let mut doc = cart(0);
    doc["goal"]["exitOnGoal"] = json!(false);
    let index = index_of(vec![doc]);
    let mut p = PersonJourneys::default();
    meet(
        &index,
        &mut p,
        &ev("Product Added", T0, json!({"cart_id": "c1"})),
        T0,
    );
    meet(
        &index,
        &mut p,
        &ev("Order Completed", T0 + MIN, json!({"cart_id": "c2"})),
        T0 + MIN,
    );
    assert_eq!(
        p.runs["cart"][0].node, "wait",
        "another cart does not wake the wait"
    );
    meet(
        &index,
        &mut p,
        &ev("Order Completed", T0 + 2 * MIN, json!({"cart_id": "c1"})),
        T0 + 2 * MIN,
    );
    assert!(p.runs.is_empty());
    let path = &p.history["cart"].ended[0].path;
    assert_eq!(path[1].outcome, "event");
}

#[test]
fn holdout_runs_send_nothing() {
    let index = index_of(vec![cart(100)]);
    let mut p = PersonJourneys::default();
    meet(
        &index,
        &mut p,
        &ev("Product Added", T0, json!({"cart_id": "c1"})),
        T0,
    );
    let out = wake(&index, &mut p, T0 + 10 * 1440 * MIN);
    assert!(out.effects.is_empty());
    let run = &p.history["cart"].ended[0];
    assert!(run.holdout);
    assert!(run.path.iter().any(|s| s.outcome == "held_out"));
}

#[test]
fn entry_policies() {
    let mut once = cart(0);
    once["entry"] = json!({"policy": "once"});
    let index = index_of(vec![once]);
    let mut p = PersonJourneys::default();
    let enter_at = |p: &mut PersonJourneys, t| enter_u1(&index, p, "cart", t).map(|_| ());
    assert_eq!(enter_at(&mut p, T0), Ok(()));
    assert_eq!(enter_at(&mut p, T0 + 1), Err(Refusal::AlreadyActive));
    wake(&index, &mut p, T0 + 10 * 1440 * MIN);
    assert_eq!(
        enter_at(&mut p, T0 + 11 * 1440 * MIN),
        Err(Refusal::AlreadyEntered)
    );

    let mut every = cart(0);
    every["entry"] = json!({"policy": "interval", "interval": "30d"});
    let index = index_of(vec![every]);
    let mut p = PersonJourneys::default();
    assert!(enter_u1(&index, &mut p, "cart", T0).is_ok());
    wake(&index, &mut p, T0 + 10 * 1440 * MIN);
    let again = enter_u1(&index, &mut p, "cart", T0 + 11 * 1440 * MIN);
    assert_eq!(again.unwrap_err().code(), "entry_too_soon");
    let later = enter_u1(&index, &mut p, "cart", T0 + 31 * 1440 * MIN);
    assert_eq!(later.unwrap().ticks[0].what, "entered");
    assert_eq!(p.history["cart"].entries, 2);
}

#[test]
fn a_waiting_run_follows_its_node_into_a_new_revision() {
    let index = index_of(vec![cart(0)]);
    let mut p = PersonJourneys::default();
    meet(
        &index,
        &mut p,
        &ev("Product Added", T0, json!({"cart_id": "c1"})),
        T0,
    );
    wake(&index, &mut p, T0 + 30 * MIN); // now waiting at "day", "remind" sent
                                         // Revision 2: "email" now goes to a new node; "remind" (already sent) is unchanged.
    let mut v2 = cart(0);
    v2["nodes"][5]["action"]["url"] = json!("https://h.example.com/email-v2");
    let j: Journey = serde_json::from_value(v2).unwrap();
    let index2 = JourneyIndex::build([(j, 2)], 2);
    let out = wake(&index2, &mut p, T0 + 2 * 1440 * MIN);
    assert_eq!(keys(&out), ["cart:0:email:u1"], "remind is not re-sent");
    match &out.effects[0].action {
        JourneyAction::Webhook { url } => assert!(url.ends_with("email-v2")),
        other => panic!("{other:?}"),
    }
    // Revision 3 removes the node a run waits at: it exits with a recorded reason.
    let mut p = PersonJourneys::default();
    meet(&index, &mut p, &ev("Product Added", T0, json!({})), T0);
    let mut v3 = cart(0);
    v3["start"] = json!("tier");
    v3["nodes"].as_array_mut().unwrap().remove(0);
    let index3 = JourneyIndex::build([(serde_json::from_value(v3).unwrap(), 3)], 3);
    assert!(index3.skipped().is_empty(), "{:?}", index3.skipped());
    let out = wake(&index3, &mut p, T0 + 40 * MIN);
    assert!(out.effects.is_empty());
    assert_eq!(
        p.history["cart"].ended[0].ended.as_ref().unwrap().reason,
        "node_removed"
    );
}

#[test]
fn api_entry_variables_and_set_traits_feed_branches() {
    let doc = json!({
        "id": "onboard", "trigger": {"type": "api"}, "start": "mark",
        "nodes": [
            {"id": "mark", "type": "action", "action": {"type": "set_traits", "traits": {"stage": "onboarding"}}, "next": "b"},
            {"id": "b", "type": "branch", "branches": [
                {"condition": {"and": [{"==": [{"var": "traits.stage"}, "onboarding"]},
                                        {"==": [{"var": "vars.tier"}, "gold"]}]}, "next": "hook"}],
             "else": "end"},
            {"id": "hook", "type": "action", "action": {"type": "forward", "queue": "FORWARD_QUEUE"}, "next": "end"},
            {"id": "end", "type": "exit"}
        ]
    });
    let index = index_of(vec![doc]);
    let mut p = PersonJourneys::default();
    let out = enter(
        &index,
        &mut p,
        "u9",
        "onboard",
        Value::Null,
        json!({"tier": "gold"}),
        Facts::default(),
        T0,
    )
    .unwrap();
    assert_eq!(keys(&out), ["onboard:0:hook:u9"]);
    assert_eq!(p.traits["stage"], "onboarding");
    let refusal = enter(
        &index,
        &mut p,
        "u9",
        "nope",
        Value::Null,
        Value::Null,
        Facts::default(),
        T0,
    );
    assert_eq!(refusal.unwrap_err().code(), "unknown_journey");
}

#[test]
fn invalid_journeys_are_refused_with_stable_codes() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = cart(0);
        f(&mut d);
        refused(d)
    };
    assert_eq!(with(&|d| d["start"] = json!("nope")), "unknown_node");
    assert_eq!(
        with(&|d| d["nodes"][0]["onTimeout"] = json!("ghost")),
        "unknown_node"
    );
    assert_eq!(
        with(
            &|d| d["nodes"][6] = json!({"id": "bye", "type": "delay", "for": "1m", "next": "wait"})
        ),
        "cycle"
    );
    assert_eq!(
        with(&|d| d["nodes"][4]["for"] = json!("0s")),
        "invalid_duration"
    );
    assert_eq!(
        with(&|d| d["nodes"][1]["branches"] = json!([])),
        "invalid_branch"
    );
    assert_eq!(
        with(&|d| d["nodes"][1]["branches"][0]["condition"] = json!({"==": [{"var": "plan"}, 1]})),
        "unknown_variable"
    );
    assert_eq!(
        with(&|d| d["nodes"][2]["action"]["url"] = json!("ftp://x")),
        "invalid_action"
    );
    assert_eq!(with(&|d| d["holdout"] = json!(101)), "invalid_holdout");
    assert_eq!(
        with(&|d| d["nodes"][0]["match"] = json!("cart_id")),
        "invalid_match"
    );
    assert_eq!(with(&|d| d["id"] = json!("Bad Id")), "invalid_journey_id");
    assert_eq!(
        with(&|d| d["nodes"][1]["id"] = json!("wait")),
        "invalid_node_id"
    );
    assert_eq!(
        with(&|d| d["entry"] = json!({"policy": "interval"})),
        "invalid_entry"
    );
    assert_eq!(
        with(
            &|d| d["nodes"][1] = json!({"id": "tier", "type": "split", "paths": [{"percent": 50, "next": "sales"}, {"percent": 40, "next": "remind"}]})
        ),
        "invalid_split"
    );
    assert_eq!(
        with(&|d| d["trigger"] = json!({"type": "event", "events": []})),
        "invalid_events"
    );
    // An orphan node.
    assert_eq!(
        with(&|d| d["nodes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "orphan", "type": "exit"}))),
        "unreachable_node"
    );
    assert_eq!(parse("{\"id\": 1}").unwrap_err().code(), "invalid_journey");
}

#[test]
fn the_index_routes_by_event_name() {
    let index = index_of(vec![cart(0)]);
    assert_eq!(index.candidates("Product Added").len(), 1);
    assert_eq!(index.candidates("Order Completed").len(), 1);
    assert!(index.candidates("Page Viewed").is_empty());
    assert!(index.needs(&ev("Order Completed", T0, json!({}))));
    assert!(!index.needs(&ev("Page Viewed", T0, json!({}))));
    assert_eq!(
        index.get("cart").unwrap().max_span_ms,
        30 * MIN + 1440 * MIN
    );
}

#[test]
fn a_run_stranded_by_a_new_revision_exits_on_the_next_touch() {
    let index = index_of(vec![cart(0)]);
    let mut p = PersonJourneys::default();
    meet(&index, &mut p, &ev("Product Added", T0, json!({})), T0);
    let mut v2 = cart(0);
    v2["start"] = json!("tier");
    v2["nodes"].as_array_mut().unwrap().remove(0);
    let index2 = JourneyIndex::build([(serde_json::from_value(v2).unwrap(), 2)], 2);
    // No timer is due and no event names the journey: the sweep still ends the run.
    let out = wake(&index2, &mut p, T0 + MIN);
    assert!(p.runs.is_empty());
    assert_eq!(out.ticks[0].what, "exited");
    let ended = p.history["cart"].ended[0].ended.clone().unwrap();
    assert_eq!(
        (ended.at, ended.reason.as_str()),
        (T0 + MIN, "node_removed")
    );
}

#[test]
fn dry_run_replays_stored_events_per_person() {
    let index = index_of(vec![cart(0)]);
    let mut events = vec![
        ev("Product Added", T0, json!({"cart_id": "c1"})),
        ev("Order Completed", T0 + MIN, json!({"cart_id": "c1"})),
    ];
    let mut other = ev("Product Added", T0, json!({"cart_id": "c9", "plan": "pro"}));
    other.user_id = Some("u2".into());
    events.push(other);
    let d = replay::dry_run(&index, "cart", &events, T0 + 2 * 1440 * MIN);
    assert_eq!((d.people, d.entered, d.converted), (2, 2, 1));
    assert_eq!(d.actions, 1, "u2 timed out into the sales webhook");
    assert_eq!(d.nodes["wait"], 2);
    assert_eq!(d.nodes["sales"], 1);
    assert_eq!(d.waiting, 0);
}

#[test]
fn the_bundled_demo_journey_compiles_and_is_disabled() {
    let docs: Vec<Journey> = serde_json::from_str(include_str!("../../../journeys.json")).unwrap();
    let engine = crate::rules::condition::Engine::new();
    for j in docs {
        assert!(!j.enabled);
        compile(&engine, j, 1).unwrap();
    }
}

#[test]
fn a_time_window_holds_runs_until_it_opens_in_the_persons_zone() {
    // Quiet hours: messages only 09:00–21:00 on weekdays, in the person's own zone.
    let index = index_of(vec![json!({
        "id": "quiet", "trigger": {"type": "event", "events": ["Signed Up"]},
        "start": "hours",
        "nodes": [
            {"id": "hours", "type": "time_window", "days": ["mon", "tue", "wed", "thu", "fri"],
             "from": "09:00", "to": "21:00", "next": "hello"},
            {"id": "hello", "type": "action", "action": {"type": "message", "title": "Hi", "body": "Welcome"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ]
    })]);
    // 2026-11-30 is a Monday. 16:00 UTC is 21:30 in +05:30: closed until Tuesday 09:00 local,
    // which is 03:30 UTC.
    let monday = 1_795_996_800_000_i64;
    let mut e = ev("Signed Up", monday + 16 * 60 * MIN, json!({}));
    e.context.insert("timezone".into(), json!("+05:30"));
    let mut p = PersonJourneys::default();
    let out = meet(&index, &mut p, &e, monday + 16 * 60 * MIN);
    assert!(out.effects.is_empty(), "nothing is sent outside the window");
    let run = &p.runs["quiet"][0];
    let opens = monday + (24 + 3) * 60 * MIN + 30 * MIN;
    assert_eq!(run.wake_at, Some(opens));
    let step = run.path.last().unwrap();
    assert_eq!(
        step.read,
        Some(json!({"timezone": "+05:30", "known": true}))
    );
    // Nothing happens a minute early; at the opening the message goes out.
    assert!(wake(&index, &mut p, opens - MIN).effects.is_empty());
    let out = wake(&index, &mut p, opens);
    assert_eq!(keys(&out), vec!["quiet:0:hello:u1".to_owned()]);

    // Someone without a zone is read in UTC: Monday 16:00 UTC is inside, so it is sent at once.
    let mut q = PersonJourneys::default();
    let out = meet(
        &index,
        &mut q,
        &ev("Signed Up", monday + 16 * 60 * MIN, json!({})),
        monday + 16 * 60 * MIN,
    );
    assert_eq!(keys(&out), vec!["quiet:0:hello:u1".to_owned()]);
    assert_eq!(q.history["quiet"].ended[0].path[0].outcome, "in_window");
}

#[test]
fn bad_time_windows_are_refused_with_their_code() {
    let doc = |node: Value| {
        json!({"id": "w", "trigger": {"type": "api"}, "start": "w",
               "nodes": [node, {"id": "x", "type": "exit"}]})
    };
    let base =
        json!({"id": "w", "type": "time_window", "from": "09:00", "to": "17:00", "next": "x"});
    let with = |k: &str, v: Value| {
        let mut n = base.clone();
        n[k] = v;
        doc(n)
    };
    for bad in [
        with("from", json!("9am")),
        with("to", json!("09:00")),
        with("days", json!(["monday"])),
        with("days", json!([])),
        with("timezone", json!("Berlin")),
    ] {
        assert_eq!(refused(bad), "invalid_time_window");
    }
    let ok = JourneyIndex::build(
        [(
            serde_json::from_value(with("timezone", json!("Europe/Berlin"))).unwrap(),
            1,
        )],
        1,
    );
    assert!(ok.skipped().is_empty());
    // A window adds at most a week to the longest path.
    assert_eq!(
        ok.get("w").unwrap().max_span_ms,
        super::window::MAX_WINDOW_WAIT_MS
    );
}

#[test]
fn emit_records_one_event_per_step_keyed_by_the_effect() {
    let index = index_of(vec![json!({
        "id": "tagged", "trigger": {"type": "event", "events": ["Signed Up"]},
        "start": "mark",
        "nodes": [
            {"id": "mark", "type": "action",
             "action": {"type": "emit", "event": "Welcome Step", "properties": {"step": 1}}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ]
    })]);
    let mut p = PersonJourneys::default();
    let mut e = ev("Signed Up", T0, json!({}));
    e.user_id = None;
    e.anonymous_id = Some("anon-1".into());
    let trigger = serde_json::to_value(&e).unwrap();
    let out = on_event(&index, &mut p, "anon-1", &e, Facts::default(), T0);
    assert_eq!(out.effects[0].trigger, trigger);
    let events = deliver::emitted(&out.effects, "anon-1");
    assert_eq!(events.len(), 1);
    let x = &events[0];
    assert_eq!(x.message_id, "tagged:0:mark:anon-1");
    assert_eq!(x.event.as_deref(), Some("Welcome Step"));
    assert_eq!(
        (x.user_id.as_deref(), x.anonymous_id.as_deref()),
        (None, Some("anon-1"))
    );
    assert_eq!(
        Value::Object(x.properties.clone()),
        json!({"step": 1, "journeyId": "tagged", "journeyNode": "mark", "journeyRun": 0})
    );
    assert_eq!(crate::instant::to_ms(x.timestamp), T0);
    // Emitting is not a delivery through the actions pipeline.
    assert!(deliver::prepare(&out.effects, "anon-1", "state", false)
        .records
        .is_empty());
    // A reserved or empty name is refused on save.
    for bad in ["", "  ", "$pageview"] {
        let doc = json!({"id": "e", "trigger": {"type": "api"}, "start": "m", "nodes": [
            {"id": "m", "type": "action", "action": {"type": "emit", "event": bad}, "next": "x"},
            {"id": "x", "type": "exit"}]});
        assert_eq!(refused(doc), "invalid_action");
    }
}

#[test]
fn a_waking_event_a_little_before_the_wait_by_the_clients_clock_still_wakes_it() {
    // Clock-skew correction can put a browser's second event a few hundred ms before its first;
    // an event from well before the wait (a late offline delivery) does not wake it.
    let doc = json!({
        "id": "skew", "trigger": {"type": "event", "events": ["Browse"]}, "start": "wait",
        "nodes": [
            {"id": "wait", "type": "wait_until", "events": ["Cart"], "timeout": "1h", "next": "bye", "onTimeout": "bye"},
            {"id": "bye", "type": "exit"}
        ]
    });
    let index = index_of(vec![doc]);
    let mut p = PersonJourneys::default();
    meet(&index, &mut p, &ev("Browse", T0, json!({})), T0);
    let late = crate::limits::JOURNEY_CLOCK_SKEW_MS + 1_000;
    meet(&index, &mut p, &ev("Cart", T0 - late, json!({})), T0 + 10);
    assert_eq!(
        p.runs["skew"][0].node, "wait",
        "an event from before the wait does not wake it"
    );
    meet(&index, &mut p, &ev("Cart", T0 - 300, json!({})), T0 + 20);
    assert!(p.runs.is_empty(), "woken and ended");
    let path = &p.history["skew"].ended[0].path;
    assert!(
        path.windows(2).all(|w| w[0].at <= w[1].at),
        "the path stays in time order"
    );
}

#[test]
fn an_email_step_renders_over_traits_and_vars() {
    use crate::journeys::state::Effect;
    let action: JourneyAction = serde_json::from_value(serde_json::json!({
        "type": "email", "to": "{{ vars.email }}", "subject": "{{ traits.name }} / {{ journey.node }}",
        "html": "<b>{{ vars.coupon }}</b>"}))
    .unwrap();
    let mut traits = serde_json::Map::new();
    traits.insert("name".into(), "Ada & Bo".into());
    let vars = serde_json::json!({"email": "ada@example.com", "coupon": "<10%>"});
    let ctx = crate::email::journey_context(
        &serde_json::Value::Null,
        &serde_json::Value::Null,
        &traits,
        &vars,
        "u1",
        ("j", "mail", 0),
    );
    let effect = Effect {
        key: "j:0:mail:u1".into(),
        journey: "j".into(),
        run: 0,
        node: "mail".into(),
        at: 0,
        action,
        trigger: serde_json::Value::Null,
        context: Some(ctx),
    };
    let prepared = crate::journeys::deliver::prepare(&[effect], "u1", "api", false);
    let rec = &prepared.records[0];
    assert_eq!(rec.actions[0].kind, "email");
    assert_eq!(rec.actions[0].target.as_deref(), Some("j:0:mail:u1"));
    let email = rec.emails[0].email.as_ref().unwrap();
    assert_eq!(email.to, "ada@example.com");
    assert_eq!(email.subject, "Ada & Bo / mail");
    assert_eq!(email.html.as_deref(), Some("<b>&lt;10%&gt;</b>"));
}

#[test]
fn a_trigger_condition_reads_profile_traits_beneath_the_events() {
    let doc = json!({
        "id": "pro", "trigger": {"type": "event", "events": ["Seen"],
            "condition": {"==": [{"var": "traits.plan"}, "pro"]}},
        "start": "hi",
        "nodes": [
            {"id": "hi", "type": "action", "action": {"type": "webhook", "url": "https://h.example.com/x"}, "next": "bye"},
            {"id": "bye", "type": "exit"}
        ]
    });
    let index = index_of(vec![doc, cart(0)]);
    assert!(index.needs_profile(&ev("Seen", T0, json!({}))));
    assert!(
        !index.needs_profile(&ev("Product Added", T0, json!({}))),
        "the cart journey reads no profile traits"
    );
    let mut profile = serde_json::Map::new();
    profile.insert("plan".into(), json!("pro"));
    let mut p = PersonJourneys::default();
    let out = meet(&index, &mut p, &ev("Seen", T0, json!({})), T0);
    assert!(out.effects.is_empty(), "no traits, no entry");
    let e = ev("Seen", T0 + MIN, json!({}));
    let out = on_event(
        &index,
        &mut p,
        "u1",
        &e,
        Facts::profile(Some(&profile)),
        T0 + MIN,
    );
    assert_eq!(out.effects.len(), 1, "{out:?}");
}
