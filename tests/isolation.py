"""A test client whose every request runs in its own application context, as in production.

The `app` fixture keeps one application context pushed for the whole test, and Flask reuses a pushed
context for requests. Then `flask.g` and the database session outlive a request: Flask-Login
caches the signed-in user in `g`, so a client without any cookie is served as whoever signed in
last, and a test of logout, disabling or throttling could not fail. This client hides the fixture's
context while a request runs, so each request loads its caller from its own cookie or token.
"""

from __future__ import annotations

from flask.globals import _cv_app
from flask.testing import FlaskClient


class IsolatedClient(FlaskClient):
    def open(self, *args, **kwargs):
        token = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


def isolated_client(app) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()
