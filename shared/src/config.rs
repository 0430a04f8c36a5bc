//! Configuration every part reads: the environment, the deployable
//! functions, and the cross-origin policy. Depends on nothing else in the
//! crate, so that the context, the API and the metrics can all read it
//! without reaching into each other.

/// Reads a non-empty environment variable.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether this process is a Lambda function (the runtime names it).
pub fn in_lambda() -> bool {
    env_var("AWS_LAMBDA_FUNCTION_NAME").is_some()
}

/// The deployable functions, one per route group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Ingest,
    Summary,
    Experiments,
    Health,
    Admin,
}

impl Function {
    pub const ALL: [Function; 5] =
        [Function::Ingest, Function::Summary, Function::Experiments, Function::Health, Function::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Function::Ingest => "ingest",
            Function::Summary => "summary",
            Function::Experiments => "experiments",
            Function::Health => "health",
            Function::Admin => "admin",
        }
    }
}

/// Which web origins other than the API's own may read its answers
/// (`CORS_ALLOWED_ORIGINS`); `api::cors` applies it to requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

impl CorsPolicy {
    /// No cross-origin access at all.
    pub fn same_origin_only() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of origins (`https://d1.cloudfront.net,
    /// http://localhost:5173`). Each must be `scheme://host[:port]` exactly
    /// as browsers send it; `*` is refused, since the API is keyed per tenant.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = raw.trim_end_matches('/');
            let Some((scheme, host)) = origin.split_once("://") else {
                return Err(format!("CORS origin {raw:?} must look like https://host[:port]"));
            };
            if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains(['/', '*', ' ']) {
                return Err(format!(
                    "CORS origin {raw:?} must look like https://host[:port] (no path, no *)"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(Self { origins })
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}
