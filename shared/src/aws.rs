//! The AWS backend: SDK configuration, the resource names a deployment
//! uses, and `bootstrap`, which creates those resources where they are
//! missing (moto, LocalStack, or an account without the SAM stack).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use crate::call_counter::CallCounter;
use crate::config::{env_var, in_lambda};
use crate::context::{AppContext, ContextError};
use crate::queue::sqs::SqsQueue;
use crate::repo::known_members::KnownMembers;
use crate::store::Layout;
use crate::store::dynamodb::{DynamoStore, PK, SK, TTL_ATTRIBUTE, Tables};

/// Where the AWS backend keeps its data (environment names in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    /// `EVENTS_TABLE`
    pub events_table: String,
    /// `STATE_TABLE`
    pub state_table: String,
    /// `QUEUE_NAME` (ignored for sending when `QUEUE_URL` is set)
    pub queue_name: String,
    /// `QUEUE_URL`
    pub queue_url: Option<String>,
    /// `DLQ_NAME`
    pub dead_letter_name: String,
    /// `DLQ_URL`
    pub dead_letter_url: Option<String>,
    /// `EVENT_RETENTION_DAYS` (TTL on event items; unset keeps them)
    pub event_retention_days: Option<u32>,
    /// `USAGE_PLAN_ID`: when set, tenant keys are also registered as API
    /// Gateway keys in this usage plan (see [`crate::gateway`]).
    pub usage_plan_id: Option<String>,
    /// `EVENT_SHARDS`, `AGGREGATE_SHARDS`, `SKETCH_SHARDS`,
    /// `BUCKET_PARTITIONS` (1 when unset): how hot items
    /// are split ([`Layout`]; ARCHITECTURE.md, "Shards"). Every function
    /// of a deployment must see the same event shard count, and it may
    /// only grow.
    pub layout: Layout,
}

impl Resources {
    pub fn from_env() -> Self {
        let queue_name = env_var("QUEUE_NAME").unwrap_or_else(|| "campaign-analytics-ingest".into());
        Self {
            events_table: env_var("EVENTS_TABLE").unwrap_or_else(|| "campaign-analytics-events".into()),
            state_table: env_var("STATE_TABLE").unwrap_or_else(|| "campaign-analytics-state".into()),
            dead_letter_name: env_var("DLQ_NAME").unwrap_or_else(|| format!("{queue_name}-dlq")),
            queue_name,
            queue_url: env_var("QUEUE_URL"),
            dead_letter_url: env_var("DLQ_URL"),
            // 0 would expire every event at once: treat it as "keep".
            event_retention_days: env_var("EVENT_RETENTION_DAYS")
                .and_then(|d| d.parse().ok())
                .filter(|days| *days > 0),
            usage_plan_id: env_var("USAGE_PLAN_ID"),
            layout: Layout::new(
                shards_from_env("EVENT_SHARDS"),
                shards_from_env("AGGREGATE_SHARDS"),
                shards_from_env("SKETCH_SHARDS"),
                shards_from_env("BUCKET_PARTITIONS"),
            ),
        }
    }
}

