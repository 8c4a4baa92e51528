"""The park's industry taxonomy (sector codes are stable; labels in both languages)."""

from __future__ import annotations

# code -> (Chinese, English). A dotted code belongs to the group before the dot.
SECTORS: dict[str, tuple[str, str]] = {
    "fintech": ("金融科技", "Fintech"),
    "fintech.robo_advice": ("智能投顾", "Robo-advice"),
    "fintech.insurtech": ("保险科技", "Insurtech"),
    "fintech.mobile_finance": ("移动金融", "Mobile finance"),
    "clinical": ("临床研究服务", "Clinical research services"),
    "clinical.cro": ("合同研究组织（CRO）", "Contract research organisation (CRO)"),
    "clinical.smo": ("临床现场管理组织（SMO）", "Site management organisation (SMO)"),
    "bci": ("脑机接口", "Brain-computer interface"),
    "ai": ("人工智能", "Artificial intelligence"),
    "robotics": ("机器人", "Robotics"),
    "robotics.humanoid": ("人形机器人", "Humanoid robots"),
    "robotics.special": ("特种机器人", "Special-purpose robots"),
    "metaverse": ("元宇宙", "Metaverse"),
    "digital": ("数字技术", "Digital technology"),
    "life_health": ("生命健康", "Life and health"),
    "semiconductors": ("集成电路", "Integrated circuits"),
}


def sector_label(code: str, locale: str) -> str:
    zh, en = SECTORS.get(code, (code, code))
    return zh if locale == "zh" else en


def is_sector(code: str) -> bool:
    return code in SECTORS
