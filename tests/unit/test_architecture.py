"""The layering rules (README, For maintainers), checked by parsing imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "bot/catalog.py",
    "bot/org.py",
    "bot/progress.py",
    "bot/messages.py",
    "bot/commands.py",
    "bot/paste.py",
    "bot/chars.py",
    "bot/texts.py",
    "bot/records.py",
    "bot/review.py",
    "bot/rules.py",
    "bot/errors.py",
    "bot/workdays.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "handlers").glob("*.py")),
]
FORBIDDEN = {"flask", "redis", "rq", "requests", "werkzeug"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            names.add(node.module)
    return names


def test_core_imports_no_framework():
    for rel in PURE:
        bad = imports_of(ROOT / rel) & FORBIDDEN
        assert not bad, f"{rel} imports {bad}"


def test_only_the_composition_root_imports_the_web_package():
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py")]:
        if "bot/web" in str(path):
            continue
        names = imports_of(path)
        assert not any(n.startswith("bot.web") for n in names), path


def test_redis_is_spoken_only_by_the_store():
    """Nothing outside bot/store/ imports redis, not even the process entry points: they get
    their connection from bot.store.connection and catch bot.store.RedisError."""
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py"), ROOT / "app.py"]:
        rel = str(path.relative_to(ROOT))
        if "redis" in imports_of(path):
            assert rel.startswith("bot/store/"), rel


def test_the_store_areas_keep_their_lua_in_lua_files():
    """Every script is a .lua file of the package; no Python module of the store spells one."""
    for path in (ROOT / "bot" / "store").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "redis.call(" not in text, path.name


def test_the_audit_entry_and_the_notice_are_spelled_once():
    """Scripts write audit entries and notices through lua/shared.lua's helpers only."""
    for path in (ROOT / "bot" / "store" / "lua").glob("*.lua"):
        if path.name != "shared.lua":
            text = path.read_text(encoding="utf-8")
            assert "'actor'" not in text and "'mentions'" not in text, path.name


def test_handlers_name_no_platform():
    for path in (ROOT / "handlers").glob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        for platform in ("dingtalk", "wecom"):
            assert platform not in text, f"{path.name} mentions {platform}"


def test_the_admin_pages_and_the_api_act_through_the_rules_not_chat_sentences():
    """They call bot.rules (through bot.office and the services) with values whole: none of
    them spells a command for the chat dispatcher, which a name with a space would break."""
    for rel in ("bot/web/admin.py", "bot/web/api.py", "bot/office.py"):
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "dispatcher" not in used, rel
