"""Alerts as Kibana-style alert documents (export_alerts).

kibana.alert.* keys are dotted at the top level, as Kibana stores them; the
triggering event's ECS fields are nested, as in export_events.
"""

from typing import Any

from ingest.ecs import ecs_document
from triage import rule
from triage.models import Alert


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def alert_document(alert: Alert) -> dict[str, Any]:
    document = ecs_document(alert.event)
    document["@timestamp"] = _iso(alert.created_at)
    document["event"]["kind"] = "signal"
    document.update(
        {
            "kibana.alert.uuid": str(alert.pk),
            "kibana.alert.status": "active",
            "kibana.alert.new_terms": alert.new_terms,
            "kibana.alert.original_time": _iso(alert.original_time),
            "kibana.alert.reason": alert.reason,
            "kibana.alert.severity": alert.severity,
            "kibana.alert.risk_score": alert.risk_score,
            "kibana.alert.workflow_status": alert.status,
            "kibana.alert.workflow_tags": alert.tags,
            "kibana.alert.rule.name": rule.NAME,
            "kibana.alert.rule.rule_id": rule.RULE_ID,
            "kibana.alert.rule.type": rule.TYPE,
            "kibana.alert.rule.version": rule.VERSION,
            "kibana.alert.rule.tags": rule.TAGS,
            # The episode: the triggering event and the later events of the same
            # terms that joined it, as Kibana reports suppressed duplicates.
            "kibana.alert.suppression.terms": [
                {"field": name, "value": [value]}
                for name, value in zip(rule.NEW_TERMS_FIELDS, alert.new_terms, strict=True)
            ],
            "kibana.alert.suppression.docs_count": alert.event_count - 1,
            "kibana.alert.suppression.start": _iso(alert.episode_start),
            "kibana.alert.suppression.end": _iso(alert.episode_end),
        }
    )
    if alert.status == Alert.Status.CLOSED:
        document["kibana.alert.workflow_reason"] = alert.close_reason
    return document
