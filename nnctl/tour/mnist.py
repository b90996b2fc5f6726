"""Sections 6 and 7 of the tour: the single layer of 10 units on MNIST (its templates, their
change during training, its worst mistakes) and an MLP against it. Each run is `nnctl train` of a
shipped config, drawn by `nnctl inspect-weights`, `nnctl evaluate --figure` and `nnctl plot`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.figures import lecture as plots
from nnctl.figures.curves import learning_curves
from nnctl.figures.weights import epoch_checkpoints, epoch_weights, inspect_weights
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import load_config
from nnctl.io.run_dir import checkpoint_path
from nnctl.io.run_info import mean_sd
from nnctl.tasks.evaluate import evaluate_checkpoint
from nnctl.tasks.run_state import TrainResult
from nnctl.tasks.train import train
from nnctl.tour.context import Tour
from nnctl.tour.page import Claim, Quote, Section

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"  # beside the bundled data
SINGLE, MLP = "single-layer-softmax.yaml", "mlp-300.yaml"
QUICK = ["data.limit=5000", "data.validation=1000", "training.epochs=3"]


@dataclass
class Runs:
    """One config trained once per seed: the results, and the commands that did it."""

    name: str
    dirs: list[Path]
    results: list[TrainResult]
    commands: list[str]

    @property
    def test_accuracies(self) -> list[float]:
        return [r.test["accuracy"] for r in self.results]

    def accuracy(self) -> str:
        mean, sd = mean_sd(self.test_accuracies)
        seeds = len(self.results)
        return (f"{mean:.2%} ± {sd:.2%} ({seeds} seeds)" if seeds > 1
                else f"{mean:.2%} (1 seed)")


def train_seeds(tour: Tour, config: str, name: str) -> Runs:
    """`nnctl train CONFIG --out DIR/runs/NAME[-seed-K] --force [--set ...]` for each seed."""
    path = CONFIGS / config
    dirs, results, commands = [], [], []
    for seed in tour.seeds:
        overrides = [*(QUICK if tour.quick else []), *([f"training.seed={seed}"] if seed else [])]
        out = tour.path("runs", name if seed == 0 else f"{name}-seed-{seed}")
        tour.progress(f"training {out} ({config}, seed {seed})")
        results.append(train(load_config(path, overrides), out, name=name, force=True))
        dirs.append(out)
        commands.append(f"nnctl train {tour.shown(path)} --out {tour.shown(out)} --force"
                        + "".join(f" --set {o}" for o in overrides))
    return Runs(name, dirs, results, commands)


def weight_changes(run_dir: Path) -> list[float]:
    """|W_e - W_(e-1)| / |W_e| of the templates for each epoch e >= 1 (Frobenius norms), from
    the epoch checkpoints inspect-weights draws."""
    network, meta = load_checkpoint(checkpoint_path(run_dir, "best.npz"))
    weights = [W for _, W in epoch_weights(epoch_checkpoints(run_dir), network,
                                           tuple(meta["image_shape"]), network.sizes[-1])]
    return [float(np.linalg.norm(after - before) / max(np.linalg.norm(after), 1e-300))
            for before, after in itertools.pairwise(weights)]


def single_layer(tour: Tour) -> tuple[Section, Runs]:
    runs = train_seeds(tour, SINGLE, "single-layer")
    first, figures_dir = runs.dirs[0], tour.path("figures", "single-layer")
    drawn = {p.name: p for p in inspect_weights(first, figures_dir, units=10, force=True)}
    mistakes = figures_dir / "mistakes.png"
    evaluation = evaluate_checkpoint(first, "test", figure=mistakes, force=True)
    changes = weight_changes(first)
    last = runs.results[0].history[-1]
    figures = [
        tour.picture(drawn["templates.png"], "The 10 templates of the single layer",
                     "The weights of the 10 output units after training, each drawn as a "
                     "28×28 image: red pixels raise the unit's z, blue ones lower it."),
        tour.picture(drawn["weights-by-epoch.png"], "The templates epoch by epoch",
                     "Change of weights during training: a row per epoch, from all-zero "
                     "weights; each column on one colour scale throughout."),
        tour.picture(mistakes, "Confusion matrix and the worst mistakes",
                     f"Where template matching fails ({evaluation['error_rate']:.2%} of the "
                     f"{evaluation['examples']:,} test digits, seed 0): the confusion matrix and "
                     "the misread digits whose true class scored lowest.")]
    shown = ", ".join(f"{c:.0%}" for c in changes[:3]) + (
        f" … {changes[-1]:.1%}" if len(changes) > 3 else "")
    section = Section("single-layer", "The single layer of 10 units on MNIST: templates", [
        Quote("How to learn the weights: multi class example", [
            "10 neuron next to each other to compose a single layer neural network",
            "Change of weights during training"]),
        Quote("Limitation of single layer network", [
            "Single layer networks is equivalent to template matching",
            "Weights for each class as a template for that class.",
            ("The ways in which a digit can be written are much too complicated to be captured "
            "by simple template")])],
        [*runs.commands,
         (f"nnctl inspect-weights {tour.shown(first)} --out {tour.shown(figures_dir)} --units 10 "
         "--force"),
         f"nnctl evaluate {tour.shown(first)} --figure {tour.shown(mistakes)} --force"],
        [Claim("The templates change during training, less and less",
               f"|W after − W before| / |W after| in epochs 1 to {len(changes)} (seed 0): {shown}"
               " (epoch 1 starts from zeros, so its change is 100%; the claim compares the last "
               "epoch with epoch 2)",
               all(c > 0 for c in changes) and len(changes) > 2 and changes[-1] < changes[1]),
         Claim("Template matching is limited: no 10 templates get every training digit right",
               f"test accuracy {runs.accuracy()}; in the last epoch {last['train_mistakes']:,} "
               f"of {round(last['examples_per_second'] * last['seconds']):,} training digits "
               "still misread (seed 0)",
               last["train_mistakes"] > 0)],
        figures,
        notes=[(f"configs/{SINGLE}: softmax outputs and cross-entropy, trained by backprop from "
               "all-zero weights; its weights are the 10 digit templates. Each run writes "
               "config.yaml, metrics.jsonl and a checkpoint per epoch in its directory.")])
    return section, runs


def mlp(tour: Tour, single: Runs) -> Section:
    runs = train_seeds(tour, MLP, "mlp")
    first, figures_dir = runs.dirs[0], tour.path("figures", "mlp")
    drawn = {p.name: p for p in inspect_weights(first, figures_dir, units=20, zoom=3, force=True)}
    curves = tour.path("figures", "curves.png")
    compared = [single.dirs[0], first]
    learning_curves(compared, curves, force=True)
    groups = {"single layer (784-10)": single.test_accuracies, "MLP (784-300-10)":
              runs.test_accuracies}
    bars = tour.figure("accuracy.png", plots.accuracy_by_seed(groups), "Test accuracy by seed",
                       "Test accuracy of every run, single layer against MLP.")
    better = np.mean(runs.test_accuracies) > np.mean(single.test_accuracies)
    rows = [["network", "seeds", "test accuracy", "epochs", "training time (seed 0)"]]
    for label, r in (("single layer 784-10", single), ("MLP 784-300-10", runs)):
        rows.append([label, str(len(r.results)), r.accuracy(), str(r.results[0].epochs),
                     f"{sum(h['seconds'] for h in r.results[0].history):.2f} s"])
    return Section("mlp", "A multi-layer perceptron on MNIST: hidden units beat templates", [
        Quote("Feed-forward neural networks", [
            "We need multiple layers of adaptive, non-linear hidden units.",
            "Also called Multi-Layer Perceptron (MLP)"]),
        Quote("MLP with single hidden layer", [
            ("Thus, we don't need expert knowledge or time consuming tuning of hand-crafted "
            "features")])],
        [*runs.commands,
         (f"nnctl inspect-weights {tour.shown(first)} --out {tour.shown(figures_dir)} --units 20 "
         "--zoom 3 --force"),
         (f"nnctl plot {' '.join(tour.shown(d) for d in compared)} --out {tour.shown(curves)} "
         "--force")],
        [Claim("An MLP with one hidden layer of sigmoid units reads digits better than the "
               "single layer", f"test accuracy {runs.accuracy()} against {single.accuracy()}",
               bool(better))],
        [tour.picture(drawn["hidden-units.png"], "First-layer filters of the MLP",
                      "The input weights of 20 of the 300 hidden units (seed 0): strokes and "
                      "blobs rather than whole digits."),
         tour.picture(curves, "Learning curves", "Accuracy and loss per epoch, train (solid) "
                      "and validation (dashed), single layer and MLP (seed 0)."), bars],
        rows,
        notes=[(f"configs/{MLP}: 784-300-10, sigmoid hidden units, softmax and cross-entropy, "
               "trained by backprop per example.")])
