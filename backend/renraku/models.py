"""Every table, imported in one place so Alembic and the tests see the whole metadata."""

from sqlmodel import SQLModel

from renraku.accounts import models as accounts_models
from renraku.alerts import models as alerts_models
from renraku.audit import models as audit_models
from renraku.feed import models as feed_models
from renraku.glass import models as glass_models
from renraku.notices import models as notices_models
from renraku.overlay import models as overlay_models
from renraku.teams import models as teams_models

metadata = SQLModel.metadata

__all__ = [
    "accounts_models",
    "alerts_models",
    "audit_models",
    "feed_models",
    "glass_models",
    "metadata",
    "notices_models",
    "overlay_models",
    "teams_models",
]
