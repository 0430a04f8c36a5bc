//! No request can panic the process or make it fail: a property test drives
//! every route of `shared::api::handle` with arbitrary methods, paths,
//! query strings, headers and bodies (mixed with the values the routes
//! expect, so that requests also get past validation), and checks that
//! every answer is below 500 and every error is in the JSON error shape.

use bytes::Bytes;
use http::{HeaderValue, Method};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use shared::context::{AppContext, open_embedded};
use shared::queue::sqlite::QueueConfig;

const ADMIN_TOKEN: &str = "fuzz-admin-token";

fn demo_key() -> String {
    shared::demo::DEMO_API_KEY.to_owned()
}

/// Values that have broken parsers before, or sit on a limit's edge.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("+262142-12-31".to_owned()),
        Just("%2B262142-12-31".to_owned()),
        Just("-262143-01-01T00:00:00Z".to_owned()),
        Just("9999-12-31".to_owned()),
        Just("1970-01-01".to_owned()),
        Just("0001-01-01T00:00:00Z".to_owned()),
        Just("2026-11-30".to_owned()),
        Just("1e308".to_owned()),
        Just("NaN".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("hour".to_owned()),
        Just("day".to_owned()),
        Just("csv".to_owned()),
        Just("ACTIVE".to_owned()),
        Just("\u{1F600}".repeat(600)),
        Just("#%#%".repeat(100)),
        "\\PC{0,40}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![Just(1e308), Just(-1e-300), Just(9.9e125)].prop_map(Value::from),
        nasty_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![Just(String::new()), "[a-zA-Z]{1,8}"], inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like what the routes take, with arbitrary field values.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![nasty_text().prop_map(Value::String), json_value()];
    let event = (field.clone(), field.clone(), json_value(), field.clone(), field.clone()).prop_map(
        |(user, kind, properties, timestamp, id)| {
            json!({"userId": user, "eventType": kind, "properties": properties, "timestamp": timestamp, "eventId": id})
        },
    );
    let good_event = (nasty_text(), json_value()).prop_map(
        |(user, properties)| json!({"userId": user, "eventType": "CONVERSION", "properties": properties}),
    );
    let experiment = (field.clone(), field.clone(), field.clone(), field.clone(), field.clone()).prop_map(
        |(name, variants, status, start, end)| {
            json!({"name": name, "variants": variants, "status": status, "startDate": start, "endDate": end})
        },
    );
    let any_event = prop_oneof![event, good_event];
    prop_oneof![
        any_event.clone().prop_map(|e| e.to_string().into_bytes()),
        prop::collection::vec(any_event, 0..4)
            .prop_map(|events| json!({ "events": events }).to_string().into_bytes()),
        experiment.prop_map(|e| e.to_string().into_bytes()),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(Vec::new()),
    ]
}

/// A route and, mostly, the method it takes.
fn route() -> impl Strategy<Value = (Method, String)> {
    let id = prop_oneof![4 => Just("demo".to_owned()), 1 => nasty_text(), 1 => "[a-z0-9-]{0,40}"];
    let routes = [
        (Method::POST, "/api/events"),
        (Method::POST, "/api/events/batch"),
        (Method::GET, "/api/analytics/summary"),
        (Method::GET, "/api/analytics/timeseries"),
        (Method::GET, "/api/analytics/campaigns"),
        (Method::PUT, "/api/dimensions"),
        (Method::PUT, "/api/settings/ignored-referrers"),
        (Method::PUT, "/api/settings/timezone"),
        (Method::GET, "/api/settings/timezone"),
        (Method::GET, "/api/keys"),
        (Method::GET, "/api/experiments"),
        (Method::POST, "/api/experiments"),
        (Method::GET, "/api/experiments/{id}"),
        (Method::PATCH, "/api/experiments/{id}"),
        (Method::GET, "/api/experiments/{id}/results"),
        (Method::GET, "/api/experiments/{id}/assign"),
        (Method::GET, "/api/health"),
        (Method::GET, "/api/openapi.json"),
        (Method::POST, "/api/admin/tenants"),
        (Method::POST, "/api/admin/tenants/{id}/keys"),
        (Method::GET, "/api/{id}"),
        (Method::GET, "/api/{id}/{id}/{id}/{id}"),
    ];
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PATCH),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::OPTIONS),
        Just(Method::HEAD),
    ];
    (prop::sample::select(routes.to_vec()), prop::option::weighted(0.2, method), id).prop_map(
        |((proper, template), other, id)| {
            (other.unwrap_or(proper), template.replace("{id}", &percent_encode(&id)))
        },
    )
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("startDate"),
        Just("endDate"),
        Just("experimentId"),
        Just("interval"),
        Just("confidence"),
        Just("mde"),
        Just("format"),
        Just("userId"),
        Just("status"),
        Just("limit"),
        Just("cursor"),
        Just("controlVariant"),
        Just("groupBy"),
        Just("compare"),
        Just("channel"),
        Just("tz"),
    ];
    prop::collection::vec((name, nasty_text()), 0..5).prop_map(|pairs| {
        pairs.into_iter().map(|(k, v)| format!("{k}={}", percent_encode(&v))).collect::<Vec<_>>().join("&")
    })
}

