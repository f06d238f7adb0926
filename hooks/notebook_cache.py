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

It also names each notebook in the build log as it executes, with the time
it took ("notebook docs/gradient.py: executed in 12.3 s"); a notebook served
from the cache is not executed and not named.

And it runs the notebooks that miss the cache two at a time. mkdocs-jupyter
executes each one when its page renders, one after the other, on one core;
here, as soon as the files are known (``on_files``, before the parity gate
runs), each missing notebook is executed in a worker thread (each drives its
own kernel process, so two run on two cores). When the plugin later asks to
convert that notebook, the executed copy is handed to the plugin's own
converter with execution off, so the page's HTML is made exactly as before,
in page order, on the main thread. A cell that raises fails the build with
the plugin's usual message.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from mkdocs.plugins import event_priority

log = logging.getLogger("mkdocs.hooks.notebook_cache")

# The parity gate, the Playground table, mathml and render_cache `import
# notebook_cache` (its keys, its cached results, its JSON files). MkDocs runs
# each hook file anew for every build (every `mkdocs serve` rebuild too), under
# the name "hooks/notebook_cache.py"; registered under the plain name as well,
# this build's copy is the one they import (mkdocs.yml lists this hook first).
sys.modules["notebook_cache"] = sys.modules[__name__]

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


def result_key(root: Path, library_key: str | None = None) -> str:
    """Hash all a build-time check's result depends on.

    That is :func:`cache_key` (library, versions, interpreter, ``PYTHONPATH``;
    ``library_key`` when already computed) and every file of ``hooks/`` (the
    checks' own code and cases) and ``docs/data/`` (the data they read).
    """
    h = hashlib.sha256((cache_key() if library_key is None else library_key).encode())
    hooks = Path(__file__).parent
    inputs = [*sorted(hooks.rglob("*.py")), *sorted((root / "docs" / "data").rglob("*"))]
    for path in inputs:
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def build_keys(config) -> tuple[str, str]:
    """``(cache_key(), result_key(root))`` for this build, computed once per build.

    Every build, each of ``mkdocs serve``'s rebuilds included, has its own
    config object, and the keys are kept on it: this hook (the notebooks'
    folder), the parity gate and the Playground table (their results) share
    one hashing of the library and the hooks instead of one each.
    """
    keys = getattr(config, "celoss_build_keys", None)
    if keys is None:
        library = cache_key()
        keys = (library, result_key(Path(config.config_file_path).parent, library))
        config.celoss_build_keys = keys
    return keys


def read_json(path: Path):
    """The JSON document kept in ``path``; None when there is none.

    A file cut short (written by an older version, or damaged) counts as
    none: the build recomputes what it held instead of failing on it.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def write_json(path: Path, document) -> None:
    """Keep ``document`` in ``path``, whole or not at all.

    It is written to a temporary file that then replaces ``path``, so a
    build interrupted while writing leaves the previous file, never half of
    the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    temporary.replace(path)


def cached_result(folder: Path, key: str, compute, keep=lambda document: True):
    """``(document, seconds, cached)``: ``compute()``'s JSON result, kept in ``folder/<key>.json``.

    A stored result is returned as it is, with the seconds its run took. A new
    one is stored only when ``keep(document)`` says so (a failing check never
    is), and only the newest ``KEEP`` files of ``folder`` are kept.
    """
    path = folder / f"{key}.json"
    stored = read_json(path)
    if stored is not None:
        os.utime(path)  # the newest files are the ones kept
        return stored["document"], stored["seconds"], True
    start = time.perf_counter()
    document = compute()
    seconds = time.perf_counter() - start
    if keep(document):
        write_json(path, {"document": document, "seconds": seconds})
        older = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in older[KEEP:]:
            old.unlink(missing_ok=True)
    return document, seconds, False


# Kernels running at once: one per core of the 2-core machines the site is built on.
WORKERS = min(2, os.cpu_count() or 1)
# Notebook path -> Future of its executed notebook (nbformat.NotebookNode).
_runs: dict[str, Future] = {}
# Notebook path -> executed notebook, read by mkdocs-jupyter's converter.
_executed: dict[str, object] = {}


