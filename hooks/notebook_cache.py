"""Key mkdocs-jupyter's notebook cache on everything a notebook's output depends on.

mkdocs-jupyter caches each executed notebook under a key made of the notebook
file and the plugin's options only. Its outputs also depend on the celoss source
and on the installed numpy, torch, matplotlib and notebook tooling: with the
plugin's key, a broken library would build green from stale outputs.

This hook points the plugin's ``cache_dir`` at ``.cache/mkdocs-jupyter/<key>``,
where ``<key>`` hashes the library source, those versions, the Python
interpreter and ``PYTHONPATH``. Any change to any of them selects a new, empty
folder, so the notebooks run again. Older folders beyond the newest few are
deleted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.notebook_cache")

# Installed distributions whose version can change what a notebook prints or draws.
KEYED_DISTRIBUTIONS = (
    "celoss",
    "numpy",
    "torch",
    "matplotlib",
    "mkdocs-jupyter",
    "nbconvert",
    "nbclient",
    "nbformat",
    "jupytext",
    "ipykernel",
    "jupyter_client",
)
# How many cache folders to keep (the current one included).
KEEP = 3


def library_dir() -> Path:
    """Return the folder of the celoss package that a kernel would import.

    Found without importing celoss, so the build process stays free of it.
    """
    spec = importlib.util.find_spec("celoss")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("celoss is not importable: run `make venv` first")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_key(package_dir: Path | None = None) -> str:
    """Hash the library source, the keyed versions, the interpreter and PYTHONPATH."""
    package_dir = library_dir() if package_dir is None else package_dir
    h = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(package_dir).as_posix().encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    for name in KEYED_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"{name}=={version}\n".encode())
    h.update(f"python={sys.executable} {sys.version}\n".encode())
    h.update(f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}\n".encode())
    return h.hexdigest()[:20]


def on_config(config):
    """Point mkdocs-jupyter's cache_dir at the folder of the current key."""
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None or not plugin.config["cache"]:
        return config
    root = Path(config.config_file_path).parent / ".cache" / "mkdocs-jupyter"
    folder = root / cache_key()
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)  # the newest folder is the one in use
    plugin.config["cache_dir"] = str(folder)
    log.info("notebook cache: %s", folder)
    others = [p for p in root.iterdir() if p.is_dir() and p != folder]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
    return config
