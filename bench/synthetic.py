"""A synthetic campaign of N departments as data files, for the push and admin benchmarks.

`write_campaign(folder, n)` writes an indicators.yaml (the shipped indicators, their 责任单位
rewritten) and an org.yaml of N departments, each with a DingTalk custom robot of its own (加签
secret included) at `robot_base`. Every department holds `per_dept` assignments (3 lead, the
rest cooperating), spread over the indicators as bench/reminders.py spreads them, so the work
per department stays constant as N grows. The same N always gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import ROOT

LEADS_PER_DEPT = 3


def department_name(i: int) -> str:
    return f"部门{i:04d}"


def robot_token(i: int) -> str:
    return f"robot-{i:04d}"


def robot_secret(i: int) -> str:
    return f"SECbench{i:04d}0123456789abcdef"


def write_campaign(
    folder: Path, n: int, per_dept: int = 25, robot_base: str = "http://127.0.0.1:9"
) -> tuple[Path, Path]:
    """Write indicators.yaml and org.yaml for `n` departments into `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = yaml.safe_load((ROOT / "indicators.yaml").read_text(encoding="utf-8"))
    ids = [ind["id"] for ind in doc["indicators"]]
    lead: dict[int, list[str]] = {i: [] for i in ids}
    coop: dict[int, list[str]] = {i: [] for i in ids}
    names = [department_name(k) for k in range(n)]
    for k, name in enumerate(names):
        for j in range(per_dept):
            ind = ids[(k * 7 + j) % len(ids)]
            (lead if j < LEADS_PER_DEPT else coop)[ind].append(name)
    for ind in doc["indicators"]:
        i = ind["id"]
        if not lead[i]:  # every indicator needs a lead unit: the first cooperating, or the first
            lead[i] = [coop[i].pop(0)] if coop[i] else [names[0]]
        ind["units"] = {"lead": lead[i], "cooperate": coop[i]}
    org = {
        "departments": [
            {
                "name": name,
                "tags": ["部门"],
                "chats": [
                    {
                        "platform": "dingtalk",
                        "webhook": f"{robot_base}/robot/send?access_token={robot_token(k)}",
                        "secret": robot_secret(k),
                    }
                ],
            }
            for k, name in enumerate(names)
        ],
        "groups": {"各部门(单位)": ["部门"]},
        "admins": [{"platform": "console", "user_id": "admin"}],
        "admin_chats": [],
        "policy": {"self_bind": True},
    }
    indicators_path, org_path = folder / "indicators.yaml", folder / "org.yaml"
    indicators_path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    org_path.write_text(yaml.safe_dump(org, allow_unicode=True, sort_keys=False), "utf-8")
    return indicators_path, org_path
