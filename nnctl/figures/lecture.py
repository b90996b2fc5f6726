"""The tour's own matplotlib figures (Agg, via nnctl.figures.curves): threshold units, decision
lines and regions in the plane, J against its least-squares minimum, activations, gradcheck's
errors."""

from __future__ import annotations

import numpy as np

from nnctl.figures.curves import pyplot

CLASS_STYLE = {1.0: {"color": "#b2182b", "marker": "o", "label": "y = +1"},
               -1.0: {"color": "#2166ac", "marker": "s", "label": "y = −1"}}
BOX = (-2.6, 2.6)


def _points(axes, x: np.ndarray, y: np.ndarray) -> None:
    for value, style in CLASS_STYLE.items():
        axes.scatter(*x[y == value].T, s=36, edgecolor="white", linewidth=0.6, zorder=3, **style)


def _line(axes, line: np.ndarray, box=BOX, **style) -> None:
    """The decision line w1 x1 + w2 x2 + b = 0 within the box."""
    w1, w2, b = line
    t = np.linspace(*box, 200)
    if abs(w2) >= abs(w1):
        axes.plot(t, -(w1 * t + b) / w2, **style)
    else:
        axes.plot(-(w2 * t + b) / w1, t, **style)


def _square(axes, box=BOX, title: str = "") -> None:
    axes.set(xlim=box, ylim=box, aspect="equal", xlabel="x₁", ylabel="x₂", title=title)
    axes.grid(True, alpha=0.25)


def threshold_units(units: dict) -> object:
    """AND and OR: the four inputs coloured by the unit's output and the line w^T x = theta; NOT
    on a line."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.1), layout="constrained",
                                gridspec_kw={"width_ratios": [1, 1, 1]})
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    for ax, name in zip(axes[:2], ("AND", "OR")):
        w, theta, _ = units[name]
        out = (corners @ w > theta)
        ax.scatter(*corners[out].T, s=160, color="#b2182b", label="output 1 (spike)", zorder=3)
        ax.scatter(*corners[~out].T, s=160, facecolor="white", edgecolor="#2166ac",
                   linewidth=2, label="output 0", zorder=3)
        _line(ax, np.array([*w, -theta]), box=(-0.5, 1.5), color="black",
              label=f"w·x = θ ({w[0]:g}·x₁ + {w[1]:g}·x₂ = {theta:g})")
        _square(ax, (-0.5, 1.5), f"{name}: w = ({w[0]:g}, {w[1]:g}), θ = {theta:g}")
        ax.legend(loc="upper left", fontsize=9)
    w, theta, _ = units["NOT"]
    ax = axes[2]
    ax.axvline(theta / w[0], color="black", label=f"w·x = θ  (x = {theta / w[0]:g})")
    for x_value in (0.0, 1.0):
        spike = x_value * w[0] > theta
        ax.scatter([x_value], [0], s=160, zorder=3, color="#b2182b" if spike else "white",
                   edgecolor="#b2182b" if spike else "#2166ac", linewidth=2)
        ax.annotate(f"x = {x_value:g}\nw·x = {x_value * w[0] + 0.0:g}\noutput {int(spike)}",
                    (x_value, 0), xytext=(0, -22), textcoords="offset points", ha="center",
                    va="top", fontsize=10)
    ax.set(xlim=(-0.5, 1.5), ylim=(-1, 1), yticks=[], xlabel="x", aspect="equal",
           title=f"NOT: w = {w[0]:g}, θ = {theta:g}")
    ax.legend(loc="upper right", fontsize=9)
    return figure


def perceptron_lines(x: np.ndarray, y: np.ndarray, run, bound: float, box: tuple) -> object:
    """The decision line after updates 1, 2, 4, 8... (light to dark) and the last one; the
    updates per epoch against Novikoff's bound."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained",
                                         gridspec_kw={"width_ratios": [1.25, 1]})
    _points(left, x, y)
    shown = sorted({2**k for k in range(12) if 2**k < run.updates})
    colours = plt.get_cmap("Greys")(np.linspace(0.3, 0.7, max(1, len(shown))))
    for k, colour in zip(shown, colours):
        _line(left, run.lines[k], box, color=colour, linewidth=1.2, label=f"after update {k}")
    _line(left, run.lines[-1], box, color="black", linewidth=2.6,
          label=f"after update {run.updates}: no mistakes")
    _square(left, box, "The perceptron's decision line, update by update")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=9, ncol=3)
    epochs = np.arange(1, run.epochs + 1)
    right.bar(epochs, run.mistakes, color="#4d4d4d", label="updates (mistakes) in the epoch")
    right.plot(epochs, np.cumsum(run.mistakes), "o-", color="#b2182b", label="updates so far")
    right.axhline(bound, color="#2166ac", linestyle="--",
                  label=f"Novikoff's bound (R/γ)² = {bound:.0f}")
    right.set(yscale="log", xlabel="epoch", ylabel="updates", xticks=epochs,
              title="Updates until an epoch without a mistake")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=9, ncol=2)
    right.grid(True, alpha=0.25)
    return figure


