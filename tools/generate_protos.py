"""Generate the protobuf and gRPC modules (with .pyi stubs) from protos/ into the configtrail package.

Usage: python tools/generate_protos.py [OUTPUT_ROOT]

OUTPUT_ROOT defaults to the repository root, so `configtrail/<service>/v1/*_pb2*.py` are rewritten in
place; the staleness test passes a temporary folder and compares.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
GENERATED_INIT = '"""Generated protobuf package. DO NOT MODIFY, use `make protos` to update."""\n'


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def _plugin(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit(f"{name} not found: install the dev dependencies (mypy-protobuf)")
    return found


def generate(output_root: Path) -> list[Path]:
    """Run protoc once over every proto file; return the generated files."""
    output_root.mkdir(parents=True, exist_ok=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--python_out={output_root}",
        f"--pyi_out={output_root}",
        f"--grpc_python_out={output_root}",
        # typed stubs for the generated gRPC stubs and servicers (sync and grpc.aio)
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_grpc_out={output_root}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated: list[Path] = []
    for proto in files:
        package_dir = output_root / Path(proto).parent
        # the version folder and its service folder are generated-only packages; the top package is ours
        for folder in (package_dir, package_dir.parent):
            init = folder / "__init__.py"
            if not init.exists():
                init.write_text(GENERATED_INIT)
        stem = Path(proto).stem
        generated += [
            package_dir / f"{stem}_pb2.py",
            package_dir / f"{stem}_pb2.pyi",
            package_dir / f"{stem}_pb2_grpc.py",
            package_dir / f"{stem}_pb2_grpc.pyi",
        ]
    return generated


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT
    for path in generate(root):
        sys.stdout.write(f"{path.relative_to(root)}\n")
