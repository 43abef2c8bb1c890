"""The synthetic world: a population with families, five agencies' extracts with
realistic identity noise, and a hidden ground truth (`truth/`) that only evaluation
assets and tests read."""
