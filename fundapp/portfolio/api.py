"""API routes of grants, rounds, conversions and policies, on the shared API blueprint."""

from fundapp.api import bp  # noqa: F401
