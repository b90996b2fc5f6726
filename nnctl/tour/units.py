"""Sections 1-4 of the tour: threshold units, the perceptron and delta rules, XOR."""

from __future__ import annotations

import numpy as np

from nnctl.figures import lecture as plots
from nnctl.tour import logic
from nnctl.tour.context import Tour
from nnctl.tour.page import Claim, Quote, Section

SEED = 0
PERCEPTRON_EPOCHS = 100  # at most, on the separable set; on the others, all of them
NON_SEPARABLE_EPOCHS, DELTA_EPOCHS = 50, 200
XOR_EPOCHS, XOR_SEEDS = 1000, 5
XOR_NETWORKS = {"identity": 0.1, "sigmoid": 1.0}  # hidden units: learning rate
CALL = 'python -c "from nnctl.tour import logic; {}"'


def mcculloch_pitts(tour: Tour) -> Section:
    tables = logic.truth_tables()
    claims, rows = [], [["unit", "w", "θ", "input x", "w·x", "output", "wanted"]]
    for name, table in tables.items():
        w, theta, _ = logic.LOGIC_UNITS[name]
        right = sum(out == want for *_, out, want in table)
        outputs = ", ".join(str(out) for *_, out, _ in table)
        claims.append(Claim(
            f"A threshold unit with w = ({', '.join(f'{v:g}' for v in w)}), θ = {theta:g} "
            f"computes {name}", f"{right} of {len(table)} rows of the truth table right "
            f"(outputs {outputs})", right == len(table)))
        rows += [[name, ", ".join(f"{v:g}" for v in w), f"{theta:g}",
                  ", ".join(map(str, x)), f"{s:g}", str(out), str(want)]
                 for x, s, out, want in table]
    figure = tour.figure("threshold-units.png", plots.threshold_units(logic.LOGIC_UNITS),
                         "AND, OR and NOT as threshold units with their threshold lines",
                         "Each unit spikes (red) on the side of its line w·x = θ where the "
                         "weighted sum exceeds the threshold.")
    return Section("threshold-units", "McCulloch-Pitts threshold units: AND, OR, NOT", [
        Quote("Binary threshold neurons", [
            "McCulloch-Pitts (1943): influenced Von Neumann.",
            "First compute a weighted sum of the inputs.",
            "Send out a spike of activity if the weighted sum exceeds a threshold."])],
        ["# output = 1 if w·x > θ else 0 (nnctl/tour/logic.py: threshold_unit)",
         CALL.format("print(logic.truth_tables())")],
        claims, [figure], rows)


def perceptron_separable(tour: Tour) -> Section:
    x, y, line = logic.separable_set(SEED)
    run = logic.train_perceptron(x, y, PERCEPTRON_EPOCHS, SEED)
    bound, R, gamma = logic.novikoff_bound(x, y, [line, run.lines[-1]])
    settled = run.mistakes[-1] == 0
    drawn = plots.perceptron_lines(x, y, run, bound, (-0.3, 4.3))
    figure = tour.figure("perceptron-separable.png", drawn,
                         "The perceptron's decision line over its updates on a separable set",
                         f"Left: {len(x)} points that the line x₁ − 2x₂ + 3 = 0 separates with a "
                         "margin of at least 0.2; the perceptron's line after its updates. "
                         "Right: updates per epoch and in all, against Novikoff's bound.")
    return Section("perceptron", "The perceptron rule on a linearly separable set", [
        Quote("Perceptron vs. Delta Rule", [
            "Perceptron learning rule:",
            "Guaranteed to succeed if training examples are linearly separable"]),
        Quote("Reminder: Perceptron Learning Algorithm", [
            "While more classification errors",
            "If ŷ⁽ⁱ⁾ ≠ y⁽ⁱ⁾:  w = w + y⁽ⁱ⁾ x⁽ⁱ⁾"])],
        [("# nnctl.core.rules.perceptron, one unit, w = 0 at the start, eta = 1, the bias as the "
         "weight on x₀ = 1"),
         CALL.format(f"x, y, line = logic.separable_set({SEED}); "
                     f"run = logic.train_perceptron(x, y, {PERCEPTRON_EPOCHS}, {SEED}); "
                     "print(run.updates, run.mistakes)")],
        [Claim("The perceptron rule reaches zero mistakes on a linearly separable set",
               f"{len(x)} points: epoch {run.epochs} is the first without a mistake "
               f"(mistakes per epoch {run.mistakes})" if settled else
               f"still {run.mistakes[-1]} mistakes after {run.epochs} epochs", settled),
         Claim("It makes at most Novikoff's (R/γ)² updates",
               f"{run.updates} updates ≤ (R/γ)² = {bound:.1f} (R = {R:.2f} the largest |(x, 1)|,"
               f" γ = {gamma:.3f} the margin of the best separator known)",
               run.updates <= bound)],
        [figure],
        notes=[("Novikoff (1962): started from w = 0, the perceptron makes at most (R/γ)² updates "
               "for any unit vector separating the (x, 1) with margin γ; the tour takes the larger "
               "margin of the generating line and the perceptron's own final line.")])


