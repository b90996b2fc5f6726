"""MkDocs hook: the config reference, generated at build time from the config schema.

A page that holds the line `<!-- config-keys -->` gets, in its place, one table row per config
key with its type, default and meaning, from `nnctl.io.config.schema.describe_keys()` (the `help=`
of each field: the same text `nnctl train --keys` prints). So the table can never fall behind the
code.
"""

from __future__ import annotations

from nnctl.io.config.schema import describe_keys

MARKER = "<!-- config-keys -->"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def config_table() -> str:
    """The Markdown table of every config key: key, type, default, meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for entry in describe_keys():
        kind = entry["type"].replace(" | ", " or ")  # `str | None`: no pipe inside a table
        rows.append(f"| `{entry['key']}` | {_cell(kind)} | `{_cell(entry['default'])}` "
                    f"| {_cell(entry['help'])} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker with the generated table, on the page that has it."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, config_table())
