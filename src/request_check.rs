//! Requests checked against the API's own schema (the OpenAPI spec `bfl-sim` embeds) before
//! anything is paid: a line of a batch that the server would refuse with a 422 — after other
//! lines were paid for — is refused up front, and so is a misspelt field (one a letter or two
//! from a field the model takes) the server would silently ignore. Other unknown fields pass, as
//! the API lets them: the spec may be older than the API.
//!
//! ```
//! use bfl::core::GenerationRequest;
//! let ok = GenerationRequest::new("flux-2-pro", "a fox").size(512, 512);
//! assert!(bfl::request_check::check(&ok).is_ok());
//! let typo = GenerationRequest::new("flux-2-pro", "a fox").field("widht", 512);
//! let msg = bfl::request_check::check(&typo).unwrap_err();
//! assert!(msg.contains("\"widht\"") && msg.contains("did you mean \"width\""), "{msg}");
//! let gif = GenerationRequest::new("flux-2-pro", "a fox").field("output_format", "gif");
//! assert!(bfl::request_check::check(&gif).unwrap_err().contains("output_format"));
//! ```

use bfl_core::api::ErrorBody;
use bfl_core::GenerationRequest;

/// `Ok` if the model's schema accepts the request (any request, for a model the spec does not
/// describe: model ids are open-ended); else what is wrong, in words.
pub fn check(req: &GenerationRequest) -> Result<(), String> {
    let model = req.model();
    if let Err(items) = bfl_sim::validate::validate(model, &req.to_json()) {
        let body = serde_json::json!({ "detail": items }).to_string();
        let summary = ErrorBody::parse(body.as_bytes()).summary();
        return Err(format!(
            "{model} would refuse it: {}",
            summary.unwrap_or_else(|| "invalid request".into())
        ));
    }
    let Some(known) = bfl_sim::validate::known_fields(model) else {
        return Ok(());
    };
    for unknown in req.body().keys().filter(|k| !known.contains(&k.as_str())) {
        let near = known
            .iter()
            .map(|k| (edit_distance(k, unknown), k))
            .filter(|(d, _)| *d <= 2)
            .min();
        if let Some((_, k)) = near {
            return Err(format!(
                "{model} has no field \"{unknown}\" (did you mean \"{k}\"?); it takes {}",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Levenshtein distance, for the hint on a misspelt field.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("width", "widht"), 2);
        assert_eq!(edit_distance("seed", "seed"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn unknown_models_take_anything_and_known_ones_their_fields() {
        let any = GenerationRequest::new("my-finetune-7", "x").field("widht", 1);
        assert_eq!(check(&any), Ok(()));
        let new_field = GenerationRequest::new("flux-2-pro", "x").field("brand_new_option", 1);
        assert_eq!(
            check(&new_field),
            Ok(()),
            "far from every field: passed, as the API does"
        );
        let kontext = GenerationRequest::new("flux-kontext-pro", "x").field("input_image_5", "u");
        assert!(check(&kontext).unwrap_err().contains("input_image_5"));
        let four = GenerationRequest::new("flux-kontext-pro", "x").field("input_image_4", "u");
        assert_eq!(check(&four), Ok(()));
    }
}
