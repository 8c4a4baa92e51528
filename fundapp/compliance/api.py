"""API routes of the compliance area (ledger exports, checks), on the shared API blueprint."""

from fundapp.api import bp  # noqa: F401
