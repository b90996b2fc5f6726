"""MNIST-style datasets: describe, verify, download and import them.

The library behind `nnctl data info|verify|fetch|import-csv`. A dataset directory holds the four
IDX files with the standard MNIST names (nnctl.io.examples.STANDARD_NAMES), gzipped (`.gz`) or
raw; when both are there the gzipped one is used, as everywhere in nnctl
(nnctl.io.examples.standard_paths).

- `KNOWN`, `lookup` (catalog.py): the datasets nnctl can fetch: the files as served, their
  published SHA-256 sums, the number of examples, and public mirrors to try in order.
- `info` (describe.py): counts, image shape, pixel statistics and class balance per split (its
  picture, sample images and the mean image of each class: nnctl.figures.dataset.info_figure).
- `verify` (verification.py): a per-file report (present? a valid IDX? counts agree? SHA-256 as
  published?).
- `fetch` (download.py): download a known dataset with SHA-256 checks, mirror fallback,
  a deadline per file and atomic renames.
- `import_csv` (csv_import.py): the common CSV layout (label, then one column per pixel) to
  gzipped IDX files.

What these share about a directory is in layout.py: its splits, checking that it exists, whether
a file can be opened without blocking, and a file's SHA-256.

Every file written here goes to a temporary file in the target directory, is fsync'd and then
renamed into place: a crash or a failed download never leaves a half-written file under its
final name, and the temporary files of a killed fetch or import are removed by the next one.
Nothing here writes over a file that is not its own without `force` (a download already there
with the published sum is kept). Hostile inputs stay bounded: FIFOs and devices are refused
unopened, CSV lines are read in bounded pieces, mirrors have a deadline, and every error is
one line naming the file.
"""

from __future__ import annotations

from nnctl.io.datasets.catalog import KNOWN, lookup
from nnctl.io.datasets.csv_import import import_csv
from nnctl.io.datasets.describe import info
from nnctl.io.datasets.download import fetch
from nnctl.io.datasets.verification import verify

__all__ = ["KNOWN", "fetch", "import_csv", "info", "lookup", "verify"]
