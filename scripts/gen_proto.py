"""Regenerate the committed gRPC/protobuf Python code from proto/rocars/v1/*.proto.

Run from anywhere: ``.venv/bin/python scripts/gen_proto.py [OUT_DIR]``. With OUT_DIR the
code is written there instead (the staleness test compares the two). ``-I .`` at the
repository root makes the generated imports ``from proto.rocars.v1 import x_pb2``, which
work inside the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto" / "rocars" / "v1"


def generate(out_dir: Path) -> None:
    protos = sorted(p.relative_to(ROOT).as_posix() for p in PROTO_DIR.glob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    generate(out)


if __name__ == "__main__":
    main()
