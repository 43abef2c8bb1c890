"""The study's further models, fitted with the base-model recipe (NZ study, sections 7-10):

- `fit_sampled_stepwise`: the recipe itself (paras 58-62): keep every child with the
  outcome, under-sample the others, split 70/30, stepwise selection on the training part,
  King-Zeng prior correction to the population prevalence, AUC on the validation part.
  The base model (prm_model) and every model below are fitted by it. When the data cannot
  support a model it raises `ModelNotFitted` whose message says why (small cohorts).
- `separate_models_table`: Table 9, separate models per group combined in proportion to
  known maltreatment (paras 119-124; the study's three splits, `TABLE9_SPLITS`).
- `alternative_targets_table`: Table 10, one model per target A-E (paras 126-133).
- `agency_data_table`: Table 11, the model with more and with fewer agencies' data
  (paras 134-141; `FEATURE_SOURCES` says which agency each variable comes from).
- `figure3_table`: Figure 3, how often and at which rank each variable entered across all
  the models fitted (paras 143-149).

Every top-N referral uses the rule of evaluation.py (exact counts, ties by person_key);
N is the study's 3,000 children, about 5% of a cohort (`NZ_REFERRAL_SHARE`). Plain Python:
frames in, frames out; random streams come from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from cmi_assets.cohorts import FEATURE_CATEGORIES, TARGET_LABELS, TARGETS, outcome_column
from cmi_assets.prm.evaluation import (
    AucResult,
    confusion_at_share,
    confusion_counts,
    delong_auc,
    referred_count,
    top_n_flags,
)
from cmi_assets.prm.prior import PriorCorrection
from cmi_assets.prm.proportionality import separate_models_referral
from cmi_assets.prm.sampling import NZ_NEGATIVES_PER_POSITIVE, NZ_TRAIN_SHARE, ModellingSample, modelling_sample
from cmi_assets.prm.scoring import LogisticScorer
from cmi_assets.prm.selection_frequency import selection_across_models
from cmi_assets.prm.stepwise import StepwiseFitError, StepwiseModel, stepwise_logistic

MIN_FIT_POSITIVES = 6  # below this the 70/30 split leaves too few positives to fit and validate
NZ_REFERRAL_SHARE = 0.05  # the 3,000 children of Tables 6-11 are ~5% of a ~62,000 cohort
SCORING_FINDING = "finding_by_age_5"  # the scored cohort's outcome (NZ Tables 2, 6, 9-11)
ALLOCATION_FINDING = "finding_by_age_2"  # "known maltreatment" that sets Table 9's quotas
RngFor = Callable[[str], np.random.Generator]


# --- the recipe -------------------------------------------------------------------------------


class ModelNotFitted(ValueError):
    """The data cannot support the model; the message says why."""


@dataclass(frozen=True)
class FitSettings:
    """Sampling and selection choices; defaults are the NZ study's (paras 61-62, Figure 3 note 1)."""

    negatives_per_positive: float = NZ_NEGATIVES_PER_POSITIVE
    train_share: float = NZ_TRAIN_SHARE
    entry: float = 1.0
    stay: float = 0.02
    min_positives: int = MIN_FIT_POSITIVES


