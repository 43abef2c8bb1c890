-- Benefit spells: one row per spell, the client's identity, benefit type, start
-- and end, and the incapacity code (SUB substance use, MH other mental health).
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same spell_id arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(spell_id), '') as spell_id,
        nullif(trim(client_id), '') as client_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(middle_name), '') as middle_name,
        nullif(trim(surname), '') as surname,
        date_of_birth,
        nullif(upper(trim(gender)), '') as gender,
        nullif(upper(trim(benefit_type)), '') as benefit_type,
        spell_start,
        spell_end,
        nullif(upper(trim(incapacity_code)), '') as incapacity_code,
        nullif(trim(partner_client_id), '') as partner_client_id,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.benefits__spells
)

select
    spell_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by spell_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
