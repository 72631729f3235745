//! FastAPI-style (pydantic v2) validation of submit bodies for the models the spec knows.
//!
//! Unknown models accept any JSON object; unknown fields are tolerated for every model, as the
//! real API does.

use serde_json::{json, Map, Value};

mod table;

/// The JSON type a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Str,
    Int,
    Num,
    Bool,
    OutputFormat,
    Any,
}

/// One property of a request schema.
#[derive(Debug)]
pub(crate) struct FieldRule {
    pub name: &'static str,
    pub kind: FieldKind,
    pub nullable: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub multiple_of: Option<f64>,
    pub max_len: Option<usize>,
}

/// The request schema of one model.
#[derive(Debug)]
pub(crate) struct ModelSchema {
    pub model: &'static str,
    pub required: &'static [&'static str],
    pub fields: &'static [FieldRule],
}

/// Whether the spec describes `model`.
pub fn is_known_model(model: &str) -> bool {
    schema_of(model).is_some()
}

fn schema_of(model: &str) -> Option<&'static ModelSchema> {
    table::MODELS.iter().find(|m| m.model == model)
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
    for name in schema.required {
        if !obj.contains_key(*name) {
            errors.push(json!({
                "type": "missing",
                "loc": ["body", name],
                "msg": "Field required",
                "input": Value::Object(obj.clone()),
            }));
        }
    }
    for rule in schema.fields {
        if let Some(v) = obj.get(rule.name) {
            if let Some(e) = check_field(rule, v) {
                errors.push(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(obj)
    } else {
        Err(errors)
    }
}

fn fmt_num(x: f64, integer: bool) -> String {
    if integer || x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn check_field(rule: &FieldRule, v: &Value) -> Option<Value> {
    let err = |kind: &str, msg: String| {
        Some(json!({"type": kind, "loc": ["body", rule.name], "msg": msg, "input": v}))
    };
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
        FieldKind::OutputFormat => match v.as_str() {
            Some("jpeg" | "png" | "webp") => None,
            _ => err("enum", "Input should be 'jpeg', 'png' or 'webp'".into()),
        },
        FieldKind::Str => match v.as_str() {
            None => type_error(rule, v),
            Some(s) => match rule.max_len {
                Some(max) if s.chars().count() > max => err(
                    "string_too_long",
                    format!("String should have at most {max} characters"),
                ),
                _ => None,
            },
        },
        FieldKind::Int | FieldKind::Num => {
            let integer = rule.kind == FieldKind::Int;
            let Some(x) = v.as_f64() else {
                return type_error(rule, v);
            };
            if integer && x.fract() != 0.0 {
                return err(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part".into(),
                );
            }
            if let Some(min) = rule.min {
                if x < min {
                    return err(
                        "greater_than_equal",
                        format!(
                            "Input should be greater than or equal to {}",
                            fmt_num(min, integer)
                        ),
                    );
                }
            }
            if let Some(max) = rule.max {
                if x > max {
                    return err(
                        "less_than_equal",
                        format!(
                            "Input should be less than or equal to {}",
                            fmt_num(max, integer)
                        ),
                    );
                }
            }
            if let Some(m) = rule.multiple_of {
                if m > 0.0 && (x % m).abs() > 1e-9 {
                    return err(
                        "multiple_of",
                        format!("Input should be a multiple of {}", fmt_num(m, integer)),
                    );
                }
            }
            None
        }
    }
}

fn type_error(rule: &FieldRule, v: &Value) -> Option<Value> {
    let (kind, msg) = match rule.kind {
        FieldKind::Str => ("string_type", "Input should be a valid string"),
        FieldKind::Int => ("int_type", "Input should be a valid integer"),
        FieldKind::Num => ("float_type", "Input should be a valid number"),
        FieldKind::Bool => ("bool_type", "Input should be a valid boolean"),
        FieldKind::OutputFormat => ("enum", "Input should be 'jpeg', 'png' or 'webp'"),
        FieldKind::Any => return None,
    };
    Some(json!({"type": kind, "loc": ["body", rule.name], "msg": msg, "input": v}))
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
}
