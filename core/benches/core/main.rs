//! The core's benches, one binary: `cargo bench -p spur-core --bench core`.
//!
//! One binary, not one per section, because the bench profile is the release profile (fat LTO,
//! so the figures are what the Worker's code costs): each binary's LTO link took about 40 s,
//! and four of them most of the bench's compile time (197 s for four, measured 2026-12-01).
//! Profiles without fat LTO compiled in 83 s but ran the rule and journey benches 1.3–2×
//! slower, so they would not measure the shipped code.
//!
//! `SPUR_BENCH="rules live"` runs only the named sections (`ingest`, `journeys`, `live`,
//! `rules`); criterion's own arguments (a name filter, `--measurement-time`) apply as usual.

mod ingest;
mod journeys;
mod live;
mod rules;

fn main() {
    let only = std::env::var("SPUR_BENCH").ok();
    let sections: [(&str, fn()); 4] = [
        ("ingest", ingest::benches),
        ("journeys", journeys::benches),
        ("live", live::benches),
        ("rules", rules::benches),
    ];
    for (name, run) in sections {
        if only
            .as_deref()
            .is_none_or(|o| o.split_whitespace().any(|s| s == name))
        {
            run();
        }
    }
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
