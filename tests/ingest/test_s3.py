"""manage.py poll on a CloudTrail trail bucket, through an S3 API server."""

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from ingest import aws
from ingest.models import Event, LogObject, SourceProblem, SourceState
from tests.aws import BUCKET, error_response, make_bucket, put_log, put_raw
from tests.cloudtrail import iam_user_identity, invoke_record, log_key
from tests.ingest.polling import run_poll

pytestmark = pytest.mark.django_db
ORG = "o-a1b2c3d4e5"
ACCOUNTS = ["111122223333", "444455556666"]
REGIONS = ["eu-west-1", "us-east-1"]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def record(event_id: str, when: datetime, account: str = ACCOUNTS[0]) -> dict:
    return invoke_record(when=when, event_id=event_id, identity=iam_user_identity(account=account))


def stored() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


@pytest.fixture
def bucket(aws_server, settings):
    make_bucket()
    settings.CLOUDTRAIL_S3_BUCKET = BUCKET
    return BUCKET


def test_it_reads_every_account_and_region_of_an_organisation_trail(bucket):
    delivered = now() - timedelta(minutes=10)
    expected = set()
    for account in ACCOUNTS:
        for region in REGIONS:
            event_id = f"{account}-{region}"
            put_log(
                log_key(account=account, region=region, delivered=delivered, org=ORG),
                [record(event_id, delivered - timedelta(minutes=5), account)],
            )
            expected.add(event_id)
    # An account's own trail in the same bucket, beside the organisation's.
    put_log(log_key(account="777788889999", delivered=delivered), [record("own", delivered)])
    expected.add("own")

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == expected
    assert run.summary.startswith("poll: 1 sources, 5 objects, 5 new events,")
    assert LogObject.objects.filter(source=f"s3://{BUCKET}", status="done").count() == 5


def test_it_passes_over_digests_insights_folder_markers_and_empty_objects(bucket):
    delivered = now() - timedelta(minutes=10)
    key = log_key(delivered=delivered, org=ORG)
    put_log(key, [record("real", delivered)])
    day = key.rsplit("/", 1)[0]
    put_raw(f"{day}/", b"")  # a folder marker
    put_raw(f"{day}/111122223333_CloudTrail_eu-west-1_{delivered:%Y%m%dT%H%MZ}_EMPTY.json.gz", b"")
    digest = key.replace("/CloudTrail/", "/CloudTrail-Digest/")
    put_log(digest, [record("digest", delivered)])
    insight = key.replace("/CloudTrail/", "/CloudTrail-Insight/")
    put_log(insight, [record("insight", delivered)])

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"real"}
    assert ", 2 skipped," in run.summary


def test_it_reads_only_configured_accounts_and_regions(bucket, settings):
    delivered = now() - timedelta(minutes=10)
    for account in ACCOUNTS:
        for region in REGIONS:
            put_log(
                log_key(account=account, region=region, delivered=delivered, org=ORG),
                [record(f"{account}-{region}", delivered, account)],
            )
    settings.CLOUDTRAIL_ACCOUNTS = [ACCOUNTS[1]]
    settings.CLOUDTRAIL_REGIONS = ["us-east-1"]

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {f"{ACCOUNTS[1]}-us-east-1"}


def test_it_reads_under_the_configured_prefix(bucket, settings):
    delivered = now() - timedelta(minutes=10)
    put_log("trails/main/" + log_key(delivered=delivered), [record("prefixed", delivered)])
    put_log(log_key(delivered=delivered, unique="OTHER"), [record("elsewhere", delivered)])
    settings.CLOUDTRAIL_S3_PREFIX = "trails/main/"

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"prefixed"}


def test_it_reads_a_late_file_whose_key_sorts_before_files_already_read(bucket):
    moment = now() - timedelta(minutes=30)
    put_log(log_key(delivered=moment, unique="LATER"), [record("later", moment)])
    assert run_poll().error is None

    # Delivered after the first poll, but named for an earlier time: a
    # "highest key seen" watermark would pass it by.
    earlier = moment - timedelta(minutes=20)
    put_log(log_key(delivered=earlier, unique="EARLY"), [record("early", earlier)])
    yesterday = moment - timedelta(days=1)
    put_log(log_key(delivered=yesterday, unique="LATEDAY"), [record("yesterday", yesterday)])
    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"later", "early", "yesterday"}
    assert run.summary.startswith("poll: 1 sources, 2 objects, 2 new events,")


def test_it_reads_nothing_twice_when_polling_again(bucket, hooks):
    moment = now() - timedelta(minutes=30)
    for n in range(3):
        put_log(log_key(delivered=moment, unique=f"F{n}"), [record(f"e{n}", moment)])
    assert run_poll().error is None
    downloads = []
    hooks("before-send.s3.GetObject", lambda request, **kwargs: downloads.append(request.url))

    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 0 objects, 0 new events,")
    assert downloads == []
    assert LogObject.objects.count() == 3
    assert Event.objects.count() == 3


