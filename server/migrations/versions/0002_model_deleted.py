"""models.deleted: DELETE /models/{id} hides a model that finished jobs still reference

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:  # batch mode: SQLite cannot ALTER a column in place
        batch.add_column(sa.Column("deleted", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("deleted")
