-- Local test names (lowercase, single-spaced) -> canonical analyte.
SELECT DISTINCT TRIM(name) AS name, analyte
FROM (SELECT analyte, unnest(string_split(names, '|')) AS name FROM reference.lab_analytes) AS n
WHERE TRIM(name) <> ''
