//! FastAPI-style (pydantic v2) validation of submit bodies for the models the spec knows.
//!
//! Unknown models accept any JSON object; unknown fields are tolerated for every model, as the
//! real API does.

use serde_json::{json, Map, Value};

mod spec;

use spec::{FieldKind, FieldRule, ModelSchema};

/// Whether the spec describes `model`.
pub fn is_known_model(model: &str) -> bool {
    schema_of(model).is_some()
}

/// The request fields the spec lists for `model`, in document order; `None` for a model the spec
/// does not describe. (A client can refuse a misspelt field before it pays.)
pub fn known_fields(model: &str) -> Option<Vec<&'static str>> {
    schema_of(model).map(|s| s.fields.iter().map(|f| f.name.as_str()).collect())
}

fn schema_of(model: &str) -> Option<&'static ModelSchema> {
    spec::models().iter().find(|m| m.model == model)
}

/// Parses and validates a submit body. `Ok` is the body as an object; `Err` is the `detail`
/// list of a 422 answer.
pub fn validate(model: &str, body: &[u8]) -> Result<Map<String, Value>, Vec<Value>> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![json!({
                "type": "json_invalid",
                "loc": ["body", e.column()],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": e.to_string()},
            })])
        }
    };
    let Value::Object(obj) = value else {
        return Err(vec![json!({
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": value,
        })]);
    };
    let Some(schema) = schema_of(model) else {
        return Ok(obj);
    };
    let mut errors = Vec::new();
    for name in &schema.required {
        if !obj.contains_key(name) {
            errors.push(json!({
                "type": "missing",
                "loc": ["body", name],
                "msg": "Field required",
                "input": Value::Object(obj.clone()),
            }));
        }
    }
    for rule in &schema.fields {
        if let Some(v) = obj.get(&rule.name) {
            if let Some(e) = check_field(rule, v) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        errors.extend(megapixel_limit(model, &obj));
    }
    if errors.is_empty() {
        Ok(obj)
    } else {
        Err(errors)
    }
}

/// Most pixels of a FLUX.2 output (4 MP): the per-field bounds of the spec let each side grow
/// without limit, but BFL refuses a larger product.
pub const FLUX2_MAX_PIXELS: u64 = 4 * 1024 * 1024;

/// The FLUX.2 rule over both sides (a side not given is 1024), in pydantic's `value_error` shape.
fn megapixel_limit(model: &str, obj: &Map<String, Value>) -> Option<Value> {
    if !model.starts_with("flux-2") {
        return None;
    }
    let side = |k: &str| obj.get(k).and_then(Value::as_u64).unwrap_or(1024);
    let pixels = side("width").saturating_mul(side("height"));
    (pixels > FLUX2_MAX_PIXELS).then(|| {
        json!({
            "type": "value_error",
            "loc": ["body"],
            "msg": format!("Value error, width * height must be at most {FLUX2_MAX_PIXELS} pixels (4 MP), got {pixels}"),
            "input": Value::Object(obj.clone()),
            "ctx": {"error": {}},
        })
    })
}

/// A bound, the test that the input breaks it, pydantic's error type and its wording.
type Bound = (
    Option<f64>,
    fn(f64, f64) -> bool,
    &'static str,
    &'static str,
);

