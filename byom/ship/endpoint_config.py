"""The endpoint config of a deployment, as the CreateEndpointConfig request: one source for
`deploy` and `cfn`.

Owns: each variant's ProductionVariant (instances, or a ServerlessConfig) with its initial
instance count and weight, the shadow variant (ShadowProductionVariants), DataCaptureConfig and
AsyncInferenceConfig; which of these shapes go together (`check_shape`, before any call);
`config_matches`, whether a described config already serves what a request asks; and a request's
one-line `summary`. The config is named after its content (byom/ship/resources.py's
`derived_name`). Pure: no AWS calls, no printing.
"""

from __future__ import annotations

from collections.abc import Mapping

from byom.errors import CommandError
from byom.shared.config import Config, required
from byom.ship import variants
from byom.ship.resources import Request, derived_name, matches
from byom.ship.scaling_plan import Plan
from byom.ship.variants import Variant


def initial_count(config: Config, plan: Plan | None, variant: Variant | None = None) -> int:
    """Instances for a new variant: the configured count, inside the plan's range if any."""
    count = (variant or variants.of(config)[0]).instance_count
    if plan is None:
        return count
    return min(max(count, plan.min_capacity), plan.max_capacity)


def initial_counts(config: Config, plans: Mapping[str, Plan]) -> dict[str, int]:
    return {v.name: initial_count(config, plans.get(v.name), v) for v in variants.of(config)}


def endpoint_config_request(
    config: Config, models: str | Mapping[str, str], counts: int | Mapping[str, int]
) -> Request:
    """The endpoint config; `models` and `counts` by variant name (or one value for every variant)."""
    endpoint = required(config.endpoint, "endpoint")
    built = {
        variant.name: variant_request(
            config,
            variant,
            models if isinstance(models, str) else models[variant.name],
            counts if isinstance(counts, int) else counts[variant.name],
        )
        for variant in variants.of(config)
    }
    content: Request = {"ProductionVariants": [built[v.name] for v in variants.production(config)]}
    shadow = variants.shadow(config)
    if shadow is not None:
        content["ShadowProductionVariants"] = [built[shadow.name]]
    if config.data_capture:
        content["DataCaptureConfig"] = data_capture(config.data_capture, config.capture_percent)
    if config.async_output:
        content["AsyncInferenceConfig"] = async_inference(config)
    return {"EndpointConfigName": derived_name(endpoint, content), **content}


def variant_request(config: Config, variant: Variant, model_name: str, instance_count: int) -> Request:
    found: Request = {"VariantName": variant.name, "ModelName": model_name}
    if config.serverless_memory is None:
        found |= {"InstanceType": variant.instance_type, "InitialInstanceCount": instance_count}
    else:
        found["ServerlessConfig"] = serverless(config)
    found["InitialVariantWeight"] = variant.weight
    return found


def serverless(config: Config) -> Request:
    """A variant's ServerlessConfig; provisioned concurrency must not exceed the maximum."""
    provisioned = config.provisioned_concurrency
    if provisioned is not None and provisioned > config.max_concurrency:
        raise CommandError(
            f"provisioned concurrency {provisioned} is above max concurrency {config.max_concurrency}"
        )
    found: Request = {"MemorySizeInMB": config.serverless_memory, "MaxConcurrency": config.max_concurrency}
    if provisioned is not None:
        found["ProvisionedConcurrency"] = provisioned
    return found


def async_inference(config: Config) -> Request:
    """AsyncInferenceConfig: where answers go, who is told, how many run at once per instance."""
    output: Request = {"S3OutputPath": config.async_output}
    topics = {"SuccessTopic": config.async_success_topic, "ErrorTopic": config.async_error_topic}
    if any(topics.values()):
        output["NotificationConfig"] = {key: arn for key, arn in topics.items() if arn}
    found: Request = {"OutputConfig": output}
    if config.async_max_concurrency is not None:
        found["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": config.async_max_concurrency}
    return found


ASYNC_DETAILS = ("async_success_topic", "async_error_topic", "async_max_concurrency")


def check_shape(config: Config, plans: Mapping[str, Plan], rollout_asked: bool) -> None:
    """What each shape cannot take: a serverless endpoint instance autoscaling, a rollout
    strategy, several variants or asynchronous inference; async settings without an output."""
    variants.check_shape(config)
    if config.async_output is None:
        given = [name for name in ASYNC_DETAILS if getattr(config, name) is not None]
        if given:
            raise CommandError(f"{given[0]} needs async_output (the s3:// prefix answers are written to)")
    if config.serverless_memory is None:
        if config.provisioned_concurrency is not None:
            raise CommandError("provisioned concurrency needs serverless_memory (a serverless endpoint)")
        return
    if plans:
        raise CommandError(
            "a serverless endpoint scales itself: --plan (instance autoscaling) does not apply"
        )
    if rollout_asked:
        raise CommandError("SageMaker's rollout strategies do not apply to serverless endpoints")
    if config.async_output is not None:
        raise CommandError(
            "asynchronous inference needs instances: async_output does not apply to serverless"
        )


def data_capture(destination: str, percent: int) -> Request:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }


def config_matches(described: Request, desired: Request) -> bool:
    """Whether a described endpoint config serves what `desired` asks, instance counts aside."""
    for key in ("ProductionVariants", "ShadowProductionVariants"):
        wanted = [
            {k: v for k, v in variant.items() if k != "InitialInstanceCount"}
            for variant in desired.get(key, [])
        ]
        if not matches(described.get(key) or [], wanted):
            return False
    capture_wanted = "DataCaptureConfig" in desired
    capture_on = bool(described.get("DataCaptureConfig", {}).get("EnableCapture"))
    async_wanted = desired.get("AsyncInferenceConfig")
    return (
        capture_wanted == capture_on
        and (not capture_wanted or matches(described.get("DataCaptureConfig"), desired["DataCaptureConfig"]))
        and bool(async_wanted) == bool(described.get("AsyncInferenceConfig"))
        and (not async_wanted or matches(described.get("AsyncInferenceConfig"), async_wanted))
    )


def summary(request: Request) -> str:
    """One variant: `2 x ml.m5.xlarge`; several: each with its weight; then the shadow, async."""
    production = request["ProductionVariants"]
    if len(production) == 1 and "ShadowProductionVariants" not in request:
        parts = [variant_summary(production[0])]
    else:
        parts = [
            f"{v['VariantName']} {variant_summary(v)} weight {v['InitialVariantWeight']:g}"
            for v in production
        ]
        parts += [
            f"shadow {v['VariantName']} {variant_summary(v)} weight {v['InitialVariantWeight']:g}"
            for v in request.get("ShadowProductionVariants", [])
        ]
    if "AsyncInferenceConfig" in request:
        parts.append(f"async to {request['AsyncInferenceConfig']['OutputConfig']['S3OutputPath']}")
    return "; ".join(parts)


def variant_summary(variant: Request) -> str:
    found = variant.get("ServerlessConfig")
    if found:
        return f"serverless, {found['MemorySizeInMB']} MB, up to {found['MaxConcurrency']} concurrent"
    return f"{variant['InitialInstanceCount']} x {variant['InstanceType']}"
