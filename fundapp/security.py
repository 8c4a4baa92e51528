"""Security headers on every response."""

from flask import Response, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    # Pages, API answers, PDFs and exports carry the fund's data: no cache keeps a copy.
    # Only the bundled static assets (CSS, scripts, fonts) may be cached.
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    headers.pop("Server", None)  # no product banner (gunicorn's own is off in gunicorn.conf.py)
    return response
