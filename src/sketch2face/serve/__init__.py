"""The web app: drawing canvas, REST API, accounts and history (``sketch2face serve``)."""
from .app import create_app

__all__ = ["create_app"]
