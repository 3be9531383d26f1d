"""Sphinx extension of the gsepconv book: tolerate one docstring habit of the library.

A Google-style ``Args:`` section sometimes ends with a sentence at the indentation of its entries
("Other arguments as :class:`LiftingConv`."). Napoleon reads it as one more argument and docutils
then reports a broken field list, which the strict build (``-W``) turns into a failure. This hook
runs before Napoleon and turns such a line into a paragraph after the section.
"""

from __future__ import annotations

import re
from typing import Any

SECTIONS = {"args:", "arguments:", "parameters:", "params:", "keyword args:", "keyword arguments:",
            "other parameters:", "attributes:"}
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


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _process, priority=100)  # before Napoleon (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
