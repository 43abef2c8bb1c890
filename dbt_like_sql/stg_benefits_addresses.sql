-- Benefit clients' address history: one row per address record, effective from
-- its date (the address-change marker counts these; NZ study, Box 1).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same address_id arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(address_id), '') as address_id,
        nullif(trim(client_id), '') as client_id,
        nullif(trim(address_line), '') as address_line,
        nullif(trim(postcode), '') as postcode,
        effective_from,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.benefits__addresses
)

select
    address_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by address_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
