-- Birth registrations: one row per registration number, naming the child and
-- both parents (father blank when not listed), with birth weight, gestation,
-- plurality and multi-response ethnicity.
-- Strings are trimmed (blank -> null) and codes upper-cased; record_key joins the key
-- columns with "|". When the same reg_number arrived in more than one extract file (a
-- corrected re-delivery), the most recently delivered file wins (then the later file
-- name). Provenance columns (`_extract_*`, `_row_number`, `_loaded_at`) are kept.
with cleaned as (
    select
        nullif(trim(reg_number), '') as reg_number,
        reg_date,
        nullif(trim(child_given_names), '') as child_given_names,
        nullif(trim(child_family_name), '') as child_family_name,
        child_dob,
        nullif(upper(trim(child_sex)), '') as child_sex,
        birth_weight_g,
        gestation_weeks,
        plurality,
        nullif(upper(regexp_replace(trim(ethnicity), '\s*;\s*', ';', 'g')), '') as ethnicity,
        nullif(trim(mother_given_names), '') as mother_given_names,
        nullif(trim(mother_family_name), '') as mother_family_name,
        nullif(trim(mother_birth_family_name), '') as mother_birth_family_name,
        mother_dob,
        nullif(trim(father_given_names), '') as father_given_names,
        nullif(trim(father_family_name), '') as father_family_name,
        father_dob,
        previous_children_same_parents,
        nullif(trim(address_line), '') as address_line,
        nullif(trim(postcode), '') as postcode,
        _extract_file,
        _extract_sha256,
        _extract_delivered_at,
        _row_number,
        _loaded_at
    from raw.births__registrations
)

select
    reg_number as record_key,
    *
from cleaned
qualify row_number() over (
    partition by reg_number
    order by _extract_delivered_at desc, _extract_file desc
) = 1
