"""The clozapine section of the run summary."""

from __future__ import annotations

from tests.test_clozapine_helpers import anc, build, rx, titrated
from trscohort.summary import clozapine_summary


def test_clozapine_summary_lines(tmp_path):
    labs = [anc("P1", -1, 2000), anc("P2", -1, 2000), *(anc("P1", day, 2000) for day in (7, 14))]
    prescriptions = [*titrated("P1"), *titrated("P2", until=19), rx("P2", 20, None, 650)]
    con = build(tmp_path, as_of=20, prescriptions=prescriptions, labs=labs)
    lines = clozapine_summary(con)
    text = "\n".join(lines)
    assert lines[0] == "Clozapine: 2 patients ever on clozapine"
    assert "  titrating" in text
    # MON-ANC-0: both have a baseline; MON-ANC-1 (windows centred on days 7 and 14): only P1
    assert any(line.split() == ["MON-ANC-0", "2", "of", "2", "100.0", "%"] for line in lines)
    assert any(line.split() == ["MON-ANC-1", "1", "of", "2", "50.0", "%"] for line in lines)
    assert any(line.split() == ["SAF-DOSE", "1"] for line in lines)
    assert any(line.split() == ["SAF-REC", "0"] for line in lines)
