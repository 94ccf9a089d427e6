"""Nothing in the repository reads a file outside it: no tracked file names a path of the
development machine or the shared folder next to the checkout, so `make test` passes on any
machine from a fresh clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Roots of a developer's or a build machine's file system (not system paths such as
# /usr/bin/chromium or /proc, which are the same everywhere), and the folder beside the checkout
# in any spelling: the parent folder's "shared" as a relative path or as ROOT.parent / "shared".
OUTSIDE = re.compile(
    r"""(?<![\w.])/(?:work|home|root|Users|mnt|srv)/"""
    r"""|\.\./shared\b"""
    r"""|\.parent\s*/\s*["']shared["']"""
    r"""|[A-Za-z]:\\\\(?:Users|work)"""
)


SKIP_DIRS = {".git", ".venv", "var", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}


# The protocol notes the platform code was first written from live outside the repository; code
# cites the vendors' documents by URL instead, and bot/platforms/README.md keeps what maintainers
# need. The shared folder is matched by OUTSIDE too; both are listed so the message names the rule.
FOREIGN_NOTES = re.compile(r"(?:platforms|product|architecture)\.md|\.\./shared")


def tracked_files() -> list[Path]:
    """`git ls-files` (tracked files and new ones not ignored, so a file about to be committed is
    checked too); in a copy without git, every file but the ignored folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        return [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts[:-1])
        ]


def lines_matching(pattern: re.Pattern[str], files: list[Path]) -> list[str]:
    """`path:line: text` of every line of these files (but this one) that the pattern finds."""
    hits = []
    for path in files:
        if path.suffix in (".svg", ".png", ".ico") or not path.is_file():
            continue
        if path == Path(__file__).resolve():
            continue  # the patterns above
        text = path.read_text(encoding="utf-8", errors="replace")
        for no, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:100]}")
    return hits


def test_no_tracked_file_names_a_path_outside_the_repository():
    files = tracked_files()
    assert any(p.name == "pyproject.toml" for p in files)  # the listing sees this checkout
    hits = lines_matching(OUTSIDE, files)
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)


def test_no_file_cites_the_protocol_notes_outside_the_repository():
    hits = lines_matching(FOREIGN_NOTES, tracked_files())
    assert not hits, (
        "cite the vendor's documentation URL (see bot/platforms/README.md) instead of:\n"
        + "\n".join(hits)
    )


def test_no_tracked_link_leads_outside_the_repository():
    """A symbolic link is tracked as its target's path (mode 120000): one to another checkout's
    .venv was once committed by accident and opened nothing on any other machine."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-s", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return  # a copy without git: nothing is tracked
    outside = []
    for entry in filter(None, out.split("\0")):
        meta, _, name = entry.partition("\t")
        mode, blob, _ = meta.split()
        if mode != "120000":
            continue
        target = subprocess.run(
            ["git", "cat-file", "blob", blob], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        resolved = ((ROOT / name).parent / target).resolve()
        if not resolved.is_relative_to(ROOT.resolve()):
            outside.append(f"{name} -> {target}")
    assert not outside, "links outside the repository: " + ", ".join(outside)


# The spellings the patterns must catch, assembled here so that this file holds none of them.
SHARED = ".." + "/shared"
MACHINE = "/" + "work" + "/shared"


def test_the_pattern_catches_each_spelling():
    for bad in (
        f'Path("{MACHINE}/docs/vectors/wecom_vectors.json")',
        f"see {SHARED}/docs/architecture.md",
        'ROOT.parent / "shared" / "seed"',
        "open('/home/dev/duban/x.json')",
    ):
        assert OUTSIDE.search(bad), bad
    for fine in ("/usr/bin/chromium", "/proc/net/tcp", "tests/fixtures/wecom_vectors.json"):
        assert not OUTSIDE.search(fine), fine
    for bad in ("(platforms.md §2.3)", f"see {SHARED}/docs"):
        assert FOREIGN_NOTES.search(bad), bad
    for fine in ("bot/platforms/README.md", "bot/platforms/wecom.py"):
        assert not FOREIGN_NOTES.search(fine), fine
