"""Learning-rate schedules: eta for an epoch (1-based) from the base rate and a decay, in a
table."""

from __future__ import annotations


def constant(eta: float, decay: float, epoch: int) -> float:
    return eta


def inverse(eta: float, decay: float, epoch: int) -> float:
    return eta / (1.0 + decay * (epoch - 1))  # eta / (1 + decay t), t = epochs done


def exponential(eta: float, decay: float, epoch: int) -> float:
    return eta * (1.0 - decay) ** (epoch - 1)  # shrink by the fraction `decay` each epoch


SCHEDULES = {"constant": constant, "inverse": inverse, "exponential": exponential}


def learning_rate(schedule: str, eta: float, decay: float, epoch: int) -> float:
    """The learning rate used throughout epoch `epoch` (1-based)."""
    return SCHEDULES[schedule](eta, decay, epoch)
