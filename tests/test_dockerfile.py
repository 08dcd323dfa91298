"""The Dockerfile builds from a clean checkout: its COPY lines bring everything the wheel needs.

No Docker daemon here, so the test replays the Dockerfile's ``COPY`` instructions into an empty
folder, as the image's build context would hold them, and builds the wheel there the way the
image's ``pip install --no-deps .`` does.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        joined.append(current.strip())
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def replay_copies(dockerfile: Path, context: Path, into: Path) -> PurePosixPath:
    """Copy what each COPY brings from ``context`` to ``into`` (standing for /); the last WORKDIR."""
    workdir = PurePosixPath("/")
    for instruction, arguments in instructions(dockerfile):
        if instruction == "WORKDIR":
            workdir = workdir / arguments.strip()
        if instruction != "COPY":
            continue
        words = [w for w in shlex.split(arguments) if not w.startswith("--")]
        *sources, destination = words
        target = workdir / destination
        for source in sources:
            origin = context / source
            assert origin.exists(), f"COPY {source}: not in the build context"
            land = into / str(target).lstrip("/")
            if origin.is_dir():
                shutil.copytree(origin, land, dirs_exist_ok=True)
            else:
                land = land / origin.name if destination.endswith("/") else land
                land.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, land)
    return workdir


def test_the_dockerfiles_copies_are_enough_to_build_the_wheel(tmp_path: Path) -> None:
    image = tmp_path / "image"
    workdir = replay_copies(ROOT / "Dockerfile", ROOT, image)
    app = image / str(workdir).lstrip("/")
    assert (app / "pyproject.toml").is_file()
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(wheels), str(app)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("gledger_sandbox-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "gledger_sandbox/_data"
    assert f"{data}/spec/openapi.yaml" in names
    assert f"{data}/schemathesis.toml" in names
    assert {f"{data}/fixtures/merchant.yaml", f"{data}/fixtures/empty.yaml"} <= names
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "spec").rglob("*.yaml")}
    assert {f"{data}/{name}" for name in shipped} <= names
    assert "gledger_sandbox/cli.py" in names
    # The dashboard's page and scripts are package data: a wheel without them serves 404s.
    static = ROOT / "src/gledger_sandbox/api/static/dashboard"
    assert {f"gledger_sandbox/api/static/dashboard/{p.name}" for p in static.iterdir()} <= names


def test_the_sdist_holds_what_its_wheel_build_needs(tmp_path: Path) -> None:
    """``pip install gledger_sandbox-*.tar.gz`` builds the wheel from the sdist alone."""
    sdist = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert sdist.returncode == 0, sdist.stderr
    (archive,) = tmp_path.glob("gledger_sandbox-*.tar.gz")
    shutil.unpack_archive(archive, tmp_path / "unpacked")
    (source,) = (tmp_path / "unpacked").iterdir()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--wheel-dir", str(tmp_path / "wheels"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("gledger_sandbox-*.whl")
    assert "gledger_sandbox/_data/schemathesis.toml" in zipfile.ZipFile(wheel).namelist()
