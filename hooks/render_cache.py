"""Let a rebuild reuse rendering work whose inputs did not change.

Two pieces of every build do the same work again when nothing they read has
changed, and together they take most of a rebuild:

* compiling Jinja templates: the theme's, and mkdocstrings' for the API
  reference. Jinja's own ``FileSystemBytecodeCache`` in ``.cache/jinja/``
  keeps the compiled code; Jinja checks each template's source against it,
  so an edited template is compiled again.
* indexing every page for search: Material's search plugin parses each
  page's final HTML (the notebook pages are large) into the index entries
  of ``search/search_index.json``. Here each page's entries are kept in
  ``.cache/search/entries.json`` under a hash of everything the plugin reads
  from the page (its URL, title, metadata, table of contents and final
  HTML) and of the plugin's version and settings. A page whose hash is
  known gets the same entries without being parsed; any change to the page
  parses it again.

Nothing else is reused: every page is still rendered from its source on
every build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from pathlib import Path

from jinja2 import FileSystemBytecodeCache

import notebook_cache  # hooks/notebook_cache.py: MkDocs puts hooks/ on sys.path to load a hook

log = logging.getLogger("mkdocs.hooks.render_cache")

# Page hash -> the search entries Material made for that page.
_known: dict[str, list] = {}
# The page hashes this build used (the others are dropped when the cache is saved).
_used: set[str] = set()
_stats = {"reused": 0, "indexed": 0}


def cache_dir(config) -> Path:
    """``.cache/`` beside mkdocs.yml."""
    return Path(config.config_file_path).parent / ".cache"


def bytecode_cache(config) -> FileSystemBytecodeCache:
    """Jinja's compiled-template cache in ``.cache/jinja/``."""
    folder = cache_dir(config) / "jinja"
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemBytecodeCache(str(folder))


def settings_key(plugin_config: dict) -> str:
    """Hash what every page's entries depend on: Material's version and the search settings."""
    h = hashlib.sha256(importlib.metadata.version("mkdocs-material").encode() + b"\0")
    h.update(json.dumps(plugin_config, sort_keys=True, default=str).encode())
    return h.hexdigest()


def page_key(page, settings: str) -> str:
    """Hash all of a page that Material's ``add_entry_from_context`` reads, and ``settings``."""

    def toc(items):
        return [[item.id, item.url, item.title, toc(item.children)] for item in items]

    h = hashlib.sha256()
    for part in (
        settings,
        page.url,
        str(page.title),
        json.dumps(page.meta, sort_keys=True, default=str),
        json.dumps(toc(page.toc)),
        page.content or "",
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def cached_indexing(index, plugin_config: dict):
    """Wrap ``index.add_entry_from_context`` so a known page reuses its entries."""
    original = index.add_entry_from_context
    settings = settings_key(plugin_config)  # once, not once per page

    def add_entry_from_context(page):
        key = page_key(page, settings)
        _used.add(key)
        if key in _known:
            index.entries.extend(json.loads(json.dumps(_known[key])))  # a fresh copy
            _stats["reused"] += 1
            return
        first = len(index.entries)
        original(page)
        _known[key] = json.loads(json.dumps(index.entries[first:]))
        _stats["indexed"] += 1

    return add_entry_from_context


def on_env(env, config, files):
    """Keep the theme's compiled templates."""
    env.bytecode_cache = bytecode_cache(config)
    return env


def on_pre_build(config):
    """Keep mkdocstrings' compiled templates; index search from the cache."""
    mkdocstrings = config.plugins.get("mkdocstrings")
    if mkdocstrings is not None:
        handler = mkdocstrings.get_handler(mkdocstrings.config["default_handler"])
        handler.env.bytecode_cache = bytecode_cache(config)
    search = config.plugins.get("material/search") or config.plugins.get("search")
    _known.clear()
    _used.clear()
    _stats.update(reused=0, indexed=0)
    if search is None or not hasattr(search, "search_index"):
        return
    _known.update(notebook_cache.read_json(cache_dir(config) / "search" / "entries.json") or {})
    plugin_config = {key: search.config[key] for key in sorted(search.config)}
    search.search_index.add_entry_from_context = cached_indexing(search.search_index,
                                                                 plugin_config)


def on_post_build(config):
    """Save the entries of this build's pages (only those) for the next build."""
    if not _used:
        return
    kept = {key: _known[key] for key in sorted(_used) if key in _known}
    notebook_cache.write_json(cache_dir(config) / "search" / "entries.json", kept)
    log.info("search index: %d pages reused, %d indexed", _stats["reused"], _stats["indexed"])