def non_separable(x: np.ndarray, y: np.ndarray, perceptron_run, epoch_lines, delta_run) -> object:
    """The perceptron's line at the end of its last epochs (still moving), the delta rule's and
    least squares' lines; J per epoch against the least-squares minimum; mistakes per epoch."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(15, 5.4), layout="constrained",
                                gridspec_kw={"width_ratios": [1.2, 1, 1]})
    _points(axes[0], x, y)
    for k, line in enumerate(epoch_lines):
        _line(axes[0], line, color="#999999", linewidth=1,
              label="perceptron, end of each of its last epochs" if k == 0 else None)
    _line(axes[0], delta_run.line, color="#1b7837", linewidth=2.5, label="delta rule, last epoch")
    _line(axes[0], delta_run.lstsq, color="black", linestyle="--", linewidth=1.5,
          label="least squares (numpy.linalg.lstsq)")
    _square(axes[0], (-3.6, 3.6), "Overlapping classes: no line separates them")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=9, ncol=2)
    epochs = np.arange(1, len(delta_run.J) + 1)
    axes[1].plot(epochs, np.array(delta_run.J) - delta_run.J_min, color="#1b7837")
    axes[1].set(yscale="log", xlabel="epoch", ylabel="J(w) − J_min",
                title="Delta rule: J above its least-squares minimum")
    axes[1].grid(True, alpha=0.25)
    mistakes = perceptron_run.mistakes
    axes[2].plot(np.arange(1, len(mistakes) + 1), mistakes, color="#4d4d4d")
    axes[2].set(ylim=(0, max(mistakes) * 1.1), xlabel="epoch", ylabel="mistakes in the epoch",
                title="Perceptron rule: mistakes per epoch")
    axes[2].grid(True, alpha=0.25)
    return figure


def xor_regions(panels: list[tuple[str, object]]) -> object:
    """For each (title, f) with f(points) -> class 0/1: the regions of the plane it assigns to
    each class, and the four XOR points."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.9),
                                layout="constrained")
    box = (-0.5, 1.5)
    grid = np.linspace(*box, 241)
    g1, g2 = np.meshgrid(grid, grid)
    points = np.column_stack([g1.ravel(), g2.ravel()])
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    labels = np.array([0, 1, 1, 0])
    for ax, (title, classify) in zip(axes, panels):
        regions = classify(points).reshape(g1.shape)
        ax.pcolormesh(g1, g2, regions, cmap=ListedColormap(["#d1e5f0", "#fddbc7"]), vmin=0,
                      vmax=1, shading="auto")
        predicted = classify(corners)
        for corner, label, guess in zip(corners, labels, predicted):
            ax.scatter(*corner, s=220, zorder=3, marker="o" if label else "s",
                       color="#b2182b" if label else "#2166ac",
                       edgecolor="black" if guess != label else "white", linewidth=2.5)
            ax.annotate("right" if guess == label else "wrong", corner, xytext=(0, -24),
                        textcoords="offset points", ha="center", fontsize=10)
        _square(ax, box, title)
    figure.suptitle("XOR: regions the network assigns to class 1 (red) and class 0 (blue); "
                    "circles are class 1, squares class 0", fontsize=12)
    return figure


def activations(names: list[str], f: dict, f_prime: dict) -> object:
    """Each activation f (solid) and its derivative f' (dashed) from nnctl.core.activations."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.8), layout="constrained",
                                sharey=True)
    z = np.linspace(-5, 5, 1001)
    for ax, name in zip(axes, names):
        ax.plot(z, f[name](z), color="#2166ac", linewidth=2.2, label="f(z)")
        ax.plot(z, f_prime[name](z), color="#b2182b", linestyle="--", linewidth=2, label="f′(z)")
        ax.set(title=name, xlabel="z", ylim=(-1.2, 2.2))
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.axvline(0, color="#999", linewidth=0.8)
        ax.grid(True, alpha=0.25)
        ax.legend(loc="upper left", fontsize=10)
    return figure


def gradcheck_errors(results, tolerance: float) -> object:
    """The largest relative error of each array (log scale) against the tolerance."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(11, 4.2), layout="constrained")
    names = [r.name for r in results]
    errors = [max(r.error, 1e-17) for r in results]
    ax.bar(names, errors, color=["#1b7837" if r.ok else "#b2182b" for r in results])
    ax.axhline(tolerance, color="#b2182b", linestyle="--", label=f"tolerance {tolerance:g}")
    ax.set(yscale="log", ylabel="largest relative error",
           title="Backprop's gradient against central differences, per array")
    ax.tick_params(axis="x", labelsize=10)
    ax.legend()
    ax.grid(True, axis="y", alpha=0.25)
    return figure


def accuracy_by_seed(groups: dict[str, list[float]]) -> object:
    """Test accuracy of each run, one group of bars per network; the axis starts at 0, so that
    the bars' lengths compare as the accuracies do (each bar is labelled with its value)."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    for k, (name, values) in enumerate(groups.items()):
        xs = k + 0.25 * (np.arange(len(values)) - (len(values) - 1) / 2)
        ax.bar(xs, [100 * v for v in values], width=0.22, color=f"C{k}")
        for x_value, v in zip(xs, values):
            ax.annotate(f"{v:.2%}", (x_value, 100 * v), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=9)
    ax.set(xticks=range(len(groups)), xticklabels=list(groups), ylabel="test accuracy (%)",
           ylim=(0, 105), yticks=range(0, 101, 20), title="Test accuracy, one bar per seed")
    ax.grid(True, axis="y", alpha=0.25)
    return figure
