//! Makes one cached encoding many distinct files: a short tag is written where decoders skip it
//! (a JPEG comment segment, a PNG `tEXt` chunk, a trailing WebP chunk), so two tasks of one
//! size and format get different bytes without a second encoding.

use bfl_core::api::OutputFormat;

/// CRC-32 (IEEE) of `parts`, as PNG chunks carry it.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn jpeg(bytes: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(b"\xff\xd8")?;
    let len = u16::try_from(tag.len() + 2).ok()?;
    let mut out = Vec::with_capacity(bytes.len() + tag.len() + 4);
    out.extend_from_slice(b"\xff\xd8\xff\xfe");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tag);
    out.extend_from_slice(rest);
    Some(out)
}

fn png(bytes: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    // IEND is the last 12 bytes: length 0, type, CRC.
    let iend = bytes.len().checked_sub(12)?;
    if bytes.get(iend + 4..iend + 8)? != b"IEND" {
        return None;
    }
    let mut data = b"Comment\0".to_vec();
    data.extend_from_slice(tag);
    let len = u32::try_from(data.len()).ok()?;
    let mut out = Vec::with_capacity(bytes.len() + data.len() + 12);
    out.extend_from_slice(&bytes[..iend]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"tEXt");
    out.extend_from_slice(&data);
    out.extend_from_slice(&crc32(&[b"tEXt", &data]).to_be_bytes());
    out.extend_from_slice(&bytes[iend..]);
    Some(out)
}

fn webp(bytes: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WEBP" {
        return None;
    }
    let mut out = bytes.to_vec();
    out.extend_from_slice(b"BFLS");
    out.extend_from_slice(&u32::try_from(tag.len()).ok()?.to_le_bytes());
    out.extend_from_slice(tag);
    if tag.len() % 2 == 1 {
        out.push(0);
    }
    let riff = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff.to_le_bytes());
    Some(out)
}

/// `bytes` (an encoding in `format`) with `tag` written into it; unchanged if it is not the
/// expected container.
pub(crate) fn stamp(bytes: &[u8], format: OutputFormat, tag: &str) -> Vec<u8> {
    let tagged = match format {
        OutputFormat::Jpeg => jpeg(bytes, tag.as_bytes()),
        OutputFormat::Png => png(bytes, tag.as_bytes()),
        OutputFormat::Webp => webp(bytes, tag.as_bytes()),
    };
    tagged.unwrap_or_else(|| bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageSpec;

    #[test]
    fn stamped_images_differ_and_still_decode_to_the_same_pixels() {
        assert_eq!(crc32(&[b"IEND"]), 0xae42_6082);
        for format in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
            let base = ImageSpec {
                width: 40,
                height: 30,
                format,
                tint: 1,
            }
            .render();
            let a = stamp(&base, format, "bfl-sim 0001");
            let b = stamp(&base, format, "bfl-sim 00002");
            assert!(a != b && a != base, "{format}");
            let pixels = |x: &[u8]| image::load_from_memory(x).map(|i| i.to_rgb8().into_raw());
            let want = pixels(&base).unwrap();
            assert_eq!(pixels(&a).unwrap(), want, "{format}");
            assert_eq!(pixels(&b).unwrap(), want, "{format}");
        }
        assert_eq!(stamp(b"nope", OutputFormat::Png, "x"), b"nope");
    }
}
