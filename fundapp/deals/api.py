"""API routes of the deal pipeline, registered on the shared API blueprint."""

from fundapp.api import bp  # noqa: F401
