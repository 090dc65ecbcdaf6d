"""Reading a synthesized CloudFormation template: references, names, policy statements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# What `Fn::GetAtt` / `Ref` of a resource resolves to, when it is a name we chose.
_NAME_PROPERTY = {
    ("AWS::DynamoDB::Table", "Ref"): "TableName",
    ("AWS::SQS::Queue", "QueueName"): "QueueName",
    ("AWS::SNS::Topic", "TopicName"): "TopicName",
    ("AWS::SSM::Parameter", "Ref"): "Name",
}


def referenced_id(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute or "Ref") of a `Ref` or `Fn::GetAtt`, else None."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value:
            return value["Ref"], "Ref"
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return logical_id, attribute
    return None


def physical_name(resources: dict[str, Any], value: Any) -> str:
    """The name a reference stands for, read from the referenced resource's properties."""
    reference = referenced_id(value)
    if reference is None:
        raise AssertionError(f"not a reference to a named resource: {value!r}")
    logical_id, attribute = reference
    resource = resources[logical_id]
    key = _NAME_PROPERTY.get((resource["Type"], attribute))
    if key is None:
        raise AssertionError(f"{logical_id}.{attribute} is not a name we set")
    name: str = resource["Properties"][key]
    return name


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_policy_statements(
    resources: dict[str, Any], role_logical_id: str
) -> Iterator[dict[str, Any]]:
    """Every statement of the policies attached to a role (inline and AWS::IAM::Policy)."""
    role = resources[role_logical_id]
    for policy in role["Properties"].get("Policies", []):
        yield from statements(policy["PolicyDocument"])
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_logical_id} in resource["Properties"].get("Roles", []):
            yield from statements(resource["Properties"]["PolicyDocument"])


def iam_policy_statements(resources: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of every identity policy in the template."""
    for resource in resources.values():
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield from statements(resource["Properties"]["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                yield from statements(policy["PolicyDocument"])


def task_definition(resources: dict[str, Any]) -> dict[str, Any]:
    (found,) = (r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition")
    properties: dict[str, Any] = found["Properties"]
    return properties


def container(resources: dict[str, Any]) -> dict[str, Any]:
    (found,) = task_definition(resources)["ContainerDefinitions"]
    return dict(found)


def container_environment(resources: dict[str, Any]) -> dict[str, Any]:
    return {entry["Name"]: entry["Value"] for entry in container(resources)["Environment"]}