def non_separable(tour: Tour) -> Section:
    x, y = logic.overlapping_set(SEED)
    run = logic.train_perceptron(x, y, NON_SEPARABLE_EPOCHS, SEED)
    epoch_lines = [logic.train_perceptron(x, y, epochs, SEED).lines[-1]
                   for epochs in range(NON_SEPARABLE_EPOCHS - 4, NON_SEPARABLE_EPOCHS + 1)]
    delta_run = logic.train_delta(x, y, DELTA_EPOCHS, SEED)
    excess = delta_run.J[-1] / delta_run.J_min - 1
    distance = (np.linalg.norm(delta_run.line - delta_run.lstsq)
                / np.linalg.norm(delta_run.lstsq))
    figure = tour.figure("non-separable.png",
                         plots.non_separable(x, y, run, epoch_lines, delta_run),
                         "Perceptron and delta rule on overlapping classes",
                         f"{len(x)} points of two overlapping Gaussian clouds. The perceptron's "
                         "line keeps moving from epoch to epoch; the delta rule's line lands "
                         "on the least-squares line, and its J on the least-squares minimum.")
    name, eta, decay = delta_run.schedule
    return Section("delta-rule", "Not separable: the perceptron never settles, the delta rule "
                   "converges to least squares", [
        Quote("Perceptron vs. Delta Rule", [
            "Delta rule:",
            "Guaranteed to converge to the hypothesis with the minimum squared error",
            "Succeed if sufficiently small learning rate",
            "Even when training data contain noise or are not separable by a hyperplane"]),
        Quote("Training of a single neuron", [
            "ADALINE: ∇J_n(wᵗ) = −η (y⁽ⁿ⁾ − wᵀx⁽ⁿ⁾) x⁽ⁿ⁾",
            "Widrow-Hoff, LMS, or delta rule",
            "J_n(w) = (y⁽ⁿ⁾ − wᵀx⁽ⁿ⁾)²"])],
        ["# nnctl.core.rules.perceptron and nnctl.core.rules.delta; eta from nnctl.core.schedules",
         CALL.format(f"x, y = logic.overlapping_set({SEED}); "
                     f"print(logic.train_perceptron(x, y, {NON_SEPARABLE_EPOCHS}, {SEED}).mistakes)"
                     f"; d = logic.train_delta(x, y, {DELTA_EPOCHS}, {SEED}); "
                     "print(d.J[-1], d.J_min, d.line, d.lstsq)")],
        [Claim("The perceptron rule never settles when no line separates the classes",
               f"{len(x)} points, {run.epochs} epochs: every epoch has mistakes (fewest "
               f"{min(run.mistakes)}, last {run.mistakes[-1]})", min(run.mistakes) > 0),
         Claim("The delta rule converges to the minimum squared error all the same",
               f"J = ½·mean (y − wᵀx)² after {DELTA_EPOCHS} epochs {delta_run.J[-1]:.5f}, "
               f"numpy.linalg.lstsq's minimum {delta_run.J_min:.5f} (+{excess:.3%}); w within "
               f"{distance:.2%} of the least-squares w", excess < 0.01)],
        [figure],
        notes=[(f"The delta rule's learning rate: {name} schedule, η = {eta:g} / (1 + {decay:g}·t) "
               "for t epochs done (nnctl.core.schedules): with a constant η, per-example steps "
               "keep the weights in a band around the minimum whose width grows with η.")])


