"""Demo data for `make run`: GeoIP databases and three weeks of CloudTrail logs.

write_demo() writes asn.mmdb and city.mmdb from demo_networks.csv and, under
logs/, CloudTrail log files in the S3 layout: the routine activity of three AWS
accounts and a few stories of stolen credentials for the rule to find: two in
the last full week (the weekly review's default week) and one in the week in
progress, each after the rule's 10 days of learning when the logs are long
enough (a story that would fall before the logs begin is not told). The same
seed and `now` give the same log files, byte for byte.

The stories (all in the production account):
- the execution role of `orders-api` is used from a DigitalOcean droplet:
  GetCallerIdentity, ListFunctions, then Invoke of `payments-refund`;
- the access key of the IAM user `james.wright` is used from a residential ISP
  in Brazil: IAM enumeration, Invoke, a refused UpdateFunctionCode;
- the CI user `ci-deployer` invokes from an M247 server with a hostile user
  agent and a function name carrying markup (the UI must show both as text);
- benign: the `uptime-probe` monitor moves from Hetzner to OVH.
"""

import base64
import csv
import gzip
import hashlib
import ipaddress
import json
import random
import string
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.mmdb import AsnEntry, CityEntry, write_asn_database, write_city_database

NETWORKS_CSV = Path(__file__).with_name("demo_networks.csv")

PROD, STAGING, SANDBOX = "402186593710", "583920174455", "719305528146"
HOME_REGION = {PROD: "eu-west-1", STAGING: "eu-central-1", SANDBOX: "eu-west-1"}
IAM_REGION = "us-east-1"  # IAM is global; CloudTrail files its events under us-east-1
LOG_BUCKET = "acme-cloudtrail-logs"
TRAIL = "acme-organization-trail"

FUNCTIONS = {
    PROD: ["orders-api", "orders-processor", "invoice-renderer", "report-builder", "healthcheck"],
    STAGING: ["orders-api", "image-resizer", "cleanup-job", "smoke-test"],
    SANDBOX: ["partner-webhook", "experiments"],
}

# Where Lambda functions' own calls come from: their region's AWS address space.
AWS_NETWORKS = {
    "eu-west-1": ["3.248.0.0/13"],
    "eu-central-1": ["18.184.0.0/15"],
    "us-east-1": ["34.192.0.0/12", "52.0.0.0/15"],
}
AWS_IPV6_NETWORKS = {"eu-west-1": "2a05:d018::/35"}
GITHUB_RUNNERS = "20.61.0.0/16"

BERLIN_OFFICE = ("80.152.44.17", "80.152.44.18", "2003:e4:4a1f:3c00::2b1", "2003:e4:4a1f:3c00::7e")
LONDON_OFFICE = ("86.142.19.203", "86.142.19.204")
BOSTON_OFFICE = ("73.38.201.66",)
COWORKING = ("45.137.185.12",)  # an AS the database knows only by number
GOOGLE_CLOUD = ("34.89.120.7", "34.89.121.30")
HETZNER_PROBE = "88.198.51.20"
OVH_PROBE = "51.38.112.14"
OVH_PARTNER = "51.38.63.5"
DIGITALOCEAN_DROPLET = "167.99.118.42"
BRAZIL_RESIDENTIAL = "177.33.141.9"
M247_SERVER = "146.70.117.203"

HOSTILE_USER_AGENT = "<img src=x onerror=alert(1)>"
HOSTILE_FUNCTION = 'release-hook"><script>alert(document.domain)</script>'
ATTACKER_CLI = (
    "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off"
)
BRAZIL_CLI = "aws-cli/2.13.0 Python/3.11.4 Windows/10 exe/AMD64 prompt/off"
CI_CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off"
PROBE_SDK = "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64"
PARTNER_SDK = "aws-sdk-java/2.25.6 Linux/5.15.0-97-generic OpenJDK_64-Bit_Server_VM/17.0.10+7"
GCP_SDK = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0-18-cloud-amd64 Botocore/1.34.69"
LAMBDA_PYTHON = (
    "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-218.812.amzn2.x86_64"
    " lang/python#3.12.2 exec-env/AWS_Lambda_python3.12 Botocore/1.34.42"
)
LAMBDA_NODE = (
    "aws-sdk-js/3.529.1 ua/2.0 os/linux lang/js md/nodejs#20.11.1 exec-env/AWS_Lambda_nodejs20.x"
)

