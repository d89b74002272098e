"""Optional matplotlib helpers (install the ``plot`` extra: ``pip install skcausalmm[plot]``)."""

from .metrics.availability import plot_availability_scores

__all__ = ["plot_availability_scores", "plot_contributions"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skcausalmm.plotting needs matplotlib, which is not installed. Install the "
            "'plot' extra: pip install 'skcausalmm[plot]' (or pip install matplotlib)."
        ) from exc
    return plt


def plot_contributions(contributions, ax=None, *, color="C0", negative_color="C3"):
    """Bar plot of per-modality (Shapley) contributions.

    Parameters
    ----------
    contributions : dict of str to float
        E.g. the output of :func:`skcausalmm.metrics.shapley_contributions`.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure's axes when None.
    color, negative_color : str, default="C0", "C3"
        Colours of positive and negative bars.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from skcausalmm.plotting import plot_contributions
    >>> ax = plot_contributions({"pix": 0.6, "mor": 0.1})
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['pix', 'mor']
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(contributions) + 1.5), 3.0))
    names = list(contributions)
    values = [float(contributions[k]) for k in names]
    colors = [color if v >= 0 else negative_color for v in values]
    ax.bar(range(len(names)), values, color=colors)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel("contribution")
    ax.set_title("Modality contributions")
    return ax