@dataclass(frozen=True)
class FittedModel:
    """A stepwise model fitted by the recipe, with its sample and prior correction."""

    name: str
    outcome: str
    model: StepwiseModel
    sample: ModellingSample
    prior: PriorCorrection
    validation_auc: AucResult | None
    notes: tuple[str, ...] = ()

    @property
    def scorer(self) -> LogisticScorer:
        return self.model.scorer(self.prior)

    @property
    def candidate_names(self) -> list[str]:
        """The candidates the stepwise selection started from."""
        return [spec.name for spec in self.model.candidates]

    def predict_proba(self, frame: pl.DataFrame) -> tuple[np.ndarray, int]:
        """Prior-corrected probabilities, and how many values of levels unseen in training
        were scored as the reference level."""
        aligned, unseen = align_to_training_levels(frame, self.scorer.variables)
        return self.scorer.predict_proba(aligned), unseen

    def validation_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(outcome, prior-corrected probability) of the validation children."""
        return self.sample.validation[self.outcome].cast(pl.Int64).to_numpy(), self.predict_proba(
            self.sample.validation
        )[0]

    def summary(self) -> dict[str, Any]:
        """Table 1 / 10 / 11 training-side rows: cohort size, prevalence, sample, validation AUC."""
        auc = self.validation_auc
        return {
            "number_in_cohort": self.sample.population_size,
            "prevalence": self.sample.population_prevalence,
            "sample_size": self.sample.sample_size,
            "auc_validation": auc.auc if auc else None,
            "auc_ci_low": auc.ci_low if auc else None,
            "auc_ci_high": auc.ci_high if auc else None,
            "variables_selected": len(self.model.selected),
        }


def model_candidates(frame: pl.DataFrame, names: Sequence[str] | None = None) -> list[str]:
    """The `names` (default: every Box 1 variable) present in `frame`, complete and with
    more than one level there."""
    if names is None:
        names = list(FEATURE_CATEGORIES)
    return [n for n in names if n in frame.columns and frame[n].null_count() == 0 and frame[n].n_unique() > 1]


def align_to_training_levels(frame: pl.DataFrame, variables) -> tuple[pl.DataFrame, int]:
    """Levels the model never saw in training scored as the variable's reference level (a
    small training cohort may lack rare levels); returns the frame and the cells changed."""
    changed, columns = 0, []
    for spec in variables:
        if spec.kind == "numeric" or not spec.levels:
            continue
        unseen = ~frame[spec.name].cast(pl.String).is_in(list(spec.levels))
        changed += int(unseen.sum())
        columns.append(
            pl.when(unseen).then(pl.lit(spec.reference)).otherwise(pl.col(spec.name).cast(pl.String)).alias(spec.name)
        )
    return (frame.with_columns(columns) if columns else frame), changed


def fit_sampled_stepwise(
    frame: pl.DataFrame,
    outcome: str,
    rng: np.random.Generator,
    settings: FitSettings = FitSettings(),
    candidates: Sequence[str] | None = None,
    name: str = "base",
) -> FittedModel:
    """The NZ base-model recipe on `frame` (one row per child, `outcome` 0/1). Raises
    `ModelNotFitted` with the reason when there are too few children with the outcome, no
    candidate varies, or the stepwise fit fails."""
    if outcome not in frame.columns:
        raise ModelNotFitted(f"{outcome} is not in the cohort tables")
    if frame[outcome].null_count():
        raise ModelNotFitted(f"{outcome} is not yet observed for every child of the training cohort")
    positives = int(frame[outcome].cast(pl.Int64).sum()) if frame.height else 0
    if positives < settings.min_positives:
        raise ModelNotFitted(
            f"too few positives: {positives} children with {outcome} (at least {settings.min_positives} needed "
            "to fit on 70% and validate on 30%)"
        )
    if positives == frame.height:
        raise ModelNotFitted(f"every child has {outcome}: nothing to model")
    sample = modelling_sample(frame, outcome, rng, settings.negatives_per_positive, settings.train_share)
    chosen = model_candidates(sample.train, candidates)
    if not chosen:
        raise ModelNotFitted("no candidate variable varies in the training sample")
    try:
        model = stepwise_logistic(sample.train, outcome, chosen, entry=settings.entry, stay=settings.stay)
        prior = sample.prior_correction()
    except (StepwiseFitError, ValueError, np.linalg.LinAlgError) as error:
        raise ModelNotFitted(f"stepwise fit failed ({type(error).__name__}: {error})") from error
    y, score = FittedModel(name, outcome, model, sample, prior, None).validation_scores()
    if 0 < y.sum() < len(y):
        return FittedModel(name, outcome, model, sample, prior, delong_auc(y, score))
    return FittedModel(
        name,
        outcome,
        model,
        sample,
        prior,
        None,
        (f"{name}: the validation set lacks one outcome class: no validation AUC",),
    )


# --- measures shared by Tables 10 and 11 --------------------------------------------------------


def selected_threshold(prevalence: float) -> float:
    """The share referred for the threshold measures: the whole percent nearest the
    prevalence of the targeted outcome by age 2, at least 1% (NZ Table 10 note 4: 3% for
    A, 8% for B, 1% for D and E; Table 11 note 3)."""
    return max(1, int(np.floor(100 * prevalence + 0.5))) / 100  # half up, like referred_count


def referral_profile(frame: pl.DataFrame, referred: np.ndarray, flags: Mapping[str, str]) -> dict[str, float | None]:
    """Share of the referred children with each boolean flag column, of known values
    (NZ Table 11, "profile of referred children")."""
    out: dict[str, float | None] = {}
    chosen = frame.filter(pl.Series(referred))
    for label, column in flags.items():
        if column not in frame.columns:
            out[label] = None
            continue
        known = chosen[column].drop_nulls().cast(pl.Float64)
        out[label] = float(known.mean()) if known.len() else None
    return out


def scored_cohort_row(
    fitted: FittedModel,
    scored: pl.DataFrame,
    n_referred: int,
    *,
    target_by_2: str,
    target_by_5: str | None = None,
    in_population: np.ndarray | None = None,
    tie_key: str = "person_key",
    profile: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """A model's measures on the scored cohort (NZ Tables 10 and 11, lower parts):
    misclassification rate, cumulative lift, PPV, sensitivity and specificity for the
    targeted outcome by age 2 at `selected_threshold` (among the children the model can
    score, `in_population`); then the top `n_referred` of the whole cohort (children outside
    the population are never referred; denominators are the whole cohort, Table 11 note 4)
    against the targeted outcome and against findings by age 5, and the referred profile."""
    notes: list[str] = []
    mask = np.ones(scored.height, dtype=bool) if in_population is None else np.asarray(in_population, dtype=bool)
    population = scored.filter(pl.Series(mask))
    row: dict[str, Any] = {"scored_children": population.height}
    if not population.height:
        return row, [f"{fitted.name}: no child of the scored cohort is in this model's population"]
    score, unseen = fitted.predict_proba(population)
    if unseen:
        notes.append(
            f"{fitted.name}: {unseen} scored values of levels absent from training scored as the reference level"
        )
    share = selected_threshold(fitted.sample.population_prevalence)
    y2 = population[target_by_2].cast(pl.Int64)
    at_threshold = confusion_at_share(y2, score, share, population[tie_key])
    row.update(
        selected_share=share,
        misclassification_rate=at_threshold.misclassification_rate,
        cumulative_lift=at_threshold.cumulative_lift,
        ppv_by_age_2=at_threshold.ppv,
        sensitivity_by_age_2=at_threshold.sensitivity,
        specificity_by_age_2=at_threshold.specificity,
    )
    full = np.full(scored.height, -1.0)  # below every probability: never referred
    full[mask] = score
    referred = top_n_flags(full, min(n_referred, population.height), scored[tie_key])
    row["referred"] = int(referred.sum())
    outcomes = {"target": target_by_5, "finding": SCORING_FINDING} if target_by_5 else {"finding": SCORING_FINDING}
    for label, column in outcomes.items():
        counts = confusion_counts(scored[column].cast(pl.Int64), referred)
        row.update(
            {f"{measure}_{label}_by_age_5": value for measure, value in counts.rates().items() if measure != "npv"}
        )
    if profile:
        row.update({f"referred_pct_{k}": v for k, v in referral_profile(scored, referred, profile).items()})
    return row, notes


# --- Table 9: separate models per group ------------------------------------------------------


@dataclass(frozen=True)
class GroupSplit:
    """One Table 9 split: children for whom `member` is true get one model, the others
    another. `variable` is the criterion counted in Figure 3 (note 1)."""

    label: str
    variable: str
    member: pl.Expr = field(compare=False)


# The study's three splits (para 120). AIAN plays the role of Maori in our world (cohorts.
# features.ETHNIC_GROUPS); as in Table 9 note 2, children without a linked registration
# ethnicity go with "not" (fill_null(False)).
TABLE9_SPLITS: tuple[GroupSplit, ...] = (
    GroupSplit("AIAN child versus not", "ethnicity_aian", pl.col("ethnicity_aian").fill_null(False)),
    GroupSplit(
        "With other children with CP history versus not",
        "other_children_cp_history_5y",
        pl.col("other_children_cp_history_5y") == "yes",
    ),
    GroupSplit(
        "Child supported by benefit versus not",
        "on_benefit_by_3_months",
        pl.col("on_benefit_by_3_months").fill_null(False),
    ),
)


def _membership(frame: pl.DataFrame, split: GroupSplit) -> np.ndarray:
    return frame.select(split.member.fill_null(False).alias("m"))["m"].to_numpy().astype(bool)


def separate_models_table(
    base: FittedModel,
    training: pl.DataFrame,
    scored: pl.DataFrame | None,
    rng_for: RngFor,
    settings: FitSettings = FitSettings(),
    splits: Sequence[GroupSplit] = TABLE9_SPLITS,
    n_referred: int | None = None,
    tie_key: str = "person_key",
) -> tuple[pl.DataFrame, dict[str, FittedModel], list[str]]:
    """NZ Table 9: for each split, a model per group fitted on that group's training
    children (from the base model's candidates), each scored-cohort child scored by its own
    group's model, and the top
    `n_referred` (default 5% of the scored cohort) drawn from each group in proportion to
    its children with findings by age 2, evaluated against findings by age 5. A split whose
    group model cannot be fitted keeps its row, with the reason in `status`."""
    notes: list[str] = []
    models: dict[str, FittedModel] = {}
    rows: list[dict[str, Any]] = []
    n = referred_count(scored.height, NZ_REFERRAL_SHARE) if scored is not None and n_referred is None else n_referred
    if scored is not None and scored.height:
        base_score, _ = base.predict_proba(scored)
        base_flags = top_n_flags(base_score, n, scored[tie_key])
        rows.append(
            {"model": "Base model", "split_variable": None, "status": "fitted", **_table9_measures(scored, base_flags)}
        )
    else:
        notes.append("Table 9: no scored cohort (outcomes to age 5): separate models fitted, referrals not evaluated")
    for split in splits:
        row: dict[str, Any] = {"model": split.label, "split_variable": split.variable}
        if split.variable not in training.columns:
            rows.append({**row, "status": f"not fitted: {split.variable} is not in the cohort features"})
            continue
        member = _membership(training, split)
        fitted: dict[bool, FittedModel] = {}
        reasons = []
        for inside in (True, False):
            group, tag = ("in group", "in") if inside else ("not in group", "not_in")
            name = f"Table 9: {split.label} ({group})"
            children = training.filter(pl.Series(member == inside))
            row[f"positives_{tag}_group"] = int(children[base.outcome].cast(pl.Int64).sum()) if children.height else 0
            try:  # the base model's candidates, less any that no longer vary within the group
                fitted[inside] = fit_sampled_stepwise(
                    children, base.outcome, rng_for(name), settings, base.candidate_names, name=name
                )
            except ModelNotFitted as error:
                reasons.append(f"{group}: {error}")
                continue
            models[name] = fitted[inside]
            row[f"auc_validation_{tag}_group"] = _auc(fitted[inside])
        if reasons:
            rows.append({**row, "status": "not fitted: " + "; ".join(reasons)})
            continue
        if scored is None or not scored.height:
            rows.append({**row, "status": "fitted; no scored cohort"})
            continue
        in_group = _membership(scored, split)
        score = np.empty(scored.height)
        for inside in (True, False):
            rows_of = in_group == inside
            if rows_of.any():
                score[rows_of] = fitted[inside].predict_proba(scored.filter(pl.Series(rows_of)))[0]
        referred = separate_models_referral(
            in_group, score, n, scored[ALLOCATION_FINDING].cast(pl.Int64), scored[tie_key]
        )
        rows.append(
            {
                **row,
                "status": "fitted",
                "referred_in_group": int((referred & in_group).sum()),
                **_table9_measures(scored, referred),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None), models, notes


def _auc(fitted: FittedModel) -> float | None:
    return fitted.validation_auc.auc if fitted.validation_auc else None


def _table9_measures(scored: pl.DataFrame, referred: np.ndarray) -> dict[str, Any]:
    counts = confusion_counts(scored[SCORING_FINDING].cast(pl.Int64), referred)
    return {"referred": counts.referred, "true_positives": counts.a, **counts.rates()}


# --- Table 10: alternative targets -----------------------------------------------------------


def alternative_targets_table(
    base: FittedModel,
    training_by_target: Mapping[str, tuple[pl.DataFrame, str] | str],
    scored: pl.DataFrame | None,
    rng_for: RngFor,
    settings: FitSettings = FitSettings(),
    n_referred: int | None = None,
    age: int = 2,
) -> tuple[pl.DataFrame, dict[str, FittedModel], list[str]]:
    """NZ Table 10: one model per target (cohorts.TARGETS: A is the base model), from the
    base model's candidates, each on its own training cohort(s) (`training_by_target[target]` = (frame, cohort label), or the
    reason there is none: rare targets pool cohorts, Table 10 note 3). Rows: training-side
    measures, the threshold measures for the targeted outcome by age 2 and the top-N
    referral against the targeted outcome and against findings by age 5."""
    notes: list[str] = []
    models: dict[str, FittedModel] = {}
    rows = []
    for target in TARGETS:
        outcome = outcome_column(target, age)
        row: dict[str, Any] = {"target": target, "label": TARGET_LABELS[target], "outcome": outcome}
        given = training_by_target.get(target)
        if target == "A":
            fitted = base
            row["training_cohort"] = given[1] if isinstance(given, tuple) else None
        elif isinstance(given, tuple):
            frame, row["training_cohort"] = given
            name = f"Table 10: target {target}"
            try:
                fitted = fit_sampled_stepwise(frame, outcome, rng_for(name), settings, base.candidate_names, name=name)
            except ModelNotFitted as error:
                rows.append({**row, "status": f"not fitted: {error}"})
                continue
            models[name] = fitted
        else:
            rows.append({**row, "status": f"not fitted: {given or 'no training cohort'}"})
            continue
        notes += fitted.notes
        row.update(status="fitted", **fitted.summary())
        if scored is not None and scored.height:
            n = referred_count(scored.height, NZ_REFERRAL_SHARE) if n_referred is None else n_referred
            measured, more = scored_cohort_row(
                fitted, scored, n, target_by_2=outcome, target_by_5=outcome_column(target, 5)
            )
            row.update(measured)
            notes += more
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None), models, notes


# --- Table 11: agency data drawn on ----------------------------------------------------------

BIRTHS, BENEFITS, CP, CORRECTIONS, HEALTH = "births", "benefits", "child_protection", "corrections", "health"

# Which agencies' records each model variable is computed from (cohorts/*.py):
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "child_sex": (BIRTHS, BENEFITS),  # the spine's person row (registration or benefit inclusion)
    "low_birth_weight_or_preterm": (BIRTHS,),  # birth weight and gestation on the registration
    "parenting_demands": (BIRTHS, BENEFITS),  # registration siblings and plurality, benefit inclusions
    "other_children_cp_history_5y": (CP,),  # the other children's CP records
    "family_violence_last_year": (CP,),  # police FV notifications and contact records
    "single_parent": (BIRTHS, BENEFITS),  # father listed; single-parent benefit spells
    "caregiver_not_registration_parent": (BIRTHS, BENEFITS),
    "mother_or_caregiver_age": (BIRTHS, BENEFITS),  # the mother or primary benefit recipient
    "parent_cp_history_as_child": (CP,),
    "parent_behavioural_finding_as_child": (CP,),
    "caregiver_time_on_benefit_5y": (BENEFITS,),
    "parent_mental_health_5y": (BENEFITS,),  # incapacity codes of sickness and invalid's benefits
    "caregiver_address_changes_last_year": (BENEFITS,),
    "parent_corrections_5y": (CORRECTIONS,),
    "cp_office": (BIRTHS, BENEFITS),  # registration address, else the caregiver's benefit address
    # Box 2: the Box 1 variable widened with Ministry of Health records (cohorts/box2.py)
    "moh_low_birth_weight_or_preterm": (BIRTHS, HEALTH),
    "moh_parenting_demands": (BIRTHS, BENEFITS, HEALTH),
    "moh_family_violence": (CP, HEALTH),
    "moh_parent_mental_health_5y": (BENEFITS, HEALTH),
    "moh_mother_smoker": (HEALTH,),
}
# A variable that cannot be computed at all without this agency, whatever else it draws on
# (the caregiver is compared with the registration parents; a Box 2 variable is the health
# version of its Box 1 counterpart).
FEATURE_REQUIRES: dict[str, str] = {
    "caregiver_not_registration_parent": BIRTHS,
    **{name: HEALTH for name in FEATURE_SOURCES if name.startswith("moh_")},
}
# Box 2 variable -> the Box 1 variable it replaces in the model with health data (para 146)
BOX2_REPLACES: dict[str, str] = {
    "moh_low_birth_weight_or_preterm": "low_birth_weight_or_preterm",
    "moh_parenting_demands": "parenting_demands",
    "moh_family_violence": "family_violence_last_year",
    "moh_parent_mental_health_5y": "parent_mental_health_5y",
}


def available_from(variable: str, sources: set[str] | frozenset[str]) -> bool:
    """Whether a variable can be computed from the agencies in `sources` alone: one of its
    sources is there, and so is the agency it requires (if any)."""
    required = FEATURE_REQUIRES.get(variable)
    if required is not None and required not in sources:
        return False
    return bool(set(FEATURE_SOURCES[variable]) & set(sources))


@dataclass(frozen=True)
class DataVariant:
    """One Table 11 column: the agencies drawn on and, without births data, the children
    the model can see (those on a caregiver's benefit by 3 months)."""

    column: str
    label: str
    sources: frozenset[str]
    population: str | None = None  # a boolean feature column restricting the children

    def candidates(self) -> list[str]:
        names = list(FEATURE_CATEGORIES)
        if HEALTH in self.sources:
            replaced = set(BOX2_REPLACES.values())
            names = [n for n in names if n not in replaced] + [n for n in FEATURE_SOURCES if n.startswith("moh_")]
        return [n for n in names if available_from(n, self.sources)]

    def dropped(self) -> list[str]:
        return [n for n in FEATURE_CATEGORIES if n not in self.candidates()]


TABLE11_VARIANTS: tuple[DataVariant, ...] = (
    DataVariant(
        "A",
        "Health, benefit, care and protection, sentencing and birth data",
        frozenset({HEALTH, BENEFITS, CP, CORRECTIONS, BIRTHS}),
    ),
    DataVariant(
        "B",
        "Base model (benefit, care and protection, sentencing and birth data)",
        frozenset({BENEFITS, CP, CORRECTIONS, BIRTHS}),
    ),
    DataVariant(
        "C",
        "Benefit, care and protection and sentencing data",
        frozenset({BENEFITS, CP, CORRECTIONS}),
        "on_benefit_by_3_months",
    ),
    DataVariant("D", "Benefit and care and protection data", frozenset({BENEFITS, CP}), "on_benefit_by_3_months"),
)
# NZ Table 11 "profile of referred children": label -> boolean feature column
TABLE11_PROFILE: dict[str, str] = {
    "aian_child": "ethnicity_aian",
    "other_children_cp_history_5y": "t8_other_children_cp_history_5y",
    "single_parent": "t8_single_parent",
    "caregiver_under_25": "t8_caregiver_under_25",
    "parent_cp_history_as_child": "t8_parent_cp_history_as_child",
    "on_benefit_by_3_months": "t8_on_benefit_by_3_months",
}


def _population_mask(frame: pl.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.ones(frame.height, dtype=bool)
    return frame[column].fill_null(False).cast(pl.Boolean).to_numpy()


def agency_data_table(
    base: FittedModel,
    training: pl.DataFrame,
    scored: pl.DataFrame | None,
    rng_for: RngFor,
    settings: FitSettings = FitSettings(),
    variants: Sequence[DataVariant] = TABLE11_VARIANTS,
    n_referred: int | None = None,
) -> tuple[pl.DataFrame, dict[str, FittedModel], list[str]]:
    """NZ Table 11: the model refitted on the training cohort with each variant's
    variables and children (B is the base model), evaluated on the scored cohort like
    Table 10 and profiled like the study (`TABLE11_PROFILE`). A variant needing columns
    the cohort features lack (Box 2 health variables) keeps its row with the reason."""
    notes: list[str] = []
    models: dict[str, FittedModel] = {}
    rows = []
    for variant in variants:
        row: dict[str, Any] = {
            "variant": variant.column,
            "label": variant.label,
            "sources": ", ".join(sorted(variant.sources)),
            "population": variant.population or "study population",
            "variables_dropped": ", ".join(variant.dropped()) or None,
        }
        candidates = variant.candidates()
        missing = [n for n in candidates if n not in training.columns]
        if variant.column == "B":
            fitted = base
        elif missing:
            rows.append({**row, "status": f"not fitted: {', '.join(missing)} not in the cohort features"})
            continue
        else:
            name = f"Table 11: {variant.column}"
            subset = training.filter(pl.Series(_population_mask(training, variant.population)))
            try:
                fitted = fit_sampled_stepwise(subset, base.outcome, rng_for(name), settings, candidates, name=name)
            except ModelNotFitted as error:
                rows.append({**row, "status": f"not fitted: {error}"})
                continue
            models[name] = fitted
        notes += fitted.notes
        row.update(status="fitted", candidates=len(candidates), **fitted.summary())
        if scored is not None and scored.height:
            n = referred_count(scored.height, NZ_REFERRAL_SHARE) if n_referred is None else n_referred
            measured, more = scored_cohort_row(
                fitted,
                scored,
                n,
                target_by_2=base.outcome,
                in_population=_population_mask(scored, variant.population),
                profile=TABLE11_PROFILE,
            )
            row.update(measured)
            notes += more
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None), models, notes


# --- Figure 3 ------------------------------------------------------------------------------------


def figure3_table(models: Mapping[str, FittedModel], splits: Sequence[GroupSplit] = TABLE9_SPLITS) -> pl.DataFrame:
    """NZ Figure 3 across every model fitted: models a variable appears in, their share and
    its mean entry rank (1 = entered first). A Table 9 group model counts its split
    variable as appearing (Figure 3 note 1)."""
    split_variables = {
        name: split.variable for name in models for split in splits if name.startswith(f"Table 9: {split.label} (")
    }
    return selection_across_models({name: fitted.model for name, fitted in models.items()}, split_variables)
