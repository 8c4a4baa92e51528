"""Exits: team buy-backs (R7), exchange sales (R9), trade and IPO sales, liquidations."""
