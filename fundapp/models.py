"""Imports every model module so that the metadata (and Alembic's autogenerate) sees all tables."""

from fundapp.auth import models as auth_models  # noqa: F401
from fundapp.compliance import models as compliance_models  # noqa: F401
from fundapp.deals import models as deal_models  # noqa: F401,E402
from fundapp.ic import models as ic_models  # noqa: F401,E402
from fundapp.portfolio import models as portfolio_models  # noqa: F401
from fundapp.reference import models as reference_models  # noqa: F401,E402
