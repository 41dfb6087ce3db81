"""The report of a gradient check: one compared value (:class:`Entry`) and the verdict (:class:`VJPReport`)."""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def ok(self) -> bool:
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
        The verdict.
    mode : str
        ``"screen"`` (projections only, passed), ``"screen+full"`` (screen
        failed, full Jacobian compared), ``"full"`` (forced), or ``"empty"``.
    max_abs_error, max_rel_error : float
        Over the values compared in the deciding stage (projections in
        ``"screen"`` mode, Jacobian entries otherwise).  The relative error is
        ``|a - n| / |n|`` (``inf`` where ``n = 0 != a``).
    worst : tuple of Entry
        The entries with the largest ``abs_error / tolerance``, worst first.
    n_compared, n_failed : int
        How many values the deciding stage compared, and how many failed.
    error : str or None
        Set when ``vjp`` raised or returned something unusable (``ok`` is then
        False).
    resolution : float or None
        In ``"screen"`` mode: an error larger than this in any single Jacobian
        entry is guaranteed to fail the screen.  Smaller single-entry errors
        may pass; ``full=True`` compares every entry with its own tolerance.
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

    def __repr__(self) -> str:
        return (
            f"<VJPReport ok={self.ok} mode={self.mode!r} max_abs_error={self.max_abs_error:.3g} "
            f"max_rel_error={self.max_rel_error:.3g} n_failed={self.n_failed}/{self.n_compared}>"
        )

    def __str__(self) -> str:
        what = "projections" if self.mode == "screen" else "Jacobian entries"
        if self.error is not None:
            head = f"check_vjp FAILED: {self.error}"
        elif self.ok:
            head = f"check_vjp passed: {self.n_compared} {what} within tolerance"
        else:
            head = f"check_vjp FAILED: {self.n_failed} of {self.n_compared} {what} outside tolerance"
        stage = {
            "screen": "random projections",
            "screen+full": "random projections failed -> full Jacobian",
            "full": "full Jacobian (forced)",
            "empty": "nothing to compare",
        }.get(self.mode, self.mode)

        def how(batched):
            return "batched" if batched else "one point per call"

        lines = [
            f"{head}  [{stage}]",
            f"  x {self.input_shape} -> f(x) {self.output_shape}; eps={self.eps:g} rtol={self.rtol:g} "
            f"atol={self.atol:g} seed={self.seed} probes={self.n_probes}",
            f"  calls: f {self.f_calls} ({how(self.f_batched)}), vjp {self.vjp_calls} ({how(self.vjp_batched)})",
        ]
        if self.n_compared:
            lines.append(f"  max abs error {self.max_abs_error:.2e}, max rel error {self.max_rel_error:.2e}")
        if self.mode == "screen" and self.resolution is not None:
            lines.append(
                f"  screen resolution: any single Jacobian entry off by more than {self.resolution:.1e} "
                f"would have failed (full=True checks each entry)"
            )
        if self.worst:
            if self.mode == "screen":
                lines.append("  worst projections <dy_a, J u_b> (tolerance = atol*|dy||u| + rtol*|dy||Ju| + rounding):")
            else:
                lines.append("  worst entries (tolerance = atol + rtol*|numeric| + rounding):")
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
                        "" if e.ok else "FAIL",
                    )
                )
            lines.append(text_table(rows, indent=4))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