#[derive(Debug, Clone)]
struct Case {
    method: Method,
    path: String,
    query: String,
    key: Option<String>,
    bearer: Option<String>,
    if_match: Option<String>,
    origin: Option<String>,
    body: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    let key = prop_oneof![1 => Just(None), 6 => Just(Some(demo_key())), 1 => nasty_text().prop_map(Some)];
    let bearer = prop_oneof![Just(None), Just(Some(ADMIN_TOKEN.to_owned())), nasty_text().prop_map(Some)];
    let text = prop_oneof![Just(None), nasty_text().prop_map(Some), Just(Some("*".to_owned()))];
    (route(), query(), key, bearer, text.clone(), text, body()).prop_map(
        |((method, path), query, key, bearer, if_match, origin, body)| Case {
            method,
            path,
            query,
            key,
            bearer,
            if_match,
            origin,
            body,
        },
    )
}

fn request(case: &Case, experiment_id: &str) -> Option<shared::api::Request> {
    let path = case.path.replace("/demo", &format!("/{experiment_id}"));
    let uri = if case.query.is_empty() { path } else { format!("{path}?{}", case.query) };
    let mut builder = http::Request::builder().method(case.method.clone()).uri(uri);
    let mut header = |name: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().and_then(|v| HeaderValue::from_str(v).ok()) {
            builder = std::mem::take(&mut builder).header(name, value);
        }
    };
    header("x-api-key", &case.key);
    header("authorization", &case.bearer.as_ref().map(|t| format!("Bearer {t}")));
    header("if-match", &case.if_match);
    header("origin", &case.origin);
    builder.body(Bytes::from(case.body.clone())).ok()
}

#[test]
fn no_request_panics_or_fails_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (ctx, experiment_id): (AppContext, String) = runtime.block_on(async {
        let ctx = open_embedded(dir.path(), QueueConfig::default(), Some(ADMIN_TOKEN.into())).unwrap();
        shared::demo::seed(&ctx).await.unwrap();
        let (list, _) =
            shared::repo::experiments::list(ctx.store.as_ref(), shared::demo::DEMO_TENANT_ID, None, 1, None)
                .await
                .unwrap();
        let id = list[0].id.clone();
        (ctx, id)
    });
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1500);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case(), |case| {
        let Some(request) = request(&case, &experiment_id) else { return Ok(()) };
        let response = runtime.block_on(shared::api::handle(&ctx, request));
        let status = response.status();
        if status.is_server_error() {
            return Err(TestCaseError::fail(format!("{status} for {case:?}: {:?}", response.body())));
        }
        if status.is_client_error() && case.method != Method::HEAD {
            let body: Value = serde_json::from_slice(response.body())
                .map_err(|e| TestCaseError::fail(format!("{status} is not JSON ({e}) for {case:?}")))?;
            if !(body["error"].is_string() && body["message"].is_string()) {
                return Err(TestCaseError::fail(format!(
                    "{status} not in the error shape: {body} for {case:?}"
                )));
            }
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}
