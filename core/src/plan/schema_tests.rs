use super::*;
use serde_json::json;

fn compile(s: Value) -> Schema {
    Schema::compile(&s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// (pointer, keyword) of every violation, sorted.
fn errs(s: &Schema, v: Value) -> Vec<(String, String)> {
    let mut out: Vec<_> = s
        .validate(&v, "")
        .into_iter()
        .map(|v| (v.pointer, v.keyword))
        .collect();
    out.sort();
    out
}

fn ok(s: &Value, v: Value) -> bool {
    errs(&compile(s.clone()), v).is_empty()
}

/// Every keyword with one instance that passes and one that fails it.
fn cases() -> Vec<(Value, Value, Value)> {
    vec![
        (json!({"type": "string"}), json!("a"), json!(1)),
        (
            json!({"type": ["string", "null"]}),
            json!(null),
            json!(true),
        ),
        (json!({"type": "integer"}), json!(1.0), json!(1.5)),
        (json!({"type": "integer"}), json!(-7), json!("7")),
        (json!({"type": "number"}), json!(1), json!(null)),
        (json!({"type": "boolean"}), json!(false), json!(0)),
        (json!({"type": "object"}), json!({}), json!([])),
        (json!({"type": "array"}), json!([]), json!({})),
        (
            json!({"properties": {"a": {"type": "number"}}}),
            json!({"a": 1, "b": "x"}),
            json!({"a": "1"}),
        ),
        (
            json!({"required": ["a", "b"]}),
            json!({"a": 1, "b": 2}),
            json!({"a": 1}),
        ),
        (
            json!({"properties": {"a": {}}, "additionalProperties": false}),
            json!({"a": 1}),
            json!({"a": 1, "b": 2}),
        ),
        (
            json!({"additionalProperties": {"type": "string"}}),
            json!({"a": "x"}),
            json!({"a": 1}),
        ),
        (
            json!({"enum": ["free", "pro", 1]}),
            json!(1.0),
            json!("team"),
        ),
        (
            json!({"const": {"a": [1]}}),
            json!({"a": [1.0]}),
            json!({"a": [2]}),
        ),
        (json!({"minimum": 0}), json!(0), json!(-0.5)),
        (json!({"maximum": 10}), json!(10), json!(10.5)),
        (json!({"exclusiveMinimum": 0}), json!(0.1), json!(0)),
        (json!({"exclusiveMaximum": 10}), json!(9), json!(10)),
        (json!({"multipleOf": 3}), json!(9), json!(10)),
        (json!({"multipleOf": 0.01}), json!(12.34), json!(12.345)),
        (json!({"minLength": 2}), json!("éé"), json!("é")),
        (json!({"maxLength": 2}), json!("😀😀"), json!("abc")),
        (json!({"pattern": "^[A-Z]{3}$"}), json!("EUR"), json!("eur")),
        (json!({"pattern": "b"}), json!("abc"), json!("xyz")),
        (
            json!({"items": {"type": "number"}}),
            json!([1, 2]),
            json!([1, "2"]),
        ),
        (
            json!({"prefixItems": [{"type": "string"}], "items": {"type": "number"}}),
            json!(["a", 1]),
            json!([1, 1]),
        ),
        (json!({"minItems": 1}), json!([1]), json!([])),
        (json!({"maxItems": 1}), json!([1]), json!([1, 2])),
        (
            json!({"uniqueItems": true}),
            json!([1, "1"]),
            json!([1, 1.0]),
        ),
        (json!({"minProperties": 1}), json!({"a": 1}), json!({})),
        (
            json!({"maxProperties": 1}),
            json!({"a": 1}),
            json!({"a": 1, "b": 2}),
        ),
        (
            json!({"format": "email"}),
            json!("a@b.example"),
            json!("not an email"),
        ),
        (
            json!({"format": "date"}),
            json!("2024-02-29"),
            json!("2023-02-29"),
        ),
        (
            json!({"format": "time"}),
            json!("12:00:00Z"),
            json!("12:00:00"),
        ),
        (
            json!({"format": "date-time"}),
            json!("2024-05-01T12:00:00.5+02:00"),
            json!("2024-05-01 12:00"),
        ),
        (
            json!({"format": "hostname"}),
            json!("a-b.example"),
            json!("-a.example"),
        ),
        (
            json!({"format": "ipv4"}),
            json!("192.168.0.1"),
            json!("256.1.1.1"),
        ),
        (json!({"format": "ipv6"}), json!("::1"), json!("1:::2")),
        (
            json!({"format": "uri"}),
            json!("https://x.example/a?b"),
            json!("/relative"),
        ),
        (
            json!({"format": "uuid"}),
            json!("123e4567-e89b-12d3-a456-426614174000"),
            json!("123e4567e89b12d3a456426614174000"),
        ),
        (
            json!({"allOf": [{"minimum": 1}, {"maximum": 2}]}),
            json!(1),
            json!(3),
        ),
        (
            json!({"anyOf": [{"type": "string"}, {"minimum": 5}]}),
            json!(6),
            json!(4),
        ),
        (
            json!({"oneOf": [{"type": "integer"}, {"minimum": 5}]}),
            json!(1),
            json!(6),
        ),
        (
            json!({"oneOf": [{"type": "string"}, {"type": "null"}]}),
            json!(null),
            json!(1),
        ),
        (json!({"not": {"type": "string"}}), json!(1), json!("a")),
        (
            json!({"$defs": {"n": {"type": "number"}}, "properties": {"x": {"$ref": "#/$defs/n"}}}),
            json!({"x": 1}),
            json!({"x": "1"}),
        ),
        (
            json!({"definitions": {"n": {"type": "number"}}, "items": {"$ref": "#/definitions/n"}}),
            json!([1]),
            json!(["1"]),
        ),
        (
            // A recursive schema that descends into the value is fine.
            json!({"type": "object", "properties": {"child": {"$ref": "#"}}, "required": ["id"]}),
            json!({"id": 1, "child": {"id": 2}}),
            json!({"id": 1, "child": {}}),
        ),
        (json!(true), json!(1), json!(null)),
        (
            json!({"properties": {"a": false}}),
            json!({}),
            json!({"a": 1}),
        ),
        (
            json!({"title": "t", "description": "d", "examples": [1], "default": 1, "$comment": "c",
                   "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x",
                   "type": "number"}),
            json!(1),
            json!("1"),
        ),
    ]
}

#[test]
fn every_keyword_accepts_and_rejects() {
    for (schema, good, bad) in cases() {
        // `true` has no failing instance.
        if schema == json!(true) {
            assert!(ok(&schema, good));
            assert!(ok(&schema, bad));
            continue;
        }
        assert!(ok(&schema, good.clone()), "{schema} should accept {good}");
        assert!(!ok(&schema, bad.clone()), "{schema} should reject {bad}");
    }
}

#[test]
fn violations_name_the_keyword_and_the_pointer() {
    let s = compile(json!({
        "properties": {
            "a": {"type": "number"},
            "list": {"items": {"properties": {"p~/q": {"minimum": 1}}}}
        },
        "required": ["z"],
        "additionalProperties": false
    }));
    let got = errs(
        &s,
        json!({"a": "x", "list": [{"p~/q": 1}, {"p~/q": 0}], "extra": 1}),
    );
    let want = [
        ("", "additionalProperties"),
        ("", "required"),
        ("/a", "type"),
        ("/list/1/p~0~1q", "minimum"),
    ];
    assert_eq!(
        got,
        want.map(|(p, k)| (p.to_owned(), k.to_owned())).to_vec()
    );
    let v = s.validate(&json!({"a": "x", "z": 1}), "/properties");
    assert_eq!(v[0].pointer, "/properties/a");
    assert_eq!(v[0].message, "want number, but got string");
}

#[test]
fn any_of_reports_every_branch_and_one_of_reports_double_matches() {
    let s = compile(json!({"anyOf": [{"type": "string"}, {"minimum": 5}]}));
    assert_eq!(
        errs(&s, json!(4)),
        [("".into(), "minimum".into()), ("".into(), "type".into())]
    );
    let s = compile(json!({"oneOf": [{"type": "integer"}, {"minimum": 5}]}));
    assert_eq!(errs(&s, json!(6)), [("".into(), "oneOf".into())]);
}

#[test]
fn keywords_outside_the_subset_are_refused_by_name() {
    for (schema, word) in [
        (
            json!({"patternProperties": {"^a": {}}}),
            "patternProperties",
        ),
        (json!({"properties": {"a": {"if": {}}}}), "if"),
        (json!({"propertyNames": {"maxLength": 3}}), "propertyNames"),
        (json!({"contains": {}}), "contains"),
        (
            json!({"unevaluatedProperties": false}),
            "unevaluatedProperties",
        ),
        (json!({"dependentRequired": {}}), "dependentRequired"),
        (json!({"$anchor": "x"}), "$anchor"),
        (json!({"format": "idn-email"}), "idn-email"),
        (json!({"format": "regex"}), "regex"),
        (json!({"$ref": "https://example.com/s.json"}), "not local"),
        (json!({"$ref": "file:///etc/passwd"}), "not local"),
        (json!({"$ref": "#/$defs/missing"}), "points at no subschema"),
        (json!({"properties": {"a": {"$id": "urn:a"}}}), "$id"),
        (
            json!({"$schema": "http://json-schema.org/draft-04/schema#"}),
            "$schema",
        ),
        (json!({"items": [{}]}), "prefixItems"),
        (json!({"type": "strnig"}), "strnig"),
        (json!({"pattern": "(?=a)"}), "pattern"),
        (json!({"multipleOf": 0}), "multipleOf"),
        (json!({"minLength": -1}), "minLength"),
        (json!({"required": "a"}), "required"),
        (json!(1), "object or a boolean"),
    ] {
        let e = Schema::compile(&schema).unwrap_err();
        assert!(e.contains(word), "{schema}: {e}");
    }
}

#[test]
fn ref_cycles_that_do_not_descend_are_refused() {
    for schema in [
        json!({"$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}),
        json!({"not": {"anyOf": [{"$ref": "#"}]}}),
    ] {
        let e = Schema::compile(&schema).unwrap_err();
        assert!(e.contains("cycle"), "{schema}: {e}");
    }
}

#[test]
fn deep_and_large_schemas_are_refused() {
    let mut deep = json!({"type": "number"});
    for _ in 0..=limits::MAX_SCHEMA_DEPTH {
        deep = json!({"items": deep});
    }
    let e = Schema::compile(&deep).unwrap_err();
    assert!(e.contains("nested deeper"), "{e}");

    let props: serde_json::Map<String, Value> = (0..=limits::MAX_SCHEMA_NODES)
        .map(|i| (format!("p{i}"), json!({})))
        .collect();
    let e = Schema::compile(&json!({"properties": props})).unwrap_err();
    assert!(e.contains("subschemas"), "{e}");

    let long = "a".repeat(limits::MAX_SCHEMA_PATTERN_BYTES + 1);
    assert!(Schema::compile(&json!({ "pattern": long })).is_err());
}

#[test]
fn long_ref_chains_stop_at_the_evaluation_depth() {
    // A chain of `$ref`s longer than the evaluation limit, with no cycle: compiles, and a
    // value gets one `$ref` violation instead of unbounded recursion.
    let n = limits::MAX_SCHEMA_EVAL_DEPTH + 10;
    let defs: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            (
                format!("d{i}"),
                json!({"$ref": format!("#/$defs/d{}", i + 1)}),
            )
        })
        .chain([(format!("d{n}"), json!({"type": "number"}))])
        .collect();
    let s = compile(json!({"$defs": defs, "$ref": "#/$defs/d0"}));
    assert_eq!(errs(&s, json!(1)), [("".into(), "$ref".into())]);
}

#[test]
fn recursion_through_the_value_is_bounded_by_the_value() {
    let s = compile(json!({"properties": {"c": {"$ref": "#"}}, "type": "object"}));
    let mut v = json!({});
    for _ in 0..50 {
        v = json!({ "c": v });
    }
    assert!(errs(&s, v).is_empty());
}

/// The differential check: on every case above plus more edge instances, boon (the reference,
/// a dev-dependency only, never in the Worker) and this validator agree on valid/invalid, and
/// on which instance locations fail.
#[test]
fn agrees_with_boon() {
    let mut corpus: Vec<(Value, Value)> = Vec::new();
    for (schema, good, bad) in cases() {
        corpus.push((schema.clone(), good));
        corpus.push((schema, bad));
    }
    let extra = [
        json!(null),
        json!(0),
        json!(1.0),
        json!(-1),
        json!(1e300),
        json!(""),
        json!("a@b"),
        json!("2024-12-31T23:59:60Z"),
        json!("23:59:60+00:00"),
        json!("12:00:00.123-05:30"),
        json!("a..b@x.example"),
        json!("\"q\"@x.example"),
        json!("x@[127.0.0.1]"),
        json!("01.2.3.4"),
        json!("mailto:a@b.example"),
        json!([]),
        json!([1, [1], {"a": 1}, {"a": 1.0}]),
        json!({"a": 1, "x": "1", "id": 1}),
    ];
    for (schema, _, _) in cases() {
        for v in &extra {
            corpus.push((schema.clone(), v.clone()));
        }
    }
    for (schema, instance) in corpus {
        let mut c = boon::Compiler::new();
        c.set_default_draft(boon::Draft::V2020_12);
        c.enable_format_assertions();
        let mut schemas = boon::Schemas::new();
        c.add_resource("https://t.invalid/s.json", schema.clone())
            .unwrap();
        let idx = c.compile("https://t.invalid/s.json", &mut schemas).unwrap();
        let theirs: Vec<String> = match schemas.validate(&instance, idx) {
            Ok(()) => Vec::new(),
            Err(e) => {
                let mut out = Vec::new();
                leaves(&e, &mut out);
                out.sort();
                out.dedup();
                out
            }
        };
        let mut ours: Vec<String> = compile(schema.clone())
            .validate(&instance, "")
            .into_iter()
            .map(|v| v.pointer)
            .collect();
        ours.sort();
        ours.dedup();
        assert_eq!(
            ours.is_empty(),
            theirs.is_empty(),
            "schema {schema} instance {instance}: ours {ours:?}, boon {theirs:?}"
        );
        // boon 0.6.1 numbers `items` failures after `prefixItems` from 0 rather than from the
        // first non-prefix index, so only the verdict is compared there.
        if schema.get("prefixItems").is_none() {
            assert_eq!(ours, theirs, "schema {schema} instance {instance}");
        }
    }
}

fn leaves(e: &boon::ValidationError<'_, '_>, out: &mut Vec<String>) {
    if e.causes.is_empty() {
        out.push(e.instance_location.to_string());
    }
    for c in &e.causes {
        leaves(c, out);
    }
}