_KEY_CHARS = string.ascii_uppercase + "234567"
_UNIQUE_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class DemoNetwork:
    network: str
    as_number: int
    as_organization: str | None
    country_iso_code: str
    country_name: str
    city_name: str | None
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class DemoSummary:
    logs: Path
    files: int
    digest_files: int
    events: int
    asn_db: Path
    city_db: Path

    def describe(self) -> str:
        return (
            f"{self.files} log files with {self.events} events and {self.digest_files} digest"
            f" files in {self.logs}"
        )


@dataclass(frozen=True)
class _Person:
    name: str
    accounts: tuple[str, ...]
    addresses: tuple[str, ...]
    agent: str
    first_hour: int  # UTC hour the working day starts
    cli: bool = True


PEOPLE = [
    _Person(
        "maria.schmidt",
        (PROD, STAGING),
        BERLIN_OFFICE,
        "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/arm64 prompt/off",
        first_hour=7,
    ),
    _Person(
        "james.wright",
        (PROD, SANDBOX),
        LONDON_OFFICE,
        "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-26-generic exe/x86_64.ubuntu.22 prompt/off",
        first_hour=8,
    ),
    _Person(
        "priya.patel",
        (STAGING,),
        BOSTON_OFFICE,
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/macos#23.3.0 lang/python#3.12.2",
        first_hour=13,
        cli=False,
    ),
    _Person(
        "tom.nguyen",
        (SANDBOX,),
        LONDON_OFFICE,
        "aws-cli/2.15.12 Python/3.11.6 Windows/10 exe/AMD64 prompt/off",
        first_hour=9,
    ),
]


@dataclass(frozen=True)
class _Caller:
    """Who makes a call and from where: what the records of one session share."""

    account: str
    region: str
    identity: dict[str, Any]
    address: str
    agent: str
    cli: bool = False  # the AWS CLI names its command in the user agent; SDKs do not

    def agent_for(self, command: str) -> str:
        return f"{self.agent} command/{command}" if self.cli else self.agent

    def at(self, region: str) -> "_Caller":
        return replace(self, region=region)


@dataclass(frozen=True)
class _Session:
    access_key: str
    created: datetime
    name: str
    renewed: datetime  # the next call after this runs in a new execution environment


def load_networks(path: Path = NETWORKS_CSV) -> list[DemoNetwork]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            DemoNetwork(
                network=row["network"],
                as_number=int(row["as_number"]),
                as_organization=row["as_organization"] or None,
                country_iso_code=row["country_iso_code"],
                country_name=row["country_name"],
                city_name=row["city_name"] or None,
                latitude=float(row["latitude"]) if row["latitude"] else None,
                longitude=float(row["longitude"]) if row["longitude"] else None,
            )
            for row in csv.DictReader(handle)
        ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sts_expiration(moment: datetime) -> str:
    # STS writes credential expiry in this console style, not ISO 8601.
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S %p}"


