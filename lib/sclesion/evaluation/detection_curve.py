"""Detection probability as a smooth function of lesion volume: a logistic curve in log10(volume).

Beyond the paper's four volume bins (Fig 7), the per-lesion detections (:mod:`sclesion.evaluation.detection`)
are summarised by

    P(detected | V) = 1 / (1 + exp(-(a + b * log10(V / 1 mm^3))))

fitted by maximum likelihood (Newton's method, :func:`scipy.optimize.minimize` with ``Newton-CG``,
deterministic). Its 50 % point ``V50 = 10 ** (-a / b)`` mm^3 is the volume at which a lesion is as likely
detected as missed; ``b`` is the change in log-odds per tenfold volume.

The maximum-likelihood estimate does not always exist. When every lesion is detected, none is, the
detected and the missed lesions are separated by volume (all missed lesions no larger than all detected
ones, or the reverse: the slope runs off to infinity), all lesions have the same volume, or there are fewer
than :data:`MIN_LESIONS` lesions, no curve is fitted: coefficients and ``V50`` are NaN and ``reason`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from sclesion.core.errors import InputError

#: Fewest lesions a curve is fitted to.
MIN_LESIONS: int = 10

#: A fit has converged when no component of the log-likelihood's gradient exceeds this, per lesion.
GRADIENT_TOL: float = 1e-6


@dataclass(frozen=True)
class DetectionCurve:
    """A fitted (or not fittable) logistic detection curve.

    Attributes
    ----------
    intercept, slope : float
        ``a`` and ``b`` of ``P = 1 / (1 + exp(-(a + b * log10(V))))``, V in mm^3; NaN when not fitted.
    volume50_mm3 : float
        ``10 ** (-a / b)``, the volume (mm^3) detected with probability 0.5; NaN when not fitted. It may lie
        outside the volumes observed (an extrapolation).
    n_lesions, n_detected : int
        Lesions the curve was fitted to, and how many of them were detected.
    volume_range_mm3 : tuple of float
        Smallest and largest lesion volume (mm^3); NaN without lesions.
    reason : str
        Why no curve was fitted; empty when fitted.
    """

    intercept: float
    slope: float
    volume50_mm3: float
    n_lesions: int
    n_detected: int
    volume_range_mm3: tuple[float, float]
    reason: str = ""

    @property
    def fitted(self) -> bool:
        """True when a curve was fitted."""
        return not self.reason

    def probability(self, volume_mm3) -> np.ndarray:
        """Detection probability at the given volumes (mm^3; array_like, > 0); NaN when not fitted."""
        x = np.log10(np.asarray(volume_mm3, dtype=float))
        return special.expit(self.intercept + self.slope * x)

    def grid(self, n_points: int = 200, volume_range_mm3: tuple[float, float] | None = None) -> pd.DataFrame:
        """The curve on log-spaced volumes, for plotting.

        Parameters
        ----------
        n_points : int, default 200
            Number of volumes.
        volume_range_mm3 : tuple of float, optional
            First and last volume (mm^3); by default the range of the lesions.

        Returns
        -------
        pandas.DataFrame
            Columns ``volume_mm3`` and ``probability`` (NaN when not fitted; no rows without lesions).
        """
        low, high = volume_range_mm3 or self.volume_range_mm3
        if not (np.isfinite(low) and np.isfinite(high)):
            return pd.DataFrame({"volume_mm3": [], "probability": []})
        if not 0 < low <= high:
            raise InputError(f"volume range must satisfy 0 < low <= high (mm^3), got {low}, {high}")
        volumes = np.logspace(np.log10(low), np.log10(high), n_points)
        return pd.DataFrame({"volume_mm3": volumes, "probability": self.probability(volumes)})


def fit_detection_curve(volumes_mm3, detected, min_lesions: int = MIN_LESIONS) -> DetectionCurve:
    """Fit the logistic detection curve (module docstring) to per-lesion volumes and detections.

    Parameters
    ----------
    volumes_mm3 : array_like of float
        Lesion volumes in mm^3 (> 0), e.g. the ``volume_mm3`` column of
        :func:`sclesion.evaluation.detection.detect_lesions`'s table, or the true volumes of synthetic lesions.
    detected : array_like of bool
        Whether each lesion was detected (same length; 0/1 accepted).
    min_lesions : int, default :data:`MIN_LESIONS`
        Fewest lesions to fit a curve to.

    Returns
    -------
    DetectionCurve
        Fitted, or with NaN coefficients and a ``reason`` when the fit does not exist (module docstring).

    Raises
    ------
    InputError
        If the arrays differ in length, a volume is not a finite positive number or a flag is not 0/1.
    """
    x, y = _checked(volumes_mm3, detected)
    n, n_detected = int(y.size), int(y.sum())
    span = (float(10 ** x.min()), float(10 ** x.max())) if n else (np.nan, np.nan)
    reason = _why_not_fittable(x, y, min_lesions)
    if reason:
        return DetectionCurve(np.nan, np.nan, np.nan, n, n_detected, span, reason)
    intercept, slope, message = _maximum_likelihood(x, y)
    if message:
        return DetectionCurve(np.nan, np.nan, np.nan, n, n_detected, span, message)
    volume50 = float(10 ** (-intercept / slope)) if slope != 0 else np.nan
    return DetectionCurve(intercept, slope, volume50, n, n_detected, span)


def _checked(volumes_mm3, detected) -> tuple[np.ndarray, np.ndarray]:
    """log10 volumes and 0/1 detections as float arrays, or :class:`InputError`."""
    volumes = np.asarray(volumes_mm3, dtype=float).ravel()
    flags = np.asarray(detected).ravel()
    if volumes.size != flags.size:
        raise InputError(f"{volumes.size} volumes but {flags.size} detection flags")
    if not np.all(np.isfinite(volumes) & (volumes > 0)):
        raise InputError("lesion volumes must be finite and positive (mm^3)")
    y = flags.astype(float)
    if not np.all((y == 0) | (y == 1)):
        raise InputError("detection flags must be True/False (or 1/0)")
    return np.log10(volumes), y


def _why_not_fittable(x: np.ndarray, y: np.ndarray, min_lesions: int) -> str:
    """Why the maximum-likelihood curve does not exist for these data ("" when it does)."""
    if y.size < min_lesions:
        return f"too few lesions to fit a curve ({y.size} < {min_lesions})"
    if y.all():
        return "every lesion was detected: the rate never falls to 50 %"
    if not y.any():
        return "no lesion was detected: the rate never rises to 50 %"
    if np.ptp(x) == 0:
        return "all lesions have the same volume: the slope is undefined"
    hit, missed = x[y == 1], x[y == 0]
    if missed.max() <= hit.min() or hit.max() <= missed.min():
        return ("detected and missed lesions are separated by volume: the maximum-likelihood slope is "
                "infinite")
    return ""


def _maximum_likelihood(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """``(a, b, "")`` maximising the Bernoulli likelihood of ``y`` under ``expit(a + b x)``; NaNs and a message
    if the optimiser fails. Fitted on standardised ``x`` for conditioning, then mapped back."""
    centre, scale = float(x.mean()), float(x.std())
    design = np.column_stack([np.ones_like(x), (x - centre) / scale])

    def negative_log_likelihood(theta):
        eta = design @ theta
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    def gradient(theta):
        return design.T @ (special.expit(design @ theta) - y)

    def hessian(theta):
        p = special.expit(design @ theta)
        return (design * (p * (1 - p))[:, None]).T @ design

    result = optimize.minimize(negative_log_likelihood, np.zeros(2), jac=gradient, hess=hessian,
                               method="Newton-CG", options={"xtol": 1e-10})
    # judged by the score itself (the gradient per lesion), not by the optimiser's stopping message
    if not np.all(np.isfinite(result.x)) or np.abs(gradient(result.x)).max() > GRADIENT_TOL * y.size:
        return np.nan, np.nan, f"the fit did not converge ({result.message})"
    c0, c1 = (float(v) for v in result.x)
    return c0 - c1 * centre / scale, c1 / scale, ""
