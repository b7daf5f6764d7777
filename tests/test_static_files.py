"""Static files: the suite's requests load WhiteNoise without its missing-folder warning."""

import warnings

from django.core.handlers.wsgi import WSGIHandler


def test_it_loads_the_middleware_without_warning_of_a_missing_static_folder():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WSGIHandler()

    assert [str(warning.message) for warning in caught] == []
