"""``python -m sketch2face.serve.migrations MESSAGE``: autogenerate the next revision from ``db.py``."""
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from ..db import alembic_config, migrate

if len(sys.argv) != 2:
    sys.exit("usage: python -m sketch2face.serve.migrations 'what changed'")
with tempfile.TemporaryDirectory() as scratch:
    # compare the models with a database at the newest revision
    engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
    migrate(engine)
    with engine.begin() as connection:
        command.revision(alembic_config(connection), message=sys.argv[1], autogenerate=True)
