"""Grants converted into equity (R3-R6): the pure engine (``engine``) and its database side."""
