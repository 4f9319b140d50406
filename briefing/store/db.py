"""Connecting to the store: SQLite file by default (WAL mode), PostgreSQL by URL.

Migrations are applied automatically when the service or a command opens the
store, so an upgrade of briefing upgrades its database too.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from briefing.config import StoreSettings
from briefing.errors import ConfigError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(settings: StoreSettings) -> str:
    """The configured URL, else a SQLite file in the data directory."""
    if settings.url:
        return settings.url
    data_dir = Path(settings.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"store.data_dir {data_dir} is a file, not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create store.data_dir {data_dir}: {exc.strerror}") from None
    database = data_dir / "briefing.db"
    if database.is_dir():
        raise ConfigError(f"{database} is a directory, not a database file")
    return f"sqlite:///{database}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the bot read while the scheduler writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine with the settings each backend needs."""
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # SQLAlchemy raises several kinds for a bad URL
        raise ConfigError(f"invalid database URL: {type(exc).__name__}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration, once: on PostgreSQL under an advisory lock."""
    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several workers starting at once: one migrates, the others wait for its
            # commit, then find nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('briefing:migrate'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def insert_for(session: Session) -> Any:
    """The INSERT construct of the session's backend, which has `on_conflict_do_update` /
    `on_conflict_do_nothing` (PostgreSQL and SQLite spell upserts the same way)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def serialise(session: Session, name: str) -> None:
    """Hold a store-wide lock named `name` until the session's transaction ends.

    On PostgreSQL a transaction-level advisory lock, so that workers on several machines
    take turns (e.g. clustering: two new articles of one event stored at once must not each
    start a story). SQLite needs none: it lets one writer in at a time, and one process
    uses it (see `briefing run`'s file lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


class Database:
    """The store's engine and sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A plain connection for reads that need no ORM objects (the digest queries): a
        consistent snapshot with less overhead than a session."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def shown(self) -> str:
        """The store as messages name it: its URL without the password."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def shared(self) -> bool:
        """Whether several processes may use this store at once (PostgreSQL); a SQLite
        file belongs to one `briefing run`."""
        return self.engine.dialect.name == "postgresql"

    def schema_is_current(self) -> bool:
        """Whether the store's schema is at the newest migration (for `/readyz`: a worker
        of an older release, or a store being upgraded, is not ready); a ConfigError when
        the store does not answer."""
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision() == head
        except SQLAlchemyError as exc:
            log.debug("the store does not answer", exc_info=True)
            raise ConfigError(f"the store does not answer ({type(exc).__name__})") from None

    @contextmanager
    def only_process(self) -> Iterator[None]:
        """Hold the SQLite file for this process for the duration of the block; a second
        process asking for it is refused with a ConfigError. PostgreSQL is shared: no-op.

        An advisory file lock (`flock`) on `<file>.lock`, released by the kernel when the
        process dies however it dies, so a crash never leaves a stale lock behind."""
        path = None if self.shared else self.engine.url.database
        if not path or path == ":memory:":
            yield
            return
        lock_path = f"{path}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(
                    f"another `briefing run` is using {path}: a SQLite store serves one "
                    "process (stop it, or use PostgreSQL via BRIEFING_DB_URL for several)"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # for a person wondering who holds it
            yield
        finally:
            os.close(fd)  # closing the file lets go of the lock

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()


def open_database(settings: StoreSettings, migrate: bool = True) -> Database:
    """Open the store, applying migrations first.

    A store that cannot be opened (no server at the URL, a file that is not a SQLite database,
    a read-only file) is a ConfigError naming it; the driver's details go to the debug log.
    """
    url = database_url(settings)
    engine = make_engine(url)
    try:
        if migrate:
            upgrade(engine)  # connects, so it is the check too
        else:
            engine.connect().close()
    except DatabaseError as exc:  # OperationalError: no server; else e.g. "not a database"
        engine.dispose()
        log.debug("cannot open the store", exc_info=True)
        if isinstance(exc, OperationalError):
            raise ConfigError(f"cannot open the store {_shown(engine)}: {_reason(exc)}") from None
        raise ConfigError(f"{_shown(engine)} is not a usable database: {_reason(exc)}") from None
    return Database(engine)


def _shown(engine: Engine) -> str:
    """The store's URL without its password, or the SQLite file's path."""
    if engine.dialect.name == "sqlite":
        return str(engine.url.database)
    return engine.url.render_as_string(hide_password=True)


def _reason(exc: DatabaseError) -> str:
    """The driver's first line, which names the problem ("file is not a database", ...)."""
    first = str(exc.orig).strip().splitlines()
    return first[0][:200] if first else type(exc.orig).__name__
