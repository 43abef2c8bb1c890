-- Corrections sentences: one row per sentence, custodial or community, with the
-- offence's violence category and the offender's identity and aliases.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same sentence_id arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(sentence_id), '') as sentence_id,
        nullif(trim(offender_id), '') as offender_id,
        nullif(trim(surname), '') as surname,
        nullif(trim(given_names), '') as given_names,
        date_of_birth,
        nullif(upper(trim(gender)), '') as gender,
        nullif(trim(aliases), '') as aliases,
        nullif(upper(trim(sentence_type)), '') as sentence_type,
        nullif(upper(trim(offence_category)), '') as offence_category,
        sentence_start,
        sentence_end,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.corrections__sentences
)

select
    sentence_id as record_key,
    *
from cleaned
qualify row_number() over (
    partition by sentence_id
    order by _extract_delivered_at desc, _extract_file desc
) = 1
