//! Small, real, valid images: a gradient whose colours derive from the seed and the prompt, so
//! the same task always gives the same bytes.
//!
//! Encoding (JPEG above all) costs far more than the rest of a simulated request, so the colours
//! come in [`VARIANTS`] variants and encoded images are cached per size, format and variant.

use bfl_core::api::OutputFormat;
use bytes::Bytes;
use image::ImageEncoder;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most colourings a size and format has (thumbnails; large images have fewer).
pub const VARIANTS: u64 = 256;

/// Most bytes of encoded images kept.
const CACHE_BYTES: usize = 64 << 20;

/// Encoded images by spec. Each spec's slot is made once: requests for an image being made
/// wait for that one encoding, while images of other specs encode beside it.
#[derive(Default)]
struct Cache {
    images: HashMap<ImageSpec, Arc<OnceLock<Bytes>>>,
    bytes: usize,
}

static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// Pixels wide.
    pub width: u32,
    /// Pixels high.
    pub height: u32,
    /// Encoding.
    pub format: OutputFormat,
    /// Picks the colours (taken modulo the size's number of variants, at most [`VARIANTS`]).
    pub tint: u64,
}

/// FNV-1a, 64 bit: a stable hash (unlike `DefaultHasher`, fixed across Rust versions).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    bfl_core::stats::Fnv1a::new().parts(parts).finish()
}

/// The side BFL uses when a request names no size.
const DEFAULT_SIDE: f64 = 1024.0;

/// Picks the served size, as BFL sizes its outputs: the requested `width`×`height` (a missing
/// side is 1024), else about one megapixel in the requested `aspect_ratio` (sides multiples of
/// 16, like `"16:9"` → 1360×768), else 1024×1024; scaled down only if a side exceeds `max_side`.
pub fn served_size(
    width: Option<u64>,
    height: Option<u64>,
    aspect: Option<&str>,
    max_side: u32,
) -> (u32, u32) {
    let ratio = aspect
        .and_then(|a| a.split_once(':'))
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
        .filter(|(a, b)| *a > 0.0 && *b > 0.0 && a.is_finite() && b.is_finite());
    let (w, h) = match (width.filter(|w| *w > 0), height.filter(|h| *h > 0), ratio) {
        (None, None, Some((a, b))) => {
            let scale = (DEFAULT_SIDE * DEFAULT_SIDE / (a * b)).sqrt();
            let snap = |x: f64| ((x * scale / 16.0).round() * 16.0).max(16.0);
            (snap(a), snap(b))
        }
        (w, h, _) => (
            w.map_or(DEFAULT_SIDE, |w| w as f64),
            h.map_or(DEFAULT_SIDE, |h| h as f64),
        ),
    };
    let max_side = f64::from(max_side.max(1));
    let scale = (max_side / w.max(h)).min(1.0);
    let side = |x: f64| ((x * scale).round() as u32).clamp(1, max_side as u32);
    (side(w), side(h))
}

/// How many colourings a size gets: 256 for thumbnails, fewer as images grow (one at a
/// megapixel), so encoding stays a one-off cost per size and format.
fn variants(width: u32, height: u32) -> u64 {
    let pixels = u64::from(width.max(1)) * u64::from(height.max(1));
    (VARIANTS * 4096 / pixels).clamp(1, VARIANTS)
}

impl ImageSpec {
    /// The encoded image, from the cache when it was made before. Images larger than a
    /// thumbnail share their colouring, so their [`ImageSpec::tint`] is stamped into the file's
    /// metadata: different tasks still get different bytes.
    pub fn bytes(&self) -> Bytes {
        let base = self.cached();
        if variants(self.width, self.height) == VARIANTS {
            return base;
        }
        let tag = format!("bfl-sim {:016x}", self.tint);
        Bytes::from(crate::image_stamp::stamp(&base, self.format, &tag))
    }

    fn cached(&self) -> Bytes {
        let key = ImageSpec {
            tint: self.tint % variants(self.width, self.height),
            ..self.clone()
        };
        let cache = CACHE.get_or_init(Mutex::default);
        let Some(slot) = cache
            .lock()
            .ok()
            .map(|mut c| Arc::clone(c.images.entry(key.clone()).or_default()))
        else {
            return Bytes::from(key.render());
        };
        let mut made = false;
        let b = slot
            .get_or_init(|| {
                made = true;
                #[cfg(test)]
                tests::ENCODED.lock().unwrap().push(key.clone());
                Bytes::from(key.render())
            })
            .clone();
        if made {
            if let Ok(mut c) = cache.lock() {
                c.bytes += b.len();
                if c.bytes > CACHE_BYTES {
                    // Full: this one is served but not kept.
                    c.bytes -= b.len();
                    c.images.remove(&key);
                }
            }
        }
        b
    }

