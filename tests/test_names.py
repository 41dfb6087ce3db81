"""Names in prose exist: every dotted ``ils_ref.…`` name in the package, the README and the tutorials resolves."""

import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "ils_ref").rglob("*.py")) + [ROOT / "README.md"] + sorted((ROOT / "tutorials").glob("*.py"))
#: ``ils_ref.a.b``; not a file path (``ils_ref/...``) and not a file name (``ils_ref.egg-info``).
NAME = re.compile(r"(?<![\w/.])ils_ref(?:\.[A-Za-z_]\w*)+")


def resolve(name: str):
    """The object ``name`` denotes: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError: the name does not exist
        return obj
    raise ModuleNotFoundError(name)


def mentions():
    found = {}
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in NAME.finditer(line):
                name = match.group(0).rstrip(".")
                if name.endswith((".py", ".json", ".npz", ".png")):
                    continue
                found.setdefault(name, f"{path.relative_to(ROOT)}:{number}")
    return found


MENTIONS = mentions()


def test_the_scan_finds_names_and_would_catch_a_stale_one():
    assert len(MENTIONS) > 40, sorted(MENTIONS)
    for stale in ("ils_ref.problems", "ils_ref.checking.gradcheck.check_vjp", "ils_ref.estimators.ils_expected_gradient"):
        with pytest.raises((ImportError, AttributeError)):
            resolve(stale)


@pytest.mark.parametrize("name", sorted(MENTIONS))
def test_every_dotted_name_resolves(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{name} (first mentioned at {MENTIONS[name]}) does not exist: {exc}")


PATH = re.compile(r"(?<![\w/.])(?:ils_ref|tutorials|benchmarks|tests)/[\w/.*-]*\w")
#: Folders a command writes, not in the repository.
BUILT = ("tutorials/notebooks", "tutorials/figures")


def test_every_file_path_in_prose_exists():
    missing = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in PATH.finditer(line):
                if "*" not in match.group(0) and not match.group(0).startswith(BUILT) and not (ROOT / match.group(0)).exists():
                    missing.append(f"{match.group(0)} ({path.relative_to(ROOT)}:{number})")
    assert not missing, missing


def test_the_readers_path_points_at_the_definitions():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## How to read this code"):text.index("## Quickstart")]
    stops = re.findall(r"`(ils_ref/[\w/]+\.py):(\d+)` `(\w+)`", section)
    assert len(stops) >= 5, stops
    for path, line, name in stops:
        source = (ROOT / path).read_text(encoding="utf-8").splitlines()
        assert source[int(line) - 1].startswith(f"def {name}("), f"{path}:{line} is not where {name} is defined"
