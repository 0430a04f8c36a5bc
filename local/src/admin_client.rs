//! `campaign-local tenant create NAME`, `campaign-local tenant rotate
//! TENANT_ID`, `campaign-local tenant rebuild-rollups TENANT_ID`,
//! `campaign-local dlq list` and `campaign-local dlq redrive`: the admin API from a terminal (`make tenant`, `make redrive`), so they
//! work against a running stack on either backend and on AWS alike.
//!
//! Locally it sends `Authorization: Bearer $ADMIN_TOKEN`. Against AWS
//! (`ADMIN_AUTH=iam`) it signs the request with SigV4 for `execute-api`,
//! with credentials from the usual AWS chain, as API Gateway's `AWS_IAM`
//! authorization on the admin routes requires. The new key is printed once.

use shared::config::env_var;

use crate::RunError;

const USAGE: &str = "usage: campaign-local tenant create NAME | campaign-local tenant rotate TENANT_ID \
    | campaign-local tenant rebuild-rollups TENANT_ID | campaign-local dlq list | campaign-local dlq redrive\n\
    env: ADMIN_URL (default http://127.0.0.1:$PORT), ADMIN_TOKEN, or ADMIN_AUTH=iam for SigV4 on AWS";

fn fail(message: impl Into<String>) -> RunError {
    RunError(message.into())
}

/// An admin request a command line asks for.
#[derive(Debug)]
struct AdminRequest {
    method: &'static str,
    path: String,
    body: Option<serde_json::Value>,
    /// The answer holds a new key, shown once.
    shows_key: bool,
    /// The answer names a `next` day to send again with, until none.
    follows_next: bool,
}

fn post(path: String, body: serde_json::Value, shows_key: bool) -> AdminRequest {
    AdminRequest { method: "POST", path, body: Some(body), shows_key, follows_next: false }
}

fn tenant_id(tenant: &str) -> Result<&str, RunError> {
    if tenant.is_empty() || tenant.contains(['/', '?', '#']) {
        return Err(fail(format!("not a tenant id: {tenant:?}")));
    }
    Ok(tenant)
}

/// The admin request a command line (`tenant …` or `dlq …`) asks for.
fn request_for(args: &[String]) -> Result<AdminRequest, RunError> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["tenant", "create", name] => {
            Ok(post("/api/admin/tenants".into(), serde_json::json!({ "name": name }), true))
        }
        ["tenant", "rotate", tenant] => {
            Ok(post(format!("/api/admin/tenants/{}/keys", tenant_id(tenant)?), serde_json::json!({}), true))
        }
        ["tenant", "rebuild-rollups", tenant] => Ok(AdminRequest {
            follows_next: true,
            ..post(format!("/api/admin/tenants/{}/rollups", tenant_id(tenant)?), serde_json::json!({}), false)
        }),
        ["dlq", "list"] => Ok(AdminRequest {
            method: "GET",
            path: "/api/admin/dead-letters?limit=1000".into(),
            body: None,
            shows_key: false,
            follows_next: false,
        }),
        ["dlq", "redrive"] => {
            Ok(post("/api/admin/dead-letters/redrive".into(), serde_json::json!({}), false))
        }
        _ => Err(fail(USAGE)),
    }
}

/// `https://x.execute-api.eu-west-1.amazonaws.com/api` → `eu-west-1`.
#[cfg(feature = "aws")]
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    while let Some(label) = labels.next() {
        if label == "execute-api" {
            return labels.next().map(str::to_owned);
        }
    }
    None
}

/// Base URL: `ADMIN_URL` without a trailing `/api` (paths carry it).
fn base_url() -> String {
    let raw = env_var("ADMIN_URL")
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", env_var("PORT").unwrap_or_else(|| "3000".into())));
    raw.trim_end_matches('/').trim_end_matches("/api").to_owned()
}

#[cfg(feature = "aws")]
async fn sigv4_headers(method: &str, url: &str, body: &[u8]) -> Result<Vec<(String, String)>, RunError> {
    use std::time::SystemTime;

    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .or_else(|| region_of(url))
        .ok_or_else(|| fail("no AWS region: set AWS_REGION"))?;
    let provider = config.credentials_provider().ok_or_else(|| fail("no AWS credentials provider"))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| fail(format!("no AWS credentials for SigV4 signing: {e}")))?;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail(format!("SigV4 parameters: {e}")))?
        .into();
    let content_type = [("content-type", "application/json")];
    let signable = SignableRequest::new(method, url, content_type.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| fail(format!("SigV4 request: {e}")))?;
    let (instructions, _signature) =
        sign(signable, &params).map_err(|e| fail(format!("SigV4 signing: {e}")))?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect())
}

