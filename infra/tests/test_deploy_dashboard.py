"""`make deploy-dashboard` against moto's S3 and CloudFront: every built
file lands with the right content type and caching, config.json points the
dashboard at the API, and the non-hashed paths are invalidated."""

import json
import os
import sys
import uuid

import boto3
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import deploy_dashboard  # noqa: E402


@pytest.fixture()
def session():
    endpoint = os.environ.get("MOTO_ENDPOINT")
    if not endpoint:
        pytest.fail("MOTO_ENDPOINT is not set: run `make test`, which starts moto")
    kwargs = dict(endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
    return lambda service: boto3.client(service, **kwargs)


def built_dashboard(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><script src=/assets/index-abc123.js></script>")
    (dist / "assets" / "index-abc123.js").write_text("console.log('dashboard')")
    (dist / "assets" / "index-def456.css").write_text("body{}")
    (dist / "favicon.svg").write_text("<svg/>")
    (dist / "config.json").write_text('{"apiBaseUrl": "http://localhost:3000"}')  # a dev leftover
    return dist


def test_upload_sets_types_caching_and_the_api_url(session, tmp_path):
    s3 = session("s3")
    bucket = f"dashboard-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    api_url = "https://abc123.execute-api.us-east-1.amazonaws.com/api"

    keys = deploy_dashboard.upload(s3, bucket, built_dashboard(tmp_path), api_url)

    assert keys[-2:] == ["index.html", "config.json"], "index.html goes after the bundles it names"
    stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert stored == {"index.html", "assets/index-abc123.js", "assets/index-def456.css",
                      "favicon.svg", "config.json"}
    head = lambda key: s3.head_object(Bucket=bucket, Key=key)
    assert head("index.html")["ContentType"] == "text/html; charset=utf-8"
    assert head("index.html")["CacheControl"] == "no-cache"
    assert head("assets/index-abc123.js")["ContentType"].endswith("javascript; charset=utf-8")
    assert "immutable" in head("assets/index-abc123.js")["CacheControl"]
    assert head("assets/index-def456.css")["ContentType"] == "text/css; charset=utf-8"
    config = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    assert config == {"apiBaseUrl": api_url}


def test_upload_refuses_an_unbuilt_dashboard(session, tmp_path):
    with pytest.raises(SystemExit, match="build the dashboard"):
        deploy_dashboard.upload(session("s3"), "any-bucket", tmp_path / "missing", "https://x")


def test_invalidation_covers_the_paths_that_are_not_content_hashed(session):
    cloudfront = session("cloudfront")
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": uuid.uuid4().hex,
        "Comment": "dashboard",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "bucket", "DomainName": "bucket.s3.us-east-1.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
        }]},
        "DefaultCacheBehavior": {"TargetOriginId": "bucket", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
    })["Distribution"]["Id"]

    invalidation = deploy_dashboard.invalidate(
        cloudfront, distribution, ["assets/index-abc123.js", "index.html", "config.json", "favicon.svg"])

    paths = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)[
        "Invalidation"]["InvalidationBatch"]["Paths"]["Items"]
    assert sorted(paths) == ["/", "/config.json", "/favicon.svg", "/index.html"]
