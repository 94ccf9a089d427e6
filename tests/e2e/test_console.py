"""The terminal chat as a person (or a script) uses it: a real subprocess on the test Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def console(redis_url: str, lines: list[str], *args: str) -> list[str]:
    env = {**os.environ, "DUBAN_REDIS_URL": redis_url, "DUBAN_KEY_PREFIX": "console"}
    out = subprocess.run(
        [sys.executable, "-m", "bot.console", *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    # each reply is followed by one blank line
    return out.split("\n\n")[: len(lines)]


def test_console_script(redis_url, redis_client):
    member = console(
        redis_url,
        [
            "绑定 司法局",
            "我的任务",
            "提交 12 https://www.jinfeng.gov.cn/a.html https://www.jinfeng.gov.cn/b.html 双随机方案",
            "纸质 12 2019年执法案卷",
            "说明 12 我局2019年以来开展双随机抽查36次。",
            "完成 12",
            "撤销 12",
            "完成 12",
            "进度",
            "排行",
        ],
        "--user", "zhangsan", "--name", "张三",
    )  # fmt: skip
    assert "已绑定到**司法局**" in member[0]
    assert "司法局 · 共 67 项" in member[1]  # 71, less the bonus and deduction items
    assert "已收到第12项的 2 个链接" in member[2]
    assert "已登记第12项纸质材料「2019年执法案卷」" in member[3]
    assert "已保存第12项的报送说明" in member[4]
    assert "第12项已标记完成（材料 3 份）" in member[5]
    assert "已撤销第12项的「标记完成」" in member[6]
    assert "第12项已标记完成" in member[7]
    assert "司法局 进度：" in member[8] and "全区排名：第 1 /" in member[8]
    assert "1. 司法局" in member[9]

    office = console(
        redis_url,
        ["退回 12 司法局 请补充2020年抽查台账", "通过 12 司法局", "通过 12 司法局 确认", "总览"],
        "--user", "office", "--admin",
    )  # fmt: skip
    assert "已退回司法局第12项" in office[0]
    assert "退回后还没有重新标记完成" in office[1] and "通过 12 司法局 确认" in office[1]
    assert "已通过司法局第12项" in office[2]
    assert "全区总览" in office[3]

    again = console(redis_url, ["查看 12"], "--user", "zhangsan")
    assert "本部门（牵头）：已通过" in again[0]
