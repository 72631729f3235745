//! The request schemas of the known models, read once from the official OpenAPI document.
//!
//! `crates/bfl-sim/spec/bfl-openapi.json` is a byte-for-byte copy of the project's shared
//! `spec/bfl-openapi.json` (the official BFL document); replace the file to follow the API. A
//! model is what follows `/v1/` in every `POST` path tagged `Models`; its schema is the
//! `application/json` request body, `$ref`s resolved. Only what validation checks is kept:
//! types, nullability, bounds, `multipleOf`, `maxLength`, `enum` and `required` (not
//! `minLength` or `format`, which the simulator has never enforced).

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// The embedded OpenAPI document.
const SPEC: &str = include_str!("../../spec/bfl-openapi.json");

/// What an unresolvable schema becomes: no constraint at all.
static NULL: Value = Value::Null;

/// How deep `$ref`s may chain before a schema is treated as unconstrained.
const MAX_REF_DEPTH: usize = 16;

/// The JSON type a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// `string`.
    Str,
    /// `integer`.
    Int,
    /// `number`.
    Num,
    /// `boolean`.
    Bool,
    /// A string out of [`FieldRule::choices`].
    Enum,
    /// Anything: no or an unsupported type.
    Any,
}

/// One property of a request schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldRule {
    /// The property name.
    pub name: String,
    /// Its JSON type.
    pub kind: FieldKind,
    /// Whether `null` is accepted (`anyOf` with a `null` branch).
    pub nullable: bool,
    /// `minimum`.
    pub min: Option<f64>,
    /// `maximum`.
    pub max: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_min: Option<f64>,
    /// `exclusiveMaximum`.
    pub exclusive_max: Option<f64>,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `maxLength`, in characters.
    pub max_len: Option<usize>,
    /// The `enum` values of an [`FieldKind::Enum`] field.
    pub choices: Vec<String>,
}

/// The request schema of one model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelSchema {
    /// The model id, the last segment of its path.
    pub model: String,
    /// The fields a body must have.
    pub required: Vec<String>,
    /// The properties, in document order (the order errors are listed in).
    pub fields: Vec<FieldRule>,
}

/// The schemas of the embedded spec, parsed at first use; empty if it cannot be read.
pub(crate) fn models() -> &'static [ModelSchema] {
    static MODELS: OnceLock<Vec<ModelSchema>> = OnceLock::new();
    MODELS.get_or_init(|| models_from(SPEC))
}

/// Parses `text`; logs and returns no schema (every model unknown) if it is not JSON.
pub(crate) fn models_from(text: &str) -> Vec<ModelSchema> {
    let doc = match serde_json::from_str::<Value>(text) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::error!(error = %e, "the embedded OpenAPI spec cannot be read: every model accepts any object");
            return Vec::new();
        }
    };
    let order = serde_json::from_str::<KeyOrder>(text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the property order of the embedded OpenAPI spec cannot be read: errors are listed by field name");
        KeyOrder::default()
    });
    Reader {
        doc: &doc,
        order: &order.components.schemas,
    }
    .models()
}

struct Reader<'a> {
    doc: &'a Value,
    /// Property order of `components/schemas/*` (serde_json's `Map` sorts keys).
    order: &'a HashMap<String, Keys>,
}

impl Reader<'_> {
    fn models(&self) -> Vec<ModelSchema> {
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (path, item) in paths {
            let Some(model) = path.strip_prefix("/v1/") else {
                continue;
            };
            let Some(post) = item.get("post") else {
                continue;
            };
            let is_model = post
                .get("tags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().any(|t| t == "Models"));
            let body = post.pointer("/requestBody/content/application~1json/schema");
            if let (true, Some(body)) = (is_model, body) {
                out.push(self.model(model, body));
            }
        }
        out
    }

    fn model(&self, model: &str, body: &Value) -> ModelSchema {
        let (name, schema) = self.resolve(body);
        let array = schema.get("required").and_then(Value::as_array);
        let required = array.into_iter().flatten().filter_map(Value::as_str);
        let object = schema.get("properties").and_then(Value::as_object);
        let mut props: Vec<(&String, &Value)> = object.into_iter().flatten().collect();
        if let Some(order) = name.and_then(|n| self.order.get(n)) {
            props.sort_by_key(|(n, _)| order.0.iter().position(|k| k == *n));
        }
        let fields = props.into_iter().map(|(n, v)| self.field(n, v)).collect();
        ModelSchema {
            model: model.to_owned(),
            required: required.map(str::to_owned).collect(),
            fields,
        }
    }

    /// Follows `$ref`s; also returns the `components/schemas` name last referred to.
    fn resolve<'v>(&'v self, mut node: &'v Value) -> (Option<&'v str>, &'v Value) {
        let mut name = None;
        for _ in 0..MAX_REF_DEPTH {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                return (name, node);
            };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) else {
                return (None, &NULL);
            };
            name = r.strip_prefix("#/components/schemas/");
            node = target;
        }
        (None, &NULL)
    }

    fn field(&self, name: &str, node: &Value) -> FieldRule {
        let (_, mut node) = self.resolve(node);
        let mut nullable = false;
        if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
            let is_null = |b: &&Value| b.get("type").is_some_and(|t| t == "null");
            nullable = branches.iter().any(|b| is_null(&b));
            let mut rest = branches.iter().filter(|b| !is_null(b));
            node = match (rest.next(), rest.next()) {
                (Some(only), None) => self.resolve(only).1,
                _ => &NULL,
            };
        }
        let ty = match node.get("type") {
            Some(Value::Array(types)) => {
                nullable |= types.iter().any(|t| t == "null");
                let mut rest = types
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null");
                match (rest.next(), rest.next()) {
                    (Some(only), None) => Some(only),
                    _ => None,
                }
            }
            other => other.and_then(Value::as_str),
        };
        let choices: Option<Vec<String>> = node
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.iter().map(|v| v.as_str().map(str::to_owned)).collect());
        let kind = match (ty, &choices) {
            (Some("string") | None, Some(_)) => FieldKind::Enum,
            (Some("string"), None) => FieldKind::Str,
            (Some("integer"), _) => FieldKind::Int,
            (Some("number"), _) => FieldKind::Num,
            (Some("boolean"), _) => FieldKind::Bool,
            _ => FieldKind::Any,
        };
        let num = |key: &str| node.get(key).and_then(Value::as_f64);
        let (mut min, mut max) = (num("minimum"), num("maximum"));
        // OpenAPI 3.1 gives exclusive bounds as numbers, 3.0 as flags on `minimum`/`maximum`.
        let exclusive = |key: &str, inclusive: &mut Option<f64>| match node.get(key) {
            Some(Value::Bool(true)) => inclusive.take(),
            Some(v) => v.as_f64(),
            None => None,
        };
        let exclusive_min = exclusive("exclusiveMinimum", &mut min);
        let exclusive_max = exclusive("exclusiveMaximum", &mut max);
        FieldRule {
            name: name.to_owned(),
            kind,
            nullable,
            min,
            max,
            exclusive_min,
            exclusive_max,
            multiple_of: num("multipleOf"),
            max_len: node
                .get("maxLength")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok()),
            choices: if kind == FieldKind::Enum {
                choices.unwrap_or_default()
            } else {
                Vec::new()
            },
        }
    }
}

