"""Grant agreements (R2, R8): tranches, reviews, disbursements, refunds, R&D acceptance, closure."""
