"""The performance pages' and quarterly report's charts, drawn by fundapp.charts."""

from __future__ import annotations

from fundapp.charts import bar_chart_svg, line_chart_svg

# Chart labels per language (Chinese, English); "both" puts them side by side.
CHART_TEXT = {
    "nav": ("净资产值（NAV）走势", "NAV over time"),
    "j_curve": ("J 曲线：累计净现金流", "J-curve: cumulative net cash flow"),
    "tvpi": ("各年份 TVPI", "TVPI by vintage"),
    "wan": ("万元", "CNY 10,000"),
    "quarter_end": ("季末", "Quarter end"),
    "vintage": ("年份（首次投入年度）", "Vintage (year of first investment)"),
    "multiple": ("倍数（x）", "Multiple (x)"),
    "no_data": ("暂无数据", "no data"),
    "missing": ("无", "n/a"),
}


def _text(key: str, language: str) -> str:
    zh, en = CHART_TEXT[key]
    return zh if language == "zh" else en if language == "en" else f"{zh} {en}"


def performance_charts(summary: dict, language: str | None = None, *, width: int = 640,
                       height: int = 260) -> dict[str, str]:
    """The three charts of a performance summary: NAV, J-curve (both in 万元), TVPI by vintage.

    `language` is "zh", "en" or "both"; by default the reader's locale. A PDF asks for a
    narrower canvas so the 11 px text stays legible once the chart is scaled to the page.
    """
    if language is None:
        from flask_babel import get_locale

        try:
            language = "zh" if str(get_locale() or "en").startswith("zh") else "en"
        except RuntimeError:
            language = "en"

    def t(key: str) -> str:
        return _text(key, language)

    series = summary["series"]
    return {
        "nav": line_chart_svg(series["nav"], title=f'{t("nav")}（{t("wan")}）'
                              if language == "zh" else f'{t("nav")} ({t("wan")})',
                              y_label=t("wan"), x_label=t("quarter_end"), unit="wan",
                              no_data=t("no_data"), width=width, height=height),
        "j_curve": line_chart_svg(series["cumulative_net_cash_flow"],
                                  title=f'{t("j_curve")}（{t("wan")}）' if language == "zh"
                                  else f'{t("j_curve")} ({t("wan")})',
                                  y_label=t("wan"), x_label=t("quarter_end"), unit="wan",
                                  no_data=t("no_data"), width=width, height=height),
        "tvpi_by_vintage": bar_chart_svg([(str(v), t_) for v, t_ in series["tvpi_by_vintage"]],
                                         title=t("tvpi"), reference=1, reference_label="1.0x",
                                         y_label=t("multiple"), x_label=t("vintage"),
                                         no_data=t("no_data"), missing=t("missing"),
                                         width=width, height=height),
    }
