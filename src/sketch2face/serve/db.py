"""Accounts, sessions and history in SQL (SQLite by default) through SQLAlchemy; images on disk."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, Integer, String, create_engine, event, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    history: Mapped[list["HistoryItem"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    sessions: Mapped[list["LoginSession"]] = relationship(back_populates="user", cascade="all, delete-orphan")


class LoginSession(Base):
    """A login: the cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires: Mapped[dt.datetime] = mapped_column(DateTime)
    user: Mapped[User] = relationship(back_populates="sessions")


class HistoryItem(Base):
    __tablename__ = "history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    model: Mapped[str] = mapped_column(String(128))
    sketch_file: Mapped[str] = mapped_column(String(255))
    face_file: Mapped[str] = mapped_column(String(255))
    user: Mapped[User] = relationship(back_populates="history")


def make_session_factory(database_url: str):
    """Engine + session factory; SQLite gets WAL and foreign keys so writes are atomic and cascades work."""
    connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
    engine = create_engine(database_url, connect_args=connect_args)
    if database_url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # noqa: ANN001
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # several worker processes share the file: a writer waits for another's lock instead of
            # failing with "database is locked"
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


#: The revision of the schema that databases made before migrations existed have (tables made by
#: ``create_all``, no ``alembic_version`` table)
FIRST_REVISION = "0001"


def alembic_config(connection):
    """Alembic settings without an alembic.ini: the package's ``migrations/`` on this connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    return config


def migrate(engine) -> None:
    """Bring the database to the newest schema (a new database gets every revision). ``serve --workers N``
    runs this once before starting the workers, so they find the schema current."""
    from alembic import command

    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if "users" in tables and "alembic_version" not in tables:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")
