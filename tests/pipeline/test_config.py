"""params.yaml is validated on load, with the offending key named."""

from __future__ import annotations

import codecs
import gzip
import os
import re

import pytest
import yaml

from pipeline.config import load_params
from pipeline.errors import ConfigError


def _write(tmp_path, tree) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


@pytest.fixture
def tree():
    with open("params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_the_project_params_load(tree):
    params = load_params()
    assert params.generate.size in params.generate.sizes
    assert params.data.transactions
    assert params.labels.horizon_days == tree["labels"]["horizon_days"]


def test_overrides_replace_dotted_keys():
    params = load_params(overrides={"generate.size": "tiny", "data.interactions": None})
    assert params.generate.size == "tiny" and params.data.interactions is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["features"].update(windwos_days=[30]),
         r"features\.windwos_days: unknown key \(did you mean 'features\.windows_days'\?\)"),
        (lambda t: t["generate"].update(size="huge"), r"generate.size is 'huge'"),
        (lambda t: t["data"].update(satisfaction_range=[5, 1]), r"low < high"),
        (lambda t: t["data"].update(interaction_kinds=["Web Visit"]), r"lower-case identifiers"),
        (lambda t: t["data"].update(timezone="Mars/Olympus"), r"not a known time zone"),
        (lambda t: t["data"].update(decimal=",", thousands=","), r"both ','"),
        (lambda t: t["features"].update(resolution_kinds=["refund"]), r"not in data.interaction"),
        (lambda t: t["features"].update(snapshot_frequency="fortnightly"), r"offset alias"),
        (lambda t: t["features"].update(windows_days=[30, 30]), r"distinct positive"),
        (lambda t: t["labels"].update(horizon_days=0), r"labels\.horizon_days"),
        (lambda t: t["features"].update(first_snapshot="2024-05-01", last_snapshot="2024-01-01"),
         r"is after"),
    ],
)
def test_invalid_params_are_refused_with_the_key_named(tmp_path, tree, change, message):
    change(tree)
    with pytest.raises(ConfigError, match=message):
        load_params(_write(tmp_path, tree))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("generate: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def _project_bytes() -> bytes:
    with open("params.yaml", "rb") as f:
        return f.read()


def _line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1


@pytest.mark.parametrize(("damage", "message"), [
    # the file as a whole: one line naming it
    (lambda d: b"", "{file}: the params file is empty (it holds no parameters)"),
    (lambda d: b"# nothing set yet\n\n", "{file}: the params file is empty (it holds no "
                                          "parameters)"),
    (lambda d: b"- generate\n- data\n", "{file}: expected a mapping of stage names, got list"),
    (lambda d: gzip.compress(d), "{file}: the params file is gzip-compressed, not YAML text; "
                                 "decompress it"),
    # the place in it, horizon_days's line written otherwise: line and column
    ("  horizon_days: 90 # défaut ".encode("latin-1"),
     "{file}, line {line}, column 23: the params file is not UTF-8 text (byte 0xe9); save it "
     "as UTF-8"),
    (b"  horizon_days: 90\n  horizon_days: 30 ",
     "{file}, line {next}, column 3: not valid YAML: the key 'horizon_days' is given twice "
     "(while reading a mapping started on line {line})"),
    (b"  horizon_days: 90: 1 ", "{file}, line {line}, column 19: not valid YAML: mapping "
                               "values are not allowed in this context"),
    (b"\thorizon_days: 90 ", "{file}, line {line}, column 1: not valid YAML: found character "
                             "that cannot start any token (while scanning for the next token)"),
    (b"  horizon_days: \x00 ", "{file}, line {line}, column 17: not valid YAML: the control "
                               "character U+0000 cannot be written in YAML"),
    (b"  horizon_days: 2023-02-30 ", "{file}, line {line}, column 17: not valid YAML: "
                                    "'2023-02-30' is not a date that exists (day is out of "
                                    "range for month)"),
], ids=["empty", "comments only", "a list", "gzip", "latin-1", "a key twice", "syntax", "a tab",
        "a NUL byte", "an impossible date"])
def test_a_file_that_cannot_be_read_is_named_on_one_line(tmp_path, damage, message):
    data = _project_bytes()
    line = _line_of(data, b"horizon_days: 90 ")
    file = tmp_path / "params.yaml"
    file.write_bytes(data.replace(b"  horizon_days: 90 ", damage) if isinstance(damage, bytes)
                     else damage(data))

    with pytest.raises(ConfigError) as raised:
        load_params(file)

    assert str(raised.value) == message.format(file=file, line=line, next=line + 1)


def test_a_file_with_a_byte_order_mark_loads(tmp_path):
    file = tmp_path / "params.yaml"
    file.write_bytes(codecs.BOM_UTF8 + _project_bytes())
    assert load_params(file) == load_params()


def test_a_folder_is_not_a_params_file(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}: the params file cannot be "
                                                    f"read (Is a directory)")):
        load_params(tmp_path)


