"""Hostile and broken input: each failure stays with the file, object or record that caused it.

A record nested too deeply, a file whose reading raises anything at all, a
FIFO, a socket, a link loop or a database that fails one lookup: each is
reported by name, and everything else is stored; a poll moves past it.
"""

import os
import socket
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError

from ingest import ecs, files, store
from ingest.geoip import network_lookup
from ingest.mmdb import write_asn_database, write_city_database
from ingest.models import Event, LogObject, SourceProblem
from tests.aws import BUCKET, database_url, make_bucket, put_log, put_raw
from tests.cloudtrail import invoke_record, log_document, log_key, run_ingest_files, write_log
from tests.conftest import ASN_ENTRIES, CITY_ENTRIES
from tests.helpers import manage
from tests.ingest.polling import run_poll

pytestmark = pytest.mark.django_db
MOMENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def record(event_id: str, **overrides) -> dict:
    return invoke_record(when=MOMENT, event_id=event_id, **overrides)


def stored() -> set[str]:
    return set(Event.objects.values_list("event_id", flat=True))


def nested(levels: int) -> dict:
    value: dict | str = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_record(event_id: str, *, nul: bool) -> dict:
    # 520 levels: more than json can write back and than a recursive walk can visit.
    return record(
        event_id, requestParameters=nested(520), userAgent="curl\u0000/8" if nul else "curl/8"
    )


def good_files(folder, count: int, prefix: str = "good") -> set[str]:
    for n in range(count):
        write_log(
            folder / f"{prefix}-{n}.json.gz", [record(f"{prefix}-{n}-a"), record(f"{prefix}-{n}-b")]
        )
    return {f"{prefix}-{n}-{part}" for n in range(count) for part in "ab"}


