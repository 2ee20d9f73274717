"""Sphinx 7.4 bugs a reader's browser would show, worked around for this book.

Repeated inline scripts. Sphinx 7.4 lists a script twice when an extension adds it with
``app.add_js_file(None, body=...)`` after the builder starts: once as added (file name
``None``) and once more when ``prepare_writing`` copies the registry (file name ``''``), and
the two do not compare equal. sphinx-thebe adds ``const THEBE_JS_URL = ...`` that way, so
every page declared the constant twice and the browser stopped at ``SyntaxError: Identifier
'THEBE_JS_URL' has already been declared``, leaving the Live Code button's configuration
half-run. sphinx-togglebutton's ``var togglebuttonSelector`` is repeated the same way
(harmless, being ``var``). ``dedupe_scripts`` keeps the first of each.

A dead link in the source-code index. sphinx.ext.viewcode lists in ``_modules/index.html`` every
module an API object names, including one whose source it could not find and so never wrote
(``builtins``, for an object re-exported from it): the index linked to ``_modules/builtins.html``,
which does not exist. ``drop_sourceless_modules`` forgets those modules before viewcode writes
its pages and index; the modules with source are untouched.

Type aliases leaking into signatures. napoleon (Sphinx 7.4, ``_lookup_annotation``) adds
``napoleon_type_aliases`` to the ``autodoc_type_aliases`` dict itself, in place, the first time it
reads a class's attribute annotations. From then on autodoc evaluates every later signature with
those aliases, and an annotation such as ``Event | None`` fails to evaluate (the alias is a
string), so it is shown as the bare text ``Event``: a name Sphinx then looks up by its last
component, which is ambiguous once two modules document an ``Event`` (``zablib.trace`` and
``zablib.etcd.mvcc``), and whose link depends on which docstring napoleon read first.
``keep_type_aliases_apart`` gives napoleon its own copy, so signatures are evaluated as written.

Jupyter Book loads this file through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _key(script: Any) -> tuple:
    """What makes two page scripts the same, with ``None`` and ``''`` file names alike."""
    attributes = getattr(script, "attributes", {})
    return (getattr(script, "filename", script) or "", getattr(script, "priority", 500),
            tuple(sorted(attributes.items())))


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                   doctree: Any) -> None:
    """Keep the first of each repeated script on the page, in the page's order."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def drop_sourceless_modules(app: Sphinx) -> list:
    """Forget the modules viewcode found no source for (it marks them ``False``)."""
    # viewcode keeps its findings on the environment under this name; there is no public API.
    modules = getattr(app.env, "_viewcode_modules", None)
    if isinstance(modules, dict):
        for name in [name for name, entry in modules.items() if entry is False]:
            del modules[name]
    return []  # no pages of our own


def keep_type_aliases_apart() -> None:
    """Make napoleon's annotation lookup leave ``autodoc_type_aliases`` as configured."""
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    original = GoogleDocstring._lookup_annotation
    if getattr(original, "keeps_aliases_apart", False):
        return

    def lookup(self: GoogleDocstring, name: str) -> str:
        aliases = getattr(self._config, "autodoc_type_aliases", None)
        saved = dict(aliases) if isinstance(aliases, dict) else None
        try:
            return original(self, name)
        finally:
            if saved is not None:
                aliases.clear()
                aliases.update(saved)

    lookup.keeps_aliases_apart = True  # type: ignore[attr-defined]
    GoogleDocstring._lookup_annotation = lookup  # type: ignore[method-assign]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the page hook late (after extensions have added their per-page scripts) and the
    viewcode clean-up early (before viewcode's own ``html-collect-pages``); patch napoleon."""
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-collect-pages", drop_sourceless_modules, priority=400)
    keep_type_aliases_apart()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
