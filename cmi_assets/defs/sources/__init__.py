"""Sources group: one raw_<agency> asset per agency spec, one dynamic partition per
landed extract file, with blocking schema and key checks."""
