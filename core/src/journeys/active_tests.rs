//! `entry.maxActive`: several runs of one journey per person at once, each on its own.

use serde_json::{json, Value};

use super::tests::{cart, enter_u1, ev, index_of, meet, wake, MIN, T0};
use super::*;

/// The cart journey without a goal (so one order does not convert every cart), allowing
/// `max` carts at once.
fn carts(max: u32) -> Value {
    let mut doc = cart(0);
    doc.as_object_mut().unwrap().remove("goal");
    doc["entry"] = json!({"policy": "after_exit", "maxActive": max});
    doc
}

fn add(index: &JourneyIndex, p: &mut PersonJourneys, cart: &str, at: i64) -> Output {
    meet(
        index,
        p,
        &ev("Product Added", at, json!({"cart_id": cart})),
        at,
    )
}

#[test]
fn each_run_waits_for_its_own_order_and_the_bound_holds() {
    let index = index_of(vec![carts(3)]);
    let mut p = PersonJourneys::default();
    for (k, c) in ["c1", "c2", "c3", "c4"].iter().enumerate() {
        add(&index, &mut p, c, T0 + k as i64 * 1000);
    }
    let waiting: Vec<_> = p.active("cart").iter().map(|r| r.seq).collect();
    assert_eq!(
        waiting,
        [0, 1, 2],
        "the fourth cart is refused: three are active"
    );
    assert_eq!(p.history["cart"].entries, 3);
    assert_eq!(
        enter_u1(&index, &mut p, "cart", T0 + 5000).unwrap_err(),
        Refusal::AlreadyActive
    );

    // Ordering cart c2 wakes only its run.
    meet(
        &index,
        &mut p,
        &ev("Order Completed", T0 + MIN, json!({"cart_id": "c2"})),
        T0 + MIN,
    );
    let waiting: Vec<_> = p.active("cart").iter().map(|r| r.seq).collect();
    assert_eq!(waiting, [0, 2]);
    assert_eq!(p.history["cart"].ended[0].seq, 1);
    assert_eq!(
        p.history["cart"].ended[0].ended.as_ref().unwrap().reason,
        "exit"
    );

    // A place is free again: a new cart enters as run 3.
    add(&index, &mut p, "c5", T0 + 2 * MIN);
    let waiting: Vec<_> = p.active("cart").iter().map(|r| r.seq).collect();
    assert_eq!(waiting, [0, 2, 3]);

    // The others time out on their own clocks, each sending its reminder once.
    let out = wake(&index, &mut p, T0 + 40 * MIN);
    let mut keys: Vec<_> = out.effects.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["cart:0:remind:u1", "cart:2:remind:u1", "cart:3:remind:u1"]
    );
    let at: Vec<_> = out.effects.iter().map(|e| e.at).collect();
    assert_eq!(at, [T0 + 30 * MIN, T0 + 2000 + 30 * MIN, T0 + 32 * MIN]);
    assert_eq!(p.next_wake(), Some(T0 + 30 * MIN + 1440 * MIN));
    assert!(wake(&index, &mut p, T0 + 40 * MIN).effects.is_empty());
}

#[test]
fn the_default_is_one_active_run() {
    let mut doc = carts(1);
    doc["entry"] = json!({"policy": "after_exit"});
    let index = index_of(vec![doc]);
    let mut p = PersonJourneys::default();
    add(&index, &mut p, "c1", T0);
    add(&index, &mut p, "c2", T0 + 1);
    assert_eq!(p.active("cart").len(), 1);
    assert_eq!(p.history["cart"].entries, 1);
}

#[test]
fn state_stored_before_max_active_still_loads() {
    let run = json!({"seq": 4, "revision": 1, "node": "wait", "enteredAt": T0, "wakeAt": T0 + 30 * MIN,
        "trigger": null, "done": ["wait"], "path": []});
    let old: PersonJourneys = serde_json::from_value(json!({"runs": {"cart": run}})).unwrap();
    assert_eq!(old.active("cart").len(), 1);
    assert_eq!(old.active("cart")[0].seq, 4);
    let now = serde_json::to_value(&old).unwrap();
    assert!(
        now["runs"]["cart"].is_array(),
        "stored as a list from now on"
    );
    let back: PersonJourneys = serde_json::from_value(now).unwrap();
    assert_eq!(back, old);
}

#[test]
fn max_active_is_validated() {
    let engine = crate::rules::condition::Engine::new();
    let code = |doc: Value| {
        let j: Journey = serde_json::from_value(doc).unwrap();
        compile(&engine, j, 1).err().map(|e| e.code().to_owned())
    };
    assert_eq!(code(carts(0)).as_deref(), Some("invalid_entry"));
    assert_eq!(
        code(carts(crate::limits::MAX_ACTIVE_RUNS + 1)).as_deref(),
        Some("invalid_entry")
    );
    assert_eq!(code(carts(crate::limits::MAX_ACTIVE_RUNS)), None);
    let mut once = carts(2);
    once["entry"]["policy"] = json!("once");
    assert_eq!(code(once).as_deref(), Some("invalid_entry"));
    let mut once_one = carts(1);
    once_one["entry"]["policy"] = json!("once");
    assert_eq!(code(once_one), None);
}
