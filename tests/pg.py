"""A throwaway PostgreSQL cluster for the tests, started once per test session.

`initdb` makes a cluster in a temporary directory (trust authentication, UTF-8),
`pg_ctl` starts it on a free loopback port with `fsync=off`, and it is stopped
with `pg_ctl stop -m immediate` and deleted at the end of the session. Each test
then gets its own database on that cluster (`fresh_database`), dropped afterwards.

PostgreSQL refuses to run as root: as root, the server runs as an unprivileged
user (`postgres`, else `nobody`) through `runuser` (or `su`). When the binaries
are missing or the cluster cannot start, the tests that need it are skipped with
the reason; set BRIEFING_REQUIRE_POSTGRES=1 to make that a failure instead.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from glob import glob
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

SUPERUSER = "postgres"
TEST_DATABASE = "briefing_test"
RUN_AS_CANDIDATES = ("postgres", "nobody")
REQUIRE_ENV = "BRIEFING_REQUIRE_POSTGRES"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(Exception):
    """PostgreSQL cannot run here; the message says what is missing or what failed."""


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster."""

    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    startup_seconds: float

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = TEST_DATABASE) -> str:
        """The SQLAlchemy URL of one database of the cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"


def _version_key(bin_dir: str) -> int:
    version = Path(bin_dir).parent.name
    return int(version) if version.isdigit() else 0


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: PATH first, then /usr/lib/postgresql."""
    candidates: list[Path] = []
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            candidates += [Path(found).parent, Path(found).resolve().parent]
    newest_first = sorted(glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += [Path(p) for p in newest_first]
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _run_as_user() -> str | None:
    """None when we are not root, else the unprivileged user the server will run as."""
    if os.geteuid() != 0:
        return None
    for name in RUN_AS_CANDIDATES:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable(
        "running as root, and none of the users "
        f"{', '.join(RUN_AS_CANDIDATES)} exists to run PostgreSQL (it refuses to run as root)"
    )


def _as_user(command: list[str], user: str | None) -> list[str]:
    if user is None:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *command]
    if shutil.which("su"):
        return ["su", "-s", "/bin/sh", user, "-c", shlex.join(command)]
    raise PostgresUnavailable(
        f"running as root and neither runuser nor su is available to run PostgreSQL as {user}"
    )


def _environment() -> dict[str, str]:
    # Libpq variables from the caller (PGPORT, PGDATA, ...) must not leak into the cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run(command: list[str], user: str | None, cwd: Path, timeout: float = 60.0) -> None:
    try:
        done = subprocess.run(
            _as_user(command, user), cwd=cwd, env=_environment(), capture_output=True,
            text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{Path(command[0]).name} could not run: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise PostgresUnavailable(
            f"{Path(command[0]).name} {command[1]} failed (exit {done.returncode}"
            f"{', as user ' + user if user else ''}): {' | '.join(output)}"
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    except OSError:
        return "(no server log)"


def _stop(bin_dir: Path, root: Path, user: str | None) -> None:
    with suppress(PostgresUnavailable):  # already stopped: nothing to do
        _run([str(bin_dir / "pg_ctl"), "stop", "-D", str(root / "data"), "-m", "immediate", "-w"],
             user, root, timeout=30)


def _start(bin_dir: Path, root: Path, user: str | None, attempts: int = 3,
           port: int | None = None) -> int:
    """Start the server on `port`, or a free port (another process may grab it first:
    retry)."""
    log = root / "server.log"
    error = PostgresUnavailable("pg_ctl start was not attempted")
    wanted = port
    for _ in range(attempts):
        port = wanted or _free_port()
        # A server time zone other than UTC, as on many real servers: values must still
        # come back as the same instants, in UTC.
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off -c timezone=Europe/Paris")
        try:
            # -l matters: without a log file the server would hold our stdout pipe open.
            _run([str(bin_dir / "pg_ctl"), "start", "-D", str(root / "data"), "-l", str(log),
                  "-o", options, "-w", "-t", "30"], user, root)
        except PostgresUnavailable as exc:
            error = PostgresUnavailable(f"{exc}; server log: {_log_tail(log)}")
            _stop(bin_dir, root, user)
            continue
        return port
    raise error


def stop_server(cluster: Cluster) -> None:
    """Stop the cluster's server at once (`-m immediate`, as a crash would): clients lose
    their connections and cannot connect until `start_server`."""
    _stop(cluster.bin_dir, cluster.root, cluster.run_as)


def start_server(cluster: Cluster) -> None:
    """Start the cluster's server again, on its port."""
    _start(cluster.bin_dir, cluster.root, cluster.run_as, port=cluster.port)


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Create and start a cluster, yield it, then stop it and delete its files."""
    began = time.monotonic()
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found: no initdb/pg_ctl/postgres on PATH "
            "nor in /usr/lib/postgresql/*/bin"
        )
    user = _run_as_user()
    # Short path in the system temp dir: it holds the Unix socket (path limit ~107 bytes)
    # and, unlike pytest's tmp_path (mode 0700, root's), the server user can reach it.
    root = Path(tempfile.mkdtemp(prefix="briefing-pg-"))
    started = False
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        _run([str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER,
              "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], user, root)
        port = _start(bin_dir, root, user)
        started = True
        cluster = Cluster(bin_dir, root, port, user, startup_seconds=0.0)
        create_database(cluster.url("postgres"), TEST_DATABASE)
        yield replace(cluster, startup_seconds=time.monotonic() - began)
    finally:
        if started:
            _stop(bin_dir, root, user)
        shutil.rmtree(root, ignore_errors=True)


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; return its URL."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"unsafe database name: {name!r}")
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise PostgresUnavailable(f"cannot create database {name}: {exc.orig}") from None
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, closing any connection still open to it."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"unsafe database name: {name!r}")
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """An empty database of its own on the server of `server_url`, dropped afterwards."""
    name = f"briefing_t_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


@contextmanager
def session_cluster_url() -> Iterator[str]:
    """The URL of the test database of a throwaway cluster, or a skip saying why not."""
    stack = ExitStack()
    try:
        cluster = stack.enter_context(running_cluster())
    except PostgresUnavailable as exc:
        reason = f"PostgreSQL unavailable: {exc}"
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{reason} (and {REQUIRE_ENV} is set)")
        pytest.skip(reason)
    with stack:
        yield cluster.url()
