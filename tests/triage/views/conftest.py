"""The personas and the story dataset every view test starts from (tests/triage/ui.py)."""

import pytest

from tests.triage import ui


@pytest.fixture(scope="session")
def geoip_dir(tmp_path_factory):
    return ui.write_geoip(tmp_path_factory.mktemp("geoip-ui"))


@pytest.fixture
def story(settings) -> ui.Story:
    return ui.stories(settings)


@pytest.fixture
def people(story) -> ui.People:
    return ui.people()


@pytest.fixture
def client(people):
    """An analyst's signed-in client."""
    return ui.client_for(people.analyst)
