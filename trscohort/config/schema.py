"""The declared type and allowed range of every configuration key (pydantic v2, strict).

`defaults.yaml` holds the values; this module holds what each value may be. The merged config
(defaults + the user's file) is validated before a run starts, and a value of the wrong type or
outside its range is one line naming the key (`config: trs.cgi_s_impaired: expected a whole
number`). Validated numbers, booleans and dates are what reach the SQL templates, rendered as
typed literals (`trscohort.models`); every string a template can see is an enumeration or a
code matching a strict pattern, so no free text reaches SQL.

Declaring a key is one line in its section's class, with the rule id as a comment:

    min_trial_days: integer(1, 365)  # TRS-3

The value itself goes into `defaults.yaml`. Every field is required here (no defaults in this
file), so a key in `defaults.yaml` that is not declared, or declared but missing from
`defaults.yaml`, fails `tests/security/test_config_schema.py` with the list of keys to fix.
A new section is a class here plus one field on `Settings`.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

# --------------------------------------------------------------------------- value types


def integer(low: int, high: int) -> Any:
    """A whole number in [low, high] (YAML 42; not 42.0, "42" or true)."""
    return Annotated[int, Field(ge=low, le=high)]


def _integral_as_int(value: float) -> float | int:
    # 600 stays 600 (not 600.0): numbers also appear inside the reasons' text.
    return int(value) if float(value).is_integer() else value


def number(low: float, high: float, *, above_low: bool = False) -> Any:
    """A finite number in [low, high] (or (low, high] with above_low); integers stay integers."""
    bound = {"gt": low} if above_low else {"ge": low}
    return Annotated[
        float, Field(le=high, allow_inf_nan=False, **bound), AfterValidator(_integral_as_int)
    ]


def code(pattern: str) -> Any:
    """A short code matching `pattern` (anchored), safe to place inside an SQL string literal."""
    return Annotated[str, StringConstraints(pattern=pattern, max_length=64)]


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value  # reported as "expected a date"
    return value


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    Field(ge=dt.date(1800, 1, 1), le=dt.date(2100, 12, 31)),
]


def _increasing(values: list) -> list:
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError("must be in increasing order without repeats")
    return values


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


def increasing(item: Any, *, min_length: int = 1, max_length: int = 50) -> Any:
    return Annotated[
        list[item], Field(min_length=min_length, max_length=max_length), AfterValidator(_increasing)
    ]


def unique(item: Any, *, min_length: int = 0, max_length: int = 50) -> Any:
    return Annotated[
        list[item], Field(min_length=min_length, max_length=max_length), AfterValidator(_unique)
    ]


Days = integer(0, 3650)
Weeks = integer(0, 520)
Months = integer(0, 120)
Pct = number(0, 100)
DoseMg = number(0, 2000, above_low=True)
AncPerUl = number(0, 100_000)
Name = code(r"^[a-z][a-z0-9_]*$")  # profile, category, component and analyte names
EventId = code(r"^AE-[A-Z]+$")
MonitoringRule = code(r"^MON-[A-Z]+(-[0-9]+)?$")
AncRule = code(r"^MON-ANC-[0-9]+$")
# strptime formats: directives and separators only (the macro also doubles any quote).
DateFormat = Annotated[str, StringConstraints(pattern=r"^[%A-Za-z0-9 :./,_+-]+$", max_length=40)]
Tolerance = Literal["weekly", "biweekly", "monthly", "quarterly", "annual"]
CpzMethod = Literal["gardner2010", "leucht2016", "leucht2020", "who_ddd"]
ConceptId = integer(1, (1 << 31) - 1)  # an OMOP concept id


class Section(BaseModel):
    """Strict: no coercion of text to numbers, no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _ordered(model: BaseModel, *names: str) -> None:
    """Raise if the named fields are not in non-decreasing order (e.g. a min above its max)."""
    values = [getattr(model, n) for n in names]
    for (a, va), (b, vb) in zip(
        zip(names, values, strict=True), zip(names[1:], values[1:], strict=True), strict=False
    ):
        if va > vb:
            raise ValueError(f"{a} ({va}) must not exceed {b} ({vb})")


# --------------------------------------------------------------------------- sections


