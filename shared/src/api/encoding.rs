//! `Content-Encoding` of request bodies: a browser or the SDK may gzip a
//! batch. The body is inflated before anything reads it, so every limit
//! (1 MiB, 1,000 events) and the idempotency digest apply to what the
//! events are, not to how they travelled.

use std::io::Read;

use http::{StatusCode, header};

use super::{ApiError, Request};

/// The request with its body inflated, at most `limit` bytes of it: 413
/// past that, 400 for a body that is not gzip, 415 for an encoding other
/// than `gzip` or `identity`.
pub fn decoded(request: Request, limit: usize) -> Result<Request, ApiError> {
    let Some(encoding) = request.headers().get(header::CONTENT_ENCODING) else { return Ok(request) };
    let encoding = encoding.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(request),
        "gzip" | "x-gzip" => {
            let (mut parts, body) = request.into_parts();
            let inflated = inflate(&body, limit)?;
            parts.headers.remove(header::CONTENT_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
            Ok(http::Request::from_parts(parts, inflated.into()))
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {encoding:?} is not supported; send gzip or an uncompressed body"),
        )),
    }
}

/// Inflates a gzip body, reading one byte past `limit` to tell a body of
/// exactly `limit` from a larger one without inflating the rest.
fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut inflated = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let reader = flate2::read::MultiGzDecoder::new(body);
    reader.take(limit as u64 + 1).read_to_end(&mut inflated).map_err(|err| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_gzip", format!("body is not valid gzip: {err}"))
    })?;
    if inflated.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn request(encoding: Option<&str>, body: Vec<u8>) -> Request {
        let mut builder = http::Request::post("/api/events/batch");
        if let Some(encoding) = encoding {
            builder = builder.header(header::CONTENT_ENCODING, encoding);
        }
        builder.body(body.into()).unwrap()
    }

    #[test]
    fn gzip_bodies_are_inflated_and_lose_the_header() {
        let decoded = decoded(request(Some("gzip"), gzip(br#"{"events":[]}"#)), 1024).unwrap();
        assert_eq!(decoded.body().as_ref(), br#"{"events":[]}"#);
        assert!(decoded.headers().get(header::CONTENT_ENCODING).is_none());
        let plain = decoded_body(request(None, b"{}".to_vec()));
        assert_eq!(plain, b"{}");
        assert_eq!(decoded_body(request(Some("identity"), b"{}".to_vec())), b"{}");
    }

    fn decoded_body(request: Request) -> Vec<u8> {
        decoded(request, 1024).unwrap().body().to_vec()
    }

    #[test]
    fn the_limit_applies_to_the_inflated_size() {
        let exactly = vec![b' '; 1024];
        assert_eq!(decoded(request(Some("gzip"), gzip(&exactly)), 1024).unwrap().body().len(), 1024);
        // A few hundred bytes that inflate past the limit: a gzip bomb.
        let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
        assert!(bomb.len() < 20 * 1024);
        let err = decoded(request(Some("gzip"), bomb), 1024).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn bad_gzip_and_other_encodings_are_refused() {
        let err = decoded(request(Some("gzip"), b"not gzip".to_vec()), 1024).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "invalid_gzip"));
        let err = decoded(request(Some("br"), b"{}".to_vec()), 1024).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding"));
    }
}
