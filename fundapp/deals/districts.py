"""Shanghai's districts in English, for English documents and pages (issue 15).

A company's district is typed in Chinese; a district not listed here is shown as typed."""

from __future__ import annotations

DISTRICTS_EN = {
    "浦东新区": "Pudong New Area", "黄浦区": "Huangpu District", "徐汇区": "Xuhui District",
    "长宁区": "Changning District", "静安区": "Jing'an District", "普陀区": "Putuo District",
    "虹口区": "Hongkou District", "杨浦区": "Yangpu District", "闵行区": "Minhang District",
    "宝山区": "Baoshan District", "嘉定区": "Jiading District", "金山区": "Jinshan District",
    "松江区": "Songjiang District", "青浦区": "Qingpu District", "奉贤区": "Fengxian District",
    "崇明区": "Chongming District",
}


def district_en(district: str | None) -> str:
    """The district's English name; "" when it is not one of Shanghai's districts."""
    name = (district or "").strip()
    return DISTRICTS_EN.get(name) or DISTRICTS_EN.get(name + "区", "")