class Ingest(Section):
    date_formats: Annotated[list[DateFormat], Field(min_length=1, max_length=30)]
    earliest_plausible_date: IsoDate
    cpz_methods: unique(CpzMethod, min_length=1)  # TRS-4
    # LAI (TRS-4, TRS-5): a daily dose above the labelled maximum x this is a per-injection dose.
    lai_max_daily_multiple: number(0, 100, above_low=True)
    max_interval_days: integer(1, 3650)  # LAI dose_mg / interval_days
    dose_agreement_tolerance_pct: Pct  # daily_dose_mg vs dose_mg / interval_days
    # A CSV line longer than this is quarantined as "line too long" (and still counted).
    max_line_bytes: integer(1024, 1 << 30)
    # Mapping `file:` entries may point outside the input folder (absolute or ../ paths).
    allow_files_outside_input: bool
    # An extract whose fingerprint (file sha256, config, mapping, reference, code) the previous
    # warehouse holds is copied from it, not ingested again (issue 17, daily refresh).
    reuse_unchanged_extracts: bool


class Vocabulary(Section):
    fail_on_clozapine_without_anc: bool  # MON-ANC: no ANC recognised is a failed run
    suggest_max_values: integer(0, 1_000_000)
    suggest_min_score: Pct
    looks_like_min_score: Pct


class Trs(Section):
    include_schizoaffective: bool  # TRS-1
    episode_merge_gap_days: integer(0, 365)  # TRS-2
    count_polypharmacy_trials: bool  # TRS-2
    renewal_overlap_days: integer(0, 365)  # TRS-2, TRS-4
    min_trial_days: integer(1, 365)  # TRS-3
    min_cpz_equivalent_mg: DoseMg  # TRS-4
    min_adherence_pct: Pct  # TRS-5
    failure_window_days_before_end: integer(0, 365)  # TRS-2
    failure_window_days_after_end: integer(0, 365)  # TRS-2
    min_failed_adequate_trials: integer(1, 10)  # TRS-6
    require_different_classes: bool  # TRS-6
    panss_total_persistent: integer(30, 210)  # TRS-7 (PANSS total 30-210)
    bprs_total_persistent: integer(18, 168)  # TRS-7 (BPRS-18 18-126, BPRS-24 24-168)
    cgi_s_impaired: integer(1, 7)  # TRS-8 (CGI-S 1-7)
    gaf_sofas_impaired: integer(1, 100)  # TRS-8 (GAF / SOFAS 1-100)


class Clozapine(Section):
    titration_start_mg: number(0, 200, above_low=True)  # CLZ-1
    titration_step_min_mg: number(0, 300, above_low=True)  # CLZ-1
    titration_step_max_mg: number(0, 300, above_low=True)  # CLZ-1
    titration_target_min_mg: number(0, 900, above_low=True)  # CLZ-1
    titration_target_max_mg: number(0, 900, above_low=True)  # CLZ-1
    titration_days: integer(1, 180)  # CLZ-1
    therapeutic_dose_min_mg: number(0, 1200, above_low=True)  # CLZ-2
    therapeutic_dose_max_mg: number(0, 1200, above_low=True)  # CLZ-2
    max_dose_mg: number(0, 1200, above_low=True)  # CLZ-2
    therapeutic_level_ng_ml: number(0, 5000, above_low=True)  # CLZ-3
    therapeutic_level_occasions: integer(1, 10)  # CLZ-3
    therapeutic_level_min_days_apart: integer(0, 365)  # CLZ-3
    stable_dose_days: integer(0, 180)  # CLZ-3
    dose_without_levels_mg: number(0, 1200, above_low=True)  # CLZ-4
    adequate_trial_days: integer(1, 730)  # CLZ-5
    umol_per_l_to_ng_ml: number(0, 1000, above_low=True)  # CLZ-7
    titrating_max_days: integer(0, 730)  # CLZ-1, CLZ-3
    status_without_assessment: Literal["responder", "clozapine_resistant"]  # CLZ-6
    dispensings_extend_exposure: bool
    course_max_gap_days: integer(0, 365)  # CLZ-5: re-titration threshold between courses
    require_levels_maintained: bool  # CLZ-5

    @model_validator(mode="after")
    def check_order(self):
        _ordered(self, "titration_step_min_mg", "titration_step_max_mg")
        _ordered(self, "titration_target_min_mg", "titration_target_max_mg")
        _ordered(self, "therapeutic_dose_min_mg", "therapeutic_dose_max_mg", "max_dose_mg")
        return self


class WindowTolerance(Section):
    weekly: Days
    biweekly: Days
    monthly: Days
    quarterly: Days
    annual: Days


