"""The datasets nnctl knows (`KNOWN`): where to fetch their files, the published SHA-256 sums
and counts; finding one by its name (`lookup`) or by the sums of its files (`identify`).
"""

from __future__ import annotations

import difflib

from nnctl.errors import DataError

# --------------------------------------------------------------------------------------------
# The catalog
#
# KNOWN[name] = {
#     "description": str,
#     "mirrors": [base URL, ...]        tried in order; a file's URL is base + its served name
#     "counts": {"train": n, "test": n} examples per split
#     "class_names": [str, ...]         label k's name, for figures
#     "files": {key of nnctl.io.examples.STANDARD_NAMES: {
#         "name": the file name as served (or as a member of "archive"),
#         "size": bytes as served (or None),
#         "sha256": (accepted SHA-256 sums of the compressed file, the served one first) or (),
#         "raw_sha256": SHA-256 of the uncompressed IDX file, or None}},
#     "archive": {"name", "size", "sha256": (...)}   only when the files come inside one zip
#     "transposed": True                              images stored transposed (EMNIST)
# }
# Only sums copied from a published checksum file are here; none were computed by us.
# --------------------------------------------------------------------------------------------

KNOWN: dict[str, dict] = {
    "mnist": {
        "description": "MNIST handwritten digits (LeCun, Cortes, Burges), 28x28, 10 classes",
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "counts": {"train": 60000, "test": 10000},
        "class_names": [str(digit) for digit in range(10)],
        # "sha256"[0] and "size": the files as the mirrors serve them, from tensorflow/datasets
        # tensorflow_datasets/url_checksums/mnist.txt at commit 31f1255e (URLs under
        # storage.googleapis.com/cvdf-datasets/mnist/). "sha256"[1]: the re-compressed copies
        # bundled in this repository, from data/mnist/SHA256SUMS (same content, other gzip
        # bytes). "raw_sha256": the uncompressed files, from data/mnist/SHA256SUMS.raw (the same
        # values are published in several public projects next to the served files' sums).
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 9912422,
                "sha256": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                           "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971"),
                "raw_sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 28881,
                "sha256": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                           "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203"),
                "raw_sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 1648877,
                "sha256": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                           "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be"),
                "raw_sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 4542,
                "sha256": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                           "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"),
                "raw_sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
        },
    },
    "fashion-mnist": {
        "description": ("Fashion-MNIST, Zalando article images (Xiao, Rasul, Vollgraf), 28x28, "
                        "10 classes"),
        "mirrors": [
            # the S3 website endpoint is http only; the SHA-256 check makes that safe
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "counts": {"train": 60000, "test": 10000},
        "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"],
        # sums and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/fashion_mnist.txt
        # (commit 333639b3)
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 26421880,
                "sha256": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
                "raw_sha256": None,
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 29515,
                "sha256": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
                "raw_sha256": None,
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 4422102,
                "sha256": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
                "raw_sha256": None,
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 5148,
                "sha256": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
                "raw_sha256": None,
            },
        },
    },
    "kmnist": {
        "description": ("Kuzushiji-MNIST, cursive Japanese hiragana (Clanuwat et al.), 28x28, "
                        "10 classes"),
        "mirrors": [
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        ],
        "counts": {"train": 60000, "test": 10000},
        # the hiragana お き す つ な は ま や れ を, romanized (Pillow's default font has no kana)
        "class_names": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        # sums and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/kmnist.txt
        # (commit 333639b3)
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 18165135,
                "sha256": ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",),
                "raw_sha256": None,
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 29497,
                "sha256": ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",),
                "raw_sha256": None,
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 3041136,
                "sha256": ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",),
                "raw_sha256": None,
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 5120,
                "sha256": ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",),
                "raw_sha256": None,
            },
        },
    },
    "emnist-digits": {
        "description": ("EMNIST Digits (Cohen et al. 2017), 28x28, 10 classes; the images are "
                        "stored transposed relative to MNIST"),
        "mirrors": [
            "https://biometrics.nist.gov/cs_links/EMNIST/",
            "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
        ],
        "counts": {"train": 240000, "test": 40000},
        "class_names": [str(digit) for digit in range(10)],
        "transposed": True,
        # NIST publishes EMNIST as one zip of all six splits (562 MB); its sum and size are from
        # tensorflow/datasets tensorflow_datasets/url_checksums/emnist.txt at commit 333639b3
        # (the same sum is given for the biometrics.nist.gov URL in other public projects). No
        # published SHA-256 of the four members was found: they are trusted through the
        # archive's sum (and the zip's CRCs).
        "archive": {
            "name": "gzip.zip",
            "size": 561753746,
            "sha256": ("fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e",),
        },
        "files": {
            "train_images": {"name": "emnist-digits-train-images-idx3-ubyte.gz", "size": None,
                             "sha256": (), "raw_sha256": None},
            "train_labels": {"name": "emnist-digits-train-labels-idx1-ubyte.gz", "size": None,
                             "sha256": (), "raw_sha256": None},
            "test_images": {"name": "emnist-digits-test-images-idx3-ubyte.gz", "size": None,
                            "sha256": (), "raw_sha256": None},
            "test_labels": {"name": "emnist-digits-test-labels-idx1-ubyte.gz", "size": None,
                            "sha256": (), "raw_sha256": None},
        },
    },
}


# --------------------------------------------------------------------------------------------
# Names and checksums


def lookup(name: str, catalog: dict | None = None) -> dict:
    """The catalog entry of `name` (case and `_`/`-` insensitive); DataError with a did-you-mean."""
    catalog = KNOWN if catalog is None else catalog
    key = name.strip().lower().replace("_", "-")
    for candidate in (name, key):
        if candidate in catalog:
            return catalog[candidate]
    close = difflib.get_close_matches(key, list(catalog), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown dataset {name!r}{hint} (known: {', '.join(catalog)})")


def canonical_name(name: str, catalog: dict) -> str:
    """The catalog's key for `name` as `lookup` finds it."""
    key = name.strip().lower().replace("_", "-")
    return name if name in catalog else key


def accepted_sums(spec: dict) -> tuple[str, ...]:
    """The published SHA-256 sums of a file (or archive) as served, the served one first."""
    sums = spec.get("sha256") or ()
    return (sums,) if isinstance(sums, str) else tuple(sums)


def identify(sums: dict[str, str | None], catalog: dict | None = None) -> str | None:
    """The catalog dataset whose published sums match most of `sums` (SHA-256 by file key,
    compressed or raw), or None if none matches."""
    catalog = KNOWN if catalog is None else catalog
    best, best_hits = None, 0
    for name, entry in catalog.items():
        hits = 0
        for key, digest in sums.items():
            spec = entry["files"].get(key, {})
            if digest is not None and (digest in accepted_sums(spec)
                                       or digest == spec.get("raw_sha256")):
                hits += 1
        if hits > best_hits:
            best, best_hits = name, hits
    return best