def test_it_backfills_day_folders_from_cloudtrail_start_on_the_first_poll(bucket, settings):
    today = now()
    for days_ago in (12, 8, 3, 0):
        moment = today - timedelta(days=days_ago)
        put_log(log_key(delivered=moment, unique=f"D{days_ago}"), [record(f"d{days_ago}", moment)])
    settings.CLOUDTRAIL_START = today - timedelta(days=9)

    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"d8", "d3", "d0"}
    start = (today - timedelta(days=9)).date()
    assert f"s3://{BUCKET}/: reading day folders {start} to {today.date()}" in run.stdout
    assert f"{(today - timedelta(days=8)).date()}: 1 objects, 1 new events" in run.stdout
    state = SourceState.objects.get()
    assert state.backfill_from == start
    assert state.backfill_next_day == (today - timedelta(days=1)).date()


def test_it_backfills_ten_days_by_default(bucket):
    today = now()
    for days_ago in (11, 9):
        moment = today - timedelta(days=days_ago)
        put_log(log_key(delivered=moment, unique=f"D{days_ago}"), [record(f"d{days_ago}", moment)])

    assert run_poll().error is None

    assert stored() == {"d9"}


def test_it_retries_a_throttled_download_and_loses_nothing(bucket, hooks):
    moment = now() - timedelta(minutes=30)
    put_log(log_key(delivered=moment), [record("throttled", moment)])
    answers = []

    def slow_down(request, **kwargs):
        if len(answers) < 2:
            answers.append(503)
            return error_response(request, 503, "SlowDown", "Please reduce your request rate.")
        answers.append(200)
        return None

    hooks("before-send.s3.GetObject", slow_down)

    run = run_poll()

    assert run.error is None, run.stderr
    assert answers == [503, 503, 200]
    assert stored() == {"throttled"}


def test_it_leaves_an_object_that_keeps_failing_for_the_next_poll(bucket, hooks):
    # Five days back: read by the backfill, outside the trailing window.
    moment = now() - timedelta(days=5)
    failing = log_key(delivered=moment, unique="FAILS")
    put_log(failing, [record("late", moment)])
    put_log(log_key(delivered=moment, unique="FINE"), [record("fine", moment)])

    def unavailable(request, **kwargs):
        if "FAILS" in request.url:
            return error_response(request, 503, "ServiceUnavailable", "Try again.")
        return None

    hooks("before-send.s3.GetObject", unavailable)

    run = run_poll()

    assert run.error is not None
    assert stored() == {"fine"}
    assert not LogObject.objects.filter(key=failing).exists()
    assert f"s3://{BUCKET}/{failing}: ServiceUnavailable" in run.stderr
    assert "1 left for the next poll" in run.summary
    problem = SourceProblem.objects.get()
    assert (problem.kind, problem.subject) == ("object", f"s3://{BUCKET}/{failing}")

    aws.session().events.unregister("before-send.s3.GetObject", unavailable)
    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"fine", "late"}
    assert not SourceProblem.objects.exists()


def test_it_records_a_corrupt_object_once_and_never_reads_it_again(bucket, hooks):
    moment = now() - timedelta(minutes=30)
    corrupt = log_key(delivered=moment, unique="BROKEN")
    put_raw(corrupt, gzip.compress(b'{"Records": [')[:-6])
    put_log(log_key(delivered=moment, unique="GOOD"), [record("good", moment)])

    run = run_poll()

    assert run.error is not None
    assert stored() == {"good"}
    assert "not a complete gzip file" in run.stderr
    assert LogObject.objects.get(key=corrupt).status == "failed"
    assert SourceState.objects.get().objects_failed == 1
    downloads = []
    hooks("before-send.s3.GetObject", lambda request, **kwargs: downloads.append(request.url))

    run = run_poll()

    assert run.error is None, run.stderr
    assert downloads == []
    assert SourceProblem.objects.get().kind == "corrupt"


def test_it_reports_access_denied_clearly(bucket, hooks):
    def denied(request, **kwargs):
        return error_response(request, 403, "AccessDenied", "Access Denied")

    hooks("before-send.s3.ListObjectsV2", denied)

    run = run_poll()

    assert run.error is not None
    assert f"s3://{BUCKET}/AWSLogs/: AccessDenied: Access Denied; the credentials" in run.stderr
    state = SourceState.objects.get()
    assert state.last_success_at is None
    assert state.problems.get().kind == "source"


def test_it_reports_a_missing_bucket_clearly(aws_server, settings):
    settings.CLOUDTRAIL_S3_BUCKET = "no-such-trail-bucket"

    run = run_poll()

    assert run.error is not None
    assert "NoSuchBucket" in run.stderr
    assert "no such bucket (check CLOUDTRAIL_S3_BUCKET)" in run.stderr


def test_a_source_error_is_cleared_by_the_next_good_poll(bucket, hooks):
    def denied(request, **kwargs):
        return error_response(request, 403, "AccessDenied", "Access Denied")

    hooks("before-send.s3.ListObjectsV2", denied)
    assert run_poll().error is not None
    aws.session().events.unregister("before-send.s3.ListObjectsV2", denied)

    assert run_poll().error is None

    state = SourceState.objects.get()
    assert not state.problems.exists()
    assert state.last_success_at == state.last_poll_finished_at