def xor(tour: Tour) -> Section:
    signs = np.where(logic.XOR_LABELS == 1, 1.0, -1.0)
    single = logic.train_perceptron(logic.BOOLEAN_INPUTS, signs, PERCEPTRON_EPOCHS, SEED)
    runs = {activation: [logic.train_xor([4], activation, eta, XOR_EPOCHS, seed)
                         for seed in range(XOR_SEEDS)]
            for activation, eta in XOR_NETWORKS.items()}
    linear, nonlinear = runs["identity"], runs["sigmoid"]
    gap = max(_collapse_gap(r.network) for r in linear)
    solved = [r.solved_at for r in nonlinear if r.solved_at is not None]
    line = single.lines[-1]
    panels = [(f"single layer (perceptron rule), {PERCEPTRON_EPOCHS} epochs",
               lambda p: (logic.extended(p) @ line > 0).astype(int)),
              ("2-4-2, identity hidden units",
               lambda p: linear[0].network.forward(p).argmax(1)),
              ("2-4-2, sigmoid hidden units", lambda p: nonlinear[0].network.forward(p).argmax(1))]
    figure = tour.figure("xor.png", plots.xor_regions(panels), "XOR decision regions",
                         f"After training (seed {SEED}): a single layer and two linear layers "
                         "cut the plane with one line and get at most three points right; a "
                         "hidden layer of sigmoid units bends the boundary around them.")
    rates = ", ".join(f"{a}: η = {eta:g}" for a, eta in XOR_NETWORKS.items())
    return Section("xor", "XOR: a single layer fails, linear layers do not help, "
                   "hidden non-linear units solve it", [
        Quote("Networks with hidden units", [
            ("Networks without hidden units are very limited in the input-output mappings they "
            "can learn to model."),
            "More layers of linear units do not help. Its still linear.",
            "Fixed output non-linearities are not enough.",
            ("We need multiple layers of adaptive, non-linear hidden units. But how can we train "
            "such nets?")])],
        [("# the perceptron rule on the four points; 2-4-2 networks (softmax, cross-entropy) "
         "trained per example by nnctl's reference engine (backprop)"),
         CALL.format(f"import numpy as np; y = np.where(logic.XOR_LABELS == 1, 1.0, -1.0); "
                     f"print(logic.train_perceptron(logic.BOOLEAN_INPUTS, y, "
                     f"{PERCEPTRON_EPOCHS}, {SEED}).mistakes)"),
         *(CALL.format(f"r = logic.train_xor([4], '{a}', {eta:g}, {XOR_EPOCHS}, seed={SEED}); "
                       "print(r.solved_at, r.best_right)") for a, eta in XOR_NETWORKS.items())],
        [Claim("No single layer gets XOR right",
               f"perceptron rule, {single.epochs} epochs: every epoch has mistakes (fewest "
               f"{min(single.mistakes)} of 4)", min(single.mistakes) > 0),
         Claim("More layers of linear units do not help",
               f"2-4-2 with identity hidden units, {XOR_SEEDS} seeds × {XOR_EPOCHS} epochs: at "
               f"most {max(r.best_right for r in linear)} of 4 right after any epoch; the trained"
               f" network equals the single layer W = W⁽²⁾W⁽¹⁾, b = W⁽²⁾b⁽¹⁾ + b⁽²⁾ to "
               f"{gap:.1e}", all(r.best_right < 4 for r in linear) and gap < 1e-9),
         Claim("One hidden layer of non-linear units solves it",
               f"2-4-2 with sigmoid hidden units: {len(solved)} of {XOR_SEEDS} seeds get all 4 "
               "right" + (f" (after {min(solved)} to {max(solved)} epochs)" if solved else ""),
               bool(solved))],
        [figure],
        notes=[f"Learning rates: {rates}; weights drawn by Xavier's scheme from each seed."])


def _collapse_gap(network) -> float:
    """How far a network of identity hidden units is from the one layer it collapses to, on the
    four points and a grid around them."""
    W, b = logic.collapse(network)
    grid = np.stack(np.meshgrid(np.linspace(-1, 2, 7), np.linspace(-1, 2, 7)), -1).reshape(-1, 2)
    points = np.vstack([logic.BOOLEAN_INPUTS, grid])
    return float(np.abs(network.logits(points) - (points @ W.T + b)).max())