    /// Encodes the image. Never fails for sizes from [`served_size`]; an encoder error gives an
    /// empty body rather than a panic.
    pub fn render(&self) -> Vec<u8> {
        let (w, h) = (self.width.max(1), self.height.max(1));
        let t = (self.tint % variants(w, h))
            .wrapping_mul(bfl_core::stats::GOLDEN_GAMMA)
            .to_le_bytes();
        let mut pixels = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let fx = (x * 255 / w) as u8;
                let fy = (y * 255 / h) as u8;
                pixels.push(t[0].wrapping_add(fx));
                pixels.push(t[1].wrapping_add(fy));
                pixels.push(t[2] ^ fx.wrapping_add(fy) ^ t[3]);
            }
        }
        let mut out = Vec::new();
        let color = image::ExtendedColorType::Rgb8;
        let result = match self.format {
            OutputFormat::Png => image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Sub,
            )
            .write_image(&pixels, w, h, color),
            OutputFormat::Jpeg => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
                .write_image(&pixels, w, h, color),
            OutputFormat::Webp => image::codecs::webp::WebPEncoder::new_lossless(&mut out)
                .write_image(&pixels, w, h, color),
        };
        match result {
            Ok(()) => out,
            Err(e) => {
                tracing::error!(error = %e, "image encoding failed");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every encoding made through the cache, by spec.
    pub(super) static ENCODED: Mutex<Vec<ImageSpec>> = Mutex::new(Vec::new());

    #[test]
    fn a_burst_for_one_image_encodes_it_once() {
        // A thumbnail size no other test uses (stored as it is encoded, no stamp).
        let spec = ImageSpec {
            width: 61,
            height: 37,
            format: OutputFormat::Png,
            tint: 7,
        };
        let encoded = |spec: &ImageSpec| {
            let key = ImageSpec {
                tint: spec.tint % variants(spec.width, spec.height),
                ..spec.clone()
            };
            let c = CACHE.get_or_init(Mutex::default).lock().unwrap();
            c.images.get(&key).and_then(|slot| slot.get().cloned())
        };
        let all: Vec<Bytes> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| spec.bytes())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(all.iter().all(|b| *b == spec.render()));
        assert_eq!(encoded(&spec), Some(all[0].clone()));
        assert_eq!(spec.bytes(), all[0]);
        let times = ENCODED
            .lock()
            .unwrap()
            .iter()
            .filter(|k| **k == spec)
            .count();
        assert_eq!(times, 1, "eight requests and a ninth, one encoding");
    }

    #[test]
    fn encodes_valid_headers_deterministically() {
        for (format, magic) in [
            (OutputFormat::Png, &b"\x89PNG"[..]),
            (OutputFormat::Jpeg, &b"\xff\xd8\xff"[..]),
            (OutputFormat::Webp, &b"RIFF"[..]),
        ] {
            let spec = ImageSpec {
                width: 64,
                height: 36,
                format,
                tint: 42,
            };
            let a = spec.render();
            assert!(a.starts_with(magic), "{format}");
            assert_eq!(a, spec.render());
            assert_eq!(a, spec.bytes());
            let other = ImageSpec {
                tint: 43,
                ..spec.clone()
            }
            .render();
            assert_ne!(a, other);
        }
    }

    #[test]
    fn sizes_are_the_requested_ones() {
        assert_eq!(served_size(Some(512), Some(384), None, 4096), (512, 384));
        assert_eq!(
            served_size(Some(512), Some(384), Some("1:1"), 4096),
            (512, 384)
        );
        assert_eq!(served_size(None, None, Some("16:9"), 4096), (1360, 768));
        assert_eq!(served_size(None, None, Some("x:0"), 4096), (1024, 1024));
        assert_eq!(served_size(Some(640), None, None, 4096), (640, 1024));
        // The cap scales down, keeping the aspect ratio.
        assert_eq!(served_size(Some(1024), Some(768), None, 64), (64, 48));
        assert_eq!(served_size(Some(1), Some(100_000), None, 64), (1, 64));
        assert_eq!((variants(64, 64), variants(1024, 1024)), (256, 1));
    }
}
