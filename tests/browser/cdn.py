"""Local copies of the cdnjs files bertviz loads in the browser, so the test runs offline.

bertviz's page asks cdnjs.cloudflare.com for require.js, d3 and jquery. The test serves these
URLs from files unpacked from the npm registry (`npm pack`), cached outside the repository;
nothing fetched here is ever committed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
# URL bertviz asks for -> (npm package, file inside the package's tarball)
FILES = {
    CDNJS + "require.js/2.3.6/require.min.js": ("requirejs@2.3.6", "package/require.js"),
    CDNJS + "d3/5.7.0/d3.min.js": ("d3@5.7.0", "package/dist/d3.min.js"),
    # jquery 2.0.0, the version bertviz names, is not on npm; 2.1.0 serves it just as well
    CDNJS + "jquery/2.0.0/jquery.min.js": ("jquery@2.1.0", "package/dist/jquery.min.js"),
}


class CdnUnavailable(RuntimeError):
    """npm is missing or the registry could not be reached."""


def default_cache() -> Path:
    """$MINILLM_BROWSER_CACHE, else ~/.cache/minillm-browser."""
    return Path(os.environ.get("MINILLM_BROWSER_CACHE", Path.home() / ".cache" / "minillm-browser"))


def local_copies(cache: Path) -> dict[str, Path]:
    """URL -> local file for every entry of FILES; packs are downloaded only when not cached."""
    return {url: _unpacked(cache, package, member) for url, (package, member) in FILES.items()}


def _unpacked(cache: Path, package: str, member: str) -> Path:
    target = cache / package / member
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise CdnUnavailable("npm is not installed: cannot fetch the cdnjs files bertviz loads")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", package], cwd=cache, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise CdnUnavailable(f"npm pack {package} failed: {done.stderr.strip()[-300:]}")
    tarball = cache / done.stdout.strip().splitlines()[-1]   # npm prints the file name last
    with tarfile.open(tarball) as tar:
        content = tar.extractfile(member).read()
    tarball.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target
