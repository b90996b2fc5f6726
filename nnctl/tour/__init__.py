"""`nnctl tour`: the lecture's claims, each shown by a run you can repeat.

A script of nnctl's own capabilities (the learning rules, training, inspect-weights, evaluate,
plot, gradcheck) plus small demonstrations in the plane, written as one self-contained page,
DIR/index.html, and one line per claim with its measured evidence.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from nnctl.errors import Interrupted, NnctlError
from nnctl.io.atomic import atomic_write_text
from nnctl.tour import calculus, mnist, units
from nnctl.tour.context import Tour
from nnctl.tour.outdir import PAGE, claim_tour_dir
from nnctl.tour.page import Section, render
from nnctl.version import __version__

LECTURE = ("Neural networks, CE-477: Machine Learning - CS-828: Theory of Machine Learning, "
           "Sharif University of Technology, Fall 2024 (Fatemeh Seyyedsalehi)")


class ClaimsFailed(NnctlError):
    """A claim did not hold as measured (exit status 1, after the page is written)."""


def sections(tour: Tour) -> Iterator[Section]:
    """The tour's sections in the lecture's order, each computed when it is asked for."""
    yield units.mcculloch_pitts(tour)
    yield units.perceptron_separable(tour)
    yield units.non_separable(tour)
    yield units.xor(tour)
    yield calculus.activations(tour)
    section, single = mnist.single_layer(tour)
    yield section
    yield mnist.mlp(tour, single)
    yield calculus.backpropagation(tour)


def run_tour(out: str | Path, quick: bool = False, force: bool = False,
             echo: Callable[[str], None] = print,
             progress: Callable[[str], None] = lambda message: None) -> Path:
    """Run every section into `out` (see outdir.claim_tour_dir), `echo` one line per claim,
    write out/index.html atomically and return its path. Raises ClaimsFailed if a claim did not
    hold; SIGINT / SIGTERM stop it between sections (Interrupted) without writing the page."""
    from nnctl.tasks.train import deferred_signals

    start = time.perf_counter()
    out = Path(out)
    with deferred_signals() as received, claim_tour_dir(out, force):
        tour = Tour(out, quick, progress)
        done: list[Section] = []
        for number, section in enumerate(sections(tour), start=1):
            done.append(section)
            for claim in section.claims:
                echo(claim.line(f"{number}."))
            if received:
                raise Interrupted(f"{signal.Signals(received[0]).name}: the tour stopped after "
                                  f"section {number}; {out / PAGE} was not written (run it "
                                  "again with --force)", received[0])
        claims = [claim for section in done for claim in section.claims]
        held = sum(claim.holds for claim in claims)
        command = "nnctl tour" + (f" --out {tour.shown(out)}") + (" --quick" if quick else "")
        about = {"lecture": LECTURE, "command": command, "version": __version__,
                 "mode": "--quick: MNIST runs on 5,000 examples, 3 epochs, 1 seed" if quick
                 else "MNIST runs on the full training set, 3 seeds",
                 "seconds": f"{time.perf_counter() - start:.0f} s",
                 "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "held": held, "claims": len(claims), "out": tour.shown(out)}
        page = out / PAGE
        atomic_write_text(page, render(done, about))
    if held < len(claims):
        raise ClaimsFailed(f"{len(claims) - held} of {len(claims)} claims did not hold as "
                           f"measured; see {page}")
    return page
