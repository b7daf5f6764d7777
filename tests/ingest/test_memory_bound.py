"""Memory stays bounded whatever the input: a gzip bomb is refused within a fixed allowance."""

import gzip
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from ingest.ahead import worked_ahead
from ingest.models import Event, LogObject
from tests.aws import database_url
from tests.cloudtrail import invoke_record, write_log
from tests.helpers import PROJECT_ROOT
from tests.ingest.test_hostile_files import MOMENT

# Far less than the bomb expands to, and than the process would need to hold it.
ADDRESS_SPACE = 2**30


def multi_gigabyte_bomb() -> bytes:
    """4 MB of gzip that expands to 4 GiB of JSON whitespace: an empty CloudTrail log.

    Concatenated gzip members, read one after the other as gzip reads them,
    so that it takes a moment to make.
    """
    spaces = gzip.compress(b" " * 2**26, compresslevel=9)
    return gzip.compress(b'{"Records": [') + spaces * 64 + gzip.compress(b"]}")


@pytest.mark.django_db(transaction=True)
def test_ingest_files_refuses_a_gzip_bomb_in_bounded_memory_and_stores_the_good_files(
    tmp_path, geoip_dir
):
    expected = set()
    for n in range(7):
        ids = [f"good-{n}-{i}" for i in range(3)]
        write_log(
            tmp_path / f"good-{n}.json.gz", [invoke_record(when=MOMENT, event_id=i) for i in ids]
        )
        expected.update(ids)
    bomb = tmp_path / "good-3a.json.gz"  # among the good files, in their transaction
    bomb.write_bytes(multi_gigabyte_bomb())
    limited = (
        "import resource, runpy, sys;"
        f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}));"
        f"sys.argv = ['manage.py', 'ingest_files', {str(tmp_path)!r}];"
        "runpy.run_path('manage.py', run_name='__main__')"
    )

    result = subprocess.run(
        [sys.executable, "-c", limited],
        cwd=PROJECT_ROOT,
        env={"DATABASE_URL": database_url(), "GEOIP_ASN_DB": str(geoip_dir / "asn.mmdb")},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert f"{bomb}: expands to more than 268,435,456 bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(Event.objects.values_list("event_id", flat=True)) == expected
    assert LogObject.objects.get(key=str(bomb)).status == "failed"


class CountingPool(ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_it_works_ahead_only_on_as_many_items_as_the_budget_holds():
    weights = [5, 5, 5, 20, 5, 5]

    with CountingPool(max_workers=4) as pool:
        results = worked_ahead(
            weights, lambda w: w, pool=pool, depth=4, weigh=lambda w: w, budget=12
        )
        ahead = [pool.submitted - index - 1 for index, _ in enumerate(results)]

    # Ahead of the item being handled: those weighing 12 at most, or one heavier alone.
    assert ahead == [2, 1, 1, 2, 1, 0]
