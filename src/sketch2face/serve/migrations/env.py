"""Alembic environment: runs on the connection ``db.alembic_config`` hands over (no alembic.ini)."""
from alembic import context

from sketch2face.serve.db import Base

connection = context.config.attributes["connection"]
# SQLite cannot alter columns in place: batch mode copies the table
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
