"""`campaign-local bootstrap` and infra/template.yaml declare the same
tables and queues.

Bootstrap (shared::aws::bootstrap) creates the AWS backend's resources on
moto, LocalStack or an account without the stack; the template creates
them for real. This test runs the real binary against moto and compares
what it created with what the template declares, reading both sides (the
template is parsed, not restated here).

Needs MOTO_ENDPOINT (scripts/test.sh starts moto and exports it) and the
built binary (CAMPAIGN_LOCAL_BIN, default target/debug/campaign-local).

Deliberately not compared: production hardening the template adds and
bootstrap does not (point-in-time recovery, KMS encryption and deletion
protection of the tables).
"""

import json
import os
import pathlib
import subprocess
import uuid

import boto3
import pytest

from conftest import REPO, of_type, parameter_default, ref_target

REGION = "us-east-1"
# SQS defaults for attributes a template leaves out.
SQS_DEFAULTS = {"VisibilityTimeout": 30, "MessageRetentionPeriod": 345600}


@pytest.fixture(scope="module")
def endpoint():
    url = os.environ.get("MOTO_ENDPOINT")
    if not url:
        pytest.fail(
            "MOTO_ENDPOINT is not set: run scripts/infra_checks.sh from scripts/test.sh (`make test`), "
            "or start moto (.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p 5077) and "
            "export MOTO_ENDPOINT=http://127.0.0.1:5077",
            pytrace=False,
        )
    return url


@pytest.fixture(scope="module")
def binary():
    path = pathlib.Path(os.environ.get("CAMPAIGN_LOCAL_BIN", REPO / "target" / "debug" / "campaign-local"))
    if not path.is_absolute():
        path = REPO / path
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is not built: `cargo build -p local --bin campaign-local` (scripts/test.sh does), "
            "or point CAMPAIGN_LOCAL_BIN at the binary",
            pytrace=False,
        )
    return path


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def declared(template):
    """Which template resource each of bootstrap's names stands for, read
    from the environment the template gives the functions."""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    mapping = {var: ref_target(env[var]) for var in ("EVENTS_TABLE", "STATE_TABLE", "QUEUE_URL", "DLQ_URL")}
    resources = template["Resources"]
    # Bootstrap creates two tables and two queues: so must the template.
    assert set(of_type(resources, "AWS::DynamoDB::Table")) == {mapping["EVENTS_TABLE"], mapping["STATE_TABLE"]}
    assert set(of_type(resources, "AWS::SQS::Queue")) == {mapping["QUEUE_URL"], mapping["DLQ_URL"]}
    return mapping


@pytest.fixture(scope="module")
def bootstrapped(template, declared, endpoint, binary):
    """Runs `campaign-local bootstrap` with uniquely named resources and the
    template's queue settings; returns the names it was given."""
    queue = template["Resources"][declared["QUEUE_URL"]]["Properties"]
    suffix = uuid.uuid4().hex[:12]
    names = {
        "EVENTS_TABLE": f"infra-events-{suffix}",
        "STATE_TABLE": f"infra-state-{suffix}",
        "QUEUE_NAME": f"infra-ingest-{suffix}",
        "DLQ_NAME": f"infra-ingest-{suffix}-dlq",
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "BACKEND": "aws",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "QUEUE_VISIBILITY_TIMEOUT_SECS": str(queue["VisibilityTimeout"]),
        "QUEUE_MAX_RECEIVES": str(parameter_default(template, queue["RedrivePolicy"]["maxReceiveCount"])),
        **names,
    }
    result = subprocess.run(
        [str(binary), "bootstrap"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"bootstrap failed:\n{result.stdout}\n{result.stderr}"
    return names


def table_shape(description, ttl, backups):
    pitr = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    return {
        "PointInTimeRecovery": pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": sorted(description["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "BillingMode": description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "GlobalSecondaryIndexes": len(description.get("GlobalSecondaryIndexes") or []),
        "LocalSecondaryIndexes": len(description.get("LocalSecondaryIndexes") or []),
        "Stream": bool(description.get("StreamSpecification", {}).get("StreamEnabled")),
        "TimeToLive": (ttl.get("AttributeName"), ttl.get("TimeToLiveStatus") == "ENABLED"),
    }


def declared_table_shape(props):
    ttl = props.get("TimeToLiveSpecification")
    pitr = props.get("PointInTimeRecoverySpecification", {})
    return {
        "PointInTimeRecovery": bool(pitr.get("PointInTimeRecoveryEnabled", False)),
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
        "GlobalSecondaryIndexes": len(props.get("GlobalSecondaryIndexes", [])),
        "LocalSecondaryIndexes": len(props.get("LocalSecondaryIndexes", [])),
        "Stream": "StreamSpecification" in props,
        "TimeToLive": (ttl["AttributeName"], bool(ttl["Enabled"])) if ttl else (None, False),
    }


@pytest.mark.parametrize("variable", ["EVENTS_TABLE", "STATE_TABLE"])
def test_tables_match(template, declared, bootstrapped, endpoint, variable):
    dynamodb = client("dynamodb", endpoint)
    name = bootstrapped[variable]
    created = table_shape(
        dynamodb.describe_table(TableName=name)["Table"],
        dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
        dynamodb.describe_continuous_backups(TableName=name),
    )
    expected = declared_table_shape(template["Resources"][declared[variable]]["Properties"])
    assert created == expected


def queue_attributes(endpoint, name):
    sqs = client("sqs", endpoint)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def declared_queue(template, logical_id):
    props = template["Resources"][logical_id]["Properties"]
    return {
        "VisibilityTimeout": int(props.get("VisibilityTimeout", SQS_DEFAULTS["VisibilityTimeout"])),
        "MessageRetentionPeriod": int(props.get("MessageRetentionPeriod", SQS_DEFAULTS["MessageRetentionPeriod"])),
        "SqsManagedSseEnabled": bool(props.get("SqsManagedSseEnabled", True)),
        "FifoQueue": bool(props.get("FifoQueue", False)),
    }


def created_queue(attributes):
    return {
        "VisibilityTimeout": int(attributes["VisibilityTimeout"]),
        "MessageRetentionPeriod": int(attributes["MessageRetentionPeriod"]),
        "SqsManagedSseEnabled": attributes.get("SqsManagedSseEnabled", "false") == "true",
        "FifoQueue": attributes.get("FifoQueue", "false") == "true",
    }


def test_ingest_queue_matches_and_redrives_to_the_dead_letter_queue(template, declared, bootstrapped, endpoint):
    queue = queue_attributes(endpoint, bootstrapped["QUEUE_NAME"])
    dead_letters = queue_attributes(endpoint, bootstrapped["DLQ_NAME"])
    assert created_queue(queue) == declared_queue(template, declared["QUEUE_URL"])

    redrive = json.loads(queue["RedrivePolicy"])
    declared_redrive = template["Resources"][declared["QUEUE_URL"]]["Properties"]["RedrivePolicy"]
    assert ref_target(declared_redrive["deadLetterTargetArn"]) == declared["DLQ_URL"]
    assert redrive["deadLetterTargetArn"] == dead_letters["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == int(parameter_default(template, declared_redrive["maxReceiveCount"]))


def test_dead_letter_queue_matches(template, declared, bootstrapped, endpoint):
    dead_letters = queue_attributes(endpoint, bootstrapped["DLQ_NAME"])
    assert created_queue(dead_letters) == declared_queue(template, declared["DLQ_URL"])
    assert "RedrivePolicy" not in dead_letters
    assert "RedrivePolicy" not in template["Resources"][declared["DLQ_URL"]]["Properties"]
