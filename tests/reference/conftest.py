"""Operations translate their messages, which needs a request (for the locale): tests that use
the app get one, in English."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _request_context(request):
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def client(app):
    """Each request in its own application context, as in production (see tests/isolation.py)."""
    from tests.isolation import isolated_client

    return isolated_client(app)
