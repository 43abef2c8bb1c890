"""One writer per agency layout (sources/specs/<agency>.yaml)."""
