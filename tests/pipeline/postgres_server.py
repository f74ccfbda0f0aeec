"""A throw-away PostgreSQL server for tests.

:func:`running_postgres` runs ``initdb`` into a temporary folder, starts the
server on a free loopback port with its socket in that folder, creates a
database and yields its SQLAlchemy URL; on exit it stops the server and removes
the folder. It needs the server binaries (Debian/Ubuntu: ``apt-get install -y
postgresql``, found in ``/usr/lib/postgresql/<version>/bin`` or on ``PATH``); it
does not use or disturb a cluster the package may have started on port 5432.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres``
user (created by the Debian package), through ``runuser`` or ``setpriv``.
When anything is missing, :class:`ServerUnavailable` says what and how to fix it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

INSTALL_HINT = "install the server with `apt-get install -y postgresql` (Debian/Ubuntu)"
USER = "scorer"
PASSWORD = "s3cret:p@ss/word"  # URL-special characters, to exercise URL quoting and masking
DATABASE = "scores"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and what to do."""


def find_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql``."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # /usr/local/bin/initdb may be a link
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise ServerUnavailable(
            f"no PostgreSQL server binaries (initdb on PATH or in "
            f"/usr/lib/postgresql/*/bin): {INSTALL_HINT}"
        )

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(path).parent.parent.name))

    return Path(max(found, key=version)).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """Command prefix that runs a program as an unprivileged user, and that user (as root)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(f"running as root and there is no 'postgres' user to run the "
                                f"server as: {INSTALL_HINT} (it creates one)") from None
    if shutil.which("runuser"):
        return ["runuser", "-u", user.pw_name, "--"], user
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                "--init-groups"], user
    raise ServerUnavailable("running as root without runuser or setpriv (util-linux) to drop "
                            "privileges for the server: apt-get install -y util-linux")


def _run(command: list[str], what: str, **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          check=False, **kwargs)
    if done.returncode:
        raise ServerUnavailable(f"{what} failed ({done.returncode}): "
                                f"{(done.stderr or done.stdout).strip()[-1500:]}")


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a private PostgreSQL server; yield the URL of an empty database.

    The URL is ``postgresql+psycopg://scorer:<password>@127.0.0.1:<port>/scores``
    (password URL-quoted); connections over TCP need the password (SCRAM).

    Raises
    ------
    ServerUnavailable
        Binaries missing, no user to run the server as, or the server did not start
        (with the end of its log).
    """
    bindir = find_bindir()
    prefix, user = _as_server_user()
    home = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data, log = home / "data", home / "server.log"
    pwfile = home / "pw"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if user is not None:
        for path in (home, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    started = False
    try:
        _run(prefix + [str(bindir / "initdb"), "-D", str(data), "-U", USER,
                       f"--pwfile={pwfile}", "--auth-local=trust",
                       "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
             "initdb")
        options = (f"-p {{port}} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            port = _free_port()
            try:
                _run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                               "-t", "60", "-o", options.format(port=port), "start"],
                     "pg_ctl start")
                started = True
                break
            except ServerUnavailable as err:
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                if attempt == 2 or "already in use" not in tail:
                    raise ServerUnavailable(f"{err}\nserver log:\n{tail}") from None
        _run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER,
              DATABASE], "createdb", env={**os.environ, "PGPASSWORD": PASSWORD})
        yield f"postgresql+psycopg://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(home, ignore_errors=True)
