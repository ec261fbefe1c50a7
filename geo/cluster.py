"""The embedded PostGIS cluster: a PostgreSQL 15 data directory the project owns.

The cluster lives under `.permitmap/pgdata` and listens only on a unix socket in `.permitmap/run`,
so it never clashes with another PostgreSQL on the machine. initdb and postgres refuse to run as
root, so when we are root the cluster belongs to an unprivileged OS user that we create.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from geo.errors import SetupError
from geo.settings import ClusterSettings

PG_MAJOR = 15
SUPERUSER = "permitmap"
# sun_path holds 108 bytes; leave room for ".s.PGSQL.NNNNN" and the terminator.
SOCKET_DIR_LIMIT = 90
INSTALL_HINT = (
    "install them with `apt-get install postgresql-15 postgresql-15-postgis-3` "
    "or set DATABASE_URL to an existing PostGIS database"
)


@dataclass(frozen=True)
class ClusterStatus:
    """What `permitmap db status` reports."""

    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise a SetupError naming `what` with its last output line."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SetupError(f"{what} failed: {cmd[0]} not found") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        last = output[-1] if output else f"exit code {done.returncode}"
        raise SetupError(f"{what} failed: {last}", detail=done.stderr + done.stdout)
    return done


def find_bin_dir(settings: ClusterSettings) -> Path | None:
    """The PostgreSQL server binaries directory, or None when the server is not installed."""
    candidates = [settings.pg_bin_dir] if settings.pg_bin_dir else []
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    for candidate in candidates:
        if candidate and (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def postgis_available(bin_dir: Path) -> bool:
    """Whether the PostGIS extension files are installed for this PostgreSQL."""
    done = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    )
    fallback = Path(f"/usr/share/postgresql/{PG_MAJOR}")
    share = Path(done.stdout.strip()) if done.returncode == 0 else fallback
    return (share / "extension" / "postgis.control").exists()


def ensure_server_packages(settings: ClusterSettings) -> Path:
    """Make sure PostgreSQL 15 and PostGIS 3 are installed (apt-get as root); return the bin dir."""
    bin_dir = find_bin_dir(settings)
    if bin_dir and postgis_available(bin_dir):
        return bin_dir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SetupError(f"PostgreSQL {PG_MAJOR} with PostGIS 3 is not installed: {INSTALL_HINT}")
    print("Installing PostgreSQL 15 + PostGIS 3 from Debian (apt-get)…", flush=True)
    env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive"]
    _run([*env_prefix, "apt-get", "update", "-qq"], "apt-get update")
    packages = [f"postgresql-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-postgis-3"]
    _run([*env_prefix, "apt-get", "install", "-y", "-qq", *packages], "apt-get install")
    bin_dir = find_bin_dir(settings)
    if not bin_dir or not postgis_available(bin_dir):
        raise SetupError(f"PostgreSQL {PG_MAJOR} with PostGIS 3 is still missing: {INSTALL_HINT}")
    return bin_dir


class EmbeddedCluster:
    """Start, stop and locate the project's own PostgreSQL cluster."""

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.as_root = os.geteuid() == 0
        self.root = self._cluster_root()

    @property
    def data_dir(self) -> Path:
        """The PostgreSQL data directory."""
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        """Where the unix socket lives (a short path under /tmp when the project path is long)."""
        socket_dir = self.root / "run"
        if len(str(socket_dir)) <= SOCKET_DIR_LIMIT:
            return socket_dir
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/tmp") / f"permitmap-{digest}"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self.root / "postgres.log"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database in this cluster, over the unix socket."""
        return (
            f"postgresql+psycopg://{SUPERUSER}@/{database}"
            f"?host={self.socket_dir}&port={self.settings.pg_port}"
        )

    def status(self) -> ClusterStatus:
        """Whether the server runs, judged from its pid file and /proc (a stale file is 'not')."""
        pid = self._live_pid()
        return ClusterStatus(pid is not None, pid, self.data_dir, self.socket_dir)

    def start(self) -> ClusterStatus:
        """Install if needed, initialise once, start if not running. Idempotent."""
        bin_dir = ensure_server_packages(self.settings)
        if self.status().running:
            return self.status()
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        self._write_config()
        self._remove_stale_pid_file()
        self._pg_ctl_start(bin_dir)
        return self.status()

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False when it was not running."""
        if not self.status().running:
            return False
        bin_dir = find_bin_dir(self.settings)
        if bin_dir is None:
            raise SetupError(f"PostgreSQL {PG_MAJOR} binaries are missing: {INSTALL_HINT}")
        command = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
        _run(self._as_owner(command), "stopping the embedded PostGIS")
        return True

    def ensure_database(self, name: str) -> None:
        """Create database `name` in the running cluster when it does not exist."""
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.settings.pg_port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _cluster_root(self) -> Path:
        """`.permitmap`, or a private folder under /var/lib when the owner cannot reach it."""
        state_dir = self.settings.state_dir.resolve()
        if not self.as_root or self._owner_can_traverse(state_dir.parent):
            return state_dir
        digest = hashlib.sha1(str(state_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/permitmap") / digest

    def _owner_can_traverse(self, folder: Path) -> bool:
        """Whether the cluster's OS user may enter every folder up to `folder`."""
        for part in [folder, *folder.parents]:
            if part.exists() and not (part.stat().st_mode & 0o001):
                return False
        return True

    def _as_owner(self, command: list[str]) -> list[str]:
        """Run as the unprivileged cluster owner when we are root."""
        if self.as_root:
            return ["runuser", "-u", self.settings.os_user, "--", *command]
        return command

    def _prepare_directories(self) -> None:
        """Create the folders, the OS user (as root), and hand the folders to it."""
        for folder in (self.root, self.data_dir, self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if not self.as_root:
            return
        self.root.chmod(0o755)
        user = self._ensure_os_user()
        for folder in (self.data_dir, self.socket_dir):
            shutil.chown(folder, user.pw_uid, user.pw_gid)
        self.log_file.touch()
        shutil.chown(self.log_file, user.pw_uid, user.pw_gid)

    def _ensure_os_user(self) -> pwd.struct_passwd:
        """The cluster's OS user, created as a system user when missing."""
        name = self.settings.os_user
        try:
            return pwd.getpwnam(name)
        except KeyError:
            _run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    name,
                ],
                f"creating OS user {name}",
            )
            return pwd.getpwnam(name)

    def _initdb(self, bin_dir: Path) -> None:
        """Initialise the data directory (UTF-8, trust on the private socket only)."""
        command = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        _run(self._as_owner(command), "initialising the embedded PostGIS (initdb)")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'permitmap.conf'\n")

    def _write_config(self) -> None:
        """Socket-only listening and settings for a 2-core, large-memory machine."""
        lines = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "port": str(self.settings.pg_port),
            "shared_buffers": f"'{self.settings.shared_buffers}'",
            "work_mem": "'64MB'",
            "maintenance_work_mem": "'1GB'",
            "effective_cache_size": "'8GB'",
            "max_wal_size": "'4GB'",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "synchronous_commit": "off",
            "random_page_cost": "1.1",
            "jit": "off",
            "max_connections": "200",
        }
        conf = self.data_dir / "permitmap.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in lines.items()))
        if self.as_root:
            user = pwd.getpwnam(self.settings.os_user)
            shutil.chown(conf, user.pw_uid, user.pw_gid)

    def _live_pid(self) -> int | None:
        """The postmaster pid when its pid file names a live postgres process."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"postgres" in cmdline else None

    def _remove_stale_pid_file(self) -> None:
        """After a crash the pid file may name a dead (or reused) pid: remove it."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists() and self._live_pid() is None:
            pid_file.unlink()

    def _pg_ctl_start(self, bin_dir: Path) -> None:
        """Start the server and wait for it; report the log's reason on failure."""
        command = [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
        ]
        try:
            _run(self._as_owner(command), "starting the embedded PostGIS")
        except SetupError as exc:
            reason = self._last_log_error()
            message = f"{exc.message}: {reason}" if reason else exc.message
            raise SetupError(message, detail=exc.detail) from exc

    def _last_log_error(self) -> str | None:
        """The last FATAL/ERROR line of the server log, if any."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return None
        errors = [line for line in lines if "FATAL" in line or "ERROR" in line]
        return errors[-1].strip() if errors else None
