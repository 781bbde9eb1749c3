"""The committed protobuf modules are exactly what `make protos` generates from protos/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("generate_protos", REPO / "tools" / "generate_protos.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_protos"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_current(tmp_path: Path) -> None:
    generator: object = _generator()
    generated: list[Path] = generator.generate(tmp_path)  # type: ignore[attr-defined]
    assert generated, "no proto files found"
    stale = []
    for path in generated:
        committed = REPO / path.relative_to(tmp_path)
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(committed.relative_to(REPO)))
    assert not stale, f"generated code is stale, run `make protos`: {stale}"


def test_no_proto_or_generated_copy_outside_the_one_place() -> None:
    protos = [p.relative_to(REPO) for p in REPO.rglob("*.proto") if ".venv" not in p.parts]
    assert protos
    assert all(p.parts[0] == "protos" for p in protos), protos
    generated = [p.relative_to(REPO) for p in REPO.rglob("*_pb2*.py*") if ".venv" not in p.parts]
    assert generated
    assert all(p.parts[0] == "configtrail" and p.parts[2] == "v1" for p in generated), generated


def test_every_proto_package_is_versioned() -> None:
    for proto in (REPO / "protos").rglob("*.proto"):
        package = next(line for line in proto.read_text().splitlines() if line.startswith("package "))
        assert package.rstrip(";").split(".")[-1] == "v1", f"{proto}: {package}"