#[cfg(not(feature = "aws"))]
async fn sigv4_headers(_method: &str, _url: &str, _body: &[u8]) -> Result<Vec<(String, String)>, RunError> {
    Err(fail(WITHOUT_AWS))
}

/// Why an embedded-only build (`make run`'s) cannot reach AWS.
#[cfg(not(feature = "aws"))]
const WITHOUT_AWS: &str = "ADMIN_AUTH=iam and https ADMIN_URLs need the build with the `aws` feature \
    (the Makefile's targets use it when ADMIN_AUTH=iam or ADMIN_URL is https)";

/// Runs one admin command and prints the answer (with a new key, once);
/// a rebuild, one call per day, prints a line per day.
pub async fn run(args: &[String]) -> Result<(), RunError> {
    let mut admin = request_for(args)?;
    loop {
        let answer = send(&admin).await?;
        if !admin.follows_next {
            let pretty = serde_json::from_str::<serde_json::Value>(&answer)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(answer);
            println!("{pretty}");
            break;
        }
        println!("{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        match answer["next"].as_str() {
            Some(day) => admin.body = Some(serde_json::json!({ "day": day, "after": answer["after"] })),
            None => break,
        }
    }
    if admin.shows_key {
        eprintln!("Store apiKey now: it is shown only this once (only its hash is kept).");
    }
    Ok(())
}

/// Sends one admin request; the answer's body when it succeeded.
async fn send(admin: &AdminRequest) -> Result<String, RunError> {
    let url = format!("{}{}", base_url(), admin.path);
    #[cfg(not(feature = "aws"))]
    if url.starts_with("https://") {
        return Err(fail(WITHOUT_AWS));
    }
    let body = match &admin.body {
        Some(body) => serde_json::to_vec(body).map_err(|e| fail(e.to_string()))?,
        None => Vec::new(),
    };
    let method = reqwest::Method::from_bytes(admin.method.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .header("content-type", "application/json")
        .body(body.clone());
    if env_var("ADMIN_AUTH").as_deref() == Some("iam") {
        for (name, value) in sigv4_headers(admin.method, &url, &body).await? {
            request = request.header(name, value);
        }
    } else {
        let token =
            env_var("ADMIN_TOKEN").ok_or_else(|| fail("set ADMIN_TOKEN (or ADMIN_AUTH=iam on AWS)"))?;
        request = request.bearer_auth(token);
    }
    let what = format!("{} {url}", admin.method);
    let response = request.send().await.map_err(|e| fail(format!("{what}: {e}")))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| fail(format!("{what}: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!("{what} answered {status}: {text}")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_become_admin_requests() {
        let create = request_for(&args(&["tenant", "create", "Acme Ltd"])).unwrap();
        assert_eq!((create.method, create.path.as_str()), ("POST", "/api/admin/tenants"));
        assert_eq!(create.body.unwrap()["name"], "Acme Ltd");
        let rotate = request_for(&args(&["tenant", "rotate", "0193-abc"])).unwrap();
        assert_eq!(rotate.path, "/api/admin/tenants/0193-abc/keys");
        assert!(rotate.shows_key);
        let rebuild = request_for(&args(&["tenant", "rebuild-rollups", "0193-abc"])).unwrap();
        assert_eq!(rebuild.path, "/api/admin/tenants/0193-abc/rollups");
        assert!(rebuild.follows_next && !rebuild.shows_key);
        assert!(request_for(&args(&["tenant", "rebuild-rollups", "a/b"])).is_err());
        let list = request_for(&args(&["dlq", "list"])).unwrap();
        assert_eq!((list.method, list.body.is_none(), list.shows_key), ("GET", true, false));
        let redrive = request_for(&args(&["dlq", "redrive"])).unwrap();
        assert_eq!((redrive.method, redrive.path.as_str()), ("POST", "/api/admin/dead-letters/redrive"));
        assert!(request_for(&args(&["tenant", "rotate", "../x"])).is_err());
        assert!(request_for(&args(&["tenant", "delete", "x"])).is_err());
        assert!(request_for(&args(&["tenant", "create"])).is_err());
        assert!(request_for(&args(&["dlq", "purge"])).is_err());
    }

    #[cfg(feature = "aws")]
    #[test]
    fn region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_of("https://abc123.execute-api.eu-west-1.amazonaws.com/api/admin/tenants").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:3000/api"), None);
    }
}
