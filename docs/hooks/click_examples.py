"""MkDocs hook: keep the `Example:` blocks of the generated command reference as code.

Click prints the lines after a `\\b` marker as they are written (`nnctl train --help` shows each
example on its own line). mkdocs-click copies the help text into Markdown as `Example:` followed
by indented lines, which Markdown would run together into one paragraph. This hook adds a
Markdown preprocessor, run after mkdocs-click's, that turns such a block into `Example:` and a
code block.
"""

from __future__ import annotations

import textwrap

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor


def examples_as_code(lines: list[str]) -> list[str]:
    """Outside code fences, a line ending in `:` followed by indented lines: those lines fenced."""
    out: list[str] = []
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        following = lines[i + 1] if i + 1 < len(lines) else ""
        block_follows = following.startswith("  ") and following.strip()
        if fenced or not line.rstrip().endswith(":") or line.startswith(" ") or not block_follows:
            out.append(line)
            i += 1
            continue
        block = []
        i += 1
        while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
            block.append(lines[i])
            i += 1
        out += [line, "", "```text", *textwrap.dedent("\n".join(block)).splitlines(), "```", ""]
    return out


class ClickExamples(Preprocessor):
    """The preprocessor: `examples_as_code` over the page's lines."""

    def run(self, lines: list[str]) -> list[str]:
        return examples_as_code(lines)


class ClickExamplesExtension(Extension):
    """Registers the preprocessor after mkdocs-click's (priority 141) and before code fences."""

    def extendMarkdown(self, md: Markdown) -> None:  # Python-Markdown's name for it
        md.preprocessors.register(ClickExamples(md), "click_examples", 140)


def on_config(config):
    """Add the extension to the site's Markdown extensions."""
    config.markdown_extensions.append(ClickExamplesExtension())
    return config
