"""API operations: the rule (metadata, query, investigation guide), detection runs, sources."""

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from ingest.status import status_document
from triage import rule
from triage.api.auth import require_role
from triage.api.problems import Problem
from triage.models import DetectionRun

router = Router(tags=["rule"])


class GuideStep(Schema):
    key: str
    title: str
    guidance: str


class Rule(Schema):
    rule_id: str
    name: str
    version: int
    type: str
    severity: str
    risk_score: int
    description: str
    query: str
    language: str
    new_terms_fields: list[str]
    history_window_start: str
    interval: str
    max_signals: int
    tags: list[str]
    threat: Any
    references: list[str]
    setup: str
    investigation_steps: list[GuideStep]
    false_positive_analysis: list[str]
    response_and_remediation: list[str]


class RuleList(Schema):
    rules: list[Rule]


def _rule() -> Rule:
    return Rule(
        rule_id=rule.RULE_ID,
        name=rule.NAME,
        version=rule.VERSION,
        type=rule.TYPE,
        severity=rule.SEVERITY,
        risk_score=rule.RISK_SCORE,
        description=rule.DESCRIPTION,
        query=rule.QUERY,
        language=rule.LANGUAGE,
        new_terms_fields=rule.NEW_TERMS_FIELDS,
        history_window_start=rule.HISTORY_WINDOW_START,
        interval=rule.INTERVAL,
        max_signals=rule.MAX_SIGNALS,
        tags=rule.TAGS,
        threat=rule.THREAT,
        references=rule.REFERENCES,
        setup=rule.SETUP,
        investigation_steps=[
            GuideStep(key=step.key, title=step.title, guidance=step.guidance)
            for step in rule.TRIAGE_STEPS
        ],
        false_positive_analysis=rule.FALSE_POSITIVE_ANALYSIS,
        response_and_remediation=rule.RESPONSE_AND_REMEDIATION,
    )


@router.get("/rules", response={200: RuleList}, summary="Every detection rule")
def rules_list(request: HttpRequest) -> RuleList:
    require_role(request)
    return RuleList(rules=[_rule()])


@router.get("/rules/{rule_id}", response={200: Rule, 404: Problem}, summary="One rule")
def rule_detail(request: HttpRequest, rule_id: str) -> Rule:
    require_role(request)
    if rule_id != rule.RULE_ID:
        raise Http404(f"No rule {rule_id}.")
    return _rule()


class Run(Schema):
    id: int
    started_at: datetime
    finished_at: datetime | None
    events_evaluated: int
    candidates: int
    alerts_created: int
    events_joined: int
    suppressed: int
    learning: int
    learning_until: datetime | None
    deferred: bool
    deferred_at: datetime | None
    error: str


class RunPage(Schema):
    runs: list[Run]
    next: str | None = Field(None, description="cursor of the next page (older runs)")


class RunQuery(Schema):
    limit: int = Field(50, ge=1, le=200)
    before: int | None = Field(None, ge=1, description="the next cursor of the previous page")


@router.get("/runs", response={200: RunPage}, summary="Detection runs, newest first")
def runs_list(request: HttpRequest, query: Query[RunQuery]) -> RunPage:
    require_role(request)
    runs = DetectionRun.objects.order_by("-id")
    if query.before is not None:
        runs = runs.filter(id__lt=query.before)
    page = list(runs[: query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    return RunPage(
        runs=[Run.from_orm(run) for run in page],
        next=str(page[-1].pk) if more and page else None,
    )


class SourceStatus(Schema):
    """The same document as /sources.json."""

    ok: bool
    generated_at: str
    error: str | None = None
    sources: list[dict[str, Any]]
    concerns: list[dict[str, Any]]


@router.get(
    "/sources",
    response={200: SourceStatus},
    summary="Sources' health, as /sources.json (ok false where it answers 503)",
)
def sources(request: HttpRequest) -> SourceStatus:
    require_role(request)
    return SourceStatus(**status_document(now=timezone.now()))
