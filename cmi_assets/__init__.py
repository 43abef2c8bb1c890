"""cmi_assets: linked, de-identified, quality-checked evidence about child maltreatment.

Domain libraries (`synthetic`, `sources`, `linkage`, `cohorts`, `prm`, `cfsr`,
`sqlmodels`, `storage`) import no Dagster; the Dagster definitions live in `defs/`.
"""
