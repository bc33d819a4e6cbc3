"""Data the library reads at run time, shipped inside the package (declared in pyproject.toml).

- `policy_priors.json`: the cost-aware policy's prior acceptance rates (scripts/fit_priors.py);
- `corpus/`: the default static corpus, with its README and licences;
- `spec_bench/`: the Spec-Bench questions (evaluation only), with their licence.

Paths come from `importlib.resources`, so they hold in a source checkout and an installed wheel
alike. A missing file is an error that names it (`require`), never a quiet change of behaviour.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

_extracted = ExitStack()  # files extracted from a zipped install, kept until exit
atexit.register(_extracted.close)


def data_path(*parts: str) -> Path:
    """The file system path of a shipped data file (whether it exists is checked by `require`)."""
    resource = files(__name__)
    for part in parts:
        resource = resource / part
    if isinstance(resource, Path):  # an ordinary install or a source checkout
        return resource
    if not resource.is_file():  # a zip: nothing to extract, `require` names the missing path
        return Path(str(resource))
    return _extracted.enter_context(as_file(resource))


def require(path: Path | str, what: str) -> Path:
    """`path` if it is a file, else FileNotFoundError saying what is missing and where."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} is missing: {path} (it ships inside the samdec package; reinstall samdec, "
            "or check [tool.setuptools.package-data] in pyproject.toml)"
        )
    return path
