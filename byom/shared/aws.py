"""The one door to AWS: every byom command calls AWS through an `Aws` object.

Owns: client creation from a boto3 session, the read/change split behind `--dry-run`, turning
botocore failures into one-line `CommandError`s, and "not found" as `None` instead of an exception.
It knows nothing about endpoints or policies: commands say what to call.

A dry run prints each change as `(dry run) will call service Operation {parameters}` and makes
none. With credentials, its reads are made, so the preview shows what really differs. Without
credentials it is offline: no call leaves the machine, each read is printed as `(dry run) will
read ...` and answered here as if nothing existed yet (`find` None, `listing` [], `read` from the
small table in `offline_answer`, whose unknowns are placeholders such as `<ACCOUNT-ID>`). Whether
there are credentials is boto3's answer (its whole chain, which may probe the instance metadata).

boto3 itself resolves credentials (AWS_PROFILE, the shared files, roles) and honours
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which is how the tests point it at an emulator.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import IO, Any

import boto3
import boto3.exceptions
import botocore.exceptions

from byom.errors import CommandError
from byom.shared.config import Config

Response = dict[str, Any]

# Error codes meaning "no such resource" (SageMaker says ValidationException "Could not find ...").
NOT_FOUND_CODES = frozenset(
    {
        "RepositoryNotFoundException",
        "NoSuchBucket",
        "404",
        "NotFound",
        "ObjectNotFoundException",
        "ResourceNotFound",
        "ResourceNotFoundException",
    }
)

OFFLINE_NOTE = (
    "no AWS credentials: nothing is read from AWS; each read is answered as if none of these "
    "resources existed yet"
)


class Aws:
    """AWS calls for one command run; `dry_run` prints changes instead of making them, and is
    `offline` (reads printed and answered here too) when the session has no credentials."""

    def __init__(self, session: boto3.Session, *, dry_run: bool = False, out: IO[str] | None = None) -> None:
        self.session = session
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.offline = dry_run and session.get_credentials() is None
        self._clients: dict[str, Any] = {}
        if self.offline:
            self.say(OFFLINE_NOTE)

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    @property
    def where(self) -> str:
        """The account a call went to, as errors name it: the active profile and the region."""
        return f"profile {self.session.profile_name!r}, region {self.region}"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def read(self, service: str, operation: str, **params: Any) -> Response:
        """A call that changes nothing: made even under --dry-run, unless offline."""
        if self.offline:
            self._will("read", service, operation, params)
            answer = offline_answer(service, operation, self.region)
            if answer is None:
                raise CommandError(
                    f"{service} {self.api_name(service, operation)}: no offline answer for a dry run "
                    "without credentials (a bug in byom; run it with credentials)"
                )
            return answer
        return self._call(service, operation, params)

    def listing(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """Every item of a paginated list call (NextToken), e.g. listing(..., "Models")."""
        if self.offline:
            self._will("read", service, operation, params)
            return []
        items: list[Any] = []
        while True:
            answer = self.read(service, operation, **params)
            items += answer.get(key, [])
            if not answer.get("NextToken"):
                return items
            params["NextToken"] = answer["NextToken"]

    def find(self, service: str, operation: str, **params: Any) -> Response | None:
        """A describe call, or None when the resource does not exist (always, offline)."""
        if self.offline:
            self._will("read", service, operation, params)
            return None
        try:
            return self._call(service, operation, params, missing_ok=True)
        except _Missing:
            return None

    def change(self, service: str, operation: str, **params: Any) -> Response:
        """A call that changes something: printed instead under --dry-run (returns {})."""
        if self.dry_run:
            self._will("call", service, operation, params)
            return {}
        return self._call(service, operation, params)

    def say(self, line: str) -> None:
        """A progress line on the command's output (an observed state, a note), marked under dry run."""
        print(f"(dry run) {line}" if self.dry_run else line, flush=True, file=self.out)

    def done(self, subject: str, verb: str, details: str = "") -> None:
        """The outcome of a change: `subject: verb (details)`, or `subject: will be verb` in a dry run."""
        line = f"{subject}: {'will be ' if self.dry_run else ''}{verb}" + (f" ({details})" if details else "")
        self.say(line)

    def _will(self, kind: str, service: str, operation: str, params: dict[str, Any]) -> None:
        """A dry run's line for a request it will make: `(dry run) will read|call service Operation {...}`."""
        self.say(
            f"will {kind} {service} {self.api_name(service, operation)} {json.dumps(params, default=str)}"
        )

    def api_name(self, service: str, operation: str) -> str:
        """boto3's snake_case method name as AWS names the operation (create_model -> CreateModel)."""
        return str(self.client(service).meta.method_to_api_mapping.get(operation, operation))

    def _call(
        self, service: str, operation: str, params: dict[str, Any], missing_ok: bool = False
    ) -> Response:
        method: Callable[..., Response] = getattr(self.client(service), operation)
        try:
            return method(**params)
        except botocore.exceptions.ClientError as error:
            if missing_ok and is_not_found(error):
                raise _Missing from error
            raise CommandError(
                f"{service} {self.api_name(service, operation)}: {describe(error)} ({self.where})"
            ) from error
        except botocore.exceptions.NoCredentialsError as error:
            raise CommandError(
                f"no AWS credentials ({self.where}): set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            ) from error
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as error:
            raise CommandError(
                f"{service} {self.api_name(service, operation)}: {error} ({self.where})"
            ) from error


def offline_answer(service: str, operation: str, region: str) -> Response | None:
    """What an offline dry run answers to a read made with `Aws.read`; None for a read not listed.

    Only the answers the commands use: the account, the registry to log in to, and "nothing
    there" for autoscaling, alarms and an endpoint config's variants.
    """
    answers: dict[tuple[str, str], Response] = {
        ("sts", "get_caller_identity"): {"Account": "<ACCOUNT-ID>"},
        ("ecr", "get_authorization_token"): {
            "authorizationData": [
                {
                    "authorizationToken": base64.b64encode(b"AWS:<PASSWORD>").decode(),
                    "proxyEndpoint": f"https://<ACCOUNT-ID>.dkr.ecr.{region}.amazonaws.com",
                }
            ]
        },
        ("sagemaker", "describe_endpoint_config"): {"ProductionVariants": []},
        ("application-autoscaling", "describe_scalable_targets"): {"ScalableTargets": []},
        ("application-autoscaling", "describe_scaling_policies"): {"ScalingPolicies": []},
        ("application-autoscaling", "describe_scheduled_actions"): {"ScheduledActions": []},
        ("cloudwatch", "describe_alarms"): {"MetricAlarms": []},
    }
    return answers.get((service, operation))


class _Missing(Exception):
    """Raised inside `Aws.find` for a not-found answer."""


def is_not_found(error: botocore.exceptions.ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = str(error.response.get("Error", {}).get("Message", ""))
    return code in NOT_FOUND_CODES or (code == "ValidationException" and "Could not find" in message)


def describe(error: botocore.exceptions.ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', str(error))}"


def open_session(profile: str | None, region: str | None) -> boto3.Session:
    """A boto3 session; a region must come from the flags, byom.toml, the environment or the profile."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as error:
        active = error.kwargs.get("profile", profile)
        source = "--profile (or byom.toml)" if profile else "AWS_PROFILE"
        raise CommandError(
            f"AWS profile {active!r}, from {source}, is not configured (~/.aws/config)"
        ) from error
    if not session.region_name:
        raise CommandError("no AWS region: pass --region, set `region` in byom.toml, or set AWS_REGION")
    return session


def connect(settings: Config, *, dry_run: bool = False, out: IO[str] | None = None) -> Aws:
    """The Aws door for one command run, from the resolved configuration (offline for a dry run
    without credentials)."""
    return Aws(open_session(settings.profile, settings.region), dry_run=dry_run, out=out)
