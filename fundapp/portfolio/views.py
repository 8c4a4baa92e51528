"""The portfolio's pages: one blueprint, "portfolio", filled by the sub-packages' views modules.

Importing this module registers every page (grants and policies, rounds, conversions and cap
tables, holdings, performance and index series, KPIs), so `bp` is complete.
"""

from fundapp.portfolio.conversion import views as conversion_views  # noqa: F401
from fundapp.portfolio.grants import views as grant_views  # noqa: F401
from fundapp.portfolio.holdings import views as holding_views  # noqa: F401
from fundapp.portfolio.kpis import views as kpi_views  # noqa: F401
from fundapp.portfolio.performance import views as performance_views  # noqa: F401
from fundapp.portfolio.rounds import views as round_views  # noqa: F401
from fundapp.portfolio.web import bp

__all__ = ["bp"]
