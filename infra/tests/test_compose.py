"""localstack-compose.yml: valid compose YAML with the services, port and
health check the README's LocalStack instructions rely on. (No Docker
here: the file is checked, not run.)"""

import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO


@pytest.fixture(scope="module")
def service():
    compose = yaml.safe_load((REPO / "localstack-compose.yml").read_text())
    assert set(compose) <= {"name", "services", "volumes", "networks"}
    assert list(compose["services"]) == ["localstack"]
    return compose["services"]["localstack"]


def test_image_is_localstack_with_a_version(service):
    image, _, tag = service["image"].partition(":")
    assert image == "localstack/localstack"
    assert re.fullmatch(r"\d+(\.\d+)*", tag), "pin a version: `latest` needs an auth token since March 2026"


def test_runs_dynamodb_sqs_and_s3_on_loopback_port_4566(service):
    assert set(service["environment"]["SERVICES"].split(",")) == {"dynamodb", "sqs", "s3"}
    assert service["ports"] == ["127.0.0.1:4566:4566"]


def health_script(service):
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "http://127.0.0.1:4566/_localstack/health" in test[1]
    return re.search(r"python3 -c\s+'(.+)'\s*$", test[1], re.S).group(1)


@pytest.mark.parametrize(
    ("statuses", "healthy"),
    [
        ({"dynamodb": "running", "sqs": "available", "s3": "running", "lambda": "disabled"}, True),
        ({"dynamodb": "running", "sqs": "initializing", "s3": "running"}, False),
        ({"dynamodb": "running", "s3": "running"}, False),
    ],
)
def test_healthcheck_waits_for_all_three_services(service, statuses, healthy):
    result = subprocess.run(
        [sys.executable, "-c", health_script(service)],
        input=json.dumps({"services": statuses, "edition": "community"}),
        text=True,
    )
    assert (result.returncode == 0) == healthy
    assert {"interval", "retries"} <= set(service["healthcheck"])
