"""The portfolio: grants (R2, R8), rounds (R3), conversions (R3-R6), holdings and exits (R7, R9),
performance and KPIs, one sub-package each. The fund and its policy versions: fundapp.fund."""
