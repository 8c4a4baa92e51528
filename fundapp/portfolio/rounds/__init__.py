"""Financing rounds as reported: investors, evidence documents and their R3 checks."""