def _function_arn(account: str, region: str, function: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{function}"


def _service(account: str, region: str, service: str) -> _Caller:
    return _Caller(account, region, {"type": "AWSService", "invokedBy": service}, service, service)


def _access_denied(caller: _Caller, action: str, resource: str) -> tuple[str, str]:
    return (
        "AccessDeniedException",
        f"User: {caller.identity['arn']} is not authorized to perform: {action} on resource:"
        f" {resource} because no identity-based policy allows the {action} action",
    )


LAMBDA_COMMANDS = {
    "ListFunctions20150331": "lambda.list-functions",
    "GetFunction20150331v2": "lambda.get-function",
    "UpdateFunctionCode20150331v2": "lambda.update-function-code",
}


class _Trail:
    """The demo accounts' CloudTrail: identities, one builder per API call, the records."""

    def __init__(self, rng: random.Random, *, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now
        self.start = now - timedelta(days=days)
        # Activity stops short of now so that every file is delivered by now.
        self.end = now - timedelta(minutes=15)
        self.records: list[dict[str, Any]] = []
        self.sessions: dict[tuple[str, str], list[_Session]] = {}
        self.role_ids: dict[tuple[str, str], str] = {}
        self.users: dict[tuple[str, str], dict[str, Any]] = {}
        for person in PEOPLE:
            for account in person.accounts:
                self._add_user(account, person.name)
        for account in (PROD, STAGING):
            self._add_user(account, "ci-deployer")
        self._add_user(PROD, "uptime-probe")
        self._add_user(SANDBOX, "partner-integration")
        self._add_user(SANDBOX, "data-sync")
        self.probe_moved = now - timedelta(hours=9)

    # Identifiers and identities, in the shapes AWS gives them.

    def _id(self, prefix: str, length: int) -> str:
        return prefix + "".join(self.rng.choice(_KEY_CHARS) for _ in range(length))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _add_user(self, account: str, name: str) -> None:
        self.users[account, name] = {
            "type": "IAMUser",
            "principalId": self._id("AIDA", 17),
            "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account,
            "accessKeyId": self._id("AKIA", 16),
            "userName": name,
        }

    def user(self, account: str, name: str, address: str, agent: str, *, cli: bool) -> _Caller:
        return _Caller(
            account, HOME_REGION[account], self.users[account, name], address, agent, cli
        )

    def _role_id(self, account: str, role: str) -> str:
        if (account, role) not in self.role_ids:
            self.role_ids[account, role] = self._id("AROA", 17)
        return self.role_ids[account, role]

    def role_identity(
        self, account: str, role: str, session: _Session, *, invoked_by: str | None = None
    ) -> dict[str, Any]:
        role_id = self._role_id(account, role)
        identity: dict[str, Any] = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session.name}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session.name}",
            "accountId": account,
            "accessKeyId": session.access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": _iso(session.created), "mfaAuthenticated": "false"},
            },
        }
        if invoked_by:
            identity["invokedBy"] = invoked_by
        return identity

    def _session(self, name: str, when: datetime, lifetime: timedelta) -> _Session:
        return _Session(self._id("ASIA", 16), when, name, when + lifetime)

    def function(
        self, account: str, region: str, function: str, when: datetime, *, ipv6: bool = False
    ) -> _Caller:
        """A function calling AWS as its execution role; Lambda starts new sessions as it goes."""
        role = f"{function}-role"
        sessions = self.sessions.setdefault((account, role), [])
        if not sessions or when >= sessions[-1].renewed:
            created = when - timedelta(seconds=self.rng.randint(1, 5))
            lifetime = timedelta(minutes=self.rng.randint(40, 480))
            sessions.append(self._session(function, created, lifetime))
            lambda_service = _service(account, region, "lambda.amazonaws.com")
            self.assume_role(created, lambda_service, role, sessions[-1])
        cidr = AWS_IPV6_NETWORKS[region] if ipv6 else self.rng.choice(AWS_NETWORKS[region])
        network = ipaddress.ip_network(cidr)
        address = str(network[self.rng.randrange(1, min(network.num_addresses - 1, 2**32))])
        agent = LAMBDA_NODE if function == "invoice-renderer" else LAMBDA_PYTHON
        identity = self.role_identity(account, role, sessions[-1])
        return _Caller(account, region, identity, address, agent)

    def session_at(self, account: str, role: str, when: datetime) -> _Session | None:
        started = [s for s in self.sessions.get((account, role), []) if s.created <= when]
        return started[-1] if started else None

    # One builder for every record, then one per API call.

    def event(
        self,
        when: datetime,
        caller: _Caller,
        source: str,
        name: str,
        command: str,
        *,
        region: str | None = None,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        additional: dict[str, Any] | None = None,
        resources: list[dict[str, Any]] | None = None,
        read_only: bool = True,
        data: bool = False,
        error: tuple[str, str] | None = None,
        version: str = "1.08",
        host: str | None = None,
    ) -> None:
        if not self.start <= when <= self.end:
            return
        region = region or caller.region
        record: dict[str, Any] = {
            "eventVersion": version,
            "userIdentity": caller.identity,
            "eventTime": _iso(when),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": caller.address,
            "userAgent": caller.agent_for(command),
        }
        if error:
            record["errorCode"], record["errorMessage"] = error
        record["requestParameters"] = request
        record["responseElements"] = response
        if additional:
            record["additionalEventData"] = additional
        record["requestID"] = self._uuid()
        record["eventID"] = self._uuid()
        record["readOnly"] = read_only
        if resources:
            record["resources"] = resources
        record["eventType"] = "AwsApiCall"
        record["managementEvent"] = not data
        record["recipientAccountId"] = caller.account
        by_service = "invokedBy" in caller.identity
        if by_service:
            record["sharedEventID"] = self._uuid()
        record["eventCategory"] = "Data" if data else "Management"
        if not by_service:
            record["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host
                or f"{source.split('.')[0]}.{region}.amazonaws.com",
            }
        self.records.append(record)

    def invoke(
        self, when: datetime, caller: _Caller, function: str, *, source_arn: str | None = None
    ) -> None:
        arn = _function_arn(caller.account, caller.region, function)
        request = {"functionName": arn}
        if source_arn:
            request["sourceArn"] = source_arn
        self.event(
            when,
            caller,
            "lambda.amazonaws.com",
            "Invoke",
            "lambda.invoke",
            request=request,
            additional={"functionVersion": f"{arn}:$LATEST"},
            resources=[{"accountId": caller.account, "type": "AWS::Lambda::Function", "ARN": arn}],
            read_only=False,
            data=True,
            version="1.09",
        )

    def lambda_call(
        self,
        when: datetime,
        caller: _Caller,
        name: str,
        function: str | None = None,
        *,
        error: tuple[str, str] | None = None,
    ) -> None:
        request: dict[str, Any] | None = None
        response: dict[str, Any] | None = None
        if function is not None:
            request = {"functionName": function}
        updates = name.startswith("UpdateFunctionCode")
        if updates:
            request = {"functionName": function, "publish": True, "dryRun": False}
            if error is None:
                response = self._function_configuration(caller, function or "")
        self.event(
            when,
            caller,
            "lambda.amazonaws.com",
            name,
            LAMBDA_COMMANDS[name],
            request=request,
            response=response,
            read_only=not updates,
            error=error,
        )

    def _function_configuration(self, caller: _Caller, function: str) -> dict[str, Any]:
        return {
            "functionName": function,
            "functionArn": _function_arn(caller.account, caller.region, function),
            "runtime": "python3.12",
            "role": f"arn:aws:iam::{caller.account}:role/{function}-role",
            "handler": "app.handler",
            "codeSize": self.rng.randint(4_000, 900_000),
            "timeout": 30,
            "memorySize": 256,
            "codeSha256": base64.b64encode(self.rng.randbytes(32)).decode(),
            "version": "$LATEST",
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "packageType": "Zip",
            "architectures": ["arm64"],
        }

    def caller_identity(self, when: datetime, caller: _Caller) -> None:
        self.event(
            when, caller, "sts.amazonaws.com", "GetCallerIdentity", "sts.get-caller-identity"
        )

    def assume_role(self, when: datetime, caller: _Caller, role: str, session: _Session) -> None:
        role_arn = f"arn:aws:iam::{caller.account}:role/{role}"
        role_id = self._role_id(caller.account, role)
        request: dict[str, Any] = {"roleArn": role_arn, "roleSessionName": session.name}
        if caller.identity["type"] != "AWSService":
            request["durationSeconds"] = 3600
        token = "".join(self.rng.choice(_UNIQUE_CHARS) for _ in range(96))
        response = {
            "credentials": {
                "accessKeyId": session.access_key,
                "sessionToken": f"IQoJb3JpZ2luX2VjE{token}",
                "expiration": _sts_expiration(session.created + timedelta(hours=12)),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{role_id}:{session.name}",
                "arn": f"arn:aws:sts::{caller.account}:assumed-role/{role}/{session.name}",
            },
        }
        resources = [{"accountId": caller.account, "type": "AWS::IAM::Role", "ARN": role_arn}]
        self.event(
            when,
            caller,
            "sts.amazonaws.com",
            "AssumeRole",
            "sts.assume-role",
            request=request,
            response=response,
            resources=resources,
        )

    def get_object(
        self, when: datetime, caller: _Caller, bucket: str, key: str, *, missing: bool = False
    ) -> None:
        host = f"{bucket}.s3.{caller.region}.amazonaws.com"
        transferred = 0 if missing else self.rng.randint(300, 2_000_000)
        self.event(
            when,
            # S3 data events bracket the user agent.
            replace(caller, agent=f"[{caller.agent_for('s3.cp')}]", cli=False),
            "s3.amazonaws.com",
            "GetObject",
            "s3.cp",
            request={"bucketName": bucket, "Host": host, "key": key},
            additional={
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "bytesTransferredOut": transferred,
            },
            resources=[
                {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                {
                    "accountId": caller.account,
                    "type": "AWS::S3::Bucket",
                    "ARN": f"arn:aws:s3:::{bucket}",
                },
            ],
            data=True,
            error=("NoSuchKey", "The specified key does not exist.") if missing else None,
            version="1.10",
            host=host,
        )

    def describe_instances(self, when: datetime, caller: _Caller) -> None:
        request = {"instancesSet": {}, "filterSet": {}}
        self.event(
            when,
            caller,
            "ec2.amazonaws.com",
            "DescribeInstances",
            "ec2.describe-instances",
            request=request,
        )

    def iam_call(self, when: datetime, caller: _Caller, name: str) -> None:
        command = "iam.get-user" if name == "GetUser" else "iam.list-users"
        self.event(
            when,
            caller,
            "iam.amazonaws.com",
            name,
            command,
            region=IAM_REGION,
            host="iam.amazonaws.com",
        )

    # Routine activity, one day at a time.

    def routine(self) -> None:
        day = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= self.end:
            self._scheduled_jobs(day)
            self._api_traffic(day, PROD, bursts=self.rng.randint(3, 5))
            self._api_traffic(day, STAGING, bursts=self.rng.randint(1, 2))
            if day.weekday() < 5:
                for person in PEOPLE:
                    self._working_day(day, person)
                self._deploys(day)
            self._monitoring(day)
            self._partner_and_sync(day)
            day += timedelta(days=1)

    def _scheduled_jobs(self, day: datetime) -> None:
        """EventBridge invokes report-builder every 6 hours and cleanup-job every 12."""
        region = HOME_REGION[PROD]
        events = _service(PROD, region, "events.amazonaws.com")
        rule = f"arn:aws:events:{region}:{PROD}:rule/report-builder-every-6h"
        for hour in range(0, 24, 6):
            when = day + timedelta(hours=hour, seconds=self.rng.randint(0, 20))
            self.invoke(when, events, "report-builder", source_arn=rule)
            when += timedelta(seconds=self.rng.randint(1, 4))
            builder = self.function(PROD, region, "report-builder", when)
            for _ in range(self.rng.randint(2, 6)):
                when += timedelta(seconds=self.rng.randint(1, 6))
                key = f"orders/{when:%Y/%m/%d}/batch-{self.rng.randint(1, 400):04d}.json"
                self.get_object(when, builder, "acme-prod-orders", key)
            when += timedelta(seconds=self.rng.randint(1, 10))
            self.invoke(when, builder, "invoice-renderer")
            when += timedelta(seconds=self.rng.randint(1, 3))
            renderer = self.function(PROD, region, "invoice-renderer", when)
            self.get_object(when, renderer, "acme-prod-templates", "invoice/v7/template.html")

        region = HOME_REGION[STAGING]
        events = _service(STAGING, region, "events.amazonaws.com")
        rule = f"arn:aws:events:{region}:{STAGING}:rule/cleanup-every-12h"
        for hour in (2, 14):
            when = day + timedelta(hours=hour, seconds=self.rng.randint(0, 20))
            self.invoke(when, events, "cleanup-job", source_arn=rule)
            when += timedelta(seconds=self.rng.randint(1, 4))
            self.describe_instances(when, self.function(STAGING, region, "cleanup-job", when))

    def _api_traffic(self, day: datetime, account: str, *, bursts: int) -> None:
        """API Gateway invokes orders-api, which hands each order to orders-processor."""
        region = HOME_REGION[account]
        api = f"arn:aws:execute-api:{region}:{account}:k3x9q2w7ve/prod/POST/orders"
        gateway = _service(account, region, "apigateway.amazonaws.com")
        starts = sorted(
            day + timedelta(hours=self.rng.randint(6, 21), seconds=self.rng.randint(0, 3599))
            for _ in range(bursts)
        )
        for when in starts:
            # Some integrations call with a credentials role: an AssumedRole that
            # API Gateway acts for, so the record carries invokedBy all the same.
            with_role = self.rng.random() < 0.25
            for _ in range(self.rng.randint(2, 8)):
                when += timedelta(seconds=self.rng.randint(1, 20))
                caller = gateway
                if with_role:
                    session = self._session("apigateway-orders", when, timedelta(hours=1))
                    identity = self.role_identity(
                        account, "apigateway-invoke-role", session, invoked_by=gateway.address
                    )
                    caller = replace(gateway, identity=identity)
                self.invoke(when, caller, "orders-api", source_arn=api)
            when += timedelta(seconds=self.rng.randint(1, 3))
            self.invoke(
                when, self.function(account, region, "orders-api", when), "orders-processor"
            )
            when += timedelta(seconds=self.rng.randint(1, 3))
            # orders-processor runs in a dual-stack VPC and leaves over IPv6.
            ipv6 = region in AWS_IPV6_NETWORKS
            processor = self.function(account, region, "orders-processor", when, ipv6=ipv6)
            bucket = f"acme-{'prod' if account == PROD else 'staging'}-orders"
            self.get_object(when, processor, bucket, f"pending/{self._uuid()}.json")

    def _working_day(self, day: datetime, person: _Person) -> None:
        for account in person.accounts:
            addresses = person.addresses
            if person.name == "tom.nguyen" and day.weekday() == 4:
                addresses = COWORKING  # Fridays at the co-working space
            for _ in range(1 if self.rng.random() < 0.7 else 2):
                hour = person.first_hour + self.rng.randint(0, 8)
                when = day + timedelta(hours=hour, seconds=self.rng.randint(0, 3599))
                address = self.rng.choice(addresses)
                caller = self.user(account, person.name, address, person.agent, cli=person.cli)
                self._work_session(when, caller)

    def _work_session(self, when: datetime, caller: _Caller) -> None:
        """A developer at the command line: look around, read, invoke."""
        account, region = caller.account, caller.region
        steps = self.rng.choices(
            ["get", "invoke", "describe", "s3", "iam", "update"],
            weights=[5, 5, 2, 2, 1, 1],
            k=self.rng.randint(3, 9),
        )
        for step in ["whoami", "list", *steps, "invoke"]:
            when += timedelta(seconds=self.rng.randint(3, 40))
            function = self.rng.choice(FUNCTIONS[account])
            if step == "whoami":
                self.caller_identity(when, caller)
            elif step == "list":
                self.lambda_call(when, caller, "ListFunctions20150331")
            elif step == "get":
                error = None
                if self.rng.random() < 0.08:
                    function += "s"  # a typo
                    arn = _function_arn(account, region, function)
                    error = ("ResourceNotFoundException", f"Function not found: {arn}")
                self.lambda_call(when, caller, "GetFunction20150331v2", function, error=error)
            elif step == "invoke":
                self.invoke(when, caller, function)
            elif step == "describe":
                self.describe_instances(when, caller)
            elif step == "s3":
                key = f"builds/{function}/{self.rng.randint(100, 999)}.zip"
                missing = self.rng.random() < 0.1
                self.get_object(when, caller, f"acme-{account}-artifacts", key, missing=missing)
            elif step == "iam":
                self.iam_call(when, caller, self.rng.choice(["GetUser", "ListUsers"]))
            elif step == "update":
                # Only CI deploys to production; people are refused there.
                error = None
                if account == PROD:
                    arn = _function_arn(account, region, function)
                    error = _access_denied(caller, "lambda:UpdateFunctionCode", arn)
                self.lambda_call(
                    when, caller, "UpdateFunctionCode20150331v2", function, error=error
                )

    def _deploys(self, day: datetime) -> None:
        """GitHub Actions deploys: the CI user assumes the deploy role, then smoke-tests."""
        runners = ipaddress.ip_network(GITHUB_RUNNERS)
        for account in (PROD, STAGING):
            times = sorted(
                day + timedelta(hours=self.rng.randint(8, 17), seconds=self.rng.randint(0, 3599))
                for _ in range(self.rng.randint(1, 3))
            )
            for when in times:
                address = str(runners[self.rng.randrange(1, runners.num_addresses - 1)])
                ci = self.user(account, "ci-deployer", address, CI_CLI, cli=True)
                self.caller_identity(when, ci)
                when += timedelta(seconds=self.rng.randint(1, 5))
                run = self.rng.randint(8_000_000_000, 8_999_999_999)
                session = self._session(f"gha-{run}", when, timedelta(hours=1))
                self.assume_role(when, ci, "lambda-deployer", session)
                deployer = replace(
                    ci, identity=self.role_identity(account, "lambda-deployer", session)
                )
                function = self.rng.choice(FUNCTIONS[account][:3])
                when += timedelta(seconds=self.rng.randint(5, 40))
                self.lambda_call(when, deployer, "UpdateFunctionCode20150331v2", function)
                for _ in range(self.rng.randint(1, 2)):
                    when += timedelta(seconds=self.rng.randint(3, 15))
                    self.lambda_call(when, deployer, "GetFunction20150331v2", function)
                when += timedelta(seconds=self.rng.randint(5, 30))
                self.invoke(when, ci, "smoke-test")

    def _monitoring(self, day: datetime) -> None:
        for hour in range(0, 24, 6):
            # Cron runs the probe a minute or two after the report job.
            when = day + timedelta(hours=hour, seconds=self.rng.randint(60, 200))
            # The move to a new provider is benign, but new to the rule all the same.
            address = OVH_PROBE if when >= self.probe_moved else HETZNER_PROBE
            probe = self.user(PROD, "uptime-probe", address, PROBE_SDK, cli=False)
            self.invoke(when, probe, "healthcheck")

    def _partner_and_sync(self, day: datetime) -> None:
        partner = self.user(SANDBOX, "partner-integration", OVH_PARTNER, PARTNER_SDK, cli=False)
        for hour in (9, 15):
            when = day + timedelta(hours=hour, seconds=self.rng.randint(0, 1800))
            self.invoke(when, partner, "partner-webhook")
        for hour in (0, 12):
            when = day + timedelta(hours=hour, seconds=self.rng.randint(0, 300))
            address = self.rng.choice(GOOGLE_CLOUD)
            sync = self.user(SANDBOX, "data-sync", address, GCP_SDK, cli=False).at("us-east-1")
            self.invoke(when, sync, "data-sync-trigger")
            when += timedelta(seconds=self.rng.randint(2, 20))
            trigger = self.function(SANDBOX, "us-east-1", "data-sync-trigger", when)
            key = f"exports/{when:%Y-%m-%d}/part-{hour:02d}.parquet"
            self.get_object(when, trigger, "acme-sandbox-sync", key)

    # The stories: last week's and this week's (weeks start on Monday, UTC).

    def stories(self) -> None:
        def around(moment: datetime) -> datetime:
            return moment + timedelta(seconds=self.rng.randint(0, 1800))

        week = self.now.replace(hour=0, minute=0, second=0) - timedelta(days=self.now.weekday())
        this_week = max(self.now - timedelta(hours=5), week)
        if this_week + timedelta(hours=1) > self.end:  # the week began less than an hour ago
            this_week = self.now - timedelta(hours=5)
        told = (
            (self._stolen_execution_role, week - timedelta(days=2) + timedelta(hours=9)),
            (self._stolen_access_key, week - timedelta(days=1) + timedelta(hours=16)),
            (self._hostile_ci, this_week),
        )
        for story, moment in told:
            when = around(moment)
            if when >= self.start:
                story(when)

    def _stolen_execution_role(self, when: datetime) -> None:
        """orders-api's session credentials, leaked from the function, used from a droplet."""
        session = self.session_at(PROD, "orders-api-role", when)
        if session is None:  # the function ran no earlier in the logs: nothing to steal
            return
        identity = self.role_identity(PROD, "orders-api-role", session)
        attacker = _Caller(
            PROD, HOME_REGION[PROD], identity, DIGITALOCEAN_DROPLET, ATTACKER_CLI, cli=True
        )
        self.caller_identity(when, attacker)
        when += timedelta(seconds=self.rng.randint(20, 90))
        self.lambda_call(when, attacker, "ListFunctions20150331")
        for _ in range(3):
            when += timedelta(seconds=self.rng.randint(30, 240))
            self.invoke(when, attacker, "payments-refund")

    def _stolen_access_key(self, when: datetime) -> None:
        """james.wright's long-term key, used from a residential ISP in another country."""
        attacker = self.user(PROD, "james.wright", BRAZIL_RESIDENTIAL, BRAZIL_CLI, cli=True)
        self.caller_identity(when, attacker.at(IAM_REGION))
        for name in ("ListUsers", "GetUser"):
            when += timedelta(seconds=self.rng.randint(10, 60))
            self.iam_call(when, attacker, name)
        when += timedelta(seconds=self.rng.randint(30, 120))
        self.lambda_call(when, attacker, "ListFunctions20150331")
        for _ in range(2):
            when += timedelta(seconds=self.rng.randint(20, 180))
            self.invoke(when, attacker, "payments-refund")
        when += timedelta(seconds=self.rng.randint(20, 90))
        arn = _function_arn(PROD, attacker.region, "payments-refund")
        error = _access_denied(attacker, "lambda:UpdateFunctionCode", arn)
        self.lambda_call(
            when, attacker, "UpdateFunctionCode20150331v2", "payments-refund", error=error
        )

    def _hostile_ci(self, when: datetime) -> None:
        """The CI user's key from a new hosting provider, with markup where text belongs."""
        attacker = self.user(PROD, "ci-deployer", M247_SERVER, HOSTILE_USER_AGENT, cli=False)
        self.caller_identity(when, attacker)
        when += timedelta(seconds=self.rng.randint(10, 60))
        self.lambda_call(when, attacker, "ListFunctions20150331")
        for function in (HOSTILE_FUNCTION, "smoke-test"):
            when += timedelta(seconds=self.rng.randint(10, 60))
            self.invoke(when, attacker, function)


@dataclass(frozen=True)
class _LogFile:
    key: str
    delivered: datetime
    sha256: str
    oldest: str
    newest: str


def _write_logs(trail: _Trail, logs: Path) -> tuple[int, int]:
    """Write the records as CloudTrail delivers them; returns (log files, digest files)."""
    rng = trail.rng
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in trail.records:
        groups.setdefault((record["recipientAccountId"], record["awsRegion"]), []).append(record)
    files = digests = 0
    for (account, region), records in sorted(groups.items()):
        records.sort(key=lambda record: (record["eventTime"], record["eventID"]))
        chunks: dict[datetime, list[dict[str, Any]]] = {}
        for record in records:
            moment = datetime.fromisoformat(record["eventTime"])
            chunk_start = moment.replace(minute=moment.minute - moment.minute % 5, second=0)
            chunks.setdefault(chunk_start, []).append(record)
        written: list[_LogFile] = []
        previous: list[dict[str, Any]] = []
        for chunk_start, chunk in chunks.items():
            delivered = chunk_start + timedelta(minutes=5, seconds=rng.randint(0, 300))
            if rng.random() < 0.02 and delivered + timedelta(hours=3) <= trail.now:
                # Delivery is not guaranteed in 5 minutes: now and then a file is hours late.
                delivered += timedelta(minutes=rng.randint(60, 180))
            if previous and rng.random() < 0.01:
                chunk = [*chunk, rng.choice(previous)]  # CloudTrail may repeat an event
            previous = chunk
            shuffled = list(chunk)
            rng.shuffle(shuffled)
            unique = "".join(rng.choice(_UNIQUE_CHARS) for _ in range(16))
            key = (
                f"AWSLogs/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
                f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
            )
            document = json.dumps({"Records": shuffled}, separators=(",", ":")).encode()
            _write(logs / key, gzip.compress(document, mtime=0))
            files += 1
            times = [record["eventTime"] for record in chunk]
            sha256 = hashlib.sha256(document).hexdigest()
            written.append(_LogFile(key, delivered, sha256, min(times), max(times)))
        digests += _write_digests(trail, logs, account, region, written)
    return files, digests


def _write_digests(
    trail: _Trail, logs: Path, account: str, region: str, written: list[_LogFile]
) -> int:
    """The last two hourly digest files: they share the bucket but are not event logs."""
    rng = trail.rng
    hour = trail.now.replace(minute=0, second=0, microsecond=0)
    previous_key = previous_hash = None
    count = 0
    for end in (hour - timedelta(hours=1), hour):
        begin = end - timedelta(hours=1)
        included = [log for log in written if begin <= log.delivered < end]
        key = (
            f"AWSLogs/{account}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{account}_CloudTrail-"
            f"Digest_{region}_{TRAIL}_{HOME_REGION[PROD]}_{end:%Y%m%dT%H%M%SZ}.json.gz"
        )
        digest: dict[str, Any] = {
            "awsAccountId": account,
            "digestStartTime": _iso(begin),
            "digestEndTime": _iso(end),
            "digestS3Bucket": LOG_BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": rng.randbytes(16).hex(),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max((log.newest for log in included), default=None),
            "oldestEventTime": min((log.oldest for log in included), default=None),
            "previousDigestS3Bucket": LOG_BUCKET if previous_key else None,
            "previousDigestS3Object": previous_key,
            "previousDigestHashValue": previous_hash,
            "previousDigestHashAlgorithm": "SHA-256" if previous_hash else None,
            "previousDigestSignature": rng.randbytes(64).hex() if previous_key else None,
            "logFiles": [
                {
                    "s3Bucket": LOG_BUCKET,
                    "s3Object": log.key,
                    "hashValue": log.sha256,
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": log.newest,
                    "oldestEventTime": log.oldest,
                }
                for log in included
            ],
        }
        document = json.dumps(digest, separators=(",", ":")).encode()
        _write(logs / key, gzip.compress(document, mtime=0))
        previous_key, previous_hash = key, hashlib.sha256(document).hexdigest()
        count += 1
    return count


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def write_demo(target: Path, *, now: datetime, days: int = 21, seed: int = 7) -> DemoSummary:
    """Write the demo GeoIP databases and CloudTrail logs under target.

    Log files of an earlier run are removed first: their times would not line
    up with the new ones.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now = now.astimezone(UTC).replace(microsecond=0)
    networks = load_networks()
    asn_entries = [AsnEntry(n.network, n.as_number, n.as_organization) for n in networks]
    city_entries = [
        CityEntry(
            n.network, n.country_iso_code, n.country_name, n.city_name, n.latitude, n.longitude
        )
        for n in networks
    ]
    asn_db = write_asn_database(target / "asn.mmdb", asn_entries)
    city_db = write_city_database(target / "city.mmdb", city_entries)

    # Demo data, not secrets: a seeded generator is what makes it repeatable.
    trail = _Trail(random.Random(seed), now=now, days=days)  # noqa: S311
    trail.routine()
    trail.stories()

    logs = target / "logs"
    for old in sorted((logs / "AWSLogs").rglob("*.json.gz")):
        old.unlink()
    files, digests = _write_logs(trail, logs)
    return DemoSummary(
        logs=logs,
        files=files,
        digest_files=digests,
        events=len(trail.records),
        asn_db=asn_db,
        city_db=city_db,
    )