class ScheduleStep(Section):
    rule_id: AncRule
    every_days: integer(1, 365)
    until_week: integer(1, 520) | None
    tolerance: Tolerance
    # MON-ANC-3 (us_rems_2015): one result per calendar month instead of a fixed grid
    calendar_month: bool = False


class Monitoring(Section):
    profile: Name
    baseline_anc_days_before: integer(0, 365)  # MON-ANC-0
    baseline_anc_min_per_ul: AncPerUl  # MON-ANC-0
    baseline_anc_min_per_ul_ben: AncPerUl  # MON-ANC-0
    window_tolerance_days: WindowTolerance
    interruption_gap_days: integer(0, 365)
    restart_schedule_after_interruption: bool
    restart_schedule_after_days_off: integer(1, 3650)  # MON-ANC-0..3
    profiles: Annotated[
        dict[Name, Annotated[list[ScheduleStep], Field(min_length=1, max_length=20)]],
        Field(min_length=1, max_length=20),
    ]  # MON-ANC-1..3
    myocarditis_screen_weeks: integer(0, 52)  # MON-CV-2
    weight_weeks: increasing(Weeks)  # MON-MET-1
    weight_then_every_weeks: integer(1, 520)  # MON-MET-1
    metabolic_months: increasing(Months)  # MON-MET-2
    metabolic_then_every_months: integer(1, 120)  # MON-MET-2
    lft_every_months: integer(1, 120)  # MON-LFT-1
    baseline_days_before: integer(0, 365)  # MON-CV-1, MON-MET-1/2, MON-LFT-1
    level_window_days: integer(0, 365)  # MON-LVL-1
    tests: dict[
        MonitoringRule,
        dict[Name, Annotated[list[Name], Field(min_length=1, max_length=20)]],
    ]  # MON-*

    @model_validator(mode="after")
    def check_profile(self):
        if self.profile not in self.profiles:
            raise ValueError(
                f"profile '{self.profile}' is not one of profiles: {sorted(self.profiles)}"
            )
        return self


class Anc(Section):
    normal_min: AncPerUl
    mild_min: AncPerUl
    moderate_min: AncPerUl
    ben_normal_min: AncPerUl

    @model_validator(mode="after")
    def check_order(self):
        _ordered(self, "moderate_min", "mild_min", "normal_min")
        _ordered(self, "moderate_min", "ben_normal_min")
        return self


class AdverseEvents(Section):
    events: unique(EventId, min_length=1)
    neutropenia_anc_below_per_ul: AncPerUl  # AE-NEU
    myocarditis_crp_mg_l: number(0, 1000)  # AE-MYO
    myocarditis_weeks: integer(1, 104)  # AE-MYO
    myocarditis_lab_pair_days: integer(0, 90)  # AE-MYO
    hba1c_diabetes_mmol_mol: number(0, 200)  # AE-MET
    alt_uln_multiple: number(0, 100, above_low=True)  # AE-HEP
    alt_uln_if_missing_u_l: number(0, 1000, above_low=True)  # AE-HEP
    qtc_ms: number(300, 800)  # AE-QT
    episode_gap_days: Days
    once_per_patient: unique(EventId)
    recovery_anc_per_ul: AncPerUl  # AE-NEU: an ANC at or above it ends an episode
    grace_period_days: integer(0, 365)  # time at risk after a stop
    grace_period_sensitivity_days: unique(integer(0, 365))
    follow_up_start_day: integer(0, 1)  # day 0 is baseline; follow-up starts on day 1
    new_user_washout_days: integer(0, 3650)
    new_course_gap_days: integer(0, 3650)  # a longer gap starts a rechallenge course
    time_since_start_weeks: increasing(integer(1, 1040))
    dose_bands_mg: increasing(DoseMg)
    age_bands_years: increasing(integer(1, 120))
    ci_level: Literal[0.90, 0.95, 0.99]

    @model_validator(mode="after")
    def check_order(self):
        _ordered(self, "neutropenia_anc_below_per_ul", "recovery_anc_per_ul")
        return self