def gzip_bomb(expands_to: int) -> bytes:
    """Valid gzip of a valid, empty CloudTrail log padded with spaces to expands_to bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    spaces = b" " * 2**20
    parts = [packer.compress(b'{"Records": [')]
    parts.extend(packer.compress(spaces) for _ in range(expands_to // len(spaces)))
    parts.extend([packer.compress(b"]}"), packer.flush()])
    return b"".join(parts)


# --- records nested too deeply -------------------------------------------------------


@pytest.mark.parametrize("nul", [True, False], ids=["with-a-nul-escape", "plain"])
def test_it_refuses_a_record_nested_too_deeply_and_stores_everything_else(tmp_path, nul):
    # Eight files make one transaction: the deep record's file is in the middle of it.
    expected = good_files(tmp_path, 7)
    deep = write_log(tmp_path / "good-3a.json", [record("beside"), deep_record("deep", nul=nul)])

    run = run_ingest_files(tmp_path)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines("Records[1]")
    assert str(deep) in problem
    assert "nested deeper than the limit of 254 levels" in problem
    assert stored() == expected | {"beside"}


def test_it_refuses_a_document_of_200000_nested_arrays_by_name(tmp_path):
    expected = good_files(tmp_path, 3)
    deep = tmp_path / "good-1a.json"
    deep.write_bytes(b'{"Records": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}")

    run = run_ingest_files(tmp_path)

    [problem] = run.problem_lines(str(deep))
    assert "nested too deeply" in problem
    assert "254 levels" in problem
    assert stored() == expected


# --- any failure of one file is that file's ----------------------------------------


def poisoned(monkeypatch, error: BaseException) -> None:
    """Make reading a record whose eventID is "poison" raise error, as a hostile record might."""
    normalise = ecs.normalise

    def failing(record):
        if isinstance(record, dict) and record.get("eventID") == "poison":
            raise error
        return normalise(record)

    monkeypatch.setattr(store, "normalise", failing)


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RecursionError("maximum recursion depth exceeded"), KeyError("eventID")],
    ids=["memory", "recursion", "a-bug"],
)
def test_it_fails_the_file_whose_reading_raises_and_stores_the_rest_of_its_batch(
    tmp_path, monkeypatch, error
):
    expected = good_files(tmp_path, 7)
    bad = write_log(tmp_path / "good-3a.json", [record("lost"), record("poison")])
    poisoned(monkeypatch, error)  # inherited by the decoding process, which is forked

    run = run_ingest_files(tmp_path)

    assert isinstance(run.error, CommandError)
    [problem] = run.problem_lines(str(bad))
    assert f"could not be read: {type(error).__name__}" in problem
    assert run.summary.endswith(", 1 failed, 1 problems")
    assert stored() == expected
    assert LogObject.objects.get(key=str(bad)).status == "failed"


@pytest.fixture
def inbox(tmp_path, settings):
    folder = tmp_path / "inbox"
    folder.mkdir()
    settings.CLOUDTRAIL_INBOX_DIR = folder
    return folder


@pytest.fixture
def bucket(aws_server, settings):
    make_bucket()
    settings.CLOUDTRAIL_S3_BUCKET = BUCKET
    return BUCKET


def test_an_inbox_poll_records_a_file_whose_reading_raises_and_moves_past_it(inbox, monkeypatch):
    expected = good_files(inbox, 3)
    bad = write_log(inbox / "good-1a.json", [record("poison")])
    poisoned(monkeypatch, RecursionError("maximum recursion depth exceeded"))

    run = run_poll()

    assert run.error is not None
    assert f"{bad}: could not be read: RecursionError" in run.stderr
    assert stored() == expected
    problem = SourceProblem.objects.get()
    assert (problem.kind, problem.subject) == ("corrupt", str(bad))
    assert "RecursionError" in problem.error

    write_log(inbox / "later.json", [record("later")])
    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 1 objects, 1 new events,")
    assert stored() == expected | {"later"}


def test_an_s3_poll_records_an_object_whose_reading_raises_and_moves_past_it(
    bucket, monkeypatch, signed_in_analyst
):
    bad = log_key(delivered=MOMENT, unique="BAD")
    put_log(log_key(delivered=MOMENT, unique="A"), [record("before")])
    put_log(bad, [record("poison")])
    put_log(log_key(delivered=MOMENT, unique="C"), [record("after")])
    poisoned(monkeypatch, MemoryError())

    run = run_poll()

    assert run.error is not None
    assert stored() == {"before", "after"}
    problem = SourceProblem.objects.get()
    assert (problem.kind, problem.subject) == ("corrupt", f"s3://{BUCKET}/{bad}")
    page = signed_in_analyst.get("/sources/").content.decode()
    assert f"s3://{BUCKET}/{bad}" in page
    assert "could not be read: MemoryError" in page

    put_log(log_key(delivered=MOMENT, unique="D"), [record("later")])
    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 1 objects, 1 new events,")
    assert stored() == {"before", "after", "later"}


@pytest.fixture
def signed_in_analyst(client, django_user_model):
    from django.contrib.auth.models import Group

    from config.roles import ANALYST

    user = django_user_model.objects.create_user("ana", password="x")
    user.groups.add(Group.objects.get_or_create(name=ANALYST)[0])
    client.force_login(user)
    return client


# --- gzip bombs and files too large --------------------------------------------------


def test_an_inbox_poll_refuses_a_gzip_bomb_and_a_file_too_large_once(inbox, settings):
    settings.INGEST_MAX_FILE_BYTES = 2**20
    expected = good_files(inbox, 2)
    bomb = inbox / "bomb.json.gz"
    bomb.write_bytes(gzip_bomb(8 * 2**20))
    large = inbox / "large.json"
    large.write_bytes(log_document([record("large")]) + b" " * 2**20)

    run = run_poll()

    assert run.error is not None
    assert f"{bomb}: expands to more than 1,048,576 bytes" in run.stderr
    assert (
        f"{large}: {large.stat().st_size:,} bytes, more than INGEST_MAX_FILE_BYTES=1,048,576"
        in run.stderr
    )
    assert stored() == expected
    assert {(p.kind, p.subject) for p in SourceProblem.objects.all()} == {
        ("corrupt", str(bomb)),
        ("corrupt", str(large)),
    }

    run = run_poll()

    assert run.error is None, run.stderr
    assert run.summary.startswith("poll: 1 sources, 0 objects, 0 new events,")


def test_an_s3_poll_refuses_a_gzip_bomb_and_an_object_too_large_once(bucket, settings, hooks):
    settings.INGEST_MAX_FILE_BYTES = 2**20
    bomb = log_key(delivered=MOMENT, unique="BOMB")
    put_raw(bomb, gzip_bomb(8 * 2**20))
    large = log_key(delivered=MOMENT, unique="LARGE").removesuffix(".gz")
    content = log_document([record("large")]) + b" " * 2**20
    put_raw(large, content)
    put_log(log_key(delivered=MOMENT, unique="GOOD"), [record("good")])

    run = run_poll()

    assert run.error is not None
    assert f"{bomb}: expands to more than 1,048,576 bytes" in run.stderr
    assert (
        f"{large}: {len(content):,} bytes, more than INGEST_MAX_FILE_BYTES=1,048,576" in run.stderr
    )
    assert stored() == {"good"}
    assert {(p.kind, p.subject) for p in SourceProblem.objects.all()} == {
        ("corrupt", f"s3://{BUCKET}/{bomb}"),
        ("corrupt", f"s3://{BUCKET}/{large}"),
    }
    downloads = []
    hooks("before-send.s3.GetObject", lambda request, **kwargs: downloads.append(request.url))

    run = run_poll()

    assert run.error is None, run.stderr
    assert downloads == []


def test_it_reads_a_file_too_large_to_decode_ahead_by_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "DECODED_AHEAD_BYTES", 2000)
    write_log(tmp_path / "a.json.gz", [record("small")])
    write_log(tmp_path / "b.json.gz", [record(f"large-{n}") for n in range(10)])
    write_log(tmp_path / "c.json", [record("plain")])

    run = run_ingest_files(tmp_path)

    assert run.error is None, run.stderr
    assert stored() == {"small", "plain", *(f"large-{n}" for n in range(10))}


# --- what is not a regular file ------------------------------------------------------


def unix_socket(path) -> socket.socket:
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(path))
    return listening


def test_it_names_fifos_sockets_and_link_loops_in_a_folder_and_reads_the_rest(tmp_path):
    expected = good_files(tmp_path, 2)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "loop.json.gz").symlink_to("loop.json.gz")
    (tmp_path / "dangling.json").symlink_to("gone.json")
    with unix_socket(tmp_path / "socket.json"):
        run = run_ingest_files(tmp_path)

    assert isinstance(run.error, CommandError)
    assert run.problem_lines("fifo.json") == [f"{tmp_path}/fifo.json: not a regular file (a FIFO)"]
    assert run.problem_lines("socket.json") == [
        f"{tmp_path}/socket.json: not a regular file (a socket)"
    ]
    assert run.problem_lines("loop.json.gz") == [f"{tmp_path}/loop.json.gz: a symbolic link loop"]
    assert run.problem_lines("dangling.json") == [
        f"{tmp_path}/dangling.json: a symbolic link to nothing"
    ]
    assert run.summary.endswith(", 4 failed, 4 problems")
    assert stored() == expected


@pytest.mark.django_db(transaction=True)
def test_ingest_files_names_a_fifo_it_is_given_without_waiting_for_a_writer(tmp_path, geoip_dir):
    fifo = tmp_path / "waiting.json"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop.name)
    good = write_log(tmp_path / "good.json", [record("good")])

    result = manage(
        "ingest_files",
        str(fifo),
        str(loop),
        str(good),
        env={"DATABASE_URL": database_url(), "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb")},
        timeout=60,
    )

    assert result.returncode != 0
    assert f"{fifo}: not a regular file (a FIFO)" in result.stderr.splitlines()
    assert f"{loop}: a symbolic link loop" in result.stderr.splitlines()
    assert "1 new events" in result.stdout
    assert stored() == {"good"}


def test_an_inbox_poll_names_a_fifo_once_and_a_link_loop_until_it_is_mended(inbox):
    write_log(inbox / "good.json", [record("good")])
    os.mkfifo(inbox / "fifo.json")
    (inbox / "loop.json").symlink_to("loop.json")

    run = run_poll()

    assert run.error is not None
    assert f"{inbox}/fifo.json: not a regular file (a FIFO)" in run.stderr
    assert f"{inbox}/loop.json: a symbolic link loop" in run.stderr
    assert stored() == {"good"}
    assert {(p.kind, p.subject) for p in SourceProblem.objects.all()} == {
        ("corrupt", f"{inbox}/fifo.json"),
        ("object", f"{inbox}/loop.json"),
    }

    (inbox / "loop.json").unlink()
    write_log(inbox / "loop.json", [record("mended")])
    run = run_poll()

    assert run.error is None, run.stderr
    assert stored() == {"good", "mended"}


# --- a GeoIP database that fails one lookup ------------------------------------------


def broken_where(path, write, entries, *, after: bytes, keys: int):
    """A database that opens, but whose data for one network is corrupt.

    mmdb-writer writes a network's record (a map of `keys` entries) after the
    strings it holds; changing the map's control byte to 0 (an extended type)
    makes the reader find an unknown data type (the byte after it) there.
    """
    write(path, entries)
    data = bytearray(path.read_bytes())
    data[data.index(bytes([0xE0 | keys]), data.index(after))] = 0
    path.write_bytes(data)
    return path


@pytest.fixture
def broken_city_database(tmp_path, settings):
    # Lookups in Evil VPS Ltd's network, 203.0.113.0/24 (Amsterdam), fail.
    path = broken_where(
        tmp_path / "city.mmdb", write_city_database, CITY_ENTRIES, after=b"Amsterdam", keys=3
    )
    settings.GEOIP_CITY_DB = path
    network_lookup.cache_clear()
    return path


@pytest.fixture
def broken_asn_database(tmp_path, settings):
    path = broken_where(
        tmp_path / "asn.mmdb", write_asn_database, ASN_ENTRIES, after=b"Evil VPS Ltd", keys=2
    )
    settings.GEOIP_ASN_DB = path
    network_lookup.cache_clear()
    return path


def test_a_record_whose_city_lookup_fails_is_stored_without_source_geo(
    tmp_path, broken_city_database
):
    log = write_log(
        tmp_path / "log.json",
        [
            record("berlin", sourceIPAddress="198.51.100.7"),
            record("failing", sourceIPAddress="203.0.113.10"),
            record("failing-too", sourceIPAddress="203.0.113.10"),
        ],
    )

    run = run_ingest_files(log)

    assert isinstance(run.error, CommandError)
    for position in (1, 2):
        [problem] = run.problem_lines(f"Records[{position}]")
        assert str(log) in problem
        assert f"GEOIP_CITY_DB={broken_city_database}" in problem
        assert "203.0.113.10" in problem
        assert "stored without source.geo" in problem
    failing = Event.objects.get(event_id="failing")
    assert failing.geo is None
    assert (failing.as_number, failing.as_organization) == (64500, "Evil VPS Ltd")
    assert Event.objects.get(event_id="berlin").geo["city_name"] == "Berlin"


def test_a_record_whose_asn_lookup_fails_is_stored_without_source_as(tmp_path, broken_asn_database):
    log = write_log(
        tmp_path / "log.json.gz",
        [record("failing", sourceIPAddress="203.0.113.10")]
        + [record(f"fine-{n}", sourceIPAddress="198.51.100.7") for n in range(59)],
    )

    run = run_ingest_files(log)

    [problem] = run.problem_lines("Records[0]")
    assert f"GEOIP_ASN_DB={broken_asn_database}" in problem
    assert "stored without source.as.*" in problem
    assert "InvalidDatabaseError" in problem
    failing = Event.objects.get(event_id="failing")
    assert (failing.as_number, failing.as_organization) == (None, None)
    assert failing.geo["city_name"] == "Amsterdam"
    assert Event.objects.filter(as_number=64501).count() == 59


def test_it_says_a_city_database_is_not_an_asn_database_in_english(tmp_path, geoip_dir):
    result = manage(
        "check",
        env={
            "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb"),
            "GEOIP_CITY_DB": str(geoip_dir / "asn.mmdb"),
            "ASNWATCH_VAR_DIR": str(tmp_path),
        },
    )

    assert "not a City database" in result.stderr