fn fmt_num(x: f64, integer: bool) -> String {
    if integer || x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn check_field(rule: &FieldRule, v: &Value) -> Option<Value> {
    if v.is_null() {
        return if rule.nullable || rule.kind == FieldKind::Any {
            None
        } else {
            type_error(rule, v)
        };
    }
    match rule.kind {
        FieldKind::Any => None,
        FieldKind::Bool => {
            if v.is_boolean() {
                None
            } else {
                type_error(rule, v)
            }
        }
        FieldKind::Enum => match v.as_str() {
            Some(s) if rule.choices.iter().any(|c| c == s) => None,
            _ => type_error(rule, v),
        },
        FieldKind::Str => match v.as_str() {
            None => type_error(rule, v),
            Some(s) => match rule.max_len {
                Some(max) if s.chars().count() > max => field_error(
                    rule,
                    v,
                    "string_too_long",
                    format!("String should have at most {max} characters"),
                ),
                _ => None,
            },
        },
        FieldKind::Int | FieldKind::Num => check_number(rule, v),
    }
}

/// An integer or number field against its bounds and step.
fn check_number(rule: &FieldRule, v: &Value) -> Option<Value> {
    let integer = rule.kind == FieldKind::Int;
    let Some(x) = v.as_f64() else {
        return type_error(rule, v);
    };
    if integer && x.fract() != 0.0 {
        return field_error(
            rule,
            v,
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part".into(),
        );
    }
    let bounds: [Bound; 4] = [
        (
            rule.min,
            |x, b| x < b,
            "greater_than_equal",
            "greater than or equal to",
        ),
        (
            rule.exclusive_min,
            |x, b| x <= b,
            "greater_than",
            "greater than",
        ),
        (
            rule.max,
            |x, b| x > b,
            "less_than_equal",
            "less than or equal to",
        ),
        (rule.exclusive_max, |x, b| x >= b, "less_than", "less than"),
    ];
    for (bound, fails, kind, words) in bounds {
        if let Some(b) = bound.filter(|b| fails(x, *b)) {
            let msg = format!("Input should be {words} {}", fmt_num(b, integer));
            return field_error(rule, v, kind, msg);
        }
    }
    match rule.multiple_of {
        Some(m) if m > 0.0 && (x % m).abs() > 1e-9 => field_error(
            rule,
            v,
            "multiple_of",
            format!("Input should be a multiple of {}", fmt_num(m, integer)),
        ),
        _ => None,
    }
}

/// One FastAPI-style validation item for `rule`'s field holding `v`.
fn field_error(rule: &FieldRule, v: &Value, kind: &str, msg: String) -> Option<Value> {
    Some(json!({"type": kind, "loc": ["body", rule.name], "msg": msg, "input": v}))
}

fn type_error(rule: &FieldRule, v: &Value) -> Option<Value> {
    let (kind, msg) = match rule.kind {
        FieldKind::Str => ("string_type", "Input should be a valid string"),
        FieldKind::Int => ("int_type", "Input should be a valid integer"),
        FieldKind::Num => ("float_type", "Input should be a valid number"),
        FieldKind::Bool => ("bool_type", "Input should be a valid boolean"),
        FieldKind::Enum => return enum_error(rule, v),
        FieldKind::Any => return None,
    };
    field_error(rule, v, kind, msg.into())
}

/// Pydantic's wording: "Input should be 'a', 'b' or 'c'".
fn enum_error(rule: &FieldRule, v: &Value) -> Option<Value> {
    let quoted: Vec<String> = rule.choices.iter().map(|c| format!("'{c}'")).collect();
    let msg = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    };
    field_error(rule, v, "enum", format!("Input should be {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux2_requires_prompt_and_bounds_width() {
        let e = validate("flux-2-pro", br#"{"width": 32, "height": "x", "extra": 1}"#).unwrap_err();
        let types: Vec<&str> = e.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["missing", "greater_than_equal", "int_type"]);
        assert_eq!(e[0]["loc"], json!(["body", "prompt"]));
        assert_eq!(e[1]["msg"], "Input should be greater than or equal to 64");
        assert!(validate("flux-2-pro", br#"{"prompt": "a", "novel": true}"#).is_ok());
    }

    #[test]
    fn flux2_outputs_stop_at_four_megapixels() {
        let e = validate(
            "flux-2-pro",
            br#"{"prompt": "a", "width": 99999, "height": 99999}"#,
        )
        .unwrap_err();
        assert_eq!(
            (&e[0]["type"], &e[0]["loc"]),
            (&json!("value_error"), &json!(["body"]))
        );
        assert!(validate(
            "flux-2-pro",
            br#"{"prompt": "a", "width": 2048, "height": 2048}"#
        )
        .is_ok());
        assert!(validate("flux-2-pro", br#"{"prompt": "a", "width": 4160}"#).is_err());
        assert!(validate(
            "flux-dev",
            br#"{"prompt": "a", "width": 1440, "height": 1440}"#
        )
        .is_ok());
    }

    #[test]
    fn flux11_multiple_of_32_and_unknown_models() {
        let e = validate("flux-pro-1.1", br#"{"prompt": "a", "width": 1000}"#).unwrap_err();
        assert_eq!(e[0]["type"], "multiple_of");
        assert!(validate("my-model", br#"{"whatever": [1]}"#).is_ok());
        assert_eq!(
            validate("my-model", b"[1]").unwrap_err()[0]["loc"],
            json!(["body"])
        );
        assert_eq!(
            validate("my-model", b"{nope").unwrap_err()[0]["type"],
            "json_invalid"
        );
        assert!(is_known_model("flux-kontext-max"));
    }

    #[test]
    fn enums_and_exclusive_bounds_speak_pydantic() {
        let e = validate("flux-2-pro", br#"{"prompt": "a", "output_format": "gif"}"#).unwrap_err();
        assert_eq!(e[0]["msg"], "Input should be 'jpeg', 'png' or 'webp'");
        let rule = FieldRule {
            name: "x".into(),
            kind: FieldKind::Num,
            nullable: false,
            min: None,
            max: None,
            exclusive_min: Some(0.0),
            exclusive_max: Some(1.5),
            multiple_of: None,
            max_len: None,
            choices: Vec::new(),
        };
        assert!(check_field(&rule, &json!(0.5)).is_none());
        let low = check_field(&rule, &json!(0)).unwrap();
        assert_eq!(
            (&low["type"], &low["msg"]),
            (
                &json!("greater_than"),
                &json!("Input should be greater than 0")
            )
        );
        let high = check_field(&rule, &json!(1.5)).unwrap();
        assert_eq!(high["msg"], "Input should be less than 1.5");
    }
}
