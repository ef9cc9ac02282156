"""Start a throw-away JupyterLab 4 on 127.0.0.1 and stop it afterwards.

No token, no password (it listens on loopback only). Everything Jupyter, IPython and matplotlib
write under $HOME goes to `home`, a temporary folder, so the learner's own settings neither leak
in nor get touched.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

# user settings: no news toast (it covers screenshots), no autosave (Run All in the browser must
# never write its outputs over the chapter file), no blank page after the last cell (screenshots)
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"scrollPastEnd": False},
}


@contextmanager
def serve(root: Path, home: Path, start_timeout: float = 90):
    """Run JupyterLab serving `root`; yields its base URL, e.g. 'http://127.0.0.1:40123'."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings_dir = _write_settings(home / "lab-settings")
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        # opening a notebook writes a checkpoint: keep it out of the repository's folders
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
    ]
    log_path = home / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=root, env=_environment(home), stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, server, start_timeout, log_path)
        yield url
    finally:
        server.terminate()   # SIGTERM: the server shuts its kernels down and exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / ".ipython"))
    # CI exports MPLBACKEND=Agg for nbval; a learner's kernel draws inline, so let ipykernel choose
    env.pop("MPLBACKEND", None)
    return env


def _write_settings(folder: Path) -> Path:
    for name, values in SETTINGS.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}:\n"
                               f"{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer on {url} within {timeout} s; see {log_path}")
