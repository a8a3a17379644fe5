"""The site vocabulary (mapping-file `concepts:`), unmapped source values and suggestions.

* `site`: parse and validate a site's own values -> project concepts (labs, drugs, diagnoses).
* `unmapped`: audit.unmapped_values, set-based in DuckDB, with fuzzy suggestions computed in
  Python over the distinct unmapped values only.
* `checks`: the run's "loud" vocabulary checks (a failure is a UsageError, warnings go to the
  run summary).
* `draft`: the commented concepts draft written by `trscohort vocab suggest`.
"""
