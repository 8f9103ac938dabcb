//! The ClickHouse literal encoder against the real server: random byte strings (quotes,
//! backslashes, NUL, non-UTF-8) and numbers round-trip exactly through `SELECT <literal>`.
//!
//! Runs when a server is reachable: `SPUR_CLICKHOUSE_PORT`, else the port `scripts/clickhouse
//! start` recorded in `.clickhouse/http_port`. `scripts/test` starts one and sets
//! `SPUR_REQUIRE_CLICKHOUSE=1`, so there a missing server fails instead of skipping.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::TcpStream;

use proptest::prelude::*;
use spur_core::query::clickhouse::literal;

fn port() -> Option<u16> {
    let p = std::env::var("SPUR_CLICKHOUSE_PORT").ok().or_else(|| {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.clickhouse/http_port"
        ))
        .ok()
    })?;
    let port = p.trim().parse().ok()?;
    TcpStream::connect(("127.0.0.1", port)).ok().map(|_| port)
}

/// POSTs a query to 127.0.0.1 (HTTP/1.0, so the body ends at close) and returns status + body.
fn query(port: u16, sql: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn server() -> Option<u16> {
    let p = port();
    if p.is_none() {
        assert!(
            std::env::var("SPUR_REQUIRE_CLICKHOUSE").is_err(),
            "SPUR_REQUIRE_CLICKHOUSE is set but no ClickHouse server answers"
        );
        eprintln!("skipped: no ClickHouse server (run scripts/clickhouse start)");
    }
    p
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[test]
fn strings_numbers_round_trip_through_the_real_server() {
    let Some(port) = server() else { return };
    let bytes = prop_oneof![
        Just(b'\''),
        Just(b'\\'),
        Just(0u8),
        Just(b'\n'),
        Just(b'?'),
        Just(b'{'),
        0x80u8..=0xff,
        any::<u8>()
    ];
    let cases = (
        proptest::collection::vec(proptest::collection::vec(bytes, 0..40), 1..20),
        proptest::collection::vec(any::<i64>(), 1..20),
        proptest::collection::vec(any::<f64>().prop_filter("finite", |f| f.is_finite()), 1..20),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    runner
        .run(&cases, |(strings, ints, floats)| {
            // One query per case: each value's hex (strings, floats' IEEE bytes) or decimal text.
            let mut cols = Vec::new();
            let mut want = Vec::new();
            for s in &strings {
                cols.push(format!("hex({})", literal::string(s)));
                want.push(hex(s));
            }
            for i in &ints {
                cols.push(format!("toString({})", literal::int(*i)));
                want.push(i.to_string());
            }
            for f in &floats {
                cols.push(format!(
                    "hex(reinterpretAsString({}))",
                    literal::float(*f).unwrap()
                ));
                // reinterpretAsString drops trailing zero bytes.
                let b = f.to_le_bytes();
                let len = b.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
                want.push(hex(&b[..len]));
            }
            let (status, body) = query(
                port,
                &format!("SELECT {} FORMAT TabSeparated", cols.join(", ")),
            );
            prop_assert!(status.contains(" 200 "), "{status}: {body}");
            let got: Vec<&str> = body.trim_end_matches('\n').split('\t').collect();
            prop_assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
            Ok(())
        })
        .unwrap();
}

#[test]
fn injection_attempts_stay_values() {
    let Some(port) = server() else { return };
    for s in ["'; DROP TABLE x; --", "\\'", "\\", "' OR 1=1 --", "\u{0}'"] {
        let (status, body) = query(
            port,
            &format!(
                "SELECT {} = '{}' FORMAT TabSeparated",
                literal::string(s.as_bytes()),
                "x"
            ),
        );
        assert!(status.contains(" 200 "), "{status}: {body}");
        assert_eq!(body.trim(), "0");
    }
}