/// A shard count from the environment: 1 when unset or not a number.
fn shards_from_env(name: &str) -> u16 {
    env_var(name).and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// SDK configuration from the usual sources (`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, credentials chain), with timeouts short enough that
/// an unreachable backend becomes a prompt 503, not a hung request.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(4))
        .operation_timeout(Duration::from_secs(10))
        .build();
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).http_client(https_client());
    // In a Lambda function the default chains always stop at their first
    // link: the runtime sets the region and the function role's credentials
    // in the environment. Naming those links skips building the others
    // (profile files, web identity with its STS client, ECS, IMDS): half of a
    // function's init CPU in `coldstart` (task-clock 6.2 → 3.3 ms).
    if let Some(region) = env_var("AWS_REGION").filter(|_| in_lambda()) {
        loader = loader
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// The root CAs of Amazon Trust Services (Amazon Root CA 1–4 and Starfield
/// Services Root CA G2), to which every AWS service endpoint's certificate
/// chains. Public certificates, as the system's `ca-certificates` ships them.
const AMAZON_ROOT_CAS: &[u8] = include_bytes!("../certs/amazon-root-cas.pem");

/// The SDK's HTTPS client (rustls with aws-lc, as the SDK's default), trusting
/// Amazon's root CAs plus any PEM bundle named by `SSL_CERT_FILE` (a TLS
/// proxy, or LocalStack over HTTPS). The SDK's default client loads the
/// platform's whole trust store instead, parsing every certificate in it
/// (146 here) before a function first polls for work: 4 of the 5.5 ms of
/// init that `coldstart` measured.
fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

    let mut roots = TrustStore::empty().with_pem_certificate(AMAZON_ROOT_CAS);
    if let Some(path) = env_var("SSL_CERT_FILE") {
        match std::fs::read(&path) {
            Ok(bundle) => roots = roots.with_pem_certificate(bundle),
            Err(err) => {
                tracing::warn!(path, error = %err, "SSL_CERT_FILE unreadable; trusting Amazon's roots only")
            }
        }
    }
    let context = TlsContext::builder().with_trust_store(roots).build().expect("a TLS context of PEM roots");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectOnFirstRequest(client))
}

/// An HTTP client whose TLS connector is built by the first request (and
/// cached for every later one), not also when each SDK client is
/// constructed. The SDK's client warms its connector at construction so
/// that the platform's trust store is loaded during init; with the five
/// roots above there is nothing to warm, and each warm-up built a whole
/// connector (TLS configuration, parsed roots) only to drop it: 12% of a
/// function's init in `perf`, once per SDK client.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

