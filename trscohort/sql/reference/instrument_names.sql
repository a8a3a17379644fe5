-- Assessment instrument spellings -> canonical instrument with its valid score range.
SELECT DISTINCT TRIM(n.name) AS name, i.instrument, i.min_score, i.max_score
FROM (SELECT instrument, unnest(string_split(names, '|')) AS name FROM reference.assessment_instruments) AS n
JOIN reference.assessment_instruments AS i USING (instrument)
WHERE TRIM(n.name) <> ''
