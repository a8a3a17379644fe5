-- Every spelling a prescription may use (generic, brand, synonym) -> its drug concept.
SELECT DISTINCT TRIM(name) AS name, concept_id
FROM (
    SELECT concept_id, unnest(string_split(names, '|')) AS name FROM reference.antipsychotics
    UNION ALL
    SELECT concept_id, unnest(string_split(names, '|')) AS name FROM reference.comedications
) AS spellings
WHERE TRIM(name) <> ''
