"""Holdings: follow-on investments, income, valuation marks, filed appraisals and cash flows."""
