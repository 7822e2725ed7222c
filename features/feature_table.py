"""The feature-table contract: what the trainer accepts, declared once and rendered to docs.

A feature table is a Parquet file with one row per (``household_id``, ``as_of``) snapshot:

* keys — ``household_id`` (text, never null) and ``as_of`` (date); optional ``commune_id``
  (text, used to count visits per commune) and ``loan_id`` (application view);
* label columns — integer 0/1 with nulls where the horizon is not yet observed (at least one);
* feature columns — numeric, boolean, or categorical with a declared category set (pandas
  ``category`` dtype). Features of the catalog must keep the catalog's dtype; other columns are
  accepted as extra features when they follow these types, so a data team can bring features
  built elsewhere.

``render_feature_table_doc`` writes ``docs/feature-table.md`` from the catalog.
"""

from __future__ import annotations

import pandas as pd

from features.catalog import (
    ALL_FEATURES,
    APPLICATION_FEATURES,
    BORROWER_FEATURES,
    CATALOG_VERSION,
    CONTEXT_FEATURES,
    FEATURES_BY_NAME,
    LABELS,
    MONEY_SCALE,
    Feature,
)

DOC_NAME = "feature-table.md"
KEYS = ("household_id", "as_of")
OPTIONAL_KEYS = ("commune_id", "loan_id")
DIRECTION = {1: "↑ riskier", -1: "↓ safer", 0: "—"}


class FeatureTableError(ValueError):
    """A table breaks the feature-table contract; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("feature table breaks the contract:\n  - " + "\n  - ".join(problems))


def label_columns(df: pd.DataFrame) -> list[str]:
    """Label columns present in ``df`` (declared labels first, then ``*_12m``-style extras)."""
    declared = [c for c in LABELS if c in df.columns]
    return declared


def feature_columns(df: pd.DataFrame) -> list[str]:
    """Every column of ``df`` that is neither a key nor a label."""
    skip = set(KEYS) | set(OPTIONAL_KEYS) | set(label_columns(df))
    return [c for c in df.columns if c not in skip]


def check_feature_table(df: pd.DataFrame, label: str | None = None) -> list[str]:
    """Every way ``df`` breaks the contract (empty list when it follows it).

    Args:
        df: The table.
        label: A label column that must be present.
    """
    problems: list[str] = []
    for key in KEYS:
        if key not in df.columns:
            problems.append(f"column '{key}' is missing (keys: household_id, as_of)")
    if "household_id" in df.columns and df["household_id"].isna().any():
        problems.append(f"household_id: {int(df['household_id'].isna().sum())} null value(s)")
    if "as_of" in df.columns and not pd.api.types.is_datetime64_any_dtype(df["as_of"]):
        problems.append(f"as_of: must be a date column, found {df['as_of'].dtype}")
    labels = label_columns(df)
    if not labels:
        problems.append(f"no label column (expected one of {sorted(LABELS)})")
    if label is not None and label not in df.columns:
        problems.append(f"label '{label}' is missing")
    for name in labels:
        s = df[name]
        if not (pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s)):
            problems.append(f"label {name}: must be integer 0/1 with nulls, found {s.dtype}")
        elif not s.dropna().isin([0, 1]).all():
            problems.append(f"label {name}: values other than 0/1")
    for name in feature_columns(df):
        s = df[name]
        declared = FEATURES_BY_NAME.get(name)
        if declared is not None and str(s.dtype) != str(declared.pandas_dtype):
            if not (
                declared.kind == "categorical"
                and isinstance(s.dtype, pd.CategoricalDtype)
                and list(s.dtype.categories) == list(declared.categories)
            ):
                problems.append(
                    f"feature {name}: dtype {s.dtype}, the catalog declares {declared.pandas_dtype}"
                )
        elif declared is None and not (
            pd.api.types.is_numeric_dtype(s)
            or pd.api.types.is_bool_dtype(s)
            or isinstance(s.dtype, pd.CategoricalDtype)
        ):
            problems.append(
                f"feature {name}: dtype {s.dtype} is not numeric, boolean or categorical"
            )
    return problems


def require_feature_table(df: pd.DataFrame, label: str | None = None) -> None:
    """Raise :class:`FeatureTableError` if ``df`` breaks the contract."""
    problems = check_feature_table(df, label)
    if problems:
        raise FeatureTableError(problems)


def _feature_rows(features: tuple[Feature, ...]) -> list[str]:
    rows = [
        "| name | kind | unit | risk | sources | description | mô tả | reason | lý do |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in features:
        kind = f.kind if f.kind != "categorical" else f"categorical: {', '.join(f.categories)}"
        rows.append(
            f"| `{f.name}` | {kind} | {f.unit} | {DIRECTION[f.direction]} | {', '.join(f.sources)} | "
            f"{f.description_en} | {f.description_vi} | {f.reason_en} | {f.reason_vi} |"
        )
    return rows


def render_feature_table_doc() -> str:
    """The Markdown of ``docs/feature-table.md``, generated from the catalog."""
    head = (__doc__ or "").split("\n\n", 1)[1].rsplit("``render_feature_table_doc``", 1)[0].strip()
    lines = [
        "# Feature table contract",
        "",
        f"<!-- generated by `vbsp-risk docs` from features/catalog.py; feature set {CATALOG_VERSION} -->",
        "",
        head,
        "",
        "Point-in-time rule: every feature of a row uses only events dated strictly before `as_of`;",
        "labels look at `[as_of, as_of + horizon)`. Portfolio view: `as_of` is the first day after",
        "a month-end; application view: `as_of` is the application date. Ethnicity is never a",
        "feature, nor anything derived from it (e.g. `loans.rate_pct`, halved for minorities in",
        "job-creation loans).",
        "",
        "Reason texts (the *reason* / *lý do* columns) are the sentences the scoring service shows",
        "for a score's top reasons (`features.reason_text.reason_text`): `{value}` is the value",
        "formatted for its unit (VND, whole percents, whole months, km), `{value_signed}` the",
        "same with a sign, `{s}` an English plural, `{not}` the negation of a false flag; a",
        'missing value gets the feature\'s own sentence (e.g. "No debt extension on record").',
        "",
        "Loan money in today's money: the trainer divides every money feature computed from `loans`",
        f"(unit VND or VND/person) by `{MONEY_SCALE}` of the same row (`training/todays_money.py`),",
        "so a model reads amounts relative to the district's typical loan of the snapshot's year;",
        "the table holds them in VND. Savings are read as they are (deposits do not grow with loans).",
        "",
        "## Kept out of the model",
        "",
        "Computed, validated, stored and documented like every feature, but not a model input:",
        "",
        *(f"- `{f.name}`: {f.kept_out}." for f in ALL_FEATURES if f.kept_out),
        "",
        "## Labels",
        "",
        "| name | horizon | definition | định nghĩa |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{d.name}` | {d.horizon_months} months | {d.description_en} | {d.description_vi} |"
        for d in LABELS.values()
    ]
    for title, feats in (
        ("Borrower history (both views)", BORROWER_FEATURES),
        ("Group, village and commune (both views)", CONTEXT_FEATURES),
        ("Application fields (application view only)", APPLICATION_FEATURES),
    ):
        lines += ["", f"## {title}", "", *_feature_rows(feats)]
    return "\n".join(lines) + "\n"
