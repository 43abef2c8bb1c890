"""Staging group: one asset per dbt_like_sql/ model, run in the identified zone."""
