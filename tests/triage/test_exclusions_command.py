"""manage.py exclusions add|list|disable|export|import: the allowlist from the shell."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.cloudtrail import ACCOUNT, principal_invoke
from tests.triage.conftest import EVIL_VPS, OFFICE
from triage.models import Exclusion, ExclusionChange

pytestmark = pytest.mark.django_db


def exclusions(*arguments: str, by: str = "allowlist-admin") -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("exclusions", "--by", by, *arguments, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def add(*arguments: str) -> Exclusion:
    stdout, _ = exclusions("add", *arguments)
    return Exclusion.objects.get(pk=int(stdout.split()[-1]))


def audit() -> list[tuple[int, str, str]]:
    return list(
        ExclusionChange.objects.order_by("id").values_list("exclusion", "action", "changed_by")
    )


def test_it_adds_an_exclusion_and_records_who_created_it():
    stdout, _ = exclusions(
        "add",
        "--asn", "64500",
        "--as-org", " Evil* ",
        "--account", ACCOUNT,
        "--user-name", "alice",
        "--reason", "red-team exercise",
        "--expires", "2026-12-31T18:00:00+01:00",
        by="sam",
    )  # fmt: skip

    exclusion = Exclusion.objects.get()
    assert stdout == f"exclusions: added {exclusion.pk}\n"
    assert (
        exclusion.as_number,
        exclusion.as_organization,
        exclusion.account_id,
        exclusion.user_name,
        exclusion.reason,
        exclusion.expires_at,
        exclusion.enabled,
        exclusion.created_by,
    ) == (
        64500,
        "Evil*",
        ACCOUNT,
        "alice",
        "red-team exercise",
        datetime(2026, 12, 31, 17, 0, tzinfo=UTC),
        True,
        "sam",
    )
    [change] = exclusion.changes.all()
    assert (change.action, change.changed_by, change.before) == ("created", "sam", None)
    expires_at = datetime.fromisoformat(change.after.pop("expires_at"))
    assert expires_at == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert change.after == {
        "as_number": 64500,
        "as_organization": "Evil*",
        "account_id": ACCOUNT,
        "user_name": "alice",
        "reason": "red-team exercise",
        "enabled": True,
        "created_by": "sam",
    }


@pytest.mark.parametrize(
    "arguments",
    [["--asn", "64500"], ["--as-org", "OVH*"], ["--account", ACCOUNT], ["--user-name", "ci"]],
    ids=["asn", "organisation", "account", "user-name"],
)
def test_it_adds_an_exclusion_with_any_one_condition(arguments):
    exclusion = add(*arguments, "--reason", "expected")

    assert exclusion.reason == "expected"
    assert audit() == [(exclusion.pk, "created", "allowlist-admin")]


@pytest.mark.parametrize(
    "arguments",
    [[], ["--as-org", "  ", "--user-name", ""]],
    ids=["none", "blank"],
)
def test_it_refuses_an_exclusion_without_a_condition(arguments):
    with pytest.raises(CommandError, match="needs at least one condition"):
        exclusions("add", *arguments, "--reason", "everything is fine")

    assert not Exclusion.objects.exists()
    assert not ExclusionChange.objects.exists()


def test_it_refuses_an_exclusion_without_a_reason():
    with pytest.raises(CommandError, match="--reason"):
        exclusions("add", "--asn", "64500")
    with pytest.raises(CommandError, match="needs a reason"):
        exclusions("add", "--asn", "64500", "--reason", "   ")

    assert not Exclusion.objects.exists()
    assert not ExclusionChange.objects.exists()


def test_it_refuses_an_expiry_that_is_not_a_time():
    with pytest.raises(CommandError, match="not an ISO 8601"):
        exclusions("add", "--asn", "64500", "--reason", "r", "--expires", "next friday")

    assert not Exclusion.objects.exists()


def test_it_lists_every_exclusion():
    office = add("--as-org", "Example Office*", "--reason", "headquarters")
    ci = add(
        "--asn", "64500", "--user-name", "ci", "--reason", "CI", "--expires", "2026-12-31T00:00Z"
    )  # fmt: skip
    exclusions("disable", str(ci.pk))

    stdout, stderr = exclusions("list")

    assert stdout.splitlines() == [
        f"{office.pk}\tenabled\tas-org=Example Office*\theadquarters (allowlist-admin)",
        f"{ci.pk}\tdisabled expires 2026-12-31T00:00Z\tasn=64500 user-name=ci"
        "\tCI (allowlist-admin)",
    ]
    assert stderr == "exclusions: 2 exclusions\n"


def test_it_disables_an_exclusion_once_and_records_who_did():
    exclusion = add("--user-name", "ci", "--reason", "CI")

    stdout, _ = exclusions("disable", str(exclusion.pk), by="lee")
    exclusions("disable", str(exclusion.pk), by="lee")

    assert stdout == f"exclusions: disabled {exclusion.pk}\n"
    exclusion.refresh_from_db()
    assert exclusion.enabled is False
    assert audit() == [
        (exclusion.pk, "created", "allowlist-admin"),
        (exclusion.pk, "disabled", "lee"),
    ]
    change = ExclusionChange.objects.get(action="disabled")
    assert (change.before["enabled"], change.after["enabled"]) == (True, False)


def test_it_refuses_to_disable_an_exclusion_that_does_not_exist():
    with pytest.raises(CommandError, match="no exclusion 999999"):
        exclusions("disable", "999999")


def test_it_exports_every_exclusion_as_json():
    office = add("--as-org", "Example Office*", "--reason", "headquarters")
    ci = add("--asn", "64500", "--user-name", "ci", "--reason", "CI", "--expires", "2026-12-31")
    exclusions("disable", str(ci.pk))

    stdout, _ = exclusions("export")

    exported = json.loads(stdout)
    assert [{k: v for k, v in item.items() if k != "created_at"} for item in exported] == [
        {
            "id": office.pk,
            "as_number": None,
            "as_organization": "Example Office*",
            "account_id": "",
            "user_name": "",
            "reason": "headquarters",
            "expires_at": None,
            "enabled": True,
            "created_by": "allowlist-admin",
        },
        {
            "id": ci.pk,
            "as_number": 64500,
            "as_organization": "",
            "account_id": "",
            "user_name": "ci",
            "reason": "CI",
            "expires_at": "2026-12-31T00:00:00+00:00",
            "enabled": False,
            "created_by": "allowlist-admin",
        },
    ]
    assert all(datetime.fromisoformat(item["created_at"]) for item in exported)


def test_it_imports_its_own_export_as_no_change(tmp_path):
    add("--as-org", "Example Office*", "--reason", "headquarters")
    ci = add("--asn", "64500", "--user-name", "ci", "--reason", "CI", "--expires", "2026-12-31")
    exclusions("disable", str(ci.pk))
    export = tmp_path / "allowlist.json"
    export.write_text(exclusions("export")[0])
    before = audit()

    stdout, _ = exclusions("import", str(export))

    assert stdout == f"exclusions: imported {export}: 0 created, 0 changed, 2 unchanged\n"
    assert Exclusion.objects.count() == 2
    assert audit() == before


def test_it_imports_a_file_twice_creating_its_exclusions_once(tmp_path):
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(
        json.dumps(
            [
                {"as_organization": "Example Office*", "reason": "headquarters"},
                {"as_number": 64500, "user_name": "ci", "reason": "CI", "enabled": False},
                {
                    "account_id": ACCOUNT,
                    "reason": "sandbox",
                    "expires_at": "2026-12-31T00:00:00Z",
                },
            ]
        )
    )

    first, _ = exclusions("import", str(allowlist), by="deploy")
    changes = audit()
    second, _ = exclusions("import", str(allowlist), by="deploy")

    assert first.endswith(": 3 created, 0 changed, 0 unchanged\n")
    assert second.endswith(": 0 created, 0 changed, 3 unchanged\n")
    assert list(
        Exclusion.objects.order_by("id").values_list(
            "as_organization", "as_number", "user_name", "account_id", "enabled", "expires_at"
        )
    ) == [
        ("Example Office*", None, "", "", True, None),
        ("", 64500, "ci", "", False, None),
        ("", None, "", ACCOUNT, True, datetime(2026, 12, 31, tzinfo=UTC)),
    ]
    assert audit() == changes
    assert [action for _, action, _ in changes].count("created") == 3
    assert {by for _, _, by in changes} == {"deploy"}


def test_it_imports_an_expiry_written_with_an_offset_twice_without_a_new_audit_row(tmp_path):
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(
        json.dumps(
            [{"as_number": 64500, "reason": "pen test", "expires_at": "2026-12-31T18:00:00+01:00"}]
        )
    )
    exclusions("import", str(allowlist))
    changes = audit()

    stdout, _ = exclusions("import", str(allowlist))

    assert stdout.endswith(": 0 created, 0 changed, 1 unchanged\n")
    assert audit() == changes


def test_it_imports_a_changed_exclusion_with_an_audit_row(tmp_path):
    exclusion = add("--as-org", "Example Office*", "--reason", "headquarters")
    [item] = json.loads(exclusions("export")[0])
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(json.dumps([item | {"reason": "headquarters and the Berlin office"}]))

    stdout, _ = exclusions("import", str(allowlist), by="deploy")

    assert stdout.endswith(": 0 created, 1 changed, 0 unchanged\n")
    exclusion.refresh_from_db()
    assert exclusion.reason == "headquarters and the Berlin office"
    change = ExclusionChange.objects.get(action="changed")
    assert (change.changed_by, change.before["reason"], change.after["reason"]) == (
        "deploy",
        "headquarters",
        "headquarters and the Berlin office",
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[{", "allowlist.json"),
        ('{"as_number": 64500}', "not a JSON array"),
        ('[{"as_number": 64500, "reason": "ok"}, {"reason": "no condition"}]', "item 1"),
        ('[{"as_number": 64500, "reason": "ok"}, {"as_number": 1}]', "item 1"),
        ('[{"as_number": 64500, "reason": "ok", "expires_at": "soon"}]', "item 0"),
        ('["OVH*"]', "item 0"),
    ],
    ids=["not-json", "not-an-array", "no-condition", "no-reason", "bad-expiry", "not-an-object"],
)
def test_it_refuses_a_file_it_cannot_import_and_imports_none_of_it(tmp_path, content, says):
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(content)

    with pytest.raises(CommandError, match=says):
        exclusions("import", str(allowlist))

    assert not Exclusion.objects.exists()
    assert not ExclusionChange.objects.exists()


def test_an_exclusions_change_record_is_never_rewritten_or_deleted():
    call_command("exclusions", "add", "--asn", "64500", "--reason", "vpn", stdout=io.StringIO())
    [change] = ExclusionChange.objects.all()

    change.changed_by = "someone else"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()
    assert ExclusionChange.objects.get().changed_by != "someone else"


@pytest.fixture
def candidates(ingest) -> None:
    """12 of the rule's candidates of the last days: alice's 4 from Evil VPS, bob's 8 from
    the office; excluding Evil VPS would hide 33 % of them."""
    now = timezone.now()
    ingest(
        *[principal_invoke(now - timedelta(hours=1 + n), source_ip=EVIL_VPS) for n in range(4)],
        *[
            principal_invoke(now - timedelta(hours=1 + n), user="bob", source_ip=OFFICE)
            for n in range(8)
        ],
    )


def test_it_adds_a_broad_exclusion_only_with_confirm_broad(candidates):
    with pytest.raises(CommandError) as refused:
        exclusions("add", "--as-org", "Evil VPS*", "--reason", "pentest")
    assert not Exclusion.objects.exists()

    exclusion = add("--as-org", "Evil VPS*", "--reason", "pentest", "--confirm-broad")

    message = str(refused.value)
    assert "would hide 33 % of the rule's candidate events of the last 30 days (4 of 12)" in message
    assert "more than the 20 %" in message and "Add --confirm-broad to save it anyway." in message
    [change] = ExclusionChange.objects.all()
    assert (change.exclusion_id, change.action) == (exclusion.pk, "created")
    assert change.after["confirmed_broad"] == {
        "share_percent": 33.3,
        "events": 4,
        "candidates": 12,
        "days": 30,
        "threshold_percent": 20,
    }


def test_it_adds_a_narrow_exclusion_without_a_confirmation(candidates):
    exclusion = add("--as-org", "Evil VPS*", "--user-name", "bob", "--reason", "none of them")

    assert "confirmed_broad" not in exclusion.changes.get().after


def test_it_imports_a_broad_exclusion_only_with_confirm_broad(candidates, tmp_path):
    allowlist = tmp_path / "allowlist.json"
    allowlist.write_text(json.dumps([{"as_organization": "Evil VPS*", "reason": "pentest"}]))

    with pytest.raises(CommandError, match=r"item 0: .*33 %.* Add --confirm-broad"):
        exclusions("import", str(allowlist))
    assert not Exclusion.objects.exists()
    stdout, _ = exclusions("import", str(allowlist), "--confirm-broad")

    assert "1 created" in stdout
    assert Exclusion.objects.get().changes.get().after["confirmed_broad"]["events"] == 4
