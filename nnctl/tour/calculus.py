"""Sections 5 and 8 of the tour: the activations and their derivatives from nnctl's tables, and
backprop's gradients against central differences (nnctl gradcheck)."""

from __future__ import annotations

import numpy as np

from nnctl.core.activations import ACTIVATIONS, DERIVATIVES
from nnctl.figures import lecture as plots
from nnctl.io.config import load_config
from nnctl.tasks.gradcheck import TOLERANCE, check
from nnctl.tour.context import Tour
from nnctl.tour.mnist import CONFIGS
from nnctl.tour.page import Claim, Quote, Section

SHOWN = ["sigmoid", "tanh", "relu", "softplus"]
SLIDE_FORMULAS = {  # the slide's f and f', written out
    "sigmoid": ("f(z) = 1 / (1 + exp(−z))", "f′(z) = f(z)(1 − f(z))"),
    "tanh": ("f(z) = tanh(z)", "f′(z) = 1 − f²(z)"),
    "relu": ("f(z) = 0 for z < 0, z for z ≥ 0", "f′(z) = 1 for z ≥ 0, 0 for z < 0"),
    "softplus": ("f(z) = log(1 + exp(z))", "f′(z) = 1 / (1 + exp(−z))"),
}
STEP = 1e-6
GRADCHECK_CONFIG, GRADCHECK_EXAMPLES = "mlp-300-100.yaml", 3


def derivative_errors(points: int = 1000, step: float = STEP) -> dict[str, float]:
    """For each activation: the largest |f'(z) - (f(z + h) - f(z - h)) / 2h| over `points`
    points of [-5, 5] (an even number of them: none within h of ReLU's kink at 0)."""
    z = np.linspace(-5.0, 5.0, points)
    return {name: float(np.abs(DERIVATIVES[name](z) - (ACTIVATIONS[name](z + step)
                                                      - ACTIVATIONS[name](z - step)) / (2 * step)
                               ).max())
            for name in SHOWN}


def activations(tour: Tour) -> Section:
    errors = derivative_errors()
    figure = tour.figure("activations.png", plots.activations(SHOWN, ACTIVATIONS, DERIVATIVES),
                         "sigmoid, tanh, ReLU and softplus with their derivatives",
                         "Each activation f (solid) and its derivative f′ (dashed), drawn from "
                         "nnctl.core.activations' ACTIVATIONS and DERIVATIVES tables.")
    rows = [["activation", "f (slide)", "f′ (slide)", "largest |f′ − central difference|"]]
    rows += [[name, *SLIDE_FORMULAS[name], f"{errors[name]:.1e}"] for name in SHOWN]
    return Section("activations", "Activations and their derivatives", [
        Quote("Activations and their derivatives", [
            *(f"{f};  {d}" for f, d in SLIDE_FORMULAS.values()),
            "Some popular activation functions and their derivatives"]),
        Quote("Sigmoid", ["A “squashing” function instead of a threshold",
                          "They have nice derivatives."])],
        ["# f and f′ side by side in nnctl/activations.py (ACTIVATIONS, DERIVATIVES)",
         ('python -c "from nnctl.tour.calculus import derivative_errors; '
         'print(derivative_errors())"')],
        [Claim("Each derivative in nnctl's table is the derivative of its activation",
               f"largest |f′(z) − (f(z + h) − f(z − h)) / 2h|, h = {STEP:g}, on 1,000 points of "
               "[−5, 5]: " + ", ".join(f"{n} {e:.1e}" for n, e in errors.items()),
               max(errors.values()) < 1e-6)],
        [figure], rows)


def backpropagation(tour: Tour) -> Section:
    path = CONFIGS / GRADCHECK_CONFIG
    results, note = check(load_config(path), GRADCHECK_EXAMPLES)
    worst = max(results, key=lambda r: r.error)
    figure = tour.figure("gradcheck.png", plots.gradcheck_errors(results, TOLERANCE),
                         "Relative error of backprop's gradient per array",
                         "The largest relative error of each weight matrix and bias vector over "
                         f"{GRADCHECK_EXAMPLES} training examples, on a log scale, against the "
                         "tolerance.")
    rows = [["array", "shape", "weights checked", "largest |gradient|", "relative error"]]
    rows += [[r.name, "×".join(map(str, r.shape)), str(r.checked), f"{r.largest_gradient:.3e}",
              f"{r.error:.2e}"] for r in results]
    layers = len(results) // 2
    return Section("backpropagation", "Backpropagation: δ for each layer against central "
                   "differences", [
        Quote("Backpropagation:", [
            "δ_j^[l] = ∂loss/∂z_j^[l] is the sensitivity of the loss to z_j^[l]",
            ("Sensitivity vectors can be obtained by running a backward process in the network "
            "architecture (hence the name backpropagation.)")]),
        Quote("Backward process on sensitivity vectors", [
            "δ_i^[l−1] = f′(z_i^[l−1]) Σ_j δ_j^[l] × w_ji^[l]"]),
        Quote("Calculus Refresher: Basic rules of calculus", [
            "the following must hold for sufficiently small Δx", "dy/dx ≈ Δy/Δx"])],
        [f"nnctl gradcheck {tour.shown(path)} --examples {GRADCHECK_EXAMPLES}"],
        [Claim(f"Backprop's δ^[l] a^[l−1]ᵀ is the gradient of the loss, in all {layers} layers",
               f"{len(results)} arrays on {GRADCHECK_EXAMPLES} MNIST training examples, float64:"
               f" largest relative error {worst.error:.1e} ({worst.name}) against "
               f"(loss(w + ε) − loss(w − ε)) / 2ε, ε = 1e-6; tolerance {TOLERANCE:g}",
               all(r.ok for r in results))],
        [figure], rows,
        notes=[f"{GRADCHECK_CONFIG}: a 784-300-100-10 network of tanh units, so δ is carried back "
               "through two hidden layers. Each relative error is the largest difference over "
               "the array's largest gradient; 40 weights per layer are checked on each example, "
               "mostly where the gradient is not zero." + (f" Note: {note}." if note else "")])
