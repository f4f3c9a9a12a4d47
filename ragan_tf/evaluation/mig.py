"""The Mutual Information Gap (Chen, Li, Grosse, Duvenaud: "Isolating Sources of Disentanglement
in Variational Autoencoders", NeurIPS 2018), the disentanglement score of seed 004.

For each ground-truth factor v_k, the mutual information I(z_j; v_k) with
every latent dimension z_j; the factor's gap is the largest minus the second
largest, divided by the factor's entropy H(v_k) (so a gap lies in [0, 1]);
MIG is the mean gap over the factors. 1: each factor lives in exactly one
latent dimension; 0: no dimension stands out for any factor.

Binning (ours; the paper estimates I on the latents' full distribution):
each latent dimension is discretised into `bins` (20) equal-width bins
between its minimum and maximum over the sample, as disentanglement_lib's
`_histogram_discretize` does; continuous factors (age in years) are binned
the same way, discrete factors (gender, hair style, ...) keep their values.
Mutual information is the plug-in estimate from the joint histogram, in
nats. Its positive bias for independent variables is about
(bins_z - 1)(bins_v - 1) / (2N) nats: use thousands of samples.

Example:
```python
factors = np.stack([age_group, gender, hair_style], axis=1)   # [N, K] ints
codes = encoder_mean_latents                                  # [N, D] floats
mig(codes, factors)["mig"]
```
"""

import numpy as np


def discretize(values, bins=20):
    """Equal-width bin index (0 .. bins - 1) of each value between the column's min and max; a
    constant column is all zeros. `values` [N] or [N, D] -> int64 of the same shape."""
    values = np.asarray(values, np.float64)
    low, high = values.min(axis=0), values.max(axis=0)
    width = np.where(high > low, (high - low) / bins, 1.0)
    return np.clip(np.floor((values - low) / width), 0, bins - 1).astype(np.int64)


def _codes(values):
    """Dense integer codes 0 .. n-1 of the distinct values."""
    return np.unique(np.asarray(values), return_inverse=True)[1].reshape(-1)


def entropy(labels):
    """Plug-in entropy (nats) of discrete labels [N]."""
    counts = np.bincount(_codes(labels)).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(a, b):
    """Plug-in mutual information (nats) of two discrete label arrays [N]."""
    a, b = _codes(a), _codes(b)
    joint = np.zeros((a.max() + 1, b.max() + 1), np.float64)
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum())


def mig(codes, factors, bins=20, continuous=(), names=None):
    """The Mutual Information Gap of latent codes against ground-truth factors.

    Args:
        codes: float [N, D] latent codes (e.g. the encoder's posterior means), D >= 2.
        factors: [N, K] ground-truth factors.
        bins: equal-width bins per latent dimension (and per continuous factor).
        continuous: indices of factors to bin (e.g. age in years); the others are
            taken as discrete values.
        names: K factor names for the result (default "factor_k").

    Returns:
        A dict: `mig` (mean gap), `gaps` {name: normalised gap}, `best_dimension`
        {name: the latent dimension with the most information}, `information`
        float [K, D] (nats) and `entropy` {name: H(v_k)}. Factors with a single value
        (zero entropy) are left out of the mean.
    """
    codes = np.asarray(codes, np.float64)
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must be [N, D] with D >= 2; got shape {codes.shape}.")
    if len(factors) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(factors)} factor rows.")
    names = list(names) if names is not None else [f"factor_{k}" for k in range(factors.shape[1])]
    binned_codes = discretize(codes, bins)
    information = np.zeros((factors.shape[1], codes.shape[1]))
    gaps, best, entropies = {}, {}, {}
    for k, name in enumerate(names):
        factor = discretize(factors[:, k].astype(np.float64), bins) if k in continuous else factors[:, k]
        entropies[name] = entropy(factor)
        information[k] = [mutual_information(binned_codes[:, j], factor) for j in range(codes.shape[1])]
        if entropies[name] > 0:
            top = np.sort(information[k])[::-1]
            gaps[name] = float((top[0] - top[1]) / entropies[name])
            best[name] = int(np.argmax(information[k]))
    return {"mig": float(np.mean(list(gaps.values()))) if gaps else float("nan"), "gaps": gaps,
            "best_dimension": best, "information": information, "entropy": entropies}