fn unavailable(what: &str, err: impl std::fmt::Debug) -> ContextError {
    ContextError::Backend(format!("{what}: {err:?}"))
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, ContextError> {
    let output =
        sqs.get_queue_url().queue_name(name).send().await.map_err(|e| unavailable("queue URL", e))?;
    output.queue_url.ok_or_else(|| unavailable("queue URL", name))
}

/// The context on the AWS backend.
pub async fn open(resources: &Resources, admin_token: Option<String>) -> Result<AppContext, ContextError> {
    open_counted(resources, admin_token, None).await
}

/// [`open`], with every SDK request tallied by `counter` when given.
pub async fn open_counted(
    resources: &Resources,
    admin_token: Option<String>,
    counter: Option<&CallCounter>,
) -> Result<AppContext, ContextError> {
    let config = sdk_config().await;
    let dynamodb = {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
        if let Some(counter) = counter {
            builder = builder.interceptor(counter.clone());
        }
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    };
    let sqs = {
        let mut builder = aws_sdk_sqs::config::Builder::from(&config);
        if let Some(counter) = counter {
            builder = builder.interceptor(counter.clone());
        }
        aws_sdk_sqs::Client::from_conf(builder.build())
    };
    let queue_url = match &resources.queue_url {
        Some(url) => url.clone(),
        None => queue_url(&sqs, &resources.queue_name).await?,
    };
    let dead_letter_url = match &resources.dead_letter_url {
        Some(url) => Some(url.clone()),
        None => queue_url_if_exists(&sqs, &resources.dead_letter_name).await,
    };
    let store = DynamoStore::new(
        dynamodb,
        Tables {
            events: resources.events_table.clone(),
            state: resources.state_table.clone(),
            event_retention_days: resources.event_retention_days,
            layout: resources.layout,
        },
    );
    let mut ctx = AppContext::new(
        std::sync::Arc::new(store),
        std::sync::Arc::new(SqsQueue::new(sqs, queue_url, dead_letter_url)),
        admin_token,
        "aws",
    );
    // DynamoDB's reads are read-committed, so remembering memberships would
    // be sound there; but moto, which the AWS path is tested against,
    // applies a transaction's writes before checking all its conditions and
    // restores a snapshot when one fails, so a concurrent read can see
    // memberships that never commit. Remembered, such a read undercounted
    // users for good (9 of 1,646 in the kill -9 test on moto). Until a
    // serializable emulator can prove it, this backend reads them all.
    ctx.writer_memory.members = KnownMembers::disabled();
    // The same holds for what users' attribution items hold.
    ctx.writer_memory.attributions = crate::repo::attribution::KnownAttributions::disabled();
    // And for which values a dimension's day keeps.
    ctx.writer_memory.day_values = crate::repo::day_values::KnownDayValues::disabled();
    if let Some(plan) = &resources.usage_plan_id {
        let client = aws_sdk_apigateway::Client::new(&config);
        ctx.key_gateway = std::sync::Arc::new(crate::gateway::apigateway::ApiGatewayKeys::new(client, plan));
    }
    Ok(ctx)
}

async fn queue_url_if_exists(sqs: &aws_sdk_sqs::Client, name: &str) -> Option<String> {
    sqs.get_queue_url().queue_name(name).send().await.ok().and_then(|o| o.queue_url)
}

/// Queue settings applied at creation.
#[derive(Clone, Copy, Debug)]
pub struct QueueSettings {
    pub visibility_timeout: Duration,
    pub max_receives: u32,
}

/// Creates the tables and queues of `resources` where missing. Safe to run
/// again. The SAM template declares the same resources for real accounts.
pub async fn bootstrap(resources: &Resources, queue: QueueSettings) -> Result<(), ContextError> {
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    for (table, ttl) in [(&resources.events_table, true), (&resources.state_table, false)] {
        create_table(&dynamodb, table, ttl).await?;
    }
    let dead_letter = sqs
        .create_queue()
        .queue_name(&resources.dead_letter_name)
        .attributes(QueueAttributeName::MessageRetentionPeriod, (14 * 86_400).to_string())
        .send()
        .await
        .map_err(|e| unavailable("create dead-letter queue", e))?;
    let dead_letter_url = dead_letter.queue_url.unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| unavailable("dead-letter queue ARN", e))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": queue.max_receives.to_string()});
    let created = sqs
        .create_queue()
        .queue_name(&resources.queue_name)
        .attributes(QueueAttributeName::VisibilityTimeout, queue.visibility_timeout.as_secs().to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await;
    if let Err(err) = created {
        // An existing queue with other attributes: apply ours.
        let url =
            queue_url(&sqs, &resources.queue_name).await.map_err(|_| unavailable("create queue", err))?;
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::VisibilityTimeout, queue.visibility_timeout.as_secs().to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(|e| unavailable("set queue attributes", e))?;
    }
    Ok(())
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, ttl: bool) -> Result<(), ContextError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| unavailable("attribute definition", e))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| unavailable("key schema", e))
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PK)?)
        .attribute_definitions(attribute(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .send()
        .await;
    match created {
        // An existing table (from an earlier, perhaps interrupted, run)
        // still gets the settings below.
        Ok(_) => {}
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
        Err(err) => return Err(unavailable("create table", err)),
    }
    wait_until_active(client, name).await?;
    if ttl && !ttl_enabled(client, name).await? {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(|e| unavailable("TTL specification", e))?,
            )
            .send()
            .await
            .map_err(|e| unavailable("enable TTL", e))?;
    }
    // Point-in-time recovery, as the SAM template declares.
    client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| unavailable("point-in-time recovery", e))?,
        )
        .send()
        .await
        .map_err(|e| unavailable("enable point-in-time recovery", e))?;
    Ok(())
}

/// A new table is `CREATING` for a few seconds on AWS and refuses updates
/// until it is `ACTIVE` (emulators are active at once).
async fn wait_until_active(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), ContextError> {
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| unavailable("describe table", e))?;
        if described.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(unavailable("table did not become ACTIVE within a minute", name))
}

