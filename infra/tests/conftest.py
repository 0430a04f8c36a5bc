"""Shared fixtures: the SAM template as written, and as the SAM transform
expands it (what CloudFormation actually deploys: roles, permissions, the
API's OpenAPI body, stage and deployment)."""

import copy
import json
import os
import pathlib

import pytest
from cfnlint.decode import cfn_yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"


def load_template() -> dict:
    """The template with CloudFormation's short forms (!Ref, !GetAtt, !Sub…)
    decoded to their long forms, as plain dicts and lists."""
    return json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))


def sam_transform(template: dict) -> dict:
    """Runs the AWS::Serverless-2016-10-31 transform locally (the same
    aws-sam-translator CloudFormation runs), offline."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        # Only needed to resolve managed-policy *names* in Policies; the
        # template uses inline statements only.
        def load(self):
            return {}

    template = copy.deepcopy(template)
    # The translator accepts only S3 code locations; `sam build`/`sam deploy`
    # replace the local CodeUri with one.
    for holder in [template.get("Globals", {}).get("Function", {})] + [
        r.get("Properties", {})
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]:
        if "CodeUri" in holder:
            holder["CodeUri"] = "s3://placeholder-bucket/code.zip"
    return transform(template, {}, NoManagedPolicies())


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="session")
def resources(template) -> dict:
    return template["Resources"]


@pytest.fixture(scope="session")
def transformed(template) -> dict:
    return sam_transform(template)


def of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def ref_target(value):
    """The logical id a {"Ref": X} or {"Fn::GetAtt": [X, attr]} points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else target.split(".")[0]
    return None


def parameter_default(template: dict, value):
    """A literal, or the default of the parameter a {"Ref": P} names."""
    name = ref_target(value)
    if name is not None and name in template.get("Parameters", {}):
        return template["Parameters"][name]["Default"]
    return value
