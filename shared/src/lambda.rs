//! Running a handler on AWS Lambda: conversions between `lambda_http`'s
//! request and response types and the handlers' `http` types.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};

use crate::api::{self, Function};
use tracing::Instrument;

use crate::context::AppContext;

fn into_api_request(request: Request) -> api::Request {
    let (gateway_key, iam_caller) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => {
            (context.identity.api_key_id.clone(), context.identity.user_arn.clone())
        }
        _ => (None, None),
    };
    let (mut parts, body) = request.into_parts();
    if let Some(key_id) = gateway_key.filter(|k| !k.is_empty()) {
        parts.extensions.insert(api::GatewayKeyId(key_id));
    }
    // API Gateway fills `userArn` only after verifying a SigV4 signature.
    if let Some(caller) = iam_caller.filter(|c| !c.is_empty()) {
        parts.extensions.insert(api::IamCaller(caller));
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(binary) => Bytes::from(binary),
        _ => Bytes::new(),
    };
    api::Request::from_parts(parts, bytes)
}

fn into_lambda_response(response: api::Response) -> Response<Body> {
    let (parts, bytes) = response.into_parts();
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(err) => Body::Binary(err.into_bytes()),
    };
    Response::from_parts(parts, body)
}

/// Answers one Lambda HTTP request with one function's handler, inside a
/// span carrying the request id and (once authenticated) the tenant id.
pub async fn respond(ctx: &AppContext, function: Function, request: Request) -> Response<Body> {
    let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        function = function.name(),
        tenant_id = tracing::field::Empty,
    );
    let response =
        api::handle_function(ctx, function, into_api_request(request)).instrument(span.clone()).await;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "request served"));
    into_lambda_response(response)
}

/// Serves one function's routes until the Lambda runtime stops us.
pub async fn serve(function: Function, ctx: Arc<AppContext>) -> Result<(), Error> {
    lambda_http::run(service_fn(move |request: Request| {
        let ctx = ctx.clone();
        async move { Ok::<_, Error>(respond(&ctx, function, request).await) }
    }))
    .await
}

/// JSON logs, as CloudWatch Logs Insights reads them best.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(filter)
        .init();
}

/// Handles one SQS batch, reporting the messages to redeliver
/// (`ReportBatchItemFailures`) so one bad message never re-counts the rest.
pub async fn write_batch(
    ctx: &AppContext,
    event: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
    let incoming: Vec<crate::batch_writer::Incoming> = event
        .records
        .iter()
        .filter_map(|record| {
            Some(crate::batch_writer::Incoming {
                id: record.message_id.as_deref()?,
                body: record.body.as_deref().unwrap_or(""),
            })
        })
        .collect();
    let outcome =
        crate::batch_writer::process(ctx.store.as_ref(), &ctx.writer_memory, ctx.queue.as_ref(), &incoming)
            .await;
    let mut failed = outcome.failed;
    if !outcome.retry.is_empty() {
        // Handed back as new messages (their receive counts start again),
        // and reported done so that Lambda deletes the old ones; if that
        // fails, they are reported failed and come back as usual.
        let bodies = incoming
            .iter()
            .filter(|m| outcome.retry.iter().any(|id| id == m.id))
            .map(|m| m.body.to_owned())
            .collect();
        if let Err(err) = ctx.queue.send_delayed(bodies, crate::batch_writer::RETRY_DELAY).await {
            tracing::warn!(error = %err, "could not hand a batch back to the queue");
            failed.extend(outcome.retry);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
