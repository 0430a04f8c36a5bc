//! Every endpoint and every documented 4xx, through HTTP.

use blackbox::{ADMIN_TOKEN, DEMO_KEY, Options, Stack};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn health_answers_without_a_key() {
    let stack = Stack::start().await;
    let reply = stack.request(Method::GET, "/api/health", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    let fields: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["status", "version"], "no details without admin credentials");
    let tenant_key = stack.tenant("acme").await.1;
    assert_eq!(stack.get("/api/health", &tenant_key).await.body.as_object().unwrap().len(), 2);
    let admin = stack.health().await;
    assert_eq!(admin.body["checks"]["store"], "ok");
    assert_eq!(admin.body["queue"]["deadLetters"], 0);
}

#[tokio::test]
async fn the_api_documents_itself() {
    let stack = Stack::start().await;
    let doc = stack.request(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc.body["paths"]["/api/experiments/{id}/results"]["get"].is_object());
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let moved = stack.raw(no_redirects.get(format!("{}/api/docs", stack.base))).await;
    assert_eq!(moved.status, StatusCode::MOVED_PERMANENTLY);
    let page = stack.raw(stack.client().get(format!("{}/api/docs/", stack.base))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.body.as_str().unwrap().contains("swagger"), "Swagger UI is served");
    let init = stack.raw(stack.client().get(format!("{}/api/docs/swagger-initializer.js", stack.base))).await;
    assert!(init.body.as_str().unwrap().contains("/api/openapi.json"));
}

