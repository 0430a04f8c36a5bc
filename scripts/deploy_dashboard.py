"""`make deploy-dashboard`: publishes dashboard/dist to the stack's bucket.

Reads the stack outputs (ApiUrl, DashboardBucketName, DashboardDistributionId,
DashboardUrl), uploads every built file with its content type and caching
rules, writes config.json so the dashboard calls the API on its own origin,
and invalidates the CloudFront paths that are not content-hashed.

Environment: STACK_NAME (default campaign-analytics), AWS_REGION or the
profile's region, DASHBOARD_DIST (default dashboard/dist).
"""

import json
import mimetypes
import os
import sys
import time
from pathlib import Path

# Vite names bundles by content hash: cache them for a year. Everything else
# (index.html, config.json, favicons) must be revalidated on each visit.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def cache_control(key: str) -> str:
    return IMMUTABLE if key.startswith("assets/") else REVALIDATE


def content_type(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key)
    if guessed in ("text/html", "text/css", "text/javascript", "application/javascript", "application/json"):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"


def upload(s3, bucket: str, dist: Path, api_url: str) -> list[str]:
    """Uploads the built dashboard plus config.json; returns the keys written."""
    if not (dist / "index.html").is_file():
        raise SystemExit(f"{dist}/index.html is missing: build the dashboard first (make dashboard)")
    written = []
    # Hashed assets first, index.html last: a visitor never gets an
    # index.html that points at bundles not yet uploaded.
    files = sorted((p for p in dist.rglob("*") if p.is_file()), key=lambda p: p.name == "index.html")
    for path in files:
        key = path.relative_to(dist).as_posix()
        if key == "config.json":
            continue  # written below, for this stack
        s3.put_object(
            Bucket=bucket, Key=key, Body=path.read_bytes(),
            ContentType=content_type(key), CacheControl=cache_control(key),
        )
        written.append(key)
    config = json.dumps({"apiBaseUrl": api_url}).encode()
    s3.put_object(
        Bucket=bucket, Key="config.json", Body=config,
        ContentType="application/json; charset=utf-8", CacheControl=REVALIDATE,
    )
    written.append("config.json")
    return written


def invalidate(cloudfront, distribution_id: str, keys: list[str]) -> str:
    """Invalidates the non-hashed paths; returns the invalidation id."""
    paths = sorted({"/"} | {f"/{k}" for k in keys if cache_control(k) == REVALIDATE})
    answer = cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": f"deploy-dashboard-{time.time_ns()}",
        },
    )
    return answer["Invalidation"]["Id"]


def stack_outputs(cloudformation, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def main() -> int:
    import boto3

    stack = os.environ.get("STACK_NAME", "campaign-analytics")
    dist = Path(os.environ.get("DASHBOARD_DIST", "dashboard/dist"))
    session = boto3.session.Session()
    outputs = stack_outputs(session.client("cloudformation"), stack)
    missing = [k for k in ("ApiUrl", "DashboardBucketName", "DashboardDistributionId") if k not in outputs]
    if missing:
        print(f"stack {stack} lacks outputs {missing}: deploy it first (make deploy)", file=sys.stderr)
        return 1
    keys = upload(session.client("s3"), outputs["DashboardBucketName"], dist, outputs["ApiUrl"])
    invalidation = invalidate(session.client("cloudfront"), outputs["DashboardDistributionId"], keys)
    print(f"uploaded {len(keys)} files; CloudFront invalidation {invalidation}")
    print(f"dashboard: {outputs.get('DashboardUrl', '(see stack outputs)')}  API: {outputs['ApiUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
