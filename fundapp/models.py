"""Imports every model module so that the metadata (and Alembic's autogenerate) sees all tables."""

from fundapp import idempotency as idempotency_models  # noqa: F401
from fundapp.auth import models as auth_models  # noqa: F401
from fundapp.compliance import models as compliance_models  # noqa: F401
from fundapp.compliance import security_events as security_event_models  # noqa: F401
from fundapp.deals import models as deal_models  # noqa: F401,E402
from fundapp.fund import models as fund_models  # noqa: F401
from fundapp.history_import import models as history_import_models  # noqa: F401
from fundapp.ic import models as ic_models  # noqa: F401,E402
from fundapp.portfolio.conversion import models as conversion_models  # noqa: F401
from fundapp.portfolio.exits import models as exit_models  # noqa: F401
from fundapp.portfolio.grants import models as grant_models  # noqa: F401
from fundapp.portfolio.holdings import models as holding_models  # noqa: F401
from fundapp.portfolio.kpis import models as kpi_models  # noqa: F401
from fundapp.portfolio.performance import models as performance_models  # noqa: F401
from fundapp.portfolio.rounds import models as round_models  # noqa: F401
from fundapp.reference import models as reference_models  # noqa: F401,E402
from fundapp.tasks import models as task_models  # noqa: F401,E402
