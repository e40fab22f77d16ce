//! Lambda event filtering (`FilterCriteria`): EventBridge-style patterns matched against each
//! record as the function would receive it. A record passes when any filter matches.
//! <https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>
//!
//! A pattern is an object whose keys are fields of the record: an object value matches a
//! nested object; an array value lists what the field may be, exact values (strings, numbers,
//! booleans, null) or content filters (`prefix`, `suffix`, `equals-ignore-case`, `anything-but`,
//! `numeric`, `exists`, `wildcard`). A field that is an array matches when any element does.

use serde_json::{Map, Value};

/// Whether `record` passes `filters` (no filters: everything passes).
pub fn passes(filters: &[Value], record: &Value) -> bool {
    filters.is_empty() || filters.iter().any(|pattern| matches(pattern, record))
}

/// Whether one pattern matches.
pub fn matches(pattern: &Value, record: &Value) -> bool {
    let Value::Object(fields) = pattern else { return false };
    fields.iter().all(|(key, rule)| {
        let value = record.get(key);
        match rule {
            Value::Object(_) => value.is_some_and(|v| v.is_object() && matches(rule, v)),
            Value::Array(options) => options.iter().any(|option| option_matches(option, value)),
            _ => false,
        }
    })
}

fn option_matches(option: &Value, value: Option<&Value>) -> bool {
    match option {
        Value::Object(filter) => content_filter(filter, value),
        exact => candidates(value).any(|v| equal(exact, v)),
    }
}

/// The values a field stands for: each element of an array, or the value itself.
fn candidates(value: Option<&Value>) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        None => Box::new(std::iter::empty()),
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(other) => Box::new(std::iter::once(other)),
    }
}

/// Numbers compare by value (`1` matches `1.0`); everything else exactly.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn content_filter(filter: &Map<String, Value>, value: Option<&Value>) -> bool {
    let Some((kind, arg)) = filter.iter().next() else { return false };
    let text = |v: &Value| v.as_str().map(str::to_string);
    match kind.as_str() {
        "exists" => arg.as_bool() == Some(value.is_some_and(|v| !v.is_null())),
        "prefix" => string_test(arg, value, |s, p| s.starts_with(p)),
        "suffix" => string_test(arg, value, |s, p| s.ends_with(p)),
        "equals-ignore-case" => {
            let wanted = text(arg).unwrap_or_default().to_lowercase();
            candidates(value).any(|v| v.as_str().is_some_and(|s| s.to_lowercase() == wanted))
        }
        "wildcard" => {
            let pattern = text(arg).unwrap_or_default();
            candidates(value).any(|v| v.as_str().is_some_and(|s| wildcard(&pattern, s)))
        }
        "anything-but" => {
            // A missing field matches nothing, not even anything-but.
            value.is_some()
                && candidates(value).all(|v| match arg {
                    Value::Array(excluded) => !excluded.iter().any(|x| equal(x, v)),
                    Value::Object(inner) => !content_filter(inner, Some(v)),
                    single => !equal(single, v),
                })
        }
        "numeric" => candidates(value).any(|v| v.as_f64().is_some_and(|n| numeric(arg, n))),
        _ => false,
    }
}

/// `prefix`/`suffix`: a string, or `{"equals-ignore-case": "..."}`.
fn string_test(arg: &Value, value: Option<&Value>, test: fn(&str, &str) -> bool) -> bool {
    let (wanted, fold) = match arg {
        Value::String(s) => (s.clone(), false),
        Value::Object(o) => match o.get("equals-ignore-case").and_then(Value::as_str) {
            Some(s) => (s.to_lowercase(), true),
            None => return false,
        },
        _ => return false,
    };
    candidates(value)
        .any(|v| v.as_str().is_some_and(|s| if fold { test(&s.to_lowercase(), &wanted) } else { test(s, &wanted) }))
}

/// `["<", 10, ">=", 0]`: every comparison holds.
fn numeric(arg: &Value, n: f64) -> bool {
    let Some(terms) = arg.as_array() else { return false };
    terms.chunks(2).all(|pair| {
        let (Some(op), Some(bound)) = (pair[0].as_str(), pair.get(1).and_then(Value::as_f64)) else { return false };
        match op {
            "<" => n < bound,
            "<=" => n <= bound,
            ">" => n > bound,
            ">=" => n >= bound,
            "=" => n == bound,
            _ => false,
        }
    })
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}
