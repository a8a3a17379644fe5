"""Fixed parameters of the synthetic generator: archetype shares, trial templates, hazards.

Every number that shapes the cohort lives here so that the manifest can report it verbatim.
Values are chosen to stay clear of the rule boundaries in docs/synthetic-data.md.
"""

from __future__ import annotations

GENERATOR_VERSION = "1.0.0"

EPOCH_HISTORY_START = "2012-01-01"  # psychiatric history starts on or after this date
BIRTH_YEARS = (1950, 2002)
MIN_AGE_AT_HISTORY_YEARS = 16

# Trial roles (one value per non-clozapine antipsychotic trial).
NONE, ADEQUATE, SHORT, LOW_DOSE, POOR_ADH, UNKNOWN_ADH, RESPONDING = range(7)
ROLE_NAMES = {
    ADEQUATE: "adequate_failed",
    SHORT: "short_failed",
    LOW_DOSE: "low_dose_failed",
    POOR_ADH: "poor_adherence_failed",
    UNKNOWN_ADH: "unknown_adherence_failed",
    RESPONDING: "responding_ongoing",
}
INADEQUATE_ROLES = (SHORT, LOW_DOSE, POOR_ADH, UNKNOWN_ADH)
X = -1  # placeholder in a template: an inadequate failed trial of the archetype's reason

# archetype -> (share, trs_status, [(weight, roles), ...])
ARCHETYPES: dict[str, tuple[float, str, list[tuple[float, tuple[int, ...]]]]] = {
    "schizoaffective": (
        0.05,
        "no_schizophrenia_diagnosis",
        [(0.6, (RESPONDING,)), (0.4, (ADEQUATE, ADEQUATE))],
    ),
    "bipolar": (
        0.04,
        "no_schizophrenia_diagnosis",
        [(0.6, (RESPONDING,)), (0.4, (ADEQUATE, ADEQUATE))],
    ),
    "untreated": (0.03, "not_trs", [(1.0, ())]),
    "responder": (0.14, "not_trs", [(0.8, (RESPONDING,)), (0.2, (SHORT, RESPONDING))]),
    "single_failed_trial": (
        0.10,
        "not_trs",
        [(0.7, (ADEQUATE, RESPONDING)), (0.3, (ADEQUATE,))],
    ),
    "late_responder": (0.05, "not_trs", [(1.0, (ADEQUATE, ADEQUATE, RESPONDING))]),
    "functional_ok": (0.05, "not_trs", [(1.0, (ADEQUATE, ADEQUATE))]),
    "pseudo_short_trial": (0.05, "pseudo_resistant", []),
    "pseudo_low_dose": (0.05, "pseudo_resistant", []),
    "pseudo_poor_adherence": (0.05, "pseudo_resistant", []),
    "pseudo_unknown_adherence": (0.05, "pseudo_resistant", []),
    "trs": (
        0.34,
        "trs",
        [
            (0.60, (ADEQUATE, ADEQUATE)),
            (0.15, (ADEQUATE, ADEQUATE, X)),
            (0.10, (X, ADEQUATE, ADEQUATE)),
            (0.15, (ADEQUATE, X, ADEQUATE)),
        ],
    ),
}
PSEUDO_TEMPLATES = [(0.4, (ADEQUATE, X)), (0.4, (X, ADEQUATE)), (0.2, (X, X))]
PSEUDO_REASON = {
    "pseudo_short_trial": SHORT,
    "pseudo_low_dose": LOW_DOSE,
    "pseudo_poor_adherence": POOR_ADH,
    "pseudo_unknown_adherence": UNKNOWN_ADH,
}

# Trial shapes (days, CPZ-eq mg/day). Boundaries: duration 42 d, CPZ 600 mg, PDC 80 %.
ADEQUATE_DAYS = (56, 270)
SHORT_DAYS = (14, 28)
HIGH_CPZ = (750, 900)  # ≥ 750 keeps the mean ≥ 600 even if a classifier counts gap days as 0
LOW_CPZ = (150, 420)
RESPONDING_CPZ = (300, 900)
GAP_BETWEEN_TRIALS = (35, 150)
GAP_BEFORE_CLOZAPINE = (35, 200)
LAI_SHARE = 0.20  # of adequate/responding trials whose drug has an LAI form
LAI_WITH_DISPENSINGS = 0.5
WITHIN_TRIAL_GAP_MAX = 3  # days between prescription rows of one trial (merge gap is 14)

# Clozapine.
CLOZAPINE_SHARE_OF_TRS = 0.70
CLOZAPINE_WITHOUT_TRS_SHARE = 0.05  # of not_trs + pseudo_resistant; drawn from pseudo patients
CLOZAPINE_STATUS_SHARES = {
    "titrating": 0.08,
    "trial_in_progress": 0.12,
    "inadequate_trial": 0.20,
    "responder": 0.30,
    "clozapine_resistant": 0.30,
}
DOSE_500_SHARE = 0.20  # of level-reaching statuses: no levels, dose ≥ 550 mg/day instead
LEVEL_HIGH = (400, 900)  # ng/mL, clear of 350 and of the µmol/L rounding
LEVEL_LOW = (120, 300)
DOSE_500_MG = (550, 575)
DOSE_GT_600_MG = (650, 800)
ADEQUATE_TRIAL_DAYS = 90

