"""What `make run` checks before it starts anything: the settings and the data files.

Each problem becomes one Chinese message naming the file, the line and what is wrong, so that a
broken `indicators.yaml` or `org.yaml` stops the start with that message instead of a Python
traceback from every process after Redis and the children were started.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.campaigns import CAMPAIGN_FILE, CampaignError, load_all
from bot.catalog import CatalogError, load_catalog
from bot.config import Settings
from bot.org import OrgError, build_assignments, load_org

# PyYAML's syntax problems, by a phrase of its message, in words an office colleague can act on.
_YAML_PROBLEMS = (
    (
        "mapping values are not allowed",
        "这里不能再出现「:」（冒号后要空一格；文字里含冒号时请加引号）",
    ),
    ("found character '\\t'", "含有制表符（Tab），请改用空格缩进"),
    ("expected <block end>", "缩进不一致（同一层的行要对齐）"),
    ("could not find expected ':'", "缺少冒号「:」"),
    ("while scanning a quoted scalar", "引号没有闭合"),
    ("expected ',' or ']'", "方括号「[ ]」没有闭合"),
    ("expected ',' or '}'", "花括号「{ }」没有闭合"),
    ("found undefined alias", "引用了未定义的别名（*名称）"),
    ("found duplicate anchor", "锚点（&名称）重复"),
    ("found duplicate key", "同一处重复写了同一个字段（只能写一次）"),
)

# The loaders' field problems (bot/yamlfields.py and its callers), in Chinese.
_FIELD_PROBLEMS = (
    ("is missing", "缺失"),
    ("must not be empty", "不能为空"),
    ("must be a string", "应为文字"),
    ("must be a non-empty string", "应为非空文字"),
    ("must be a date (YYYY-MM-DD), not a date and time", "应为日期（YYYY-MM-DD），不要带时间"),
    ("must be a date (YYYY-MM-DD)", "应为日期（YYYY-MM-DD）"),
    ("must be an integer", "应为整数"),
    ("must be a positive integer", "应为正整数"),
    ("must be true or false", "应为 true 或 false"),
    ("must be a non-empty list of strings", "应为非空的文字列表"),
    ("must be a list of non-empty strings", "应为非空文字组成的列表"),
    ("must be a non-empty list", "应为非空列表"),
    ("must be a list", "应为列表"),
    ("must contain only non-empty strings", "只能包含非空文字"),
    ("must be a mapping", "应为「名称: 值」形式的一组字段"),
)

HINT = "请改正后重新运行 make run。"


# ... and those that name a value.
_FIELD_PATTERNS = (
    (re.compile(r"names no department: (.+)"), r"不对应任何部门：\1"),
    (re.compile(r"(.+) is listed twice"), r"重复列出了 \1"),
    (re.compile(r"(.+) is used twice"), r"\1 重复使用"),
    (re.compile(r"must be one of (.+), not (.+)"), r"应为 \1 之一，现在是 \2"),
    (re.compile(r"repeats (.+), already used by (.+)"), r"\1 与\2重复"),
)


def _zh_field_problem(problem: str) -> str:
    for en, zh in _FIELD_PROBLEMS:
        if problem == en:
            return zh
    for pattern, zh in _FIELD_PATTERNS:
        if pattern.fullmatch(problem):
            return pattern.sub(zh, problem)
    if problem.startswith("unknown field "):
        return f"有未知字段 {problem.removeprefix('unknown field ')}（拼写是否有误？）"
    return problem  # a specific problem (names a value): as the loader says it


def _line_of_position(text: bytes, position: int) -> int:
    return text[:position].count(b"\n") + 1


def describe(path: Path, err: BaseException) -> str:
    """One line: the file, the line where known, and what is wrong."""
    name = path.name
    if isinstance(err, FileNotFoundError):
        return f"找不到数据文件 {path}（可用 DUBAN_INDICATORS / DUBAN_ORG 指定其位置）。"
    if isinstance(err, IsADirectoryError | PermissionError):
        return f"无法读取数据文件 {path}：{err.strerror}。"
    if isinstance(err, UnicodeDecodeError):
        line = _line_of_position(err.object, err.start)
        return f"{name} 第 {line} 行：不是 UTF-8 文本（是否误放了二进制文件或其他编码的文件？）。"
    cause = err.__cause__ if isinstance(err, CatalogError | OrgError) else err
    if isinstance(cause, yaml.reader.ReaderError):
        line = _line_of_position(path.read_bytes(), cause.position)
        return f"{name} 第 {line} 行：含有文本中不能出现的字符（是否误放了二进制文件？）。"
    if isinstance(cause, yaml.MarkedYAMLError):
        mark = cause.problem_mark or cause.context_mark
        text = f"{cause.context or ''} {cause.problem or ''}"
        what = next((zh for en, zh in _YAML_PROBLEMS if en in text), None)
        what = what or f"YAML 格式有误（{(cause.problem or '').strip()}）"
        where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        return f"{name} {where}：{what}。"
    line = getattr(err, "line", None)
    at = f"{name} 第 {line} 行" if line else name
    if getattr(err, "where", None) is not None:
        place = err.where.removeprefix(f"{name}: ").removeprefix(name)
        problem = _zh_field_problem(err.problem)
        if err.field:
            subject = f"{place} 的字段「{err.field}」" if place else f"字段「{err.field}」"
            return f"{at}：{subject}{problem}。"
        return f"{at}：{place}：{problem}。" if place else f"{at}：{problem}。"
    return f"{at}：{str(err).removeprefix(f'{name}: ')}。"


def data_file_problem(settings: Settings) -> str | None:
    """None when indicators.yaml and org.yaml load and agree; else the message to print."""
    catalog = org = None
    for path, load in ((settings.indicators_path, load_catalog), (settings.org_path, load_org)):
        try:
            loaded = load(path)
        except (OSError, UnicodeDecodeError, CatalogError, OrgError) as e:
            return f"督办没有启动：数据文件有误。\n  {describe(Path(path), e)}\n{HINT}"
        if load is load_catalog:
            catalog = loaded
        else:
            org = loaded
    try:
        build_assignments(catalog, org)
    except OrgError as e:
        return (
            f"督办没有启动：{Path(settings.org_path).name} 与 {Path(settings.indicators_path).name} "
            f"不一致。\n  {e}（请在 org.yaml 的部门或 groups 中补上）。\n{HINT}"
        )
    return campaigns_problem(settings)


def campaigns_problem(settings: Settings) -> str | None:
    """None when every campaign folder (DUBAN_CAMPAIGNS_DIR) loads; else the message naming the
    campaign, the file and the row."""
    try:
        load_all(settings)
    except CampaignError as e:
        if e.cause is not None and e.path is not None and e.path.name != CAMPAIGN_FILE:
            detail = describe(e.path, e.cause)
            if (
                isinstance(e.cause, OrgError)
                and e.cause.__cause__ is None
                and not hasattr(e.cause, "where")
            ):
                detail = str(e)  # the table and the roster disagree: said whole
        else:
            detail = str(e)
        where = f"（{e.path}）" if e.path else ""
        return f"督办没有启动：督办活动「{e.campaign}」有误{where}。\n  {detail}\n{HINT}"
    return None
