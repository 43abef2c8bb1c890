"""Linkage group: person records from the staged extracts, the Splink model, links at two
levels, the persistent person spine, linkage quality, the clerical review sample and the
de-identified event tables of the analysis zone."""