async fn ttl_enabled(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<bool, ContextError> {
    let described = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| unavailable("describe TTL", e))?;
    Ok(described
        .time_to_live_description
        .and_then(|d| d.time_to_live_status)
        .is_some_and(|status| matches!(status, TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)))
}

/// Helpers for tests against an AWS emulator (moto) at `MOTO_ENDPOINT`.
#[cfg(any(test, feature = "contract"))]
pub mod testing {
    use super::*;

    /// The emulator endpoint. `make test` starts moto and sets it; running
    /// the AWS tests without it is a mistake, so they fail loudly.
    pub fn endpoint() -> String {
        std::env::var("MOTO_ENDPOINT")
            .expect("MOTO_ENDPOINT is not set: run `make test`, which starts moto_server and sets it")
    }

    /// Points the SDK at the emulator with dummy credentials.
    pub fn use_emulator() {
        let endpoint = endpoint();
        // SAFETY: tests set the same values from every thread; nothing
        // reads these variables concurrently with a different expectation.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    }

    /// Fresh, uniquely named tables and queues on the emulator.
    pub async fn fresh_resources(queue: QueueSettings) -> Resources {
        use_emulator();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let resources = Resources {
            events_table: format!("events-{suffix}"),
            state_table: format!("state-{suffix}"),
            queue_name: format!("ingest-{suffix}"),
            queue_url: None,
            dead_letter_name: format!("ingest-{suffix}-dlq"),
            dead_letter_url: None,
            event_retention_days: Some(400),
            usage_plan_id: None,
            layout: Layout::default(),
        };
        bootstrap(&resources, queue).await.expect("bootstrap on the emulator");
        resources
    }

    pub async fn fresh_context() -> AppContext {
        fresh_context_laid_out(Layout::default()).await
    }

    /// The queue of [`fresh_context`]: a message not deleted comes back
    /// after a second, dead-lettered after three deliveries.
    pub const QUICK_QUEUE: QueueSettings =
        QueueSettings { visibility_timeout: Duration::from_secs(1), max_receives: 3 };

    /// A context on `resources` whose store splits hot items as `layout`
    /// says (several may share the resources, as a deployment's functions
    /// share its tables).
    pub async fn open_laid_out(resources: &Resources, layout: Layout) -> AppContext {
        let resources = Resources { layout, ..resources.clone() };
        open(&resources, Some("admin".into())).await.expect("context on the emulator")
    }

    /// [`fresh_context`] whose store splits hot items as `layout` says.
    pub async fn fresh_context_laid_out(layout: Layout) -> AppContext {
        open_laid_out(&fresh_resources(QUICK_QUEUE).await, layout).await
    }

    /// [`fresh_context_laid_out`] on tables that the limits emulator in
    /// front of moto (`scripts/moto_server.py`) holds to DynamoDB's limits
    /// as `tags` (`emulator:*`) ask, and a queue whose messages come back
    /// three seconds after a delivery that did not delete them (long enough
    /// for a loaded test machine's slowest delivery, so that only failures
    /// come back), dead-lettered after five deliveries as in the template.
    pub async fn fresh_context_under_limits(layout: Layout, tags: &[(&str, &str)]) -> AppContext {
        let resources =
            fresh_resources(QueueSettings { visibility_timeout: Duration::from_secs(3), max_receives: 5 })
                .await;
        let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        for table in [&resources.events_table, &resources.state_table] {
            let described = client.describe_table().table_name(table).send().await.expect("the table");
            let arn = described.table.and_then(|table| table.table_arn).expect("a table ARN");
            let tags = tags
                .iter()
                .map(|(key, value)| {
                    aws_sdk_dynamodb::types::Tag::builder().key(*key).value(*value).build().expect("a tag")
                })
                .collect();
            client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.expect("tags");
        }
        open_laid_out(&resources, layout).await
    }
}