# Monitoring (us_rems_2015): (rule, first index, last index or None, period, offset, tolerance)
ANC_RULES = (
    ("mon_anc_1", 1, 26, 7, 0, 3),
    ("mon_anc_2", 1, 13, 14, 182, 4),
    ("mon_anc_3", 1, None, 28, 364, 7),
)
# us_rems_2015 MON-ANC-3: one window per calendar month (issue 13), not the 28-day grid above.
CALENDAR_MONTH_RULE = "mon_anc_3"
FULLY_ADHERENT_SHARE = 0.60
MISS_PROBABILITY = (0.02, 0.30)

# Adverse events: hazards per 1,000 person-years on clozapine, piecewise in days since start.
# AE-NEU ≈ 1 % and AE-MYO ≈ 1 % over the first year; others constant.
HAZARDS_PER_1000PY: dict[str, list[tuple[int, int | None, float]]] = {
    "AE-NEU": [(0, 28, 13.0), (28, 126, 30.0), (126, 365, 1.5), (365, None, 0.5)],
    "AE-MYO": [(7, 56, 75.0)],
    "AE-CMP": [(0, None, 1.0)],
    "AE-SEIZ": [(0, None, 30.0)],
    "AE-GI": [(0, None, 255.0)],  # 5 severe (K56) + 250 constipation (K59.0)
    "AE-MET": [(0, None, 40.0)],
    "AE-NMS": [(0, None, 0.5)],
    "AE-HEP": [(0, None, 10.0)],
    "AE-QT": [(0, None, 5.0)],
}
GI_SEVERE_FRACTION = 5.0 / 255.0
STOPPING_EVENTS = ("AE-NEU", "AE-MYO")
FIRST_ONLY_EVENTS = ("AE-NEU", "AE-MYO", "AE-MET", "AE-CMP", "AE-NMS")
RECURRENT_MIN_SEPARATION_DAYS = 180
PRE_CLOZAPINE_EVENT_SHARE = 0.05  # extra events off clozapine, relative to on-clozapine ones
PRE_CLOZAPINE_EVENT_TYPES = ("AE-SEIZ", "AE-GI", "AE-HEP")
RECHALLENGE_SHARE = 0.10

# Safety scenarios (shares of clozapine patients unless stated).
DOSE_GT_600_SHARE = 0.05
VALPROATE_SHARE_OF_HIGH_DOSE = 0.5
CYP1A2_SHARE = 0.03
BENZODIAZEPINE_SHARE = 0.10
PREGNANCY_SHARE_OF_ELIGIBLE = 0.02  # female clozapine patients aged 18–45
LACTATION_SHARE_OF_PREGNANT = 0.3
LAXATIVE_SHARE = 0.40

# Demographics.
DEATH_SHARE = 0.005
BEN_SHARE = 0.04
FEMALE_SHARE = 0.45
SEX_VARIANT_SHARE = 0.10
SITES = ("site_a", "site_b", "site_c", "site_d", "site_e")

# Noise rows (extra rows only).
NOISE_SHARES = {
    "duplicate_lab_rows": 0.003,
    "duplicate_prescription_rows": 0.002,
    "lab_impossible_date": 0.0002,
    "lab_unknown_patient": 0.0002,
    "anc_unit_foo": 0.0002,
    "anc_negative_value": 0.0001,
    "unknown_drug_prescriptions": 0.002,  # of non-clozapine patients
}

# The real world's mess (trscohort.synth.mess): share of rows rewritten the way hospital
# extracts write them (the pipeline must map them back); `generate(mess_share=0)` is clean.
MESS_SHARE = 0.10

# Assessment scores: clearly high / clearly low.
PANSS_HIGH, PANSS_LOW = (80, 110), (35, 58)
BPRS_HIGH, BPRS_LOW = (52, 72), (20, 33)
BPRS_PATIENT_SHARE = 0.20
CGI_PATIENT_SHARE = 0.50
GAF_PATIENT_SHARE = 0.25

# The generics trials are drawn from: the drugs of ../shared/reference-facts.md (the reference
# also lists rarely used drugs from the chlorpromazineR tables, left out of the story).
TRIAL_GENERICS = frozenset(
    [
        "amisulpride",
        "aripiprazole",
        "asenapine",
        "brexpiprazole",
        "cariprazine",
        "chlorpromazine",
        "flupentixol",
        "fluphenazine",
        "haloperidol",
        "iloperidone",
        "loxapine",
        "lurasidone",
        "olanzapine",
        "paliperidone",
        "perphenazine",
        "pimozide",
        "quetiapine",
        "risperidone",
        "sertindole",
        "sulpiride",
        "thioridazine",
        "trifluoperazine",
        "ziprasidone",
        "zuclopenthixol",
    ]
)
DRUG_POPULARITY = {
    "olanzapine": 10,
    "risperidone": 10,
    "aripiprazole": 9,
    "quetiapine": 8,
    "haloperidol": 6,
    "amisulpride": 5,
    "paliperidone": 4,
    "ziprasidone": 3,
    "lurasidone": 3,
    "zuclopenthixol": 2,
    "flupentixol": 2,
    "chlorpromazine": 2,
    "sulpiride": 2,
    "cariprazine": 2,
}
GENERIC_NAME_SHARE = 0.70
