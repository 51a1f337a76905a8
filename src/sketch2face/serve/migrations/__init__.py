"""Alembic schema migrations of the web app's database (``db.migrate`` runs them at start-up).

A schema change: edit ``db.py``'s models, then, from the checkout,
``python -m sketch2face.serve.migrations "what changed"`` writes the next revision into ``versions/``
(review it: autogenerate misses renames); ``tests/test_serve_workers.py`` fails while the models and
the migrations disagree."""
