"""Sphinx extension of the gsepconv book: two fixes that a strict build and a clean browser
console need.

1. Scripts once. sphinx-thebe adds its inline configuration script (``const THEBE_JS_URL = …``)
   on every ``env-before-read-docs``, which Jupyter Book emits twice, so each page declared the
   constant twice and the browser logged a SyntaxError. Each page's scripts are de-duplicated.
2. Docstrings. A Google-style ``Args:`` section sometimes ends with a sentence at the indentation of its entries
("Other arguments as :class:`LiftingConv`."). Napoleon reads it as one more argument and docutils
then reports a broken field list, which the strict build (``-W``) turns into a failure. This hook
runs before Napoleon and turns such a line into a paragraph after the section.
"""

from __future__ import annotations

import re
from typing import Any

SECTIONS = {
    "args:",
    "arguments:",
    "parameters:",
    "params:",
    "keyword args:",
    "keyword arguments:",
    "other parameters:",
    "attributes:",
}
ENTRY = re.compile(r"^\*{0,2}[A-Za-z_]\w*(\s*,\s*\*{0,2}[A-Za-z_]\w*)*(\s*\([^)]*\))?\s*:(\s|$)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def close_prose_in_sections(lines: list[str]) -> list[str]:
    """``lines`` with each prose line at entry level of an argument section moved after it."""
    out: list[str] = []
    section: int | None = None  # indentation of the section header
    entry: int | None = None  # indentation of its entries
    for line in lines:
        text = line.strip()
        if text.lower() in SECTIONS:
            section, entry = _indent(line), None
            out.append(line)
            continue
        if section is not None and text:
            level = _indent(line)
            if level <= section:
                section = None
            elif entry is None:
                entry = level
            elif level == entry and not ENTRY.match(text):
                out.extend(["", " " * section + text])
                section = None
                continue
        out.append(line)
    return out


def _process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = close_prose_in_sections(lines)


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", script) or ""  # None and "" both mean an inline script
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _process, priority=100)  # before Napoleon (500)
    app.connect(
        "html-page-context", _unique_scripts, priority=1
    )  # first: a theme handler may return a template and stop the event
    return {"parallel_read_safe": True, "parallel_write_safe": True}
