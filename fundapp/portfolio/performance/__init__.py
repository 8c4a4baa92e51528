"""Portfolio performance: XIRR and multiples (pure), the figures as of a date, charts, PME."""
