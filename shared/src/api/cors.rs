//! Cross-origin access for the dashboard when it is served from another
//! origin than the API (CloudFront in front of S3, or `vite dev`).
//!
//! Only the exact origins in `CORS_ALLOWED_ORIGINS` are granted; any other
//! origin gets a response without `Access-Control-Allow-Origin`, which the
//! browser refuses to hand to the page. Same-origin use (the local stack
//! serving the dashboard at `/`) needs no configuration.

use http::{HeaderValue, Method, StatusCode, header};

use super::{Request, Response};
pub use crate::config::CorsPolicy;

const ALLOWED_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "content-type, x-api-key, authorization, idempotency-key, if-match";
pub(super) const EXPOSED_HEADERS: &str = "retry-after, x-request-id, etag, idempotent-replayed";
/// Browsers cap this anyway (Chromium at 2 hours); 10 minutes keeps a
/// tightened policy from lingering long.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

impl CorsPolicy {
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.origins().iter().any(|o| o.eq_ignore_ascii_case(text)).then_some(origin)
    }

    /// Whether this request is a CORS preflight (which carries no API key).
    pub fn is_preflight(request: &Request) -> bool {
        request.method() == Method::OPTIONS
    }

    /// The answer to a preflight: 204, with the grant only for allowed origins.
    pub fn preflight(&self, request: &Request) -> Response {
        let mut response = http::Response::new(bytes::Bytes::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(request.headers().get(header::ORIGIN)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS));
        }
        response
    }

    /// The answer to a preflight of the ingest routes, from any web origin:
    /// the request that follows is refused (403) unless its key is a
    /// publishable one that lists the origin.
    pub fn preflight_for_ingest(request: &Request) -> Response {
        let mut response = http::Response::new(bytes::Bytes::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        let origin = request.headers().get(header::ORIGIN);
        if let Some(origin) =
            origin.filter(|o| o.to_str().ok().and_then(crate::domain::tenant::parse_origin).is_some())
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS));
        }
        response
    }

    /// Adds the grant to an actual response when the request's `Origin` is allowed.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut Response) {
        if self.origins().is_empty() {
            return;
        }
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, origin: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method(method).uri("/api/analytics/summary");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(bytes::Bytes::new()).unwrap()
    }

    fn policy() -> CorsPolicy {
        CorsPolicy::parse("https://d111.cloudfront.net/, http://localhost:5173").unwrap()
    }

    #[test]
    fn parses_exact_origins_and_refuses_wildcards_and_paths() {
        assert_eq!(policy().origins(), ["https://d111.cloudfront.net", "http://localhost:5173"]);
        assert_eq!(CorsPolicy::parse(" ").unwrap(), CorsPolicy::same_origin_only());
        assert!(CorsPolicy::parse("*").is_err());
        assert!(CorsPolicy::parse("https://*.example.com").is_err());
        assert!(CorsPolicy::parse("https://example.com/app").is_err());
        assert!(CorsPolicy::parse("ftp://example.com").is_err());
    }

    #[test]
    fn preflight_grants_only_listed_origins() {
        let granted = policy().preflight(&request(Method::OPTIONS, Some("http://localhost:5173")));
        assert_eq!(granted.status(), StatusCode::NO_CONTENT);
        assert_eq!(granted.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert!(
            granted.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("x-api-key")
        );

        for foreign in [Some("https://evil.example"), Some("http://localhost:5174"), Some("null"), None] {
            let refused = policy().preflight(&request(Method::OPTIONS, foreign));
            assert_eq!(refused.status(), StatusCode::NO_CONTENT);
            assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{foreign:?}");
            assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_METHODS).is_none());
        }
    }

    #[test]
    fn responses_carry_the_grant_only_for_listed_origins() {
        let mut response = http::Response::new(bytes::Bytes::new());
        policy().decorate(Some(&HeaderValue::from_static("https://d111.cloudfront.net")), &mut response);
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://d111.cloudfront.net");
        assert_eq!(response.headers()[header::VARY], "origin");

        let mut response = http::Response::new(bytes::Bytes::new());
        policy().decorate(Some(&HeaderValue::from_static("https://evil.example")), &mut response);
        assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

        let mut response = http::Response::new(bytes::Bytes::new());
        CorsPolicy::same_origin_only()
            .decorate(Some(&HeaderValue::from_static("https://d111.cloudfront.net")), &mut response);
        assert!(response.headers().is_empty());
    }
}
