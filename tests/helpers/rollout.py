"""SageMaker's side of an endpoint update, for botocore's Stubber: moto has no UpdateEndpoint and
drops DeploymentConfig, so the tests queue DescribeEndpoint answers walking a rollout through its
phases, as SageMaker reports them."""

from __future__ import annotations

from typing import Any

from botocore.stub import Stubber

ARN = "arn:aws:sagemaker:us-east-1:123456789012"
WHEN = "2026-01-01T00:00:00Z"


def endpoint_answer(
    status: str,
    config_name: str,
    instances: int = 4,
    pending: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "EndpointName": "iris",
        "EndpointArn": f"{ARN}:endpoint/iris",
        "EndpointConfigName": config_name,
        "EndpointStatus": status,
        "CreationTime": WHEN,
        "LastModifiedTime": WHEN,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "CurrentInstanceCount": instances,
                "DesiredInstanceCount": instances,
            }
        ],
        **extra,
    }
    if pending is not None:
        answer["PendingDeploymentSummary"] = pending
    return answer


def pending(config_name: str, phase: str, current: int, weight: float, message: str = "") -> dict[str, Any]:
    """A PendingDeploymentSummary: the new fleet of 4 in `phase`, `weight` of its traffic on it."""
    status: dict[str, Any] = {"Status": phase, "StartTime": WHEN}
    if message:
        status["StatusMessage"] = message
    return {
        "EndpointConfigName": config_name,
        "StartTime": WHEN,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "CurrentInstanceCount": current,
                "DesiredInstanceCount": 4,
                "CurrentWeight": weight,
                "DesiredWeight": 1.0,
                "VariantStatus": [status],
            }
        ],
    }


def config_answer(name: str, model: str = "iris-00000000") -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "EndpointConfigArn": f"{ARN}:endpoint-config/{name}",
        "CreationTime": WHEN,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
    }


def stub_update_until_the_call(
    stub: Stubber, model: dict[str, Any], new_config: dict[str, Any], instances: int = 4
) -> None:
    """Every SageMaker answer of `byom deploy` on an InService endpoint before UpdateEndpoint:
    the endpoint, the model (there already), the old config, and the new config (not yet)."""
    stub.add_response(
        "describe_endpoint", endpoint_answer("InService", "iris-old", instances), {"EndpointName": "iris"}
    )
    stub.add_response(
        "describe_model",
        {"ModelName": model["ModelName"], "ModelArn": f"{ARN}:model/x", "CreationTime": WHEN},
        {"ModelName": model["ModelName"]},
    )
    stub_new_config(stub, new_config)


def stub_new_config(stub: Stubber, new_config: dict[str, Any]) -> None:
    """The old config read, the new one not found yet, then created."""
    stub.add_response(
        "describe_endpoint_config", config_answer("iris-old"), {"EndpointConfigName": "iris-old"}
    )
    stub_config_created(stub, new_config)


def stub_config_created(stub: Stubber, new_config: dict[str, Any]) -> None:
    """The new config not found yet, then created."""
    stub.add_client_error(
        "describe_endpoint_config",
        "ValidationException",
        "Could not find endpoint configuration",
        expected_params={"EndpointConfigName": new_config["EndpointConfigName"]},
    )
    stub.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/x"}, new_config)


def put_user_alarm(cloudwatch: Any, name: str) -> None:
    """An alarm the user made themselves (not under byom's `<endpoint>-rollback-` names)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="ModelLatency",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
