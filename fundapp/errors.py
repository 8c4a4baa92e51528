"""The AppError hierarchy and the one JSON error envelope.

Every error a client sees has the shape {"error": {"code", "message", "details"}}; the message is
in the user's language, the code is stable English for programs.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


class AppError(Exception):
    """An error we expect and explain; `message` is already translated (or lazily)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: Any = None, *, details: dict[str, Any] | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        super().__init__(str(message) if message is not None else self.code)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code
        if status:
            self.status = status


class ValidationFailed(AppError):
    """Input that does not pass its schema: details maps each field to its messages."""

    status = 422
    code = "validation_failed"


class RuleRefused(AppError):
    """A rule of the fund's rule book refuses the operation; details["rule"] names the clause.

    No dead ends (issue 12): when what is missing is another person's step, `who` names who does
    it (a role label, in the reader's language) and `link` where it is done: a URL, or an
    (endpoint, values) pair resolved here (left out where no URL can be built, e.g. the command
    line); `link_label` says what the link opens. They travel in details as "who", "link" and
    "link_label", and the pages show them as a sentence with the link (next_step_html).
    """

    status = 409
    code = "rule_refused"

    def __init__(self, rule: str, message: Any, *, who: Any = None,
                 link: str | tuple[str, dict[str, Any]] | None = None, link_label: Any = None,
                 **details: Any) -> None:
        extra: dict[str, Any] = {}
        if who is not None:
            extra["who"] = str(who)
            extra["next_step"] = _("This step is done by %(who)s.", who=extra["who"])
            url = _resolve_link(link)
            if url:
                extra["link"] = url
                if link_label is not None:
                    extra["link_label"] = str(link_label)
        super().__init__(message, details={"rule": rule, **details, **extra})


def _resolve_link(link: str | tuple[str, dict[str, Any]] | None) -> str | None:
    if link is None or isinstance(link, str):
        return link
    from flask import url_for

    endpoint, values = link
    try:
        return url_for(endpoint, **values)
    except RuntimeError:  # no request (a CLI command, a job): the message alone says it
        return None


def next_step_html(details: dict[str, Any] | None) -> Any:
    """The sentence "This step is done by WHO. <link>" of a refusal that waits on another person
    (Markup, escaped), or None."""
    from markupsafe import Markup, escape

    details = details or {}
    who = details.get("who")
    if not who:
        return None
    sentence = escape(details.get("next_step") or _("This step is done by %(who)s.", who=who))
    link = details.get("link")
    if not link:
        return Markup('<span data-testid="next-step">%s</span>') % sentence
    label = details.get("link_label") or _("Go there")
    return Markup('<span data-testid="next-step">%s <a href="%s" data-testid="next-step-link">'
                  '%s</a></span>') % (sentence, link, label)


class NotFound(AppError):
    status = 404
    code = "not_found"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class TooManyAttempts(AppError):
    status = 429
    code = "too_many_attempts"


def describe(exc: AppError) -> str:
    """A refusal as one line for a terminal: the message, then each field's messages."""
    details = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in exc.details.items())
    return f"{exc.message}{' (' + details + ')' if details else ''}"


# Messages for HTTP errors raised by Flask or Werkzeug, in the user's language.
HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Please sign in first."),
    403: _l("You do not have permission to do this."),
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept that method."),
    409: _l("This conflicts with the current state."),
    413: _l("The request is too large."),
    415: _l("This content type is not supported."),
    422: _l("Some fields are not valid."),
    429: _l("Too many attempts. Please wait and try again."),
    500: _l("Something went wrong on our side. Nothing was changed."),
}

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "validation_failed", 429: "too_many_attempts",
              500: "internal_error"}


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def envelope(status: int, code: str, message: Any, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": str(message), "details": details or {}}})
    response.status_code = status
    return response


def error_response(status: int, code: str, message: Any, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None):
    if wants_json():
        response = envelope(status, code, message, details)
        response.headers.update(headers or {})
        return response
    body = render_template("error.html", status=status, message=str(message), details=details or {},
                           next_step=next_step_html(details))
    return body, status, headers or {}


# Constraint name -> the refusal to show when the database refuses a write that a concurrent
# request made impossible (the operations check first; the constraint is the backstop).
CONSTRAINT_REFUSALS: dict[str, AppError] = {}


def refuse_on_constraint(error: AppError, *names: str) -> None:
    """Say what a violated UNIQUE/CHECK constraint means to the user (domains call this).

    `names`: the constraint's name (PostgreSQL names it) and SQLite's "table.column" form.
    """
    for name in names:
        CONSTRAINT_REFUSALS[name] = error


def constraint_refusal(exc: Exception) -> AppError:
    text = str(getattr(exc, "orig", exc))
    for name, error in CONSTRAINT_REFUSALS.items():
        if name in text:
            return error
    return AppError(_l("This conflicts with a change made at the same time. Reload and try "
                       "again."), status=409, code="conflict")


def register_error_handlers(app: Flask) -> None:
    from sqlalchemy.exc import IntegrityError

    from fundapp.extensions import db

    @app.errorhandler(IntegrityError)
    def _integrity_error(exc: IntegrityError):
        db.session.rollback()
        error = constraint_refusal(exc)
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):
        return error_response(400, "csrf_failed",
                              _("The form expired or was sent from elsewhere. Please try again."))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status, exc.description)
        # Keep what the exception says about the protocol, e.g. Allow on a 405.
        headers = {key: value for key, value in exc.get_headers()
                   if key.lower() not in ("content-type", "content-length")}
        return error_response(status, HTTP_CODES.get(status, "http_error"), message,
                              headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", HTTP_MESSAGES[500])
