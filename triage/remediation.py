"""Response commands for an alert, matched to the identity that invoked the function.

Every value in a command (user and role names, access key ids, function names,
regions) comes from a CloudTrail record an attacker may have shaped, so each
is shell-quoted here; the template escapes the result for HTML.
"""

import json
import shlex
from dataclasses import dataclass
from datetime import datetime

from ingest.models import Event


@dataclass(frozen=True)
class Command:
    title: str
    command: str
    note: str = ""


def role_name(event: Event) -> str | None:
    """The role of an assumed-role session: the issuer ARN's last path part, else user.name."""
    arn = event.session_issuer_arn or ""
    if ":role/" in arn:
        return arn.rsplit("/", 1)[-1] or None
    return event.user_name


def _q(value: str) -> str:
    return shlex.quote(value)


def revoke_sessions_policy(*, issued_before: datetime) -> str:
    """IAM's "revoke active sessions" policy: deny every session issued before the instant."""
    moment = issued_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": moment}},
                }
            ],
        },
        separators=(",", ":"),
    )


def credential_commands(*, event: Event, now: datetime) -> list[Command]:
    """Disable the credential that was used, as its identity type allows."""
    kind = event.identity_type
    if kind == "IAMUser" and event.user_name:
        user = _q(event.user_name)
        commands = [
            Command("List the user's access keys", f"aws iam list-access-keys --user-name {user}")
        ]
        if event.access_key_id:
            commands.append(
                Command(
                    "Deactivate the access key that was used",
                    f"aws iam update-access-key --user-name {user} "
                    f"--access-key-id {_q(event.access_key_id)} --status Inactive",
                    "Deactivating is reversible; delete the key once its owner has a new one.",
                )
            )
        return commands
    if kind == "AssumedRole":
        role = role_name(event)
        if not role:
            return []
        policy = revoke_sessions_policy(issued_before=now)
        return [
            Command(
                "Revoke the role's active sessions",
                f"aws iam put-role-policy --role-name {_q(role)} "
                f"--policy-name AWSRevokeOlderSessions --policy-document {_q(policy)}",
                "Denies every session of the role issued before now, as the console's "
                "“Revoke active sessions” does. Sessions issued later (a function's next cold "
                "start) keep working, so the function runs on; the stolen ones stop.",
            )
        ]
    if kind == "Root":
        return [
            Command(
                "Root credentials",
                "",
                "Sign in as the account's root user, delete its access keys and rotate its "
                "password and MFA; the CLI cannot do this for root.",
            )
        ]
    return [
        Command(
            f"{kind or 'Unknown'} identity",
            "",
            "Revoke the credential where it was issued (identity provider or federation broker).",
        )
    ]


def function_commands(*, function: str | None, region: str | None) -> list[Command]:
    """Review and restrict who may call lambda:InvokeFunction on the function."""
    if not function:
        return []
    target = f"--function-name {_q(function)}"
    if region:
        target += f" --region {_q(region)}"
    return [
        Command("Read the function's resource policy", f"aws lambda get-policy {target}"),
        Command(
            "Remove a statement that lets others invoke it",
            f"aws lambda remove-permission {target} --statement-id STATEMENT_ID",
            "Take STATEMENT_ID from the policy above; add aws:SourceIp or aws:SourceVpc "
            "conditions to identity policies that grant lambda:InvokeFunction.",
        ),
        Command(
            "Inspect its configuration for tampering",
            f"aws lambda get-function-configuration {target}",
        ),
    ]


def search_commands(*, event: Event) -> list[Command]:
    if not event.access_key_id:
        return []
    return [
        Command(
            "Find the key's management events in this region",
            "aws cloudtrail lookup-events --lookup-attributes "
            + _q(f"AttributeKey=AccessKeyId,AttributeValue={event.access_key_id}")
            + (f" --region {_q(event.region)}" if event.region else ""),
            "LookupEvents returns management events only; data events such as Invoke are "
            "in the trail's log files.",
        )
    ]


def remediation_commands(*, event: Event, function: str | None, now: datetime) -> list[Command]:
    return [
        *credential_commands(event=event, now=now),
        *function_commands(function=function, region=event.region),
        *search_commands(event=event),
    ]
