"""Every command's path arguments given every wrong kind of thing (a config, a sweep file, a run,
a sweep directory, a tour, a checkpoint, an image, a dataset, an IDX file): one line saying what
it is and the command that takes it, exit status 2, nothing written."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error
from kinds import make_kinds

from nnctl.io import path_kinds as k

# (command line with P where the path goes, RUN / IMAGE for a valid one, the kinds taken there)
PLACES = [
    (("train", "P"), (k.CONFIG,)),
    (("train", "--resume", "P"), (k.RUN,)),
    (("evaluate", "P"), (k.RUN, k.CHECKPOINT)),
    (("evaluate", "RUN", "--data-dir", "P"), (k.DATASET,)),
    (("evaluate", "RUN", "--images", "P", "--labels", "P"), (k.IDX_FILE,)),
    (("gradcheck", "P"), (k.CONFIG,)),
    (("predict", "P", "IMAGE"), (k.RUN, k.CHECKPOINT)),
    (("predict", "RUN", "P"), (k.IMAGE,)),
    (("plot", "P", "--out", "OUT.png"), (k.RUN, k.SWEEP_DIR, k.TOUR_DIR)),  # folders of runs
    (("inspect-weights", "P", "--out", "OUT"), (k.RUN, k.CHECKPOINT)),
    (("runs", "P"), (k.RUN, k.SWEEP_DIR, k.TOUR_DIR)),
    (("sweep", "P"), (k.SWEEP_FILE,)),
    (("sweep", "--resume", "P"), (k.SWEEP_DIR,)),
    (("serve", "P", "--port", "0"), (k.RUN, k.CHECKPOINT)),
    (("data", "info", "P"), (k.DATASET,)),
    (("data", "verify", "P"), (k.DATASET,)),
    (("data", "augment-preview", "P", "--out", "OUT.png"), (k.CONFIG,)),
    (("report", "P", "--out", "OUT.html"), (k.RUN, k.SWEEP_DIR)),
]
KINDS = [k.CONFIG, k.SWEEP_FILE, k.RUN, k.SWEEP_DIR, k.TOUR_DIR, k.CHECKPOINT, k.IMAGE,
         k.DATASET, k.IDX_FILE]
CASES = [(args, kind) for args, taken in PLACES for kind in KINDS if kind not in taken]


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return make_kinds(tmp_path_factory.mktemp("kinds"))


@pytest.mark.parametrize(("args", "kind"), CASES,
                         ids=[f"{' '.join(a)}<-{kind}" for a, kind in CASES])
def test_a_wrong_kind_is_one_line_naming_what_to_do(run, kinds, tmp_path, args, kind):
    given = {"P": kinds[kind], "RUN": kinds[k.RUN], "IMAGE": kinds[k.IMAGE],
             "OUT.png": tmp_path / "out.png", "OUT": tmp_path / "out"}
    result = run(*(given.get(a, a) for a in args))
    assert_one_line_error(result, 2, f"{kinds[kind]}: is {k.NOUNS[kind]}, not ", "nnctl ")
    assert list(tmp_path.iterdir()) == []


# The cases, each with the command its hint must name.
@pytest.mark.parametrize(("args", "hint"), [
    (("sweep", k.CONFIG), "nnctl train {config}"),
    (("train", k.SWEEP_FILE), "nnctl sweep {sweep file}"),
    (("train", k.CHECKPOINT), "nnctl evaluate {checkpoint}"),
    (("train", k.RUN), "nnctl train --resume {run}"),
    (("gradcheck", k.RUN), "nnctl gradcheck {run}/config.yaml"),
    (("predict", k.IMAGE, k.RUN), "nnctl predict RUN {image}"),
    (("evaluate", k.CONFIG), "nnctl train {config}"),
    (("train", "--resume", k.SWEEP_DIR), "nnctl sweep --resume {sweep directory}"),
    (("sweep", "--resume", k.RUN), "nnctl train --resume {run}"),
    (("predict", k.RUN, k.RUN), "nnctl predict {run} IMAGE..."),
])
def test_the_hint_names_the_right_command(run, kinds, args, hint):
    result = run(*(kinds.get(a, a) for a in args))
    assert_one_line_error(result, 2, hint.format(**{kind: kinds[kind] for kind in KINDS}))
