"""``mkdocs build`` with nothing changed since the last build: say so and stop.

A build reads the configuration, ``docs/``, ``hooks/``, ``overrides/``, the
celoss source (for the notebooks, the parity gate and the API reference) and
the installed packages; given the same inputs it writes the same site. So,
as ``make`` does, this hook keeps a record of each successful build in
``.cache/build/``:

* the **inputs key**: a hash of every file of the folders above and of
  mkdocs.yml, of the command line, the interpreter, ``PYTHONPATH`` and the
  name and version of every installed distribution (its ``.dist-info``);
* the **output listing**: each file of the site folder with its size and
  modification time.

When ``mkdocs build`` starts (``on_config``, before any page or notebook is
touched) with the same inputs key and the site folder still exactly as that
build left it, the site is up to date: the hook logs so and ends the command
successfully. Any change -- a byte of any input, another package version,
other options, a site file edited or deleted -- builds as usual.

Only a build that finished without a single warning or error is recorded, so
a failing build, or a warning that ``--strict`` turns into a failure, is
never skipped. ``mkdocs serve`` and ``mkdocs build --dirty`` are never
skipped, and ``CELOSS_FULL_BUILD=1`` forces a build.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

from mkdocs.plugins import event_priority

log = logging.getLogger("mkdocs.hooks.up_to_date")

_state: dict = {}


class WarningCounter(logging.Handler):
    """Counts the warnings and errors the build logs."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record):
        """Count one record."""
        self.count += 1


def input_folders(config) -> list[Path]:
    """The folders whose files the build reads."""
    root = Path(config.config_file_path).parent
    folders = [Path(config.docs_dir), root / "hooks", *map(Path, config.watch)]
    if config.theme.custom_dir:
        folders.append(Path(config.theme.custom_dir))
    spec = importlib.util.find_spec("celoss")  # the library a notebook kernel imports
    if spec is not None and spec.submodule_search_locations:
        folders.append(Path(next(iter(spec.submodule_search_locations))))
    return sorted({folder.resolve() for folder in folders if folder.is_dir()})


def inputs_key(config, argv: list[str]) -> str:
    """Hash everything a build's output depends on (see the module docstring)."""
    h = hashlib.sha256()

    def add(*parts):
        for part in parts:
            h.update(str(part).encode() + b"\0")

    config_file = Path(config.config_file_path).resolve()
    add(config_file, config_file.read_bytes(), Path(config.site_dir).resolve(), *argv)
    add(sys.executable, sys.version, os.environ.get("PYTHONPATH", ""))
    for folder in input_folders(config):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                add(path, path.read_bytes())
    add(*installed_distributions())
    return h.hexdigest()


def installed_distributions() -> list[str]:
    """The ``<name>-<version>.dist-info`` (or ``.egg-info``) folders on ``sys.path``.

    Their names carry each installed distribution's name and version, read
    without opening a file (``importlib.metadata`` would read every METADATA).
    """
    found = set()
    for entry in sys.path:
        if os.path.isdir(entry):
            found.update(name for name in os.listdir(entry)
                         if name.endswith((".dist-info", ".egg-info")))
    return sorted(found)


def listing(site_dir: Path) -> dict[str, list[int]]:
    """Every file of the site folder: relative path -> [size, mtime in ns]."""
    result = {}
    for path in sorted(site_dir.rglob("*")):
        if path.is_file():
            stat = path.stat()
            result[path.relative_to(site_dir).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return result


def record_path(config) -> Path:
    """``.cache/build/<hash of the site folder>.json``: one record per site folder."""
    site = str(Path(config.site_dir).resolve())
    name = hashlib.sha256(site.encode()).hexdigest()[:16]
    return Path(config.config_file_path).parent / ".cache" / "build" / f"{name}.json"


def on_startup(command, dirty):
    """Only a clean ``mkdocs build`` may be skipped (not serve, not ``--dirty``)."""
    _state.clear()
    _state["skippable"] = command == "build" and not dirty


# First of all on_config handlers: nothing has been done yet when it skips.
@event_priority(100)
def on_config(config):
    """Stop here if the site is up to date; otherwise count the build's warnings."""
    if not _state.pop("skippable", False) or os.environ.get("CELOSS_FULL_BUILD"):
        return config
    key = inputs_key(config, sys.argv[1:])
    path = record_path(config)
    site_dir = Path(config.site_dir)
    if path.is_file() and site_dir.is_dir():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            record = {}
        if record.get("key") == key and record.get("files") == listing(site_dir):
            log.info("Site up to date: no input changed since the last build into %s "
                     "(CELOSS_FULL_BUILD=1 builds anyway)", site_dir)
            raise SystemExit(0)
    counter = WarningCounter()
    logging.getLogger("mkdocs").addHandler(counter)
    _state.update(key=key, counter=counter)
    return config


# Last of all on_post_build handlers: every file of the site is written.
@event_priority(-100)
def on_post_build(config):
    """Record a build that logged no warning or error."""
    counter = _state.pop("counter", None)
    if counter is None:
        return
    logging.getLogger("mkdocs").removeHandler(counter)
    path = record_path(config)
    path.unlink(missing_ok=True)
    if counter.count:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": _state["key"], "files": listing(Path(config.site_dir))}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record), encoding="utf-8")
    temporary.replace(path)


def on_build_error(error):
    """A failed build is not recorded."""
    counter = _state.pop("counter", None)
    if counter is not None:
        logging.getLogger("mkdocs").removeHandler(counter)