@pytest.mark.parametrize(("override", "message"), [
    ("=5", "--set '': not a dotted key such as labels.horizon_days"),
    ("labels..horizon_days=5", "--set 'labels..horizon_days': not a dotted key such as "
                               "labels.horizon_days"),
    ("labels.horizon_days=true", "--set labels.horizon_days: Input should be a valid integer, "
                                 "got True"),
    ("labels.horizon_dayz=30", "--set labels.horizon_dayz: unknown key (did you mean "
                               "'labels.horizon_days'?), got 30"),
    ("score.as_of=2024-02-30", "--set score.as_of: Input should be a date that exists, written "
                               "YYYY-MM-DD (e.g. 2024-01-31), got '2024-02-30'"),
    ("data.delimiter=;;", "--set data.delimiter must be one character, got ';;'"),
    # An unknown section is made by the override, not found in the file.
    ("validat.max_future_days=2", "--set validat: unknown key (did you mean 'validate'?)"),
    ("bogus.x=1", "--set bogus: unknown key (the keys here are generate, data, validate, "
                  "features, stages, labels, train, evaluate, score)"),
    ("labels.horizon.days=1", "--set labels.horizon: unknown key (did you mean "
                              "'labels.horizon_days'?)"),
])
def test_an_override_is_named_as_one(override, message):
    from pipeline.runner import params_from

    with pytest.raises(ConfigError) as raised:
        params_from(None, [override])
    assert str(raised.value) == message


def test_the_file_and_an_override_are_told_apart(tmp_path, tree):
    tree["score"]["drift"]["bins"] = 1
    file = _write(tmp_path, tree)
    with pytest.raises(ConfigError) as raised:
        load_params(file, overrides={"labels.horizon_days": 0})
    assert str(raised.value).splitlines() == [
        "--set labels.horizon_days: Input should be greater than 0, got 0",
        f"{file}: score.drift.bins: Input should be greater than or equal to 2, got 1"]


def test_an_unknown_section_in_the_file_is_the_file_s_even_with_an_override_under_it(
        tmp_path, tree):
    tree["validat"] = {"max_future_days": 2}
    file = _write(tmp_path, tree)
    with pytest.raises(ConfigError) as raised:
        load_params(file, overrides={"validat.max_future_days": 3, "bogus.x": 1})
    assert sorted(str(raised.value).splitlines()) == sorted([
        f"{file}: validat: unknown key (did you mean 'validate'?)",
        "--set bogus: unknown key (the keys here are generate, data, validate, features, "
        "stages, labels, train, evaluate, score)"])


@pytest.mark.parametrize(("args", "params", "line"), [
    (["-m", "pipeline.labels"], b"horizon_days: true ",
     "configuration error: params.yaml: labels.horizon_days: Input should be a valid integer, "
     "got True"),
    (["-m", "pipeline.cli", "labels", "-S", "labels.horizon_days=true"], b"horizon_days: 90 ",
     "configuration error: --set labels.horizon_days: Input should be a valid integer, got True"),
    (["-m", "pipeline.labels"], "horizon_days: 90 # défaut ".encode("cp1252"),
     "configuration error: params.yaml, line {line}, column 23: the params file is not UTF-8 "
     "text (byte 0xe9); save it as UTF-8"),
], ids=["python -m", "churn -S", "not UTF-8"])
def test_the_stage_exits_3_with_one_line(tmp_path, args, params, line):
    """The real process: exit code 3, one line on stderr, no traceback."""
    import subprocess
    import sys

    data = _project_bytes()
    (tmp_path / "params.yaml").write_bytes(data.replace(b"horizon_days: 90 ", params))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                            env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"}, check=False)

    stderr = result.stderr.decode("utf-8").splitlines()
    assert result.returncode == 3, stderr
    assert stderr == [line.format(line=_line_of(data, b"horizon_days: 90 "))]


