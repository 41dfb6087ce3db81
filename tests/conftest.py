"""Shared test configuration: hypothesis profiles and array strategies.

Profiles: ``ci`` (chosen when the environment has ``CI=true``) is
derandomised, so CI never flakes, and has no deadline; ``dev`` (the default)
explores with fresh random examples each run, also without deadline.
"""

import os

# Two pytest-xdist workers share two cores: one BLAS thread each, or they oversubscribe the cores.  Set before NumPy
# loads (the controller's environment is inherited by the workers it starts).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev")


def shapes(max_batch_axes: int = 3, max_batch: int = 3, min_k: int = 1, max_k: int = 50):
    """Shapes ``(*batch, K)`` with 1..max_batch_axes batch axes."""
    return st.tuples(
        st.lists(st.integers(1, max_batch), min_size=1, max_size=max_batch_axes),
        st.integers(min_k, max_k),
    ).map(lambda t: tuple(t[0]) + (t[1],))


def float_arrays(shape_strategy, low: float, high: float):
    """float64 arrays of a drawn shape, entries in [low, high], no NaN/inf/subnormals."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)
    return shape_strategy.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=elements))


# The long tests (tutorials run top to bottom, the toy experiment, the notebooks) go first, so
# that under pytest-xdist (-n 2) they start early and the short ones fill the other worker,
# instead of one long test running alone at the end.
SLOW_FIRST = ("test_tutorials.py", "test_notebooks.py", "test_reproduce.py", "test_statistical.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in SLOW_FIRST)  # stable: the order within each group stays