/// The key order of `components/schemas/*/properties`, read beside the `Value`.
#[derive(Deserialize, Default)]
struct KeyOrder {
    #[serde(default)]
    components: Components,
}

#[derive(Deserialize, Default)]
struct Components {
    #[serde(default)]
    schemas: HashMap<String, Keys>,
}

/// The property names of one schema, in document order.
#[derive(Default)]
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Schema {
            #[serde(default)]
            properties: Option<Names>,
        }
        let schema = Schema::deserialize(d)?;
        Ok(Keys(schema.properties.map(|n| n.0).unwrap_or_default()))
    }
}

/// The keys of a JSON object, in document order.
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Names(keys))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn model(name: &str) -> &'static ModelSchema {
        models().iter().find(|m| m.model == name).expect(name)
    }

    fn field<'m>(m: &'m ModelSchema, name: &str) -> &'m FieldRule {
        m.fields.iter().find(|f| f.name == name).expect(name)
    }

    #[test]
    fn known_constraints_come_out_of_the_spec() {
        assert_eq!(models().len(), 16);
        assert!(models().iter().all(|m| m.model != "delete_finetune"));

        let pro11 = model("flux-pro-1.1");
        assert!(pro11.required.is_empty());
        let width = field(pro11, "width");
        assert_eq!((width.kind, width.nullable), (FieldKind::Int, false));
        assert_eq!(
            (width.min, width.max, width.multiple_of),
            (Some(256.0), Some(1440.0), Some(32.0))
        );
        assert_eq!(field(pro11, "webhook_url").max_len, Some(2083));
        let format = field(pro11, "output_format");
        assert_eq!((format.kind, format.nullable), (FieldKind::Enum, true));
        assert_eq!(format.choices, ["jpeg", "png", "webp"]);

        let flux2 = model("flux-2-pro");
        assert_eq!(flux2.required, ["prompt"]);
        let prompt = field(flux2, "prompt");
        assert_eq!((prompt.kind, prompt.nullable), (FieldKind::Str, false));
        let width = field(flux2, "width");
        assert_eq!(
            (width.nullable, width.min, width.max),
            (true, Some(64.0), None)
        );
        // Document order, not serde_json's sorted keys: errors are listed in that order.
        let names: Vec<&str> = flux2
            .fields
            .iter()
            .take(2)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["prompt", "input_image"]);
    }

    #[test]
    fn unreadable_spec_knows_no_model_and_refs_and_exclusive_bounds_resolve() {
        assert!(models_from("{not json").is_empty());
        assert!(models_from("[]").is_empty());
        let doc = r##"{
            "paths": {"/v1/m": {"post": {"tags": ["Models"], "requestBody": {"content":
                {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
            "components": {"schemas": {
                "A": {"$ref": "#/components/schemas/B"},
                "B": {"properties": {
                    "z": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "a": {"type": ["integer", "null"], "minimum": 2, "exclusiveMinimum": true},
                    "loop": {"$ref": "#/components/schemas/Loop"}},
                    "required": ["z"]},
                "Loop": {"$ref": "#/components/schemas/Loop"}}}
        }"##;
        let m = models_from(doc);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].model, "m");
        assert_eq!(m[0].required, ["z"]);
        let (z, a, l) = (&m[0].fields[0], &m[0].fields[1], &m[0].fields[2]);
        assert_eq!(
            (z.name.as_str(), z.exclusive_min, z.exclusive_max),
            ("z", Some(0.0), Some(1.0))
        );
        assert_eq!(
            (a.kind, a.nullable, a.min, a.exclusive_min),
            (FieldKind::Int, true, None, Some(2.0))
        );
        assert_eq!(l.kind, FieldKind::Any);
    }
}