def test_the_policy_in_params_is_the_documented_default():
    from models.actions import DEFAULT_RULES

    params = load_params()
    assert [r.model_dump() for r in params.score.policy] == [dict(r) for r in DEFAULT_RULES]


def test_a_policy_with_a_gap_is_refused_naming_it(tmp_path, tree):
    tree["score"]["policy"] = [r for r in tree["score"]["policy"]
                               if r["name"] != "end_lost_low_value"]
    gap = re.escape("covered by no rule: stage=lost, risk=low|medium|high|critical, value=low")
    with pytest.raises(ConfigError, match=rf"(?s)score\.policy.*{gap}"):
        load_params(_write(tmp_path, tree))


def test_a_policy_with_an_overlap_is_refused_naming_both_rules(tmp_path, tree):
    extra = dict(tree["score"]["policy"][-1], name="end_everything_lost")
    tree["score"]["policy"].append(extra)
    with pytest.raises(ConfigError, match=r"(?s)end_lost_low_value.*end_everything_lost"):
        load_params(_write(tmp_path, tree))


def test_risk_bands_must_increase(tmp_path, tree):
    tree["score"]["risk_bands"]["high"] = 0.2
    with pytest.raises(ConfigError, match="must increase strictly"):
        load_params(_write(tmp_path, tree))


# --------------------------------------------------------------------------
# Every section: the exact line of the message, key first
# --------------------------------------------------------------------------


def _set(path: str, value):
    def change(tree):
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return change