#[tokio::test]
async fn tenant_routes_require_a_known_key() {
    let stack = Stack::start().await;
    for (method, path) in [
        (Method::POST, "/api/events"),
        (Method::POST, "/api/events/batch"),
        (Method::GET, "/api/analytics/summary"),
        (Method::GET, "/api/experiments"),
        (Method::POST, "/api/experiments"),
        (Method::GET, "/api/experiments/some-id"),
    ] {
        let missing = stack.request(method.clone(), path, None, Some(&json!({}))).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(missing.error_code(), "unauthorized");
        let unknown = stack.request(method.clone(), path, Some("nope"), Some(&json!({}))).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let missing = stack.get("/api/nothing-here", &key).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
    let wrong_method = stack.request(Method::DELETE, "/api/experiments", Some(&key), None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers["allow"], "GET, POST");
    let wrong_method = stack.get("/api/events", &key).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn single_event_is_accepted_normalised_and_counted() {
    let stack = Stack::start().await;
    let (tenant_id, key) = stack.tenant("acme").await;
    let reply = stack
        .post(
            "/api/events",
            &key,
            json!({
                "userId": "user_123",
                "eventType": "CONVERSION",
                "properties": {"experimentId": "exp_1", "variant": "A", "plan": "pro"},
                "timestamp": "2025-01-15T11:00:00+01:00",
                "eventId": "evt-1"
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "id": "evt-1",
            "tenantId": tenant_id,
            "userId": "user_123",
            "eventType": "CONVERSION",
            "experimentId": "exp_1",
            "variant": "A",
            "properties": {"experimentId": "exp_1", "variant": "A", "plan": "pro"},
            "timestamp": "2025-01-15T10:00:00Z",
            "campaign": {"channel": "Direct", "source": "(direct)", "medium": "(none)"}
        })
    );

    let bare = stack.post("/api/events", &key, json!({"userId": "u2", "eventType": "PAGE_VIEW"})).await;
    assert_eq!(bare.status, StatusCode::ACCEPTED);
    assert_eq!(bare.body["experimentId"], Value::Null);
    assert_eq!(bare.body["variant"], Value::Null);
    assert_eq!(bare.body["properties"], json!({}));
    let id = bare.body["id"].as_str().unwrap();
    assert_eq!(uuid_version(id), Some('7'), "generated ids are UUIDv7: {id}");
    assert!(bare.body["timestamp"].as_str().unwrap().ends_with('Z'));

    let summary = stack.wait_for_events(&key, "/api/analytics/summary", 2).await;
    assert_eq!(summary["uniqueUsers"], 2);
    assert_eq!(
        summary["variants"]["A"],
        json!({"events": 1, "users": 1, "conversions": 1, "convertedUsers": 1, "conversionRate": 1.0})
    );
}

#[tokio::test]
async fn campaign_fields_are_derived_at_ingest_with_the_tenants_ignored_referrers() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let (_, other) = stack.tenant("other").await;
    let landing = json!({
        "userId": "u1",
        "eventType": "PAGE_VIEW",
        "properties": {
            "url": "https://shop.example/spring?utm_source=Newsletter&utm_medium=EMAIL&utm_campaign=Spring%20Sale",
            "referrer": "https://mail.example/inbox"
        }
    });
    let reply = stack.post("/api/events", &key, landing.clone()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(
        reply.body["campaign"],
        json!({"channel": "Email", "source": "newsletter", "medium": "email", "campaign": "spring sale"})
    );
    assert_eq!(reply.body["properties"], landing["properties"], "properties keep what the client sent");

    // A return from the payment provider is a referral until the tenant
    // ignores its domain; then it is direct. Other tenants are unaffected.
    let back_from_checkout = json!({
        "userId": "u1",
        "eventType": "CONVERSION",
        "properties": {"url": "https://shop.example/thanks", "referrer": "https://www.paypal.com/checkout"}
    });
    let before = stack.post("/api/events", &key, back_from_checkout.clone()).await;
    assert_eq!(before.body["campaign"]["channel"], "Referral");
    assert_eq!(before.body["campaign"]["source"], "paypal.com");

    let empty = stack.get("/api/settings/ignored-referrers", &key).await;
    assert_eq!(
        (empty.status, empty.body.clone()),
        (StatusCode::OK, json!({"domains": [], "updatedAt": null}))
    );
    let set = stack
        .request(
            Method::PUT,
            "/api/settings/ignored-referrers",
            Some(&key),
            Some(&json!({"domains": ["PayPal.com", "https://checkout.stripe.com/pay"]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["domains"], json!(["paypal.com", "checkout.stripe.com"]));
    assert!(set.body["updatedAt"].is_string());
    assert_eq!(stack.get("/api/settings/ignored-referrers", &key).await.body, set.body);

    let after = stack.post("/api/events", &key, back_from_checkout.clone()).await;
    assert_eq!(
        after.body["campaign"],
        json!({"channel": "Direct", "source": "(direct)", "medium": "(none)"})
    );
    let elsewhere = stack.post("/api/events", &other, back_from_checkout).await;
    assert_eq!(elsewhere.body["campaign"]["channel"], "Referral", "settings are per tenant");
    assert_eq!(stack.get("/api/settings/ignored-referrers", &other).await.body["domains"], json!([]));

    // Bad lists are 400 naming the entry and change nothing; the routes
    // need a full key.
    let bad = stack
        .request(
            Method::PUT,
            "/api/settings/ignored-referrers",
            Some(&key),
            Some(&json!({"domains": ["ok.example", "*.wild.example"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    assert_eq!(bad.body["details"][0]["field"], "domains[1]");
    assert_eq!(stack.get("/api/settings/ignored-referrers", &key).await.body, set.body);
    let not_json = stack
        .raw(
            stack
                .client()
                .put(format!("{}/api/settings/ignored-referrers", stack.base))
                .header("X-API-Key", &key)
                .body("domains"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let unauthenticated = stack.request(Method::GET, "/api/settings/ignored-referrers", None, None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    let ingest_key = stack.post("/api/keys", &key, json!({"scope": "ingest", "label": "site"})).await;
    assert_eq!(ingest_key.status, StatusCode::CREATED, "{:?}", ingest_key.body);
    let publishable = ingest_key.body["key"].as_str().unwrap();
    assert_eq!(stack.get("/api/settings/ignored-referrers", publishable).await.status, StatusCode::FORBIDDEN);
    let deleted = stack.request(Method::DELETE, "/api/settings/ignored-referrers", Some(&key), None).await;
    assert_eq!(deleted.status, StatusCode::METHOD_NOT_ALLOWED);

    // Custom dimensions: declared per tenant, checked, kept beside the
    // ignored referrers.
    let none = stack.get("/api/dimensions", &key).await;
    assert_eq!((none.status, none.body["keys"].clone()), (StatusCode::OK, json!([])));
    let put = async |keys: Value| {
        stack.request(Method::PUT, "/api/dimensions", Some(&key), Some(&json!({"keys": keys}))).await
    };
    let declared = put(json!(["device", "Plan"])).await;
    assert_eq!(declared.status, StatusCode::OK, "{:?}", declared.body);
    assert_eq!(declared.body["keys"], json!(["device", "Plan"]));
    for (keys, field) in [
        (json!(["a", "b", "c", "d", "e", "f"]), "keys"),
        (json!(["ok", ""]), "keys[1]"),
        (json!("device"), "keys"),
    ] {
        let bad = put(keys.clone()).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{keys}: {:?}", bad.body);
        assert_eq!(bad.body["details"][0]["field"], field, "{keys}");
    }
    let now = stack.get("/api/dimensions", &key).await;
    assert_eq!(now.body["keys"], json!(["device", "Plan"]), "a refused list changes nothing");
    assert_eq!(stack.get("/api/settings/ignored-referrers", &key).await.body["domains"], set.body["domains"]);
    assert_eq!(stack.get("/api/dimensions", &other).await.body["keys"], json!([]), "per tenant");
    assert_eq!(stack.get("/api/dimensions", publishable).await.status, StatusCode::FORBIDDEN);
    let reply = stack.get("/api/analytics/campaigns?groupBy=property:Plan", &key).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["groupBy"], "property:Plan");
    assert_eq!(reply.body["timezone"], "UTC");

    // The time zone whose days the campaign rollups count: UTC until set.
    let utc = stack.get("/api/settings/timezone", &key).await;
    assert_eq!((utc.status, utc.body["timezone"].clone()), (StatusCode::OK, json!("UTC")));
    let put = async |body: Value| {
        stack.request(Method::PUT, "/api/settings/timezone", Some(&key), Some(&body)).await
    };
    for body in
        [json!({"timezone": "Mars/Olympus"}), json!({"timezone": ""}), json!({}), json!({"timezone": 5})]
    {
        let bad = put(body.clone()).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{body}: {:?}", bad.body);
        assert_eq!(bad.body["details"][0]["field"], "timezone", "{body}");
    }
    let zoned = put(json!({"timezone": "Asia/Kolkata"})).await;
    assert_eq!(zoned.status, StatusCode::OK, "{:?}", zoned.body);
    assert_eq!(zoned.body["timezone"], "Asia/Kolkata");
    assert!(zoned.body["updatedAt"].is_string());
    assert_eq!(stack.get("/api/settings/timezone", &key).await.body["timezone"], "Asia/Kolkata");
    assert_eq!(stack.get("/api/dimensions", &key).await.body["keys"], json!(["device", "Plan"]), "kept");
    assert_eq!(stack.get("/api/settings/timezone", &other).await.body["timezone"], "UTC", "per tenant");
    assert_eq!(stack.get("/api/settings/timezone", publishable).await.status, StatusCode::FORBIDDEN);
    // The report counts the tenant's days, and says so; `tz` may name
    // that zone only.
    let reply = stack.get("/api/analytics/campaigns?tz=Asia%2FKolkata", &key).await;
    assert_eq!((reply.status, reply.body["timezone"].clone()), (StatusCode::OK, json!("Asia/Kolkata")));
    for tz in ["UTC", "Europe%2FParis", "Nowhere"] {
        let reply = stack.get(&format!("/api/analytics/campaigns?tz={tz}"), &key).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{tz}: {:?}", reply.body);
        assert_eq!(reply.body["details"][0]["field"], "tz", "{tz}");
    }
    let utc_tenant = stack.get("/api/analytics/campaigns?tz=Etc%2FUTC", &other).await;
    assert_eq!(utc_tenant.status, StatusCode::OK, "another name of UTC: {:?}", utc_tenant.body);
}

fn uuid_version(id: &str) -> Option<char> {
    (id.len() == 36).then(|| id.chars().nth(14)).flatten()
}

#[tokio::test]
async fn invalid_events_are_400_naming_the_field_and_change_nothing() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let cases = [
        (json!({"eventType": "CLICK"}), "userId"),
        (json!({"userId": "", "eventType": "CLICK"}), "userId"),
        (json!({"userId": "x".repeat(257), "eventType": "CLICK"}), "userId"),
        (json!({"userId": 12, "eventType": "CLICK"}), "userId"),
        (json!({"userId": "u"}), "eventType"),
        (json!({"userId": "u", "eventType": "PURCHASE"}), "eventType"),
        (json!({"userId": "u", "eventType": "CLICK", "properties": [1]}), "properties"),
        (
            json!({"userId": "u", "eventType": "CLICK", "properties": {"blob": "x".repeat(17 * 1024)}}),
            "properties",
        ),
        (
            json!({"userId": "u", "eventType": "CLICK", "properties": {"experimentId": ""}}),
            "properties.experimentId",
        ),
        (
            json!({"userId": "u", "eventType": "CLICK", "properties": {"variant": "v".repeat(129)}}),
            "properties.variant",
        ),
        (
            json!({"userId": "u", "eventType": "CLICK", "properties": {"experimentId": 5}}),
            "properties.experimentId",
        ),
        (json!({"userId": "u", "eventType": "CLICK", "timestamp": "yesterday"}), "timestamp"),
        (json!({"userId": "u", "eventType": "CLICK", "timestamp": "2999-01-01T00:00:00Z"}), "timestamp"),
        (json!({"userId": "u", "eventType": "CLICK", "timestamp": "0001-01-01T00:00:00Z"}), "timestamp"),
        (json!({"userId": "u", "eventType": "CLICK", "timestamp": "1999-12-31T23:59:59Z"}), "timestamp"),
        // What DynamoDB cannot store is refused at the door, on either backend.
        (json!({"userId": "u", "eventType": "CLICK", "properties": {"x": 1e308}}), "properties.x"),
        (json!({"userId": "u", "eventType": "CLICK", "properties": {"": 1}}), "properties."),
        (
            json!({"userId": "u", "eventType": "CLICK", "properties": {"deep": (0..40).fold(json!(1), |v, _| json!([v]))}}),
            "properties.deep[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
        ),
        (json!({"userId": "\u{1F600}#".repeat(200), "eventType": "CLICK"}), "userId"),
        (json!({"userId": "u", "eventType": "CLICK", "eventId": ""}), "eventId"),
        (json!({"userId": "u", "eventType": "CLICK", "eventId": 7}), "eventId"),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let reply = stack.post("/api/events", &key, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.error_code(), "validation_failed");
        let fields: Vec<&str> =
            reply.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, [field], "{body}");
    }

    // 128 four-byte characters in both experimentId and variant: each
    // fits, but not together in one sort key; both fields are named.
    let wide = "\u{1F600}".repeat(128);
    let reply = stack
        .post(
            "/api/events",
            &key,
            json!({"userId": "u", "eventType": "CLICK", "properties": {"experimentId": wide, "variant": wide}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> =
        reply.body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["properties.experimentId", "properties.variant"]);

    let not_json = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/events", stack.base))
                .header("X-API-Key", &key)
                .body("{not json"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.error_code(), "invalid_json");

    let huge = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/events", stack.base))
                .header("X-API-Key", &key)
                .body(vec![b' '; 1024 * 1024 + 1]),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.error_code(), "payload_too_large");

    // One valid event afterwards is the only one ever counted.
    let ok = stack.post("/api/events", &key, json!({"userId": "u", "eventType": "CLICK"})).await;
    assert_eq!(ok.status, StatusCode::ACCEPTED);
    let summary = stack.wait_for_events(&key, "/api/analytics/summary", 1).await;
    assert_eq!(summary["uniqueUsers"], 1);
    let health = stack.health().await;
    assert_eq!(health.body["queue"]["deadLetters"], 0);
}

#[tokio::test]
async fn batches_are_all_or_nothing() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let good =
        |i: usize| json!({"userId": format!("u{i}"), "eventType": "PAGE_VIEW", "eventId": format!("b-{i}")});

    let mut events: Vec<Value> = (0..10).map(good).collect();
    events[3] = json!({"userId": "u3", "eventType": "NOPE"});
    events[7] = json!({"eventType": "CLICK", "timestamp": "later"});
    let refused = stack.post("/api/events/batch", &key, json!({"events": events})).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "validation_failed");
    let details = refused.body["details"].as_array().unwrap();
    let indexed: Vec<(u64, &str)> =
        details.iter().map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str().unwrap())).collect();
    assert_eq!(indexed, [(3, "events[3].eventType"), (7, "events[7].userId"), (7, "events[7].timestamp")]);

    for body in [
        json!({}),
        json!({"events": []}),
        json!({"events": "x"}),
        json!({"events": (0..1001).map(good).collect::<Vec<_>>()}),
    ] {
        let reply = stack.post("/api/events/batch", &key, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["details"][0]["field"], "events");
    }

    let accepted = stack
        .post("/api/events/batch", &key, json!({"events": (0..1000).map(good).collect::<Vec<_>>()}))
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
    assert_eq!(accepted.body["accepted"], 1000);
    assert_eq!(accepted.body["ids"][999], "b-999");
    let summary = stack.wait_for_events(&key, "/api/analytics/summary", 1000).await;
    assert_eq!(summary["uniqueUsers"], 1000);
}

#[tokio::test]
async fn repeated_event_ids_count_once() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let event = |id: &str, user: &str| {
        json!({"eventId": id, "userId": user, "eventType": "CONVERSION",
               "properties": {"experimentId": "e", "variant": "A"}})
    };
    for _ in 0..3 {
        let reply = stack.post("/api/events", &key, event("same", "alice")).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    let batch = json!({"events": [event("same", "alice"), event("other", "bob"), event("other", "bob")]});
    assert_eq!(stack.post("/api/events/batch", &key, batch.clone()).await.status, StatusCode::ACCEPTED);
    // Wait for both distinct events, then resend everything once more.
    stack.wait_for_events(&key, "/api/analytics/summary", 2).await;
    assert_eq!(stack.post("/api/events/batch", &key, batch).await.status, StatusCode::ACCEPTED);
    let marker = stack.post("/api/events", &key, event("last", "carol")).await;
    assert_eq!(marker.status, StatusCode::ACCEPTED);
    let summary = stack.wait_for_events(&key, "/api/analytics/summary", 3).await;
    assert_eq!(summary["variants"]["A"]["conversions"], 3);
    assert_eq!(summary["variants"]["A"]["convertedUsers"], 3);

    // The same id from another tenant is another event.
    let (_, other) = stack.tenant("other").await;
    assert_eq!(stack.post("/api/events", &other, event("same", "alice")).await.status, StatusCode::ACCEPTED);
    stack.wait_for_events(&other, "/api/analytics/summary", 1).await;
}

#[tokio::test]
async fn summary_parameters_are_validated() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    for query in [
        "startDate=yesterday",
        "endDate=2026-02-30",
        "startDate=2026-11-02&endDate=2026-11-01",
        "startDate=2026-11-01T10:00:00Z&endDate=2026-11-01T09:59:59Z",
        // Signed years of any width parse in chrono; their arithmetic overflowed.
        "endDate=%2B262142-12-31",
        "startDate=%2B262142-12-31",
        "startDate=1969-12-31",
        "endDate=10000-01-01",
    ] {
        for route in ["summary", "timeseries"] {
            let reply = stack.get(&format!("/api/analytics/{route}?{query}"), &key).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{route}?{query}");
            assert_eq!(reply.error_code(), "validation_failed");
        }
    }
    for dates in [json!({"startDate": "+262142-12-31"}), json!({"endDate": "+262142-12-31"})] {
        let mut body = json!({"name": "far", "variants": ["A", "B"]});
        body.as_object_mut().unwrap().extend(dates.as_object().unwrap().clone());
        let reply = stack.post("/api/experiments", &key, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let empty = stack.get("/api/analytics/summary", &key).await;
    assert_eq!(
        empty.body,
        json!({"totalEvents": 0, "uniqueUsers": 0, "variants": {}, "usersApproximate": false})
    );
}

#[tokio::test]
async fn experiments_can_be_created_listed_read_and_updated() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let created =
        stack.post("/api/experiments", &key, json!({"name": "Button colour", "variants": ["A", "B"]})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let experiment = created.body.clone();
    assert_eq!(experiment["status"], "DRAFT");
    assert_eq!(experiment["description"], Value::Null);
    assert_eq!(experiment["variants"], json!([{"name": "A", "weight": 50.0}, {"name": "B", "weight": 50.0}]));
    for field in ["id", "createdAt", "updatedAt"] {
        assert!(experiment[field].is_string(), "{field}");
    }
    let id = experiment["id"].as_str().unwrap().to_owned();

    let weighted = stack
        .post(
            "/api/experiments",
            &key,
            json!({"name": "Pricing", "description": "3 arms", "status": "ACTIVE",
                   "startDate": "2026-11-01", "endDate": "2026-12-01T00:00:00Z",
                   "variants": [{"name": "A", "weight": 50}, {"name": "B", "trafficSplit": 25},
                                {"name": "C", "weight": 25}]}),
        )
        .await;
    assert_eq!(weighted.status, StatusCode::CREATED, "{:?}", weighted.body);
    assert_eq!(weighted.body["variants"][1], json!({"name": "B", "weight": 25.0}));
    assert_eq!(weighted.body["startDate"], "2026-11-01T00:00:00Z");

    let read = stack.get(&format!("/api/experiments/{id}"), &key).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, experiment);

    let listed = stack.get("/api/experiments", &key).await;
    let names: Vec<&str> =
        listed.body.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Pricing", "Button colour"], "newest first");
    let active = stack.get("/api/experiments?status=ACTIVE", &key).await;
    assert_eq!(active.body.as_array().unwrap().len(), 1);
    assert_eq!(active.body[0]["name"], "Pricing");

    // Life cycle: DRAFT → ACTIVE → PAUSED → ACTIVE → COMPLETED.
    let path = format!("/api/experiments/{id}");
    let patched = stack.patch(&path, &key, json!({"variants": ["A", "B", "C"], "name": "Colour"})).await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["variants"].as_array().unwrap().len(), 3);
    for status in ["ACTIVE", "PAUSED", "ACTIVE"] {
        let reply = stack.patch(&path, &key, json!({"status": status})).await;
        assert_eq!(reply.status, StatusCode::OK, "{status}: {:?}", reply.body);
        assert_eq!(reply.body["status"], status);
    }
    let frozen = stack.patch(&path, &key, json!({"variants": ["A", "B"]})).await;
    assert_eq!(frozen.status, StatusCode::CONFLICT);
    assert_eq!(frozen.error_code(), "conflict");
    let back = stack.patch(&path, &key, json!({"status": "DRAFT"})).await;
    assert_eq!(back.status, StatusCode::CONFLICT);
    let done = stack.patch(&path, &key, json!({"status": "COMPLETED", "description": "done"})).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body["endDate"].is_string(), "completion records the end");
    let reopen = stack.patch(&path, &key, json!({"status": "ACTIVE"})).await;
    assert_eq!(reopen.status, StatusCode::CONFLICT);
    let invalid_status = stack.patch(&path, &key, json!({"status": "FINISHED"})).await;
    assert_eq!(invalid_status.status, StatusCode::BAD_REQUEST);
    let nothing = stack.patch(&path, &key, json!({"colour": "red"})).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    let missing = stack.patch("/api/experiments/does-not-exist", &key, json!({"name": "x"})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(stack.get("/api/experiments/does-not-exist", &key).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_experiments_are_400() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let cases = [
        (json!({"variants": ["A", "B"]}), "name"),
        (json!({"name": "  ", "variants": ["A", "B"]}), "name"),
        (json!({"name": "x"}), "variants"),
        (json!({"name": "x", "variants": ["A"]}), "variants"),
        (json!({"name": "x", "variants": (0..11).map(|i| format!("v{i}")).collect::<Vec<_>>()}), "variants"),
        (json!({"name": "x", "variants": ["A", "A"]}), "variants"),
        (
            json!({"name": "x", "variants": [{"name": "A", "weight": 60}, {"name": "B", "weight": 30}]}),
            "variants",
        ),
        (
            json!({"name": "x", "variants": [{"name": "A"}, {"name": "B", "weight": 100}]}),
            "variants[0].weight",
        ),
        (json!({"name": "x", "variants": ["A", "B"], "status": "PAUSED"}), "status"),
        (json!({"name": "x", "variants": ["A", "B"], "startDate": "soon"}), "startDate"),
        (json!({"name": "x", "variants": ["A", "B"], "description": 5}), "description"),
    ];
    for (body, field) in cases {
        let reply = stack.post("/api/experiments", &key, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.body["details"][0]["field"], field, "{body}");
    }
    assert_eq!(stack.get("/api/experiments", &key).await.body, json!([]));
    for query in ["limit=0", "limit=101", "limit=x", "status=RUNNING"] {
        let reply = stack.get(&format!("/api/experiments?{query}"), &key).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn experiment_lists_page_with_a_cursor() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    for i in 0..7 {
        let status = if i % 2 == 0 { "ACTIVE" } else { "DRAFT" };
        let reply = stack
            .post(
                "/api/experiments",
                &key,
                json!({"name": format!("e{i}"), "variants": ["A", "B"], "status": status}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let mut names = Vec::new();
    let mut path = "/api/experiments?limit=3".to_owned();
    loop {
        let page = stack.get(&path, &key).await;
        assert!(page.body.as_array().unwrap().len() <= 3);
        names.extend(page.body.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap().to_owned()));
        match page.headers.get("x-next-cursor") {
            Some(cursor) => path = format!("/api/experiments?limit=3&cursor={}", cursor.to_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(names, ["e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
    let active = stack.get("/api/experiments?status=ACTIVE&limit=2", &key).await;
    let cursor = active.headers["x-next-cursor"].to_str().unwrap().to_owned();
    let rest = stack.get(&format!("/api/experiments?status=ACTIVE&limit=2&cursor={cursor}"), &key).await;
    let names: Vec<&str> = active
        .body
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body.as_array().unwrap())
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["e6", "e4", "e2", "e0"]);
}

#[tokio::test]
async fn tenants_cannot_see_each_other() {
    let stack = Stack::start().await;
    let (_, alice) = stack.tenant("alice corp").await;
    let (_, bob) = stack.tenant("bob corp").await;
    let created =
        stack.post("/api/experiments", &alice, json!({"name": "secret", "variants": ["A", "B"]})).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/experiments/{id}");

    let peek = stack.get(&path, &bob).await;
    let missing = stack.get("/api/experiments/00000000-0000-7000-8000-000000000000", &bob).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    assert_eq!(peek.body["error"], missing.body["error"]);
    assert_eq!(stack.patch(&path, &bob, json!({"status": "ACTIVE"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(stack.get("/api/experiments", &bob).await.body, json!([]));
    assert_eq!(stack.get(&path, &alice).await.status, StatusCode::OK);

    let event =
        json!({"userId": "u", "eventType": "CONVERSION", "properties": {"experimentId": id, "variant": "A"}});
    assert_eq!(stack.post("/api/events", &alice, event).await.status, StatusCode::ACCEPTED);
    stack.wait_for_events(&alice, "/api/analytics/summary", 1).await;
    let bobs = stack.get(&format!("/api/analytics/summary?experimentId={id}"), &bob).await;
    assert_eq!(
        bobs.body,
        json!({"totalEvents": 0, "uniqueUsers": 0, "variants": {}, "usersApproximate": false})
    );
    let bobs_all = stack.get("/api/analytics/summary?startDate=2000-01-01", &bob).await;
    assert_eq!(bobs_all.body["totalEvents"], 0);
}

#[tokio::test]
async fn admin_creates_tenants_and_rotates_keys() {
    let stack = Stack::start_with(Options::default().seeded()).await;
    let create = |token: Option<&str>| {
        let mut request =
            stack.client().post(format!("{}/api/admin/tenants", stack.base)).json(&json!({"name": "Acme"}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    };
    for token in [None, Some("wrong"), Some(DEMO_KEY)] {
        let reply = stack.raw(create(token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(reply.error_code(), "unauthorized");
    }
    let tenant_key_header = stack.raw(create(None).header("X-API-Key", DEMO_KEY)).await;
    assert_eq!(tenant_key_header.status, StatusCode::UNAUTHORIZED);
    let bad_name = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/admin/tenants", stack.base))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"name": ""})),
        )
        .await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);

    let created = stack.raw(create(Some(ADMIN_TOKEN))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let key = created.body["apiKey"].as_str().unwrap().to_owned();
    assert!(key.len() >= 32, "at least 128 bits of key");
    assert_eq!(created.body["name"], "Acme");
    assert_eq!(stack.get("/api/experiments", &key).await.status, StatusCode::OK);

    let rotated = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/admin/tenants/{id}/keys", stack.base))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let new_key = rotated.body["apiKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(stack.get("/api/experiments", &key).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.get("/api/experiments", &new_key).await.status, StatusCode::OK);
    let nobody = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/admin/tenants/nobody/keys", stack.base))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    // No raw key is anywhere in the data directory.
    if blackbox::aws_backend() {
        return;
    }
    let mut stack = stack;
    stack.terminate();
    for entry in std::fs::read_dir(&stack.data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [&key, &new_key, DEMO_KEY] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a raw API key is stored on disk"
            );
        }
    }
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let stack = Stack::start_with(
        Options::default().env("THROTTLE_EXPERIMENTS_RPS", 1).env("THROTTLE_EXPERIMENTS_BURST", 3),
    )
    .await;
    let (_, key) = stack.tenant("acme").await;
    let (_, other) = stack.tenant("other").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(stack.get("/api/experiments", &key).await);
    }
    let throttled = statuses.iter().find(|r| r.status == StatusCode::TOO_MANY_REQUESTS).expect("a 429");
    assert_eq!(throttled.error_code(), "throttled");
    let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert!(statuses.iter().filter(|r| r.status == StatusCode::OK).count() >= 3, "the burst passes");
    assert_eq!(stack.get("/api/experiments", &other).await.status, StatusCode::OK, "per key");
    assert_eq!(stack.get("/api/analytics/summary", &key).await.status, StatusCode::OK, "per route group");
}

#[tokio::test]
async fn a_fresh_stack_seeds_the_demo_tenant() {
    let stack = Stack::start_with(Options::default().seeded()).await;
    let experiments = stack.get("/api/experiments", DEMO_KEY).await;
    assert_eq!(experiments.status, StatusCode::OK);
    let demo = &experiments.body[0];
    assert_eq!(demo["status"], "ACTIVE");
    let id = demo["id"].as_str().unwrap();
    // On moto, writing all 5,000 demo events takes minutes (its transactions
    // are slow); seeing the demo counted at all is the point there.
    let expected_users = if blackbox::aws_backend() { 1 } else { 2000 };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let summary = stack.get(&format!("/api/analytics/summary?experimentId={id}"), DEMO_KEY).await;
        let users = summary.body["uniqueUsers"].as_u64().unwrap();
        if users >= expected_users {
            assert!(users <= 2000);
            if !blackbox::aws_backend() {
                assert_eq!(summary.body["variants"].as_object().unwrap().len(), 2);
            }
            break;
        }
        assert!(std::time::Instant::now() < deadline, "demo events not counted: {:?}", summary.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn cross_origin_access_is_granted_only_to_the_configured_dashboard_origins() {
    let dashboard = "https://d111111abcdef8.cloudfront.net";
    let stack = Stack::start_with(
        Options::default()
            .seeded()
            .env("CORS_ALLOWED_ORIGINS", format!("{dashboard},http://localhost:5173"))
            .env("THROTTLE_ANALYTICS_RPS", 1)
            .env("THROTTLE_ANALYTICS_BURST", 1),
    )
    .await;
    let url = format!("{}/api/analytics/summary", stack.base);
    let preflight = |origin: &str| {
        stack
            .client()
            .request(Method::OPTIONS, &url)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "x-api-key")
    };

    // The dashboard's preflight (sent without a key) is granted...
    let granted = stack.raw(preflight(dashboard)).await;
    assert_eq!(granted.status, StatusCode::NO_CONTENT);
    assert_eq!(granted.headers["access-control-allow-origin"], dashboard);
    assert!(granted.headers["access-control-allow-headers"].to_str().unwrap().contains("x-api-key"));
    // ...and so is its request, with the headers a client may read.
    let summary =
        stack.raw(stack.client().get(&url).header("X-API-Key", DEMO_KEY).header("Origin", dashboard)).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert_eq!(summary.headers["access-control-allow-origin"], dashboard);
    assert!(summary.headers["access-control-expose-headers"].to_str().unwrap().contains("retry-after"));
    // A throttled answer, made before any handler runs, is readable too.
    let throttled =
        stack.raw(stack.client().get(&url).header("X-API-Key", DEMO_KEY).header("Origin", dashboard)).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers["access-control-allow-origin"], dashboard);

    // A foreign origin gets no grant at all, so a browser hides the answer.
    for foreign in ["https://evil.example", "https://d111111abcdef8.cloudfront.net.evil.example", "null"] {
        let refused = stack.raw(preflight(foreign)).await;
        assert!(refused.headers.get("access-control-allow-origin").is_none(), "{foreign}");
        assert!(refused.headers.get("access-control-allow-methods").is_none(), "{foreign}");
        let health = stack
            .raw(stack.client().get(format!("{}/api/health", stack.base)).header("Origin", foreign))
            .await;
        assert_eq!(health.status, StatusCode::OK);
        assert!(health.headers.get("access-control-allow-origin").is_none(), "{foreign}");
    }
}

#[tokio::test]
async fn the_tenant_command_creates_and_rotates_keys_through_the_admin_api() {
    let stack = Stack::start().await;
    let command = |args: &[&str], token: &str| {
        let output = std::process::Command::new(blackbox::binary())
            .arg("tenant")
            .args(args)
            .env("ADMIN_URL", format!("{}/api", stack.base))
            .env("ADMIN_TOKEN", token)
            .env_remove("ADMIN_AUTH")
            .output()
            .expect("campaign-local runs");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    };

    let (ok, stdout) = command(&["create", "Acme from the CLI"], blackbox::ADMIN_TOKEN);
    assert!(ok, "{stdout}");
    let created: Value = serde_json::from_str(&stdout).expect("the answer is printed as JSON");
    let key = created["apiKey"].as_str().unwrap();
    assert_eq!(created["name"], "Acme from the CLI");
    assert_eq!(stack.get("/api/experiments", key).await.status, StatusCode::OK);

    let (ok, stdout) = command(&["rotate", created["id"].as_str().unwrap()], blackbox::ADMIN_TOKEN);
    assert!(ok, "{stdout}");
    let rotated: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(stack.get("/api/experiments", key).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stack.get("/api/experiments", rotated["apiKey"].as_str().unwrap()).await.status,
        StatusCode::OK
    );

    let (ok, _) = command(&["create", "Nope"], "wrong-token");
    assert!(!ok, "a refused admin call makes the command fail");
}

#[tokio::test]
async fn default_time_series_answer_whatever_old_events_were_accepted() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let old = (chrono::Utc::now() - chrono::TimeDelta::days(3600)).to_rfc3339();
    let reply =
        stack.post("/api/events", &key, json!({"userId": "u", "eventType": "CLICK", "timestamp": old})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    stack.wait_for_events(&key, "/api/analytics/summary", 1).await;
    let daily = stack.get("/api/analytics/timeseries", &key).await;
    assert_eq!(daily.status, StatusCode::OK, "{:?}", daily.body);
    let days = daily.body["buckets"].as_array().unwrap();
    assert_eq!(days.iter().map(|b| b["events"].as_u64().unwrap()).sum::<u64>(), 1);
    // 3,600 days of hours are far more than one response holds: the
    // default view shows the latest 5,000 instead of refusing.
    let hourly = stack.get("/api/analytics/timeseries?interval=hour", &key).await;
    assert_eq!(hourly.status, StatusCode::OK, "{:?}", hourly.body);
    assert_eq!(hourly.body["buckets"].as_array().unwrap().len(), 5000);
}

#[tokio::test]
async fn concurrent_edits_are_refused_with_if_match() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let created = stack.post("/api/experiments", &key, json!({"name": "etag", "variants": ["A", "B"]})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let first_tag = created.headers["etag"].to_str().unwrap().to_owned();
    let read = stack.get(&format!("/api/experiments/{id}"), &key).await;
    assert_eq!(read.headers["etag"].to_str().unwrap(), first_tag);
    let patch = |tag: Option<String>, name: &'static str| {
        let mut request = stack
            .client()
            .patch(format!("{}/api/experiments/{id}", stack.base))
            .header("X-API-Key", &key)
            .json(&json!({"name": name}));
        if let Some(tag) = tag {
            request = request.header("If-Match", tag);
        }
        stack.raw(request)
    };
    // Alice and Bob both read the first version; Alice saves first.
    let alice = patch(Some(first_tag.clone()), "alice").await;
    assert_eq!(alice.status, StatusCode::OK, "{:?}", alice.body);
    let second_tag = alice.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(second_tag, first_tag);
    let bob = patch(Some(first_tag.clone()), "bob").await;
    assert_eq!(bob.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(bob.error_code(), "precondition_failed");
    let kept = stack.get(&format!("/api/experiments/{id}"), &key).await;
    assert_eq!(kept.body["name"], "alice", "Bob's stale edit changed nothing");
    // A list of tags, `*`, and no If-Match at all (last writer wins, as before).
    let listed = patch(Some(format!("\"v99\", {second_tag}")), "carol").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(patch(Some("W/\"v3\"".into()), "weak").await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(patch(Some("*".into()), "star").await.status, StatusCode::OK);
    assert_eq!(patch(None, "dave").await.status, StatusCode::OK);
}

#[tokio::test]
async fn made_up_keys_are_throttled_per_address_and_leave_memory_flat() {
    let stack = Stack::start_with(
        Options::default().env("THROTTLE_UNAUTHENTICATED_RPS", 1).env("THROTTLE_UNAUTHENTICATED_BURST", 5),
    )
    .await;
    let (_, key) = stack.tenant("acme").await;
    // A fresh key per request buys no fresh bucket: after the burst, 429.
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(stack.get("/api/experiments", &format!("made-up-{i}")).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 3, "{statuses:?}");
    let missing = stack.request(Method::GET, "/api/experiments", None, None).await;
    assert_eq!(missing.status, StatusCode::TOO_MANY_REQUESTS, "no key at all shares the same limit");
    // The tenant's own limit is untouched by all of that.
    assert_eq!(stack.get("/api/experiments", &key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn twenty_thousand_random_keys_leave_memory_flat() {
    let stack = Stack::start_with(
        Options::default()
            .env("THROTTLE_UNAUTHENTICATED_RPS", 1_000_000)
            .env("THROTTLE_UNAUTHENTICATED_BURST", 1_000_000),
    )
    .await;
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", stack.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    let send = |from: usize, count: usize| {
        let stack = &stack;
        async move {
            let tasks = (0..8).map(|worker| async move {
                for i in (from + worker..from + count).step_by(8) {
                    let reply =
                        stack.get("/api/analytics/summary", &format!("random-key-{i}-{}", i * 7919)).await;
                    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
                }
            });
            futures_join(tasks).await;
        }
    };
    send(0, 2_000).await;
    let before = rss();
    send(2_000, 20_000).await;
    let after = rss();
    assert!(after as f64 <= before as f64 * 1.2 + 2048.0, "RSS grew from {before} kB to {after} kB");
}

async fn futures_join<F: std::future::Future<Output = ()>>(tasks: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for task in tasks {
        set.push(task);
    }
    // Poll all concurrently on this task.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = set.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|task| task.as_mut().poll(cx).is_pending());
        if pinned.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
}

#[tokio::test]
async fn responses_list_at_most_a_hundred_variants_and_undefined_ones_apart() {
    let stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let created = stack.post("/api/experiments", &key, json!({"name": "wide", "variants": ["A", "B"]})).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    // 118 undefined variant names, one user each, and A and B with two
    // users each: 120 names and 122 events.
    let mut events: Vec<Value> = (0..118)
        .map(|i| {
            json!({"userId": format!("u{i}"), "eventType": "CLICK",
                        "properties": {"experimentId": id, "variant": format!("v{i:03}")}})
        })
        .collect();
    for (user, variant) in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B")] {
        events.push(json!({"userId": user, "eventType": "CONVERSION",
                           "properties": {"experimentId": id, "variant": variant}}));
    }
    let accepted = stack.post("/api/events/batch", &key, json!({ "events": events })).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let summary =
        stack.wait_for_events(&key, &format!("/api/analytics/summary?experimentId={id}"), 122).await;
    assert_eq!(summary["truncated"], true);
    let rows = summary["variants"].as_object().unwrap();
    assert_eq!(rows.len(), 101);
    assert_eq!(rows.values().map(|v| v["events"].as_u64().unwrap()).sum::<u64>(), 122, "nothing lost");
    assert_eq!(rows["A"]["users"], 2, "the rows with most users are kept");
    assert_eq!(rows["(other)"]["events"], 20, "120 names, 100 listed");

    let series = stack.get(&format!("/api/analytics/timeseries?experimentId={id}"), &key).await;
    assert_eq!(series.status, StatusCode::OK);
    assert_eq!(series.body["truncated"], true);
    let last = series.body["buckets"].as_array().unwrap().last().unwrap().clone();
    let variants = last["variants"].as_object().unwrap();
    assert_eq!(variants.len(), 101);
    assert!(variants.contains_key("A") && variants.contains_key("B"), "defined variants come first");
    let listed: u64 = variants.values().map(|v| v["events"].as_u64().unwrap()).sum();
    assert_eq!(listed, 122);

    let results = stack.get(&format!("/api/experiments/{id}/results"), &key).await;
    assert_eq!(results.status, StatusCode::OK);
    assert_eq!(results.body["totalUsers"], 4, "undefined variants are not compared");
    assert_eq!(results.body["truncated"], true);
    let unknown = results.body["unknownVariants"].as_object().unwrap();
    assert_eq!(unknown.len(), 101);
    assert_eq!(unknown.values().map(|u| u.as_u64().unwrap()).sum::<u64>(), 118);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_return_the_first_answer_and_count_nothing() {
    let mut stack = Stack::start().await;
    let (_, key) = stack.tenant("acme").await;
    let batch = json!({"events": [
        {"userId": "u1", "eventType": "PAGE_VIEW"},
        {"userId": "u2", "eventType": "CONVERSION", "eventId": "client-id-2"},
    ]});
    let first = post_idempotent(&stack, &key, "/api/events/batch", "order-42", batch.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_idempotent(&stack, &key, "/api/events/batch", "order-42", batch.clone()).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body, first.body, "the same ids");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let single = json!({"userId": "u3", "eventType": "CLICK"});
    let one = post_idempotent(&stack, &key, "/api/events", "click-7", single.clone()).await;
    assert_eq!(one.status, StatusCode::ACCEPTED);
    // The key is the tenant's: another request under it is refused.
    let reused = post_idempotent(&stack, &key, "/api/events", "order-42", single.clone()).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.error_code(), "idempotency_key_reused");
    for bad in ["", &"k".repeat(129)] {
        let refused = post_idempotent(&stack, &key, "/api/events", bad, single.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    stack.wait_for_events(&key, "/api/analytics/summary", 3).await;
    // After a restart the answers are still replayed, and nothing counts twice.
    assert!(stack.terminate().success());
    stack.restart();
    let later = post_idempotent(&stack, &key, "/api/events", "click-7", single).await;
    assert_eq!(later.body, one.body);
    assert_eq!(later.headers["idempotent-replayed"], "true");
    let after = post_idempotent(&stack, &key, "/api/events/batch", "order-42", batch).await;
    assert_eq!(after.body["ids"], first.body["ids"]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let summary = stack.wait_for_events(&key, "/api/analytics/summary", 3).await;
    assert_eq!(summary["uniqueUsers"], 3);
}

async fn post_idempotent(
    stack: &Stack,
    key: &str,
    path: &str,
    idempotency: &str,
    body: Value,
) -> blackbox::Reply {
    stack
        .raw(
            stack
                .client()
                .post(format!("{}{path}", stack.base))
                .header("X-API-Key", key)
                .header("Idempotency-Key", idempotency)
                .json(&body),
        )
        .await
}

#[tokio::test]
async fn a_tenant_hands_out_publishable_ingest_keys_and_manages_its_keys() {
    let started = chrono::Utc::now();
    let stack = Stack::start().await;
    let (_, full) = stack.tenant("acme").await;
    let site = "https://shop.example";
    let created = stack
        .post("/api/keys", &full, json!({"scope": "ingest", "label": "web site", "allowedOrigins": [site]}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let publishable = created.body["key"].as_str().unwrap().to_owned();
    let ingest_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["scope"], "ingest");

    // It sends events, from its origin (with CORS) or from a server...
    let event = json!({"userId": "u1", "eventType": "PAGE_VIEW"});
    let from_site = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/events", stack.base))
                .header("X-API-Key", &publishable)
                .header("Origin", site)
                .json(&event),
        )
        .await;
    assert_eq!(from_site.status, StatusCode::ACCEPTED, "{:?}", from_site.body);
    assert_eq!(from_site.headers["access-control-allow-origin"], site);
    assert_eq!(stack.post("/api/events", &publishable, event.clone()).await.status, StatusCode::ACCEPTED);
    let preflight = stack
        .raw(
            stack
                .client()
                .request(Method::OPTIONS, format!("{}/api/events/batch", stack.base))
                .header("Origin", site)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "x-api-key, content-type"),
        )
        .await;
    assert_eq!(preflight.headers["access-control-allow-origin"], site);
    // ...but not from another site's page, and it reads and changes nothing.
    let elsewhere = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/events", stack.base))
                .header("X-API-Key", &publishable)
                .header("Origin", "https://evil.example")
                .json(&event),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    for (method, path) in [
        (Method::GET, "/api/analytics/summary"),
        (Method::GET, "/api/experiments"),
        (Method::POST, "/api/experiments"),
        (Method::GET, "/api/keys"),
        (Method::POST, "/api/keys"),
    ] {
        let refused = stack.request(method.clone(), path, Some(&publishable), Some(&json!({}))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(refused.error_code(), "forbidden");
    }
    stack.wait_for_events(&full, "/api/analytics/summary", 2).await;

    // The list shows every key, never a key or its hash, and the day each
    // was last used (both were, today: UTC, around the test's run).
    let listed = stack.get("/api/keys", &full).await;
    let keys = listed.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0]["id"].as_str(), keys[0]["scope"].as_str()), (Some("primary"), Some("full")));
    assert_eq!(keys[1]["allowedOrigins"], json!([site]));
    let today = [started, chrono::Utc::now()].map(|t| t.date_naive().format("%Y-%m-%d").to_string());
    for key in keys {
        let day = key["lastUsedDay"].as_str().unwrap_or_default().to_owned();
        assert!(today.contains(&day), "{key}");
    }
    let text = listed.body.to_string();
    assert!(!text.contains(&publishable) && !text.contains(&full) && !text.contains("keyHash"));

    // Deleting stops a key at once; the last full key cannot go.
    let gone = stack.request(Method::DELETE, &format!("/api/keys/{ingest_id}"), Some(&full), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.post("/api/events", &publishable, event.clone()).await.status, StatusCode::UNAUTHORIZED);
    let last = stack.request(Method::DELETE, "/api/keys/primary", Some(&full), None).await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    let second = stack.post("/api/keys", &full, json!({"scope": "full", "label": "ci"})).await;
    assert_eq!(second.body["lastUsedDay"], Value::Null, "a new key was never used");
    let second_key = second.body["key"].as_str().unwrap().to_owned();
    let primary = stack.request(Method::DELETE, "/api/keys/primary", Some(&second_key), None).await;
    assert_eq!(primary.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.get("/api/experiments", &full).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.get("/api/experiments", &second_key).await.status, StatusCode::OK);
    let missing = stack.request(Method::DELETE, "/api/keys/nope", Some(&second_key), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Another tenant cannot see or delete these keys: 404, like a missing one.
    let (_, other) = stack.tenant("globex").await;
    let second_id = second.body["id"].as_str().unwrap();
    let foreign = stack.request(Method::DELETE, &format!("/api/keys/{second_id}"), Some(&other), None).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(stack.get("/api/keys", &other).await.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(stack.get("/api/experiments", &second_key).await.status, StatusCode::OK);
    let invalid = stack.post("/api/keys", &second_key, json!({"scope": "root"})).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_rebuilds_a_tenants_rollups_a_day_at_a_time() {
    let stack = Stack::start().await;
    let (id, key) = stack.tenant("Acme").await;
    let events: Vec<Value> = ["2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "2026-11-03T09:30:00Z"]
        .iter()
        .enumerate()
        .map(|(i, at)| {
            json!({"eventId": format!("e{i}"), "userId": format!("u{i}"), "eventType": "CONVERSION",
                   "properties": {"experimentId": "exp", "variant": "A"}, "timestamp": at})
        })
        .collect();
    let sent = stack.post("/api/events/batch", &key, json!({"events": events})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    stack.wait_for_events(&key, "/api/analytics/summary", 3).await;

    let rebuild = |tenant: &str, body: Value| {
        stack.client().post(format!("{}/api/admin/tenants/{tenant}/rollups", stack.base)).json(&body)
    };
    let unauthorized = stack.raw(rebuild(&id, json!({}))).await;
    assert_eq!(unauthorized.status, StatusCode::UNAUTHORIZED);
    let nobody = stack.raw(rebuild("nobody", json!({})).bearer_auth(ADMIN_TOKEN)).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let bad_bodies = [
        json!({"day": "yesterday"}),
        json!({"day": 20261101}),
        json!([]),
        json!({"after": "2026-11-01T10"}),
        json!({"day": "2026-11-01", "after": 5}),
    ];
    for bad in bad_bodies {
        let reply = stack.raw(rebuild(&id, bad.clone()).bearer_auth(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", reply.body);
    }

    // From the first day with events, following `next` to the last.
    let mut body = json!({});
    let mut days = Vec::new();
    loop {
        let reply = stack.raw(rebuild(&id, body).bearer_auth(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        days.push((reply.body["day"].clone(), reply.body["events"].clone()));
        match reply.body["next"].as_str() {
            Some(next) => body = json!({"day": next}),
            None => break,
        }
    }
    assert_eq!(
        days,
        [(json!("2026-11-01"), json!(2)), (json!("2026-11-02"), json!(0)), (json!("2026-11-03"), json!(1))]
    );
    let range = stack.get("/api/analytics/summary?startDate=2026-11-01&endDate=2026-11-03", &key).await;
    assert_eq!((range.body["totalEvents"].clone(), range.body["uniqueUsers"].clone()), (json!(3), json!(3)));
    assert_eq!(range.body["variants"]["A"]["conversions"], 3);

    // The same from a terminal: a line per day.
    let output = std::process::Command::new(blackbox::binary())
        .args(["tenant", "rebuild-rollups", &id])
        .env("ADMIN_URL", &stack.base)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["bucketsSet"], 0, "nothing left to set the second time");
    assert_eq!(lines[2]["next"], Value::Null);
}

/// What a browser can send without a CORS preflight, or as a beacon while
/// its page unloads: JSON as `text/plain`, a publishable key in the URL or
/// the body, a gzip body, the client's clock in `sentAt`. And crawlers
/// running the page's script are dropped, unless the key opts out.
#[tokio::test]
async fn a_browser_sends_beacons_with_a_publishable_key_and_crawlers_are_dropped() {
    use std::io::Write;

    let stack = Stack::start().await;
    let (_, full) = stack.tenant("beacons").await;
    let site = "https://shop.example";
    let key = |body: Value| async {
        let created = stack.post("/api/keys", &full, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(
            created.body["filterBots"],
            created.body["scope"] == "ingest" && created.body["label"] != "bots welcome"
        );
        created.body["key"].as_str().unwrap().to_owned()
    };
    let publishable = key(json!({"scope": "ingest", "label": "site", "allowedOrigins": [site]})).await;
    let keeps_bots = key(
        json!({"scope": "ingest", "label": "bots welcome", "allowedOrigins": [site], "filterBots": false}),
    )
    .await;
    let beacon = |path: &str, body: Vec<u8>| {
        stack
            .client()
            .post(format!("{}{path}", stack.base))
            .header("Content-Type", "text/plain;charset=UTF-8")
            .header("Origin", site)
            .body(body)
    };
    let batch = |users: &[&str]| {
        let events: Vec<Value> =
            users.iter().map(|user| json!({"userId": user, "eventType": "PAGE_VIEW"})).collect();
        events
    };
    let mut sent = 0;

    // `?key=`, as `navigator.sendBeacon` sends: counted, and the page may read the answer.
    let body = serde_json::to_vec(&json!({"events": batch(&["u1", "u2"])})).unwrap();
    let reply = stack.raw(beacon(&format!("/api/events/batch?key={publishable}"), body.clone())).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(reply.body["accepted"], 2);
    assert_eq!(reply.headers["access-control-allow-origin"], site);
    sent += 2;

    // The key in the body, and the body gzipped.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(
        &serde_json::to_vec(&json!({"apiKey": publishable, "events": batch(&["u3", "u4", "u5"])})).unwrap(),
    )
    .unwrap();
    let reply = stack
        .raw(beacon("/api/events/batch", gzip.finish().unwrap()).header("Content-Encoding", "gzip"))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    assert_eq!(reply.body["accepted"], 3);
    sent += 3;

    // sentAt: a client whose clock is three hours behind; its event
    // happened a minute before it sent it, on our clock too.
    let now = chrono::Utc::now();
    let client_clock = now - chrono::Duration::hours(3);
    let event = json!({
        "apiKey": publishable, "userId": "u6", "eventType": "CLICK",
        "timestamp": (client_clock - chrono::Duration::minutes(1)).to_rfc3339(),
        "sentAt": client_clock.to_rfc3339(),
    });
    let reply = stack.raw(beacon("/api/events", serde_json::to_vec(&event).unwrap())).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{:?}", reply.body);
    let stored: chrono::DateTime<chrono::Utc> = reply.body["timestamp"].as_str().unwrap().parse().unwrap();
    let moved = stored - (now - chrono::Duration::minutes(1));
    assert!(moved >= chrono::Duration::zero() && moved < chrono::Duration::seconds(30), "{stored} vs {now}");
    sent += 1;

    // Refused, and nothing counted: a full key outside the header, no key,
    // a broken sentAt, broken gzip, a gzip bomb, an unknown encoding.
    let refusals = [
        (beacon(&format!("/api/events/batch?key={full}"), body.clone()), StatusCode::FORBIDDEN),
        (beacon("/api/events/batch", body.clone()), StatusCode::UNAUTHORIZED),
        (
            beacon(
                "/api/events",
                serde_json::to_vec(&json!({"apiKey": publishable, "userId": "u", "eventType": "CLICK",
                                           "sentAt": "1999-01-01T00:00:00Z"}))
                .unwrap(),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            beacon(&format!("/api/events/batch?key={publishable}"), b"not gzip".to_vec())
                .header("Content-Encoding", "gzip"),
            StatusCode::BAD_REQUEST,
        ),
        (
            beacon(&format!("/api/events/batch?key={publishable}"), {
                let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                bomb.write_all(&vec![b' '; 2 * 1024 * 1024]).unwrap();
                bomb.finish().unwrap()
            })
            .header("Content-Encoding", "gzip"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            beacon(&format!("/api/events/batch?key={publishable}"), body.clone())
                .header("Content-Encoding", "br"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (request, status) in refusals {
        let reply = stack.raw(request).await;
        assert_eq!(reply.status, status, "{:?}", reply.body);
        assert!(reply.body["error"].is_string() && reply.body["message"].is_string(), "{:?}", reply.body);
    }
    // The page may read why its request failed: a body that is no JSON is
    // answered with its origin's grant.
    let broken =
        stack.raw(beacon(&format!("/api/events/batch?key={publishable}"), b"{not json".to_vec())).await;
    assert_eq!((broken.status, broken.error_code()), (StatusCode::BAD_REQUEST, "invalid_json"));
    assert_eq!(broken.headers["access-control-allow-origin"], site);

    // A crawler running the page: dropped with a publishable key, kept by
    // the key that opted out and by a server's full key.
    let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let body = serde_json::to_vec(&json!({"events": batch(&["bot1", "bot2"])})).unwrap();
    let dropped = stack
        .raw(
            beacon(&format!("/api/events/batch?key={publishable}"), body.clone())
                .header("User-Agent", googlebot),
        )
        .await;
    assert_eq!(dropped.status, StatusCode::ACCEPTED, "{:?}", dropped.body);
    assert_eq!(
        (dropped.body["accepted"].as_u64(), dropped.body["botEventsDropped"].as_u64()),
        (Some(0), Some(2))
    );
    let kept = stack
        .raw(
            beacon(&format!("/api/events/batch?key={keeps_bots}"), body.clone())
                .header("User-Agent", googlebot),
        )
        .await;
    assert_eq!(kept.body["accepted"], 2, "{:?}", kept.body);
    let server = stack
        .raw(
            stack
                .client()
                .post(format!("{}/api/events", stack.base))
                .header("X-API-Key", &full)
                .header("User-Agent", "curl/8.5.0")
                .json(&json!({"userId": "server", "eventType": "CONVERSION"})),
        )
        .await;
    assert_eq!(server.status, StatusCode::ACCEPTED, "{:?}", server.body);
    assert!(server.body.get("botEventsDropped").is_none());
    sent += 3;

    let summary = stack.wait_for_events(&full, "/api/analytics/summary", sent).await;
    assert_eq!(summary["uniqueUsers"], 9, "{summary}");
    let health = stack.health().await;
    assert_eq!(health.body["metrics"]["botEventsDropped"], 2, "{:?}", health.body);
}
