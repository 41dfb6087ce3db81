"""The self-check covers every public backward pass, and catches a broken one."""

import numpy as np

import ils_ref
from ils_ref.checking import selfcheck


def test_every_public_backward_is_in_the_selfcheck():
    public = {getattr(ils_ref, name) for name in ils_ref.__all__ if name.endswith("_backward")}
    covered = {backward for _, backward, _, _, _ in selfcheck.backward_cases()}
    assert public and public == covered


def test_every_case_passes_screen_and_full():
    for full in (False, True):
        for name, report in selfcheck.run(seed=1, full=full):
            assert report.ok, f"{name}\n{report}"


def test_a_broken_backward_is_caught(monkeypatch):
    original = selfcheck.normalize_backward
    monkeypatch.setattr(selfcheck, "normalize_backward", lambda dy, z: 1.001 * original(dy, z))
    verdicts = dict((name, report.ok) for name, report in selfcheck.run())
    assert verdicts.pop("normalize") is False
    assert all(verdicts.values())
    assert np.isfinite(original([1.0, 0.0], [1.0, 1.0])).all()