SECTION_CASES = [
    # unknown keys: the closest known key, or the keys of the section
    ("trian", {}, "trian: unknown key (did you mean 'train'?)"),
    ("features.windwos_days", [30], "features.windwos_days: unknown key (did you mean "
                                    "'features.windows_days'?), got [30]"),
    ("score.sinks.postgres.pasword", "x", "score.sinks.postgres.pasword: unknown key (the keys "
                                          "here are url, schema, table), got 'x'"),
    ("generate.sizes.tiny.customer", 10, "generate.sizes.tiny.customer: unknown key (did you "
                                         "mean 'generate.sizes.tiny.customers'?), got 10"),
    # wrong types: the value given
    ("features.trend_days", "ninety", "features.trend_days: Input should be a valid integer, "
                                      "got 'ninety'"),
    ("features.trend_days", "90", "features.trend_days: Input should be a valid integer, "
                                  "got '90'"),
    ("labels.horizon_days", True, "labels.horizon_days: Input should be a valid integer, "
                                  "got True"),
    ("labels.horizon_days", 90.0, "labels.horizon_days: Input should be a valid integer, "
                                  "got 90.0"),
    ("score.sinks.parquet", 1, "score.sinks.parquet: Input should be a valid boolean, got 1"),
    ("score.sinks.duckdb", "yes", "score.sinks.duckdb: Input should be a valid boolean, "
                                  "got 'yes'"),
    ("labels.validation_share", float("nan"), "labels.validation_share: Input should be a "
                                              "finite number, got nan"),
    ("score.sinks.lock_timeout_seconds", float("inf"), "score.sinks.lock_timeout_seconds: Input "
                                                       "should be a finite number, got inf"),
    ("validate.min_timestamp", "last year", "validate.min_timestamp: Input should be a date "
                                            "that exists, written YYYY-MM-DD (e.g. 2024-01-31), "
                                            "got 'last year'"),
    ("score.as_of", 0, "score.as_of: Input should be a date that exists, written YYYY-MM-DD "
                       "(e.g. 2024-01-31), got 0"),
    ("score.as_of", "2024-02-30", "score.as_of: Input should be a date that exists, written "
                                  "YYYY-MM-DD (e.g. 2024-01-31), got '2024-02-30'"),
    ("data.satisfaction_range", [1, 3, 5], "data.satisfaction_range: Tuple should have at most "
                                           "2 items after validation, not 3, got [1, 3, 5]"),
    ("labels", 90, "labels: should be a section of keys (key: value lines), not a single value, "
                   "got 90"),
    # generate
    ("generate.size", "huge", "generate.size is 'huge', which is not one of "
                              "generate.sizes: ['cohort', 'default', 'small', 'tiny']"),
    ("generate.sizes.tiny.days", 10, "generate.sizes.tiny.days: Input should be greater than 60, "
                                     "got 10"),
    # data
    ("data.transactions", "", "data.transactions: String should have at least 1 character, "
                              "got ''"),
    ("data.delimiter", '"', "data.delimiter cannot be a double quote or a line break, "
                            "got '\"'"),
    ("data.delimiter", ";;", "data.delimiter must be one character, got ';;'"),
    ("data.decimal", ";", "data.decimal: Input should be '.' or ',', got ';'"),
    ("data.timestamp_format", "%d/%m %H:%M", "data.timestamp_format '%d/%m %H:%M' has no "
                                             "year (%Y or %y); e.g. '%d/%m/%Y %H:%M' or "
                                             "'%Y-%m-%dT%H:%M:%S%z'"),
    ("data.timestamp_format", "%Y-%m-%q", "data.timestamp_format '%Y-%m-%q' is not a format "
                                          "DuckDB can parse (Failed to parse format specifier "
                                          "%Y-%m-%q: Unrecognized format for strftime/strptime: "
                                          "%q); e.g. '%d/%m/%Y %H:%M' or '%Y-%m-%dT%H:%M:%S%z'"),
    ("data.satisfaction_range", [5, 1], "data.satisfaction_range must be [low, high] with "
                                        "low < high, got [5.0, 1.0]"),
    ("data.columns.transactions", {"amout": "total"},
     "data.columns.transactions.amout is not a column of the transactions contract "
     "(did you mean 'amount'?); the keys are contract columns (customer_id, timestamp, amount, "
     "transaction_id, quantity, channel, category, discount), each mapped to the column's name "
     "in the file"),
    ("data.columns.interactions", {"kind": " "},
     "data.columns.interactions.kind is empty: give the column's name in the "
     "file, or remove the key"),
    # validate
    ("validate.memory_limit", "lots", "validate.memory_limit: validate.memory_limit must be a "
                                      "size such as '2GB' or '512MiB', got 'lots'"),
    ("validate.max_future_days", -1, "validate.max_future_days: Input should be greater than or "
                                     "equal to 0, got -1"),
    # features
    ("features.windows_days", [30, 30], "features.windows_days: windows must be distinct "
                                        "positive day counts, got [30, 30]"),
    ("features.snapshot_frequency", "fortnightly", "features.snapshot_frequency: 'fortnightly' is "
                                                   "not a pandas offset alias (e.g. 'MS', '30D', "
                                                   "'W-MON')"),
    # stages
    ("stages.dormant_after_days", 400, "stages.dormant_after_days: dormant_after_days (400) must "
                                       "be below lost_after_days (365): a one-time buyer is "
                                       "at_risk before it is lost"),
    ("stages.lost_after_days", 100, "stages.dormant_after_days: dormant_after_days (120) must be "
                                    "below lost_after_days (100): a one-time buyer is at_risk "
                                    "before it is lost"),
    ("stages.core_min_purchases", True, "stages.core_min_purchases: Input should be a valid "
                                        "integer, got True"),
    ("stages.at_risk_gap_factor", 0.5, "stages.at_risk_gap_factor: Input should be greater than "
                                       "or equal to 1, got 0.5"),
    # labels
    ("labels.horizon_days", 0, "labels.horizon_days: Input should be greater than 0, got 0"),
    ("labels.train_cutoffs", ["2024-01-01"], "labels: an explicit split plan needs train, "
                                             "validation and test cutoffs (validation may be []); "
                                             "missing: ['labels.validation_cutoffs', "
                                             "'labels.test_cutoffs']"),
    # train
    ("train.registered_model", "churn/v2", "train.registered_model: must be a non-empty name "
                                           "without '/', '@' or ':' (it is written in "
                                           "models:/<name>@champion URIs), got 'churn/v2'"),
    ("train.lightgbm.learning_rate", 2, "train.lightgbm.learning_rate: Input should be less than "
                                        "or equal to 1, got 2"),
    ("train.bgnbd_features", "sometimes", "train.bgnbd_features: Input should be 'auto', 'always' "
                                          "or 'never', got 'sometimes'"),
    # evaluate
    ("evaluate.promotion.metric", "accuracy", "evaluate.promotion.metric: Input should be "
                                              "'roc_auc' or 'pr_auc', got 'accuracy'"),
    ("evaluate.bootstrap_samples", 10, "evaluate.bootstrap_samples: Input should be greater than "
                                       "or equal to 100, got 10"),
    # score
    ("score.risk_bands.high", 0.2, "score.risk_bands.high: thresholds must increase strictly "
                                   "(medium < high < critical): high (0.2) is not above medium "
                                   "(0.3)"),
    ("score.risk_bands.critical", 0.5, "score.risk_bands.critical: thresholds must increase "
                                       "strictly (medium < high < critical): critical (0.5) is "
                                       "not above high (0.5)"),
    ("score.risk_bands.medium", True, "score.risk_bands.medium: Input should be a valid number, "
                                      "got True"),
    ("score.value_tiers.cuts", [0.8, 0.5], "score.value_tiers.cuts must "
                                           "increase strictly, got [0.8, 0.5]"),
    ("score.value_tiers.cuts", [50, 80], "score.value_tiers.cuts are "
                                         "population shares with method 'quantile' and must lie "
                                         "strictly between 0 and 1, got [50.0, 80.0]"),
    ("score.drift.bins", 1, "score.drift.bins: Input should be greater than or equal to 2, got 1"),
    ("score.sinks.postgres.url", "mysql://u@db.example/churn",
     "score.sinks.postgres.url: must be a PostgreSQL URL such as "
     "postgresql+psycopg://user@host:5432/db, got 'mysql://u@db.example/churn'"),
    ("score.sinks.postgres.table", "Customer Scores",
     "score.sinks.postgres.table: table name 'Customer Scores' is not a plain SQL identifier: "
     "use lower-case letters, digits and underscores, not starting with a digit, at most 63 "
     "characters"),
    ("score.sinks.postgres.schema", 'analytics"; DROP SCHEMA public; --',
     "score.sinks.postgres.schema: schema name 'analytics\"; DROP SCHEMA public; --' is not a "
     "plain SQL identifier: use lower-case letters, digits and underscores, not starting with a "
     "digit, at most 63 characters"),
]


