"""The identity fields a clerical reviewer sees side by side (clerical.review_pairs), kept
apart from clerical.py so the Dagster definitions can declare the review file's columns
without importing Splink."""

REVIEW_FIELDS = (
    "role",
    "given_name",
    "middle_name",
    "family_name",
    "dob",
    "sex",
    "parent1_given",
    "parent2_given",
    "postcode",
)