class Qi(Section):
    laxative_window_days: Days  # QI-LAX
    new_starter_history_days: Days  # QI-LAX
    retitration_gap_days: integer(0, 365)  # QI-RETITRATE
    retitration_start_max_mg: DoseMg  # QI-RETITRATE
    seizure_dose_mg: DoseMg  # QI-SEIZ
    trs_no_clozapine_follow_up_days: Days  # QI-TRS-NOCLZ
    trs_delay_long_days: Days  # QI-TRS-DELAY
    trs_delay_bands_days: increasing(Days)  # QI-TRS-DELAY
    nonresponse_min_days: Days  # QI-LEVEL
    polypharmacy_min_days: Days  # QI-POLY
    census_months: integer(1, 120)  # QI-POLY, QI-HDAT
    high_dose_pct: number(0, 1000, above_low=True)  # QI-HDAT
    metabolic_action_days: Days  # QI-MET-ACT
    hba1c_abnormal_mmol_mol: number(0, 200, above_low=True)  # QI-MET-ACT
    ldl_abnormal_mg_dl: number(0, 2000, above_low=True)  # QI-MET-ACT
    cholesterol_total_abnormal_mg_dl: number(0, 2000, above_low=True)  # QI-MET-ACT
    triglycerides_abnormal_mg_dl: number(0, 10000, above_low=True)  # QI-MET-ACT
    weight_gain_pct: number(0, 100, above_low=True)  # QI-MET-ACT
    weight_baseline_days_before: integer(0, 365)  # QI-MET-ACT
    ci_level: number(0.5, 0.999)  # QI-*: Wilson interval level


class Omop(Section):
    dispensing_type_concept_ids: unique(ConceptId)
    prescription_type_concept_ids: unique(ConceptId)
    other_drug_types_as_prescriptions: bool


class DispenseWindows(Section):
    weekly: integer(1, 365)
    biweekly: integer(1, 365)
    monthly: integer(1, 365)


class Safety(Section):
    dose_without_anticonvulsant_mg: DoseMg  # SAF-DOSE
    dispense_anc_window_days: DispenseWindows  # SAF-DISPENSE
    ddi_categories: unique(Name)  # SAF-DDI
    anticonvulsant_category: Name  # SAF-DOSE
    anc_action_days: integer(0, 90)  # SAF-ANC-ACTION
    myocarditis_lab_pair_days: integer(0, 90)  # SAF-REC


def _low_high(pair: list[float]) -> list[float]:
    if pair[0] > pair[1]:
        raise ValueError("the low end must not exceed the high end")
    return pair


class Publication(Section):
    small_count_max: integer(0, 1000)  # counts 1..small_count_max shown as "<N+1"
    # small_count_max: 0 turns suppression off; it needs this explicit consent.
    allow_unsuppressed: bool
    monitoring_target_pct: Pct  # MON-*
    anc_action_bins_days: increasing(integer(1, 365), max_length=10)  # SAF-ANC-ACTION
    person_time_unit_years: integer(1, 1000)  # AE-*: published person-years rounded to this
    published_ranges_pct: dict[
        EventId, Annotated[list[Pct], Field(min_length=2, max_length=2), AfterValidator(_low_high)]
    ]

    @model_validator(mode="after")
    def check_suppression(self):
        if self.small_count_max == 0 and not self.allow_unsuppressed:
            raise ValueError(
                "small_count_max: 0 turns small-count suppression off; "
                "set publication.allow_unsuppressed: true to publish unsuppressed counts"
            )
        return self


class Runtime(Section):
    # DuckDB's memory_limit as a share of physical memory, unless memory_limit_mb is set.
    memory_limit_pct: integer(5, 95)
    memory_limit_mb: integer(64, 1 << 24) | None
    # Where DuckDB spills to disk; null = `<warehouse>.tmp/` beside the warehouse.
    temp_directory: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None
    # DuckDB worker threads; null = one per core (DuckDB's default).
    threads: integer(1, 1024) | None
    # A second run on the same warehouse waits this long for the lock, then fails (0 = at once).
    lock_timeout_seconds: number(0, 86_400)
    # Rows of a sliced model's largest input per GB of memory limit before it is built in slices.
    slice_rows_per_gb: integer(1_000, 1_000_000_000)


class Spark(Section):
    # `--engine spark`: partitions per shuffle (Spark's default of 200 is for clusters).
    shuffle_partitions: integer(1, 100_000)
    # Driver memory of a local Spark (local[N]), in MB.
    driver_memory_mb: integer(256, 1 << 20)


class Settings(Section):
    ingest: Ingest
    vocabulary: Vocabulary
    trs: Trs
    clozapine: Clozapine
    monitoring: Monitoring
    anc: Anc
    adverse_events: AdverseEvents
    safety: Safety
    qi: Qi
    publication: Publication
    omop: Omop
    runtime: Runtime
    spark: Spark


def declared_keys(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every dotted key the schema declares (sections recursed, mappings and lists not)."""
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            keys |= declared_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys
