"""A throwaway local PostgreSQL server for tests and ``.ci/run``.

It runs the Debian server binaries (``/usr/lib/postgresql/<major>/bin``, highest
major wins) as a plain process: ``initdb`` into ``<base_dir>/data`` with trust
auth, then ``pg_ctl start`` listening on 127.0.0.1 only, with durability off
(fsync, synchronous_commit, full_page_writes): it is for tests, never for data.

PostgreSQL refuses to run as root; when we are root the data directory is
chowned to the ``postgres`` user and the binaries run through ``runuser``.

CLI, for scripts::

    python -m gridhub.local.postgres start --dir D --port P --db NAME   # last line: the URL
    python -m gridhub.local.postgres stop --dir D

Only stdlib and psycopg are imported here.
"""

from __future__ import annotations

import argparse
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg

SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "apt-get install -y postgresql"
_SERVICE_USER = "postgres"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SOCKET_PATH_MAX = 90  # the unix socket path limit is ~107 bytes, keep room for the file name


def find_bin_dir() -> Path:
    """The bin directory of the highest installed PostgreSQL major version."""
    candidates: list[tuple[int, Path]] = []
    for path in Path("/").glob(SEARCH_GLOB.lstrip("/")):
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            try:
                major = int(path.parent.name.split(".")[0])
            except ValueError:
                continue
            candidates.append((major, path))
    if not candidates:
        raise RuntimeError(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found under {SEARCH_GLOB}; "
            f"install them with: {INSTALL_HINT}"
        )
    return max(candidates)[1]


def server_url(port: int, database: str = "postgres", host: str = "127.0.0.1") -> str:
    return f"postgresql+psycopg://postgres@{host}:{port}/{database}"


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as a libpq conninfo URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def _check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r} (letters, digits, _; max 63)")
    return name


def create_database_at(url: str, name: str, *, exist_ok: bool = False) -> str:
    """CREATE DATABASE ``name`` on the server of ``url``; returns the new database's URL."""
    _check_name(name)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')  # name checked above
        elif not exist_ok:
            raise RuntimeError(f"database {name!r} already exists")
    return with_database(url, name)


def drop_database_at(url: str, name: str) -> None:
    """DROP DATABASE ``name`` (if it exists) on the server of ``url``, closing its sessions."""
    _check_name(name)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # name checked above


class LocalPostgres:
    """One PostgreSQL server whose files all live under ``base_dir``."""

    def __init__(self, base_dir: Path, port: int) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.port = port
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        self._socket_dir: Path | None = None

    # -- running the binaries ---------------------------------------------------------

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(find_bin_dir() / tool), *args]
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root needs runuser (util-linux) to start PostgreSQL")
            argv = [runuser, "-u", _SERVICE_USER, "--", *argv]
        proc = subprocess.run(  # noqa: S603 - fixed binaries, no shell
            argv,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{tool} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout}"
                f"{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- " + str(self.log_file) + " ---\n" + "\n".join(text)

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        try:
            user = pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            raise RuntimeError(
                f"user {_SERVICE_USER!r} does not exist; install the server with: {INSTALL_HINT}"
            ) from None
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        for path in (self.base_dir, self.data_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        # The service user must be able to reach base_dir through its parents.
        for parent in self.base_dir.parents:
            mode = parent.stat()
            if mode.st_uid != user.pw_uid and not mode.st_mode & 0o001:
                raise RuntimeError(
                    f"{parent} is not searchable by user {_SERVICE_USER!r}; put the PostgreSQL "
                    f"directory somewhere it can reach (e.g. under {tempfile.gettempdir()})"
                )

    def _sockets(self) -> Path:
        if self._socket_dir is None:
            wanted = self.base_dir / "sock"
            if len(str(wanted)) > _SOCKET_PATH_MAX:
                wanted = Path(tempfile.mkdtemp(prefix="gridhub-pgsock-"))
            wanted.mkdir(exist_ok=True)
            if self._as_root:
                user = pwd.getpwnam(_SERVICE_USER)
                os.chown(wanted, user.pw_uid, user.pw_gid)
            self._socket_dir = wanted
        return self._socket_dir

    # -- lifecycle --------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def running(self) -> bool:
        if not self.initialised:
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def start(self) -> None:
        """initdb if needed, then start and wait until the server accepts connections."""
        find_bin_dir()  # fail early with the install hint
        self._prepare_dirs()
        if not self.initialised:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                _SERVICE_USER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        if self.running():
            self.port = self.pid_port() or self.port
            return
        options = (
            f"-p {self.port} -k {self._sockets()} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(libpq_url(self.url()), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on port {self.port} did not accept connections: {exc}"
                        f"{self._log_tail()}"
                    ) from exc
                time.sleep(0.1)

    def pid_port(self) -> int:
        """The port the running server was started with (from ``postmaster.pid``), or 0."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return 0

    def stop(self) -> None:
        """Fast shutdown; a server that is not running is left alone."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "stop", "-m", "fast", "-w")

    def url(self, database: str = "postgres") -> str:
        return server_url(self.port, database)

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """CREATE DATABASE ``name``; returns ``postgresql+psycopg://postgres@127.0.0.1:PORT/name``."""
        return create_database_at(self.url(), name, exist_ok=exist_ok)

    def drop_database(self, name: str) -> None:
        drop_database_at(self.url(), name)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridhub.local.postgres", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start (initdb if needed); print the URL last")
    start.add_argument("--dir", type=Path, required=True)
    start.add_argument("--port", type=int, default=55432)
    start.add_argument("--db", default="gridhub")
    stop = sub.add_parser("stop", help="stop the server under --dir")
    stop.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            server = LocalPostgres(args.dir, args.port)
            server.start()
            print(server.create_database(args.db, exist_ok=True))
        else:
            LocalPostgres(args.dir, 0).stop()
    except (RuntimeError, ValueError, psycopg.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
