//! Reference images for a request: a local file, a URL, or base64, in the request's image
//! fields (`input_image`, `input_image_2` … `input_image_8`, `image_prompt`, `image`, `mask`).
//! A URL and base64 go to the API as given; a local file is read and sent as base64, which is
//! what the API accepts.
//!
//! ```
//! let dir = std::env::temp_dir();
//! std::fs::write(dir.join("bfl-doc-ref.png"), b"\x89PNG\r\n\x1a\n....").unwrap();
//! let b64 = bfl::image_input::resolve("bfl-doc-ref.png", &dir).unwrap();
//! assert_eq!(b64, "iVBORw0KGgouLi4u");
//! let url = "https://example.com/cat.jpg";
//! assert_eq!(bfl::image_input::resolve(url, &dir).unwrap(), url);
//! ```

use bfl_core::GenerationRequest;
use std::path::Path;

/// The request fields that hold an image, in the order `--image` fills them.
pub const IMAGE_FIELDS: &[&str] = &[
    "input_image",
    "input_image_2",
    "input_image_3",
    "input_image_4",
    "input_image_5",
    "input_image_6",
    "input_image_7",
    "input_image_8",
    "image_prompt",
    "image",
    "mask",
];

/// The largest local image sent (the API's own limit is about 20 MB of request).
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

/// Why an image input cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImageInputError {
    /// Neither a URL, nor base64, nor a readable file.
    #[error("{0:?} is not a readable image file, an http(s) URL or base64")]
    NotFound(String),
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The file is not a JPEG, PNG, WebP or GIF.
    #[error("{0} is not a JPEG, PNG, WebP or GIF image")]
    NotAnImage(String),
    /// The file is larger than [`MAX_IMAGE_BYTES`].
    #[error("{path} is {bytes} bytes; the API takes at most {MAX_IMAGE_BYTES}")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        bytes: u64,
    },
    /// More images than the model has slots.
    #[error("{model} takes at most {max} reference image(s), {given} given")]
    TooMany {
        /// The model.
        model: String,
        /// Its image slots.
        max: usize,
        /// Images given.
        given: usize,
    },
}

/// What the API should receive for `value`: a URL or base64 unchanged, a file (relative to
/// `base`) read and base64-encoded, a `data:` URL stripped to its base64.
pub fn resolve(value: &str, base: &Path) -> Result<String, ImageInputError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        return Ok(value.to_owned());
    }
    if let Some((_, b64)) = value
        .strip_prefix("data:")
        .and_then(|v| v.split_once(";base64,"))
    {
        return Ok(b64.to_owned());
    }
    let path = base.join(value);
    if path.is_file() {
        return read_image(&path);
    }
    let looks_base64 = value.len() >= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if looks_base64 {
        Ok(value.to_owned())
    } else {
        Err(ImageInputError::NotFound(value.to_owned()))
    }
}

fn read_image(path: &Path) -> Result<String, ImageInputError> {
    let shown = path.display().to_string();
    let read_err = |e: std::io::Error| ImageInputError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let bytes = std::fs::metadata(path).map_err(read_err)?.len();
    if bytes > MAX_IMAGE_BYTES {
        return Err(ImageInputError::TooLarge { path: shown, bytes });
    }
    let data = std::fs::read(path).map_err(read_err)?;
    // The formats the API accepts: what a result can be, and GIF.
    let is_image = bfl_core::image::sniff(&data).is_some() || data.starts_with(b"GIF8");
    if !is_image {
        return Err(ImageInputError::NotAnImage(shown));
    }
    Ok(base64(&data))
}

/// The request with every image field that names a file replaced by the file's base64.
pub fn resolve_request(
    req: GenerationRequest,
    base: &Path,
) -> Result<GenerationRequest, ImageInputError> {
    let mut req = req;
    for name in IMAGE_FIELDS {
        let Some(value) = req.body().get(*name).and_then(|v| v.as_str()) else {
            continue;
        };
        let resolved = resolve(value, base)?;
        if resolved != value {
            req = req.field(*name, resolved);
        }
    }
    Ok(req)
}

/// The image fields of `model`, in the order `--image` fills them (the `input_image` slots of an
/// unknown model).
pub fn slots_of(model: &str) -> Vec<&'static str> {
    match bfl_sim::validate::known_fields(model) {
        Some(known) => IMAGE_FIELDS
            .iter()
            .copied()
            .filter(|f| known.contains(f) && *f != "mask")
            .collect(),
        None => IMAGE_FIELDS[..8].to_vec(),
    }
}

/// `req` with `images` in the model's image slots, in order.
pub fn with_images(
    req: GenerationRequest,
    images: &[String],
    base: &Path,
) -> Result<GenerationRequest, ImageInputError> {
    let slots = slots_of(req.model());
    if images.len() > slots.len() {
        return Err(ImageInputError::TooMany {
            model: req.model().to_owned(),
            max: slots.len(),
            given: images.len(),
        });
    }
    let mut req = req;
    for (slot, image) in slots.iter().zip(images) {
        req = req.field(*slot, resolve(image, base)?);
    }
    Ok(req)
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn slots_follow_the_model() {
        assert_eq!(slots_of("flux-2-pro").len(), 8);
        assert_eq!(slots_of("flux-kontext-pro").len(), 4);
        assert_eq!(slots_of("flux-pro-1.1"), ["image_prompt"]);
        assert_eq!(slots_of("flux-pro-1.0-fill"), ["image"]);
        let req = GenerationRequest::new("flux-kontext-pro", "x");
        let five: Vec<String> = (0..5).map(|i| format!("https://e.com/{i}.png")).collect();
        assert!(matches!(
            with_images(req, &five, Path::new(".")),
            Err(ImageInputError::TooMany {
                max: 4,
                given: 5,
                ..
            })
        ));
    }

    #[test]
    fn missing_files_and_non_images_are_refused() {
        let dir = std::env::temp_dir();
        assert!(matches!(
            resolve("no-such-file.png", &dir),
            Err(ImageInputError::NotFound(_))
        ));
        let text = dir.join(format!("bfl-not-image-{}.png", std::process::id()));
        std::fs::write(&text, "hello").unwrap();
        assert!(matches!(
            resolve(text.to_str().unwrap(), &dir),
            Err(ImageInputError::NotAnImage(_))
        ));
        assert_eq!(resolve("data:image/png;base64,AAAA", &dir).unwrap(), "AAAA");
    }
}
