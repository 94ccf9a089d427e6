"""Broken data files stop `make run` before anything starts, with one Chinese message naming
the file, the line and what is wrong: no traceback, no Redis, no process."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.runner import ROOT, MakeRun, free_port, listening_sockets


def _edit(name: str, old: str, new: str):
    def apply(path: Path) -> None:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return apply


def _line_of(name: str, needle: str) -> int:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def _binary(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 20)


ORG_DEPT = "  - name: 司法局"
ID12_LEVEL1 = "  - id: 12\n    level1: 政府职能依法全面履行\n"
CASES = {
    "indicators missing": ("indicators.yaml", None, "找不到数据文件", None),
    "org missing": ("org.yaml", None, "找不到数据文件", None),
    "indicators syntax": (
        "indicators.yaml",
        _edit("indicators.yaml", "  - id: 12\n", "  - id: 12\n   level1: [oops\n"),
        "indicators.yaml 第 {line} 行",
        ("indicators.yaml", "  - id: 12"),
    ),
    "org tab": (
        "org.yaml",
        _edit("org.yaml", ORG_DEPT, "\t- name: 司法局"),
        "org.yaml 第 {line} 行第 1 列：含有制表符（Tab），请改用空格缩进",
        ("org.yaml", ORG_DEPT),
    ),
    "indicators binary": (
        "indicators.yaml",
        _binary,
        "indicators.yaml 第 1 行：不是 UTF-8 文本",
        None,
    ),
    "org binary": ("org.yaml", _binary, "org.yaml 第 1 行：不是 UTF-8 文本", None),
    "indicators schema": (
        "indicators.yaml",
        _edit("indicators.yaml", "  - id: 12\n", "  - id: 12\n    colour: red\n"),
        "indicators.yaml 第 {line} 行：指标 12：有未知字段 'colour'（拼写是否有误？）",
        ("indicators.yaml", "  - id: 12"),
    ),
    "org schema": (
        "org.yaml",
        _edit(
            "org.yaml",
            "user_id: zhangsan, department: 司法局",
            "user_id: zhangsan, department: 司法厅",
        ),
        "org.yaml 第 {line} 行：members[0] 的字段「department」不对应任何部门：'司法厅'。",
        ("org.yaml", "user_id: zhangsan"),
    ),
    "indicators duplicate field": (
        "indicators.yaml",
        _edit("indicators.yaml", ID12_LEVEL1, ID12_LEVEL1 + "    level1: 重复\n"),
        "indicators.yaml 第 {line} 行第 5 列：同一处重复写了同一个字段（只能写一次）",
        ("indicators.yaml", "  - id: 12"),
    ),
    "org and indicators disagree": (
        "org.yaml",
        _edit("org.yaml", "  各镇: [镇]\n", ""),
        "org.yaml 与 indicators.yaml 不一致",
        None,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_broken_data_file_stops_make_run_with_one_message(case, tmp_path):
    name, breaks, expected, at = CASES[case]
    data = Path(tempfile.mkdtemp(prefix="duban-bad-"))
    try:
        files = {}
        for f in ("indicators.yaml", "org.yaml"):
            files[f] = tmp_path / f
            shutil.copy(ROOT / f, files[f])
        if breaks is None:
            files[name].unlink()
        else:
            breaks(files[name])
        if at:
            # the line the break is on, counted in the broken copy
            lines = files[name].read_text(encoding="utf-8").splitlines()
            expected = expected.format(line=_first_changed(ROOT / name, lines, at[1]))
        port = free_port()
        run = MakeRun(
            str(data), port, tmp_path / "logs",
            DUBAN_INDICATORS=str(files["indicators.yaml"]), DUBAN_ORG=str(files["org.yaml"]),
        )  # fmt: skip
        assert run.wait(timeout=60) == 2
        err = run.err
        assert expected in err, err
        assert err.count("督办没有启动") == 1 and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 3, err  # what happened, where, what to do
        assert "请改正后重新运行 make run" in err
        assert run.out == ""
        assert sorted(p.name for p in data.iterdir()) == []  # no Redis, no lock, no key
        assert listening_sockets(port) == 0
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _first_changed(original: Path, lines: list[str], anchor: str) -> int:
    """The first line of the broken copy that differs from the original (1-based)."""
    before = original.read_text(encoding="utf-8").splitlines()
    for i, (a, b) in enumerate(zip(before, lines, strict=False), 1):
        if a != b:
            return i
    raise AssertionError(f"nothing changed near {anchor!r}")
