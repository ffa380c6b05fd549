"""The prebuilt JupyterLab extension (committed, shipped in the wheel) is built from the
sources next to it: a change to them without a rebuild fails here, not in a user's browser."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "labextension"
BUNDLE = ROOT / "prebuilt" / "nbworkflow-yaml"


def test_the_bundle_was_built_from_the_current_sources() -> None:
    stamp = (BUNDLE / "source.sha256").read_text().splitlines()
    stamped = {name: digest for digest, name in (line.split(maxsplit=1) for line in stamp)}
    assert set(stamped) == {"lib/index.js", "package.json", "package-lock.json", "install.json"}
    changed = [
        name
        for name, digest in stamped.items()
        if hashlib.sha256((ROOT / name).read_bytes()).hexdigest() != digest
    ]
    assert not changed, (
        f"labextension/{', '.join(changed)} changed since the bundle was built: "
        "run scripts/build_labextension.sh and commit labextension/prebuilt"
    )


def test_the_bundle_names_an_entry_point_it_carries() -> None:
    meta = json.loads((BUNDLE / "package.json").read_text())
    load = meta["jupyterlab"]["_build"]["load"]
    assert (BUNDLE / load).is_file()
    assert json.loads((ROOT / "package.json").read_text())["name"] == meta["name"]
