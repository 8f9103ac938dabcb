//! Request bodies as sent (`Content-Encoding: gzip` or none) to the JSON bytes inside.
//!
//! Invariant: inflating never holds more than [`limits::MAX_DECOMPRESSED_BYTES`] bytes, nor
//! more than [`limits::MAX_COMPRESSION_RATIO`] times the compressed size; a body that would
//! inflate further is refused as soon as the cap is crossed, so a gzip bomb costs at most one
//! capped buffer and the work to fill it.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::error::RequestError;
use crate::limits;

/// How much is inflated per step; a cap is crossed by at most this much before it is noticed
/// (and nothing past the cap is ever stored).
const CHUNK: usize = 8 * 1024;

/// Returns the JSON bytes of a body, given its `Content-Encoding` header (absent, `identity`,
/// `gzip` or `x-gzip`, case-insensitive).
pub fn decode_body<'a>(
    body: &'a [u8],
    content_encoding: Option<&str>,
) -> Result<Cow<'a, [u8]>, RequestError> {
    // The compressed body is bounded by the same limit as a plain one: a gzip body is never
    // larger than what it inflates to, for anything we would accept.
    if body.len() > limits::MAX_BATCH_BYTES {
        return Err(RequestError::BodyTooLarge(body.len()));
    }
    let encoding = content_encoding.map(str::trim).unwrap_or_default();
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        Ok(Cow::Borrowed(body))
    } else if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") {
        gunzip_bounded(body).map(Cow::Owned)
    } else {
        Err(RequestError::UnsupportedEncoding(
            encoding.chars().take(32).collect(),
        ))
    }
}

/// Inflates a gzip stream (one or more members), refusing it once the output passes
/// [`limits::MAX_DECOMPRESSED_BYTES`] or [`limits::MAX_COMPRESSION_RATIO`] × `compressed.len()`.
pub fn gunzip_bounded(compressed: &[u8]) -> Result<Vec<u8>, RequestError> {
    let by_ratio = compressed
        .len()
        .saturating_mul(limits::MAX_COMPRESSION_RATIO);
    let cap = limits::MAX_DECOMPRESSED_BYTES.min(by_ratio);
    let mut decoder = MultiGzDecoder::new(compressed);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = [0u8; CHUNK];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| RequestError::MalformedGzip(e.to_string()))?;
        let Some(data) = chunk.get(..n) else {
            return Err(RequestError::MalformedGzip(
                "decoder overran its buffer".into(),
            ));
        };
        if data.is_empty() {
            break;
        }
        let total = out.len().saturating_add(n);
        if total > cap {
            return Err(if total > limits::MAX_DECOMPRESSED_BYTES {
                RequestError::DecompressedTooLarge
            } else {
                RequestError::CompressionRatio
            });
        }
        reserve_within(&mut out, n, cap);
        out.extend_from_slice(data);
    }
    if out.is_empty() && !compressed.is_empty() && !has_gzip_magic(compressed) {
        return Err(RequestError::MalformedGzip("not a gzip stream".into()));
    }
    Ok(out)
}

/// Grows like `Vec` does (doubling) but never past `cap`, so capacity stays within the limit.
fn reserve_within(out: &mut Vec<u8>, extra: usize, cap: usize) {
    let needed = out.len().saturating_add(extra);
    if needed <= out.capacity() {
        return;
    }
    let target = out.capacity().saturating_mul(2).max(needed).min(cap);
    out.reserve_exact(target.saturating_sub(out.len()));
}

