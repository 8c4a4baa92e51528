"""The application factory."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from flask import Flask, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from fundapp.config import Config
from fundapp.extensions import babel, csrf, db, login_manager, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# The web blueprints, registered in this order.
BLUEPRINTS = (
    "fundapp.health", "fundapp.auth.views", "fundapp.main.views", "fundapp.admin.views",
    "fundapp.compliance.views", "fundapp.deals.views", "fundapp.portfolio.views",
    "fundapp.reference.views", "fundapp.ic.views", "fundapp.search.views",
    "fundapp.tasks.views", "fundapp.help.views", "fundapp.history_import.views",
)
# Modules that register themselves when imported: API routes on fundapp.api.bp, compliance
# checks (fundapp.compliance.checks.register_check) and scheduled jobs (fundapp.scheduler.JOBS).
# Only the app factory imports them all, so no domain needs to import another to be complete.
DOMAIN_MODULES = (
    "fundapp.api.routes", "fundapp.compliance.api", "fundapp.compliance.security_api",
    "fundapp.deals.api", "fundapp.ic.api",
    "fundapp.portfolio.api", "fundapp.fund.api",
    "fundapp.compliance.checks", "fundapp.compliance.jobs", "fundapp.deals.checks",
    "fundapp.ic.jobs", "fundapp.portfolio.checks", "fundapp.portfolio.grants.jobs",
    "fundapp.portfolio.kpis.jobs", "fundapp.portfolio.exits.jobs",
    "fundapp.tasks.api", "fundapp.compliance.tasks", "fundapp.ic.tasks", "fundapp.deals.tasks",
    "fundapp.notifications.api", "fundapp.main.digest",
    "fundapp.history_import.api", "fundapp.history_import.tasks", "fundapp.reference.api",
)


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)


class FundApp(Flask):
    """Flask with one unit of work around every view (see fundapp/unit_of_work.py)."""

    def dispatch_request(self):  # type: ignore[override]
        from fundapp.unit_of_work import dispatch

        return dispatch(super().dispatch_request)


def select_locale() -> str:
    languages = ("zh", "en")
    if not has_request_context():
        return "en"  # the CLI and the scheduler speak English; pages follow the user
    user = g.get("user")
    if user is not None and user.locale in languages:
        return user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return request.accept_languages.best_match(languages) or "zh"


def create_app(config: object | None = None) -> Flask:
    app = FundApp(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    from fundapp.fields import IdConverter

    app.url_map.converters["int"] = IdConverter  # ids beyond an INTEGER are not found (404)
    app.config.from_object(config if config is not None else Config())
    import fundapp.models  # noqa: F401  (all tables known before anything touches the database)
    app.session_interface = SessionInterface()
    if app.config.get("PROXY_FIX"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)

    # Order matters: the access check runs before CSRF, so a refused caller learns nothing more.
    from fundapp.access import can, check_access

    app.before_request(check_access)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    from fundapp.inputs import check_json_body, check_query_text

    # After the access check and CSRF: hostile input is refused before anything parses it.
    app.before_request(check_json_body)
    app.before_request(check_query_text)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.session_protection = None  # the server-side session row is the protection
    login_manager.login_view = "auth.login"

    from fundapp.auth.operations import load_session_user

    @login_manager.user_loader
    def _load_user(key: str):
        return load_session_user(db.session, key)

    from fundapp.errors import register_error_handlers
    from fundapp.security import add_security_headers
    from fundapp.ui import register_template_helpers

    register_error_handlers(app)
    app.after_request(add_security_headers)
    register_template_helpers(app, can)

    from fundapp.api import bp as api_bp

    for name in DOMAIN_MODULES:
        importlib.import_module(name)  # each fills its registry: routes, checks, jobs
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    csrf.exempt(api_bp)  # the API takes bearer tokens only, never the session cookie
    app.register_blueprint(api_bp)

    from fundapp.cli import register_commands

    register_commands(app)
    return app
