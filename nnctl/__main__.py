"""`python -m nnctl`: the `nnctl` command (see nnctl/_entry.py)."""

from nnctl._entry import main  # first: it installs the quiet signal handler

if __name__ == "__main__":
    raise SystemExit(main())