fn has_gzip_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Bytes that do not compress, so the ratio limit stays out of the way.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A gzip of `len` zero bytes whose compressed size is exactly `size`, padded with a
    /// header comment, so the ratio can be set to the byte.
    fn zeros_with_compressed_size(len: usize, size: usize) -> Vec<u8> {
        let plain = gzip(&vec![0u8; len]);
        assert!(
            plain.len() + 2 <= size,
            "zeros compress to {} bytes",
            plain.len()
        );
        for pad in 0..size {
            let mut enc = GzBuilder::new()
                .comment(vec![b'x'; pad])
                .write(Vec::new(), Compression::best());
            enc.write_all(&vec![0u8; len]).unwrap();
            let out = enc.finish().unwrap();
            if out.len() == size {
                return out;
            }
        }
        panic!("no padding gives {size} bytes");
    }

    #[test]
    fn round_trips_json() {
        let body = br#"{"batch":[{"type":"track","event":"a","anonymousId":"x"}]}"#;
        assert_eq!(gunzip_bounded(&gzip(body)).unwrap(), body);
    }

    #[test]
    fn decompressed_size_at_limit_is_accepted_and_one_over_is_refused() {
        let at = noise(limits::MAX_DECOMPRESSED_BYTES);
        let out = gunzip_bounded(&gzip(&at)).unwrap();
        assert_eq!(out.len(), limits::MAX_DECOMPRESSED_BYTES);
        assert!(out.capacity() <= limits::MAX_DECOMPRESSED_BYTES);

        let over = noise(limits::MAX_DECOMPRESSED_BYTES + 1);
        assert_eq!(
            gunzip_bounded(&gzip(&over)),
            Err(RequestError::DecompressedTooLarge)
        );
    }

    #[test]
    fn ratio_at_limit_is_accepted_and_one_over_is_refused() {
        let size = 200;
        let at = zeros_with_compressed_size(size * limits::MAX_COMPRESSION_RATIO, size);
        assert_eq!(
            gunzip_bounded(&at).unwrap().len(),
            size * limits::MAX_COMPRESSION_RATIO
        );
        let over = zeros_with_compressed_size(size * limits::MAX_COMPRESSION_RATIO + 1, size);
        assert_eq!(gunzip_bounded(&over), Err(RequestError::CompressionRatio));
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_inflating_it() {
        // 64 MiB of zeros, streamed into the encoder so the test itself stays small: ~64 KB
        // compressed, a ratio of ~1000.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let block = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&block).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(
            bomb.len() < limits::MAX_BATCH_BYTES,
            "bomb is {} bytes",
            bomb.len()
        );
        // The ratio cap (~6 MB here) is above the size cap, so the size cap stops it.
        assert_eq!(
            decode_body(&bomb, Some("gzip")),
            Err(RequestError::DecompressedTooLarge)
        );

        // A 1 MiB bomb (~1 KB compressed) is stopped by the ratio, long before 500 KB.
        let small = gzip(&vec![0u8; 1 << 20]);
        assert_eq!(
            decode_body(&small, Some("gzip")),
            Err(RequestError::CompressionRatio)
        );

        // A compressed body over the batch limit is refused before any inflating.
        let huge = noise(limits::MAX_BATCH_BYTES + 1);
        assert_eq!(
            decode_body(&huge, Some("gzip")),
            Err(RequestError::BodyTooLarge(limits::MAX_BATCH_BYTES + 1))
        );
    }

    #[test]
    fn multi_member_streams_are_concatenated() {
        let mut both = gzip(b"{\"batch\":");
        both.extend(gzip(b"[]}"));
        assert_eq!(gunzip_bounded(&both).unwrap(), b"{\"batch\":[]}");
    }

    #[test]
    fn garbage_and_truncation_are_malformed() {
        assert!(matches!(
            gunzip_bounded(b"{\"batch\":[]}"),
            Err(RequestError::MalformedGzip(_))
        ));
        let good = gzip(b"{\"batch\":[]}");
        let cut = &good[..good.len() - 6];
        assert!(matches!(
            gunzip_bounded(cut),
            Err(RequestError::MalformedGzip(_))
        ));
    }

    #[test]
    fn encodings() {
        let body = b"{}";
        assert_eq!(decode_body(body, None).unwrap().as_ref(), body);
        assert_eq!(
            decode_body(body, Some(" identity ")).unwrap().as_ref(),
            body
        );
        assert_eq!(
            decode_body(&gzip(body), Some("GZIP")).unwrap().as_ref(),
            body
        );
        assert_eq!(
            decode_body(&gzip(body), Some("x-gzip")).unwrap().as_ref(),
            body
        );
        assert_eq!(
            decode_body(body, Some("br")),
            Err(RequestError::UnsupportedEncoding("br".into()))
        );
    }
}
