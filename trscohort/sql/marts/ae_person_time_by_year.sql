-- Events and days at risk (all episodes) per site, course start year, event and stratum of
-- every stratifier (the adverse-events page reads this, not the 22 million person-time rows
-- of 1,000,000 patients). No patient identifier.
{%- set cell = ('site', 'start_year', 'event_id', 'time_since_start', 'dose_band', 'age_band',
                'sex', 'course', 'exposure') %}
SELECT
    {{ cell | join(', ') }},
    sum(events) AS events,
    sum(days) AS days
FROM (
    SELECT *, year(segment_start - CAST(start_day AS INTEGER)) AS start_year
    FROM {{ ref('marts.clozapine_person_time') }}
    WHERE analysis = 'all_episodes'
) AS segments
GROUP BY {{ cell | join(', ') }}
