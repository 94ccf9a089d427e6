"""Shim until the campaigns branch lands: the campaigns of a deployment (contract names only).

The default campaign is the top-level indicators.yaml + org.yaml; every folder
`campaigns_dir/<id>/` with a campaign.yaml adds one (its indicators.yaml, its org.yaml or the
shared one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.config import Settings

CAMPAIGN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class CampaignError(ValueError):
    pass


@dataclass(frozen=True)
class CampaignSpec:
    id: str
    title: str
    indicators_path: str
    org_path: str
    archived: bool = False
    admin_password_env: str = ""


def load_specs(settings: Settings) -> list[CampaignSpec]:
    """The default campaign first, then the folders in name order."""
    out = [CampaignSpec(settings.campaign, "", settings.indicators_path, settings.org_path)]
    root = Path(settings.campaigns_dir)
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if (p / "campaign.yaml").is_file()):
        if not CAMPAIGN_ID.match(folder.name):
            raise CampaignError(f"{folder}: 活动编号只能用小写字母、数字和连字符")
        meta = yaml.safe_load((folder / "campaign.yaml").read_text(encoding="utf-8")) or {}
        org = folder / "org.yaml"
        out.append(
            CampaignSpec(
                folder.name,
                str(meta.get("title", "")),
                str(folder / "indicators.yaml"),
                str(org if org.is_file() else settings.org_path),
                bool(meta.get("archived", False)),
                str(meta.get("admin_password_env", "")),
            )
        )
    return out
