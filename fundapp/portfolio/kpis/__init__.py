"""Quarterly KPI reports of portfolio companies and the dashboard against the 2026 targets."""
