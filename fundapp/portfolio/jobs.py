"""The portfolio's scheduled jobs: importing this module loads every sub-package's jobs module."""

from fundapp.portfolio.grants import jobs as grant_jobs  # noqa: F401