def execute(path: str, options: dict):
    """Execute one notebook as mkdocs-jupyter would, in this thread; return it.

    As in the plugin: cells tagged to be removed are removed before the run,
    the kernel is the configured one, the working directory is the build's.
    """
    import jupytext
    import nbclient
    from nbconvert.preprocessors import TagRemovePreprocessor

    name = os.path.relpath(path)
    log.info("notebook %s: executing", name)
    start = time.perf_counter()
    notebook = jupytext.read(path)
    tags = options.get("remove_tag_config") or {}
    if tags.get("remove_cell_tags"):
        remover = TagRemovePreprocessor(remove_cell_tags=set(tags["remove_cell_tags"][:1]),
                                        enabled=True)
        notebook, _ = remover.preprocess(notebook, {})
    kernel = options.get("kernel_name") or ""
    # coalesce_streams: one output box per cell however the kernel chunked its
    # prints (the plugin's own run leaves that to timing: two boxes on a busy machine).
    client = nbclient.NotebookClient(
        notebook, allow_errors=options["allow_errors"], store_widget_state=True,
        coalesce_streams=True, **({"kernel_name": kernel} if kernel else {}),
    )
    client.execute()
    log.info("notebook %s: executed in %.1f s", name, time.perf_counter() - start)
    return notebook


class _JupytextWithExecuted:
    """mkdocs-jupyter's view of jupytext: ``read`` returns an executed copy if there is one."""

    def __init__(self, module):
        self._module = module

    def read(self, path, *args, **kwargs):
        executed = _executed.get(os.path.abspath(path))
        return executed if executed is not None else self._module.read(path, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._module, name)


def cache_misses(plugin, files) -> list[str]:
    """The notebook pages whose executed HTML is not in mkdocs-jupyter's cache."""
    from mkdocs_jupyter import plugin as plugin_module

    misses = []
    for file in files:
        if not plugin.should_include(file):
            continue
        path = file.abs_src_path
        if plugin.config["cache"]:
            key = plugin_module._compute_cache_key(path, plugin.config, plugin.config["execute"])
            if plugin_module._get_cache_path(plugin.config["cache_dir"], key).exists():
                continue
        misses.append(path)
    return misses


# Before the parity gate's on_files (priority 0), so the kernels run meanwhile.
@event_priority(100)
def on_files(files, config):
    """Start executing, two at a time, every notebook that misses the cache."""
    plugin = config.plugins.get("mkdocs-jupyter")
    _cancel()
    if plugin is None or not plugin.config["execute"] or plugin.config["execute_ignore"]:
        return files
    misses = cache_misses(plugin, files)
    if len(misses) < 2 or WORKERS < 2:
        return files  # nothing to overlap: the plugin runs it as usual
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="notebook")
    for path in misses:
        _runs[os.path.abspath(path)] = pool.submit(execute, path, dict(plugin.config))
    pool.shutdown(wait=False)
    return files


def _cancel():
    for future in _runs.values():
        future.cancel()
    _runs.clear()
    _executed.clear()


def on_build_error(error):
    """A failed build stops the notebooks that have not started."""
    _cancel()


def on_post_build(config):
    """Forget this build's runs (``mkdocs serve`` builds again in the same process)."""
    _cancel()


def time_notebook_runs() -> None:
    """Wrap mkdocs-jupyter's converter to log each notebook it executes, timed.

    The plugin calls ``convert.nb2html`` only on a cache miss; the wrapper is
    installed once per process (``mkdocs serve`` calls on_config per rebuild).
    """
    from mkdocs_jupyter import convert

    if getattr(convert.nb2html, "celoss_timed", False):
        return
    original = convert.nb2html

    def nb2html(nb_path, *args, **kwargs):
        future = _runs.pop(os.path.abspath(nb_path), None)
        if future is not None and kwargs.get("execute") and not future.cancelled():
            # Executed in a worker (on_files): convert that copy, without running it again.
            _executed[os.path.abspath(nb_path)] = future.result()  # raises as the plugin would
            try:
                return original(nb_path, *args, **{**kwargs, "execute": False})
            finally:
                _executed.pop(os.path.abspath(nb_path), None)
        if not kwargs.get("execute"):
            return original(nb_path, *args, **kwargs)
        name = os.path.relpath(nb_path)
        log.info("notebook %s: executing", name)
        start = time.perf_counter()
        html = original(nb_path, *args, **kwargs)
        log.info("notebook %s: executed in %.1f s", name, time.perf_counter() - start)
        return html

    nb2html.celoss_timed = True
    convert.nb2html = nb2html
    from mkdocs_jupyter import nbconvert2

    if not isinstance(nbconvert2.jupytext, _JupytextWithExecuted):
        nbconvert2.jupytext = _JupytextWithExecuted(nbconvert2.jupytext)


def on_config(config):
    """Point mkdocs-jupyter's cache_dir at the folder of the current key."""
    plugin = config.plugins.get("mkdocs-jupyter")
    if plugin is None:
        return config
    time_notebook_runs()
    if not plugin.config["cache"]:
        return config
    root = Path(config.config_file_path).parent / ".cache" / "mkdocs-jupyter"
    folder = root / build_keys(config)[0]
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)  # the newest folder is the one in use
    plugin.config["cache_dir"] = str(folder)
    log.info("notebook cache: %s", folder)
    others = [p for p in root.iterdir() if p.is_dir() and p != folder]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
    return config
