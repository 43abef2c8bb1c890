-- Reference areas: one row per postcode with its county FIPS code, child-protection
-- office and deprivation decile (1 least, 10 most deprived).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same postcode arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(postcode), '') as postcode,
        nullif(trim(county_fips), '') as county_fips,
        nullif(trim(office_code), '') as office_code,
        deprivation_decile,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.reference__areas
)

select
    postcode as record_key,
    *
from cleaned
qualify row_number() over (
    partition by postcode
    order by _extract_delivered_at desc, _extract_file desc
) = 1
