"""The report of a gradient check: one compared value (:class:`Entry`) and the verdict (:class:`VJPReport`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formatting import text_table


@dataclass(frozen=True)
class Entry:
    """One compared value: a Jacobian entry, or a screening projection.

    For a Jacobian entry ``output_index`` and ``input_index`` are
    multi-indices into ``f(x)`` and ``x``; for a projection ``⟨dy_a, J u_b⟩``
    they are ``None`` and ``probe = (a, b)``.
    """

    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    tolerance: float
    output_index: tuple | None = None
    input_index: tuple | None = None
    probe: tuple | None = None
    status: str = ""  # "fail", "inconclusive" or "pass" after a second opinion; "" when decided at the first step
    why: str = ""

    @property
    def ok(self) -> bool:
        if self.status:
            return self.status == "pass"
        return self.abs_error <= self.tolerance

    def where(self) -> tuple[str, str]:
        if self.probe is not None:
            return f"dy#{self.probe[0]}", f"u#{self.probe[1]}"
        return str(self.output_index), str(self.input_index)


@dataclass(frozen=True)
class VJPReport:
    """What :func:`check_vjp` found.  ``str(report)`` is a compact table.

    Attributes
    ----------
    ok : bool
        ``verdict == "pass"``.
    verdict : str
        ``"pass"``: every entry verified, with evidence (the rules:
        :mod:`ils_ref.gradcheck.core`).  ``"fail"``: ``vjp`` is not linear in
        ``dy``, or an entry is wrong — two agreeing steps exclude it, and
        nothing contradicts them — or ``vjp`` itself failed.
        ``"inconclusive"``: some entries could not be verified at any step
        (a kink, the domain's edge, rounding or truncation: ``worst`` says
        which), entries were not re-checked, or the work hit
        ``max_evaluations``.
    reason : str
        One line: why this verdict.
    mode : str
        ``"screen"`` (projections only), ``"screen+rows"`` (projections, and
        the rows they cannot resolve entry by entry), ``"screen+full"``
        (screen did not pass, every entry compared), ``"screen+bisection"``
        (screen failed, bisection to one entry), ``"full"`` (forced), or
        ``"empty"``.
    max_abs_error, max_rel_error : float
        Over the values compared in the deciding stage (projections in
        ``"screen"`` mode, Jacobian entries otherwise).  The relative error is
        ``|a - n| / |n|`` (``inf`` where ``n = 0 != a``).
    worst : tuple of Entry
        The entries with the largest ``abs_error / tolerance``, worst first.
    n_compared, n_failed : int
        How many values the deciding stage compared (projections; or rows ×
        column groups), and how many entries were found wrong.
    n_entries : int
        Jacobian entries the entry-by-entry comparison covered (``m·n`` when
        every row was compared; 0 for the screen).
    n_inconclusive : int
        Entries no step could verify.
    error : str or None
        Set when ``vjp`` raised or returned something unusable (``ok`` is then
        False).
    resolution : float or None
        The screen's single-entry resolution (absolute): an error larger than
        this in any one Jacobian entry fails the screen (with probability
        above 99%, :mod:`ils_ref.gradcheck.screen`).  ``None`` without a screen.
    relative_resolution : float or None
        The same relative to the largest entry of each block of outputs; the
        screen passes only where it is at most ``rtol``.
    n_not_rechecked : int
        Entries the first step could not settle that were not re-checked at
        other steps (beyond the sample the work allows, or after bisection).
    """

    ok: bool
    mode: str
    max_abs_error: float
    max_rel_error: float
    worst: tuple
    n_compared: int
    n_failed: int
    eps: float
    rtol: float
    atol: float
    seed: int
    n_probes: int
    input_shape: tuple
    output_shape: tuple
    f_calls: int
    vjp_calls: int
    f_batched: bool
    vjp_batched: bool
    error: str | None = None
    screen_ok: bool | None = None
    resolution: float | None = None
    notes: tuple = ()
    verdict: str = ""
    reason: str = ""
    n_inconclusive: int = 0
    n_entries: int = 0
    relative_resolution: float | None = None
    n_not_rechecked: int = 0

    def __repr__(self) -> str:
        return (
            f"<VJPReport verdict={self.verdict!r} mode={self.mode!r} max_abs_error={self.max_abs_error:.3g} "
            f"max_rel_error={self.max_rel_error:.3g} n_failed={self.n_failed}/{self.n_compared}>"
        )

    def __str__(self) -> str:  # noqa: C901 - one line per part of the report
        head = {"pass": "check_vjp passed", "fail": "check_vjp FAILED",
                "inconclusive": "check_vjp INCONCLUSIVE"}.get(self.verdict, "check_vjp")
        head = f"{head}: {self.error if self.error is not None else self.reason}"
        stage = {
            "screen": "random projections",
            "screen+full": "random projections failed -> full Jacobian",
            "full": "full Jacobian (forced)",
            "screen+bisection": "random projections failed -> bisection to one entry",
            "screen+rows": "random projections, and the rows they cannot resolve entry by entry",
            "empty": "nothing to compare",
        }.get(self.mode, self.mode)

        def how(batched):
            return "batched" if batched else "one point per call"

        lines = [
            f"{head}  [{stage}]",
            f"  x {self.input_shape} -> f(x) {self.output_shape}; eps={self.eps:g} (h = eps*max(|x|, 1)) rtol={self.rtol:g} "
            f"atol={self.atol:g} seed={self.seed} probes={self.n_probes}",
            f"  calls: f {self.f_calls} ({how(self.f_batched)}), vjp {self.vjp_calls} ({how(self.vjp_batched)})",
        ]
        if self.n_compared:
            lines.append(f"  max abs error {self.max_abs_error:.2e}, max rel error {self.max_rel_error:.2e}")
        if self.resolution is not None and self.relative_resolution is not None and np.isfinite(self.relative_resolution):
            lines.append(
                f"  screen resolution: any single Jacobian entry off by more than {self.resolution:.1e} "
                f"({self.relative_resolution:.1e} of its block's largest entry) fails the screen"
            )
        if self.worst:
            if self.mode == "screen":
                lines.append("  worst projections <dy_a, J u_b> (tolerance = atol*|dy||u| + rtol*|dy||Ju| + rounding):")
            else:
                lines.append("  worst entries (tolerance = atol + rtol*R_i + rounding + floor, R_i: the row's size):")
            rows = [("output", "input", "analytic", "numeric", "abs err", "rel err", "tolerance", "")]
            for e in self.worst:
                out_i, in_i = e.where()
                rows.append(
                    (
                        out_i,
                        in_i,
                        f"{e.analytic:.6g}",
                        f"{e.numeric:.6g}",
                        f"{e.abs_error:.2e}",
                        f"{e.rel_error:.2e}",
                        f"{e.tolerance:.2e}",
                        (e.status or ("" if e.ok else "fail")).upper() if not e.ok else e.status,
                    )
                )
            lines.append(text_table(rows, indent=4))
            explained = [e for e in self.worst if e.why]
            if explained:  # the first entry's reason (the others' are usually the same kind)
                e = explained[0]
                lines.append(f"    {e.status} at output {e.where()[0]}, input {e.where()[1]}: {e.why}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


def compare(analytic, numeric, tol, n_worst, index_of) -> dict:
    """Entry-wise comparison for the report's table; ``index_of(k)`` labels flat position ``k``."""
    analytic, numeric, tol = (np.ravel(a) for a in (analytic, numeric, tol))
    err = np.abs(analytic - numeric)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(err == 0, 0.0, err / np.abs(numeric))
        ratio = np.where(err == 0, 0.0, err / tol)
    k = min(n_worst, ratio.size)  # only the n_worst largest ratios are needed: partition, then sort those
    top = np.argpartition(-ratio, k - 1)[:k] if k else np.array([], dtype=int)
    order = top[np.argsort(-ratio[top], kind="stable")]
    worst = tuple(Entry(analytic=float(analytic[k]), numeric=float(numeric[k]), abs_error=float(err[k]),
                        rel_error=float(rel[k]), tolerance=float(tol[k]), **index_of(int(k))) for k in order)
    return dict(max_abs_error=float(err.max(initial=0.0)), max_rel_error=float(rel.max(initial=0.0)), worst=worst,
                n_compared=int(err.size), n_failed=int(np.count_nonzero(err > tol)))
