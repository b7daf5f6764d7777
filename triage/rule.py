"""The rule, as data: Elastic's "AWS Lambda Function Invoked from an Unusual Source ASN".

Everything the UI shows about the rule (metadata, query, investigation guide)
and everything the detector needs (query clauses, new-terms fields, window,
per-run cap) comes from this one module.
"""

from dataclasses import dataclass
from datetime import timedelta

RULE_ID = "c8cc8192-f4f5-4ed3-8368-544ca738d506"
NAME = "AWS Lambda Function Invoked from an Unusual Source ASN"
VERSION = 1
TYPE = "new_terms"
SEVERITY = "medium"
RISK_SCORE = 47
INTERVAL = "5m"
FROM = "now-6m"
MAX_SIGNALS = 100
LANGUAGE = "kuery"
LICENSE = "Elastic License v2"
AUTHORS = ["Elastic"]
INDEX = ["filebeat-*", "logs-aws.cloudtrail-*"]
TIMESTAMP_OVERRIDE = "event.ingested"

DESCRIPTION = (
    "Identifies AWS Lambda functions invoked directly by a principal from an autonomous system "
    "(ASN) that principal has not used to invoke functions in the last 10 days. Lambda functions "
    "are normally invoked by AWS services or by workloads running inside AWS; a direct invocation "
    "from an unfamiliar network outside the major cloud providers can mean that an access key or "
    "a function's execution-role credentials were stolen and are being used to run code, reach "
    "data or move laterally."
)

TAGS = [
    "Domain: Cloud",
    "Data Source: AWS",
    "Data Source: Amazon Web Services",
    "Data Source: AWS Lambda",
    "Use Case: Threat Detection",
    "Tactic: Execution",
    "Resources: Investigation Guide",
]

THREAT = {
    "framework": "MITRE ATT&CK",
    "tactic": {
        "id": "TA0002",
        "name": "Execution",
        "reference": "https://attack.mitre.org/tactics/TA0002/",
    },
    "technique": {
        "id": "T1648",
        "name": "Serverless Execution",
        "reference": "https://attack.mitre.org/techniques/T1648/",
    },
}

QUERY = """\
event.dataset: "aws.cloudtrail"
    and event.provider: "lambda.amazonaws.com"
    and event.action: Invoke*
    and event.outcome: "success"
    and not aws.cloudtrail.user_identity.invoked_by: *
    and source.as.organization.name: *
    and not source.as.organization.name: (
        Amazon* or AMAZON* or Google* or GOOGLE* or Microsoft* or MICROSOFT*
    )"""

# The query's clauses, as the detector applies them (case-sensitive, like KQL on keywords).
PROVIDER = "lambda.amazonaws.com"
ACTION_PREFIX = "Invoke"
OUTCOME = "success"
EXCLUDED_ORGANIZATION_PREFIXES = ("Amazon", "AMAZON", "Google", "GOOGLE", "Microsoft", "MICROSOFT")

NEW_TERMS_FIELDS = ["source.as.organization.name", "cloud.account.id", "user.name"]
HISTORY_WINDOW_START = "now-10d"
HISTORY_WINDOW = timedelta(days=10)

INVESTIGATION_FIELDS = [
    "@timestamp",
    "user.name",
    "user_agent.original",
    "source.ip",
    "source.as.organization.name",
    "source.geo.country_name",
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.user_identity.type",
    "aws.cloudtrail.user_identity.access_key_id",
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    "aws.cloudtrail.request_parameters",
    "event.action",
    "cloud.account.id",
]

REFERENCES = [
    "https://docs.aws.amazon.com/lambda/latest/dg/logging-using-cloudtrail.html",
    "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-data-events-with-cloudtrail.html",
]

SETUP = (
    "The rule needs AWS CloudTrail data events for Lambda: enable data events of resource type "
    "AWS::Lambda::Function on the trail (all functions, or the ones that matter). Invoke calls "
    "are data events; they are not returned by CloudTrail's LookupEvents API and are only in the "
    "trail's log files. Source ASN and organisation come from an ASN database (GeoLite2-ASN or an "
    "equivalent) applied to source.ip."
)


@dataclass(frozen=True)
class TriageStep:
    key: str  # stable: checklist state is stored against it
    title: str
    guidance: str


TRIAGE_STEPS = [
    TriageStep(
        "network",
        "Identify the invoking network",
        "Review source.ip, source.as.number, source.as.organization.name and source.geo.* and "
        "compare them with the networks this principal used over the last 30 days. A hosting or "
        "VPS provider, anonymising service or a country the team does not work from is more "
        "suspicious than a new office or home ISP.",
    ),
    TriageStep(
        "request",
        "Review the invocation",
        "Read the function name in aws.cloudtrail.request_parameters and the user agent. Check "
        "whether this principal invoked this function before and from where, and whether the "
        "user agent matches the tooling it normally uses (SDK, CLI, console).",
    ),
    TriageStep(
        "credential",
        "Check the credential",
        "Look at aws.cloudtrail.user_identity.type, .arn and .access_key_id. Find every network "
        "the access key was used from. Temporary credentials of a Lambda execution role "
        "(ASIA… keys of an assumed role) used outside the Lambda runtime and outside AWS networks "
        "strongly suggest the credentials were stolen from the function's environment.",
    ),
    TriageStep(
        "activity",
        "Correlate the principal's other activity",
        "Review what else the same principal did from the same network: discovery "
        "(GetCallerIdentity, ListFunctions, GetFunction), IAM or STS changes, and data-plane "
        "access such as S3 GetObject. Activity before the invocation shows how the actor got "
        "here; activity after it shows what they wanted.",
    ),
]

FALSE_POSITIVE_ANALYSIS = [
    "Developers or CI systems invoking functions from a new office, home network, VPN exit or "
    "CI provider. Confirm with the owner of the principal and, if expected, add an exclusion for "
    "that network scoped to the principal.",
    "A new deployment or integration calling functions directly from a third-party SaaS or "
    "partner network. Confirm the integration and its owner.",
    "ASN database changes: a network re-assigned to another organisation name produces a new "
    "term for every principal using it. Compare source.as.number with earlier events.",
]

RESPONSE_AND_REMEDIATION = [
    "If the invocation is not expected, disable or rotate the credential: deactivate the IAM "
    "user's access key, or revoke the assumed role's active sessions.",
    "Review and restrict who can call lambda:InvokeFunction on the function (resource policy "
    "and identity policies), e.g. with aws:SourceIp or aws:SourceVpc conditions.",
    "Inspect the function's code, configuration, environment variables and layers for "
    "tampering, and the execution role's permissions for what the actor could reach.",
    "Search for the same access key and source network across all accounts and regions, and "
    "follow the organisation's incident response process.",
    "Add an exclusion only for networks confirmed as expected, with a reason and an expiry.",
]


def reason(*, action: str, function_name: str | None, user_name: str, organization: str) -> str:
    """kibana.alert.reason for an alert's triggering event."""
    target = f" {function_name}" if function_name else ""
    return (
        f"Lambda {action}{target} by {user_name} from {organization}, a network this "
        f"principal has not used in the prior {HISTORY_WINDOW.days} days"
    )
