"""The portfolio's API routes, on the shared API blueprint (fundapp.api.bp).

Importing this module registers the routes of every sub-package: policies and grants, rounds,
conversions and cap tables, holdings, exits, performance and index series, KPIs; in this order
in the OpenAPI document.
"""

# isort: off
from fundapp.portfolio.grants import api as grant_api  # noqa: F401
from fundapp.portfolio.conversion import api as conversion_api  # noqa: F401
from fundapp.portfolio.rounds import api as round_api  # noqa: F401
from fundapp.portfolio.performance import api as performance_api  # noqa: F401
from fundapp.portfolio.holdings import api as holding_api  # noqa: F401
from fundapp.portfolio.exits import api as exit_api  # noqa: F401
from fundapp.portfolio.kpis import api as kpi_api  # noqa: F401
# isort: on
