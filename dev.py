#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11+ and pip.

    python3 dev.py up      # the whole local stack (sandbox fakes, API, worker, embedded PostgreSQL)
    python3 dev.py test    # the test suite (pytest arguments may follow)
    python3 dev.py setup   # only create .venv and install the locked dependencies

The virtual environment lives in .venv; it is reinstalled when a lock file changes. `up` and `test`
become the program they run (exec), so Ctrl-C and SIGTERM reach it and stop the whole stack.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _fingerprint(lock: Path) -> str:
    digest = hashlib.sha256(lock.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def setup(lock_name: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under any python3, to say which is needed
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    lock = ROOT / lock_name
    marker = VENV / f".installed-{lock_name}"
    if not PYTHON.exists():
        print(f"creating {VENV.name}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if marker.exists() and marker.read_text() == _fingerprint(lock):
        return
    packages = sum(1 for line in lock.read_text().splitlines() if line and not line.startswith((" ", "#")))
    print(f"installing {packages} packages from {lock_name} into {VENV.name}/ "
          "(a few minutes the first time; pip shows each one) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--progress-bar", "on", "-r", str(lock)], check=True, cwd=ROOT)
    subprocess.run([*pip, "--quiet", "--no-deps", "-e", "."], check=True, cwd=ROOT)
    print("installed", flush=True)
    for stale in VENV.glob(".installed-*"):
        stale.unlink()
    marker.write_text(_fingerprint(lock))


def run(*args: str) -> int:
    """Become ``.venv/bin/python ARGS``: signals then go to the stack itself, never to a parent that
    would die and leave it running. Windows has no exec; there the child gets the console's Ctrl-C."""
    os.chdir(ROOT)
    if os.name == "posix":
        sys.stdout.flush()
        os.execv(PYTHON, [str(PYTHON), *args])  # noqa: S606 - the venv's own python, fixed arguments
    return subprocess.run([str(PYTHON), *args], check=False).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "up":
        setup("requirements-dev.lock")
        return run("-m", "sim", "up", *(rest or ["--env-file", "stack.env"]))
    if command == "test":
        setup("requirements-dev.lock")
        return run("-m", "pytest", *rest)
    if command == "setup":
        setup("requirements-dev.lock")
        return 0
    print(__doc__)
    return 0 if command in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"setup failed: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}")