@pytest.mark.parametrize(("key", "value", "line"), SECTION_CASES,
                         ids=[f"{k}={v!r}" for k, v, _ in SECTION_CASES])
def test_each_section_names_the_key_and_the_problem_exactly(tmp_path, tree, key, value, line):
    _set(key, value)(tree)
    file = _write(tmp_path, tree)

    with pytest.raises(ConfigError) as raised:
        load_params(file)

    assert str(raised.value) == f"{file}: {line}"


def test_every_section_has_a_case():
    sections = {key.split(".")[0] for key, _, _ in SECTION_CASES}
    assert {"generate", "data", "validate", "features", "stages", "labels", "train", "evaluate",
            "score"} <= sections


def test_several_problems_are_listed_together(tmp_path, tree):
    tree["labels"]["horizon_days"] = 0
    tree["score"]["drift"]["bins"] = 1
    file = _write(tmp_path, tree)

    with pytest.raises(ConfigError) as raised:
        load_params(file)

    assert str(raised.value).splitlines() == [
        f"{file}: labels.horizon_days: Input should be greater than 0, got 0",
        f"{file}: score.drift.bins: Input should be greater than or equal to 2, got 1"]


def test_an_override_below_a_value_is_refused():
    with pytest.raises(ConfigError, match=re.escape(
            "--set data.transactions.path: data.transactions holds a str, not a section of keys; "
            "set data.transactions as a whole")):
        load_params(overrides={"data.transactions.path": "x.csv"})


def test_valid_formats_and_names_load():
    params = load_params(overrides={
        "data.timestamp_format": "%d/%m/%Y %H:%M", "data.columns.transactions": {
            "amount": 'amount"; DROP TABLE x; --'},  # a name, quoted where it reaches SQL
        "score.sinks.postgres.url": "postgresql+psycopg://churn@db.example:5432/crm",
        "score.sinks.postgres.table": "scores_2024"})
    assert params.data.columns.transactions == {"amount": 'amount"; DROP TABLE x; --'}
    assert params.score.sinks.postgres.table == "scores_2024"


@pytest.mark.parametrize("project_dir, expected", [
    (None, "sqlite:///mlflow.db"),
    ("/srv/churn", "sqlite:////srv/churn/mlflow.db"),
])
def test_default_tracking_store_is_in_the_project_directory(project_dir, expected):
    """Without MLFLOW_TRACKING_URI the runs go to mlflow.db beside the data, also when
    the project is named by CHURN_PROJECT_DIR (read once, at import: a fresh process)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "CHURN_PROJECT_DIR")}
    if project_dir:
        env["CHURN_PROJECT_DIR"] = project_dir
    out = subprocess.run([sys.executable, "-c", "from pipeline.tracking import tracking_uri; "
                          "print(tracking_uri())"], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == expected
