"""Every structured command: its flags, an example, and notes a person needs before running it."""

from __future__ import annotations

from agent.commands.spec import TARGET_OPTION, CommandSpec, OptionSpec
from tools.layers import MATERIALIZATIONS, MODEL_TYPES

INCREMENTAL_STRATEGIES = ("merge", "append", "delete+insert")
SNAPSHOT_STRATEGIES = ("timestamp", "check")
QUALITY_TESTS = ("not_null", "unique", "relationships", "accepted_values")
EXPOSURE_TYPES = ("dashboard", "notebook", "analysis", "ml", "application")
MATURITIES = ("low", "medium", "high")


def _command(name: str, summary: str, example: str, *options: OptionSpec, notes: str = "") -> CommandSpec:
    return CommandSpec(name, summary, (*options, TARGET_OPTION), example, notes)


_SELECT = OptionSpec(
    "select",
    "dbt node selection, e.g. stg_orders+, tag:daily, path:models/marts",
    kind="selector",
    metavar="SELECTION",
)

_SPECS = (
    _command(
        "dbt-run",
        "Run models (dbt run) for a selection",
        "/dbt-run --select stg_orders+ --full-refresh",
        _SELECT,
        OptionSpec("full-refresh", "rebuild incremental models from scratch", kind="bool"),
        OptionSpec(
            "vars", "project variables as JSON/YAML, e.g. '{\"days\": 7}'", kind="mapping", metavar="JSON"
        ),
        notes="Without --select every model runs. Tests are not run; use /dbt-test for them.",
    ),
    _command(
        "dbt-test",
        "Run data tests for a selection",
        "/dbt-test --select fct_orders --store-failures",
        OptionSpec(
            "select",
            "dbt node selection whose tests run (default: every test)",
            kind="selector",
            metavar="SELECTION",
            default="fqn:*",
        ),
        OptionSpec("store-failures", "keep failing rows in audit tables", kind="bool"),
    ),
    _command(
        "dbt-model",
        "Create a model from the data: staging, intermediate, fact or dimension",
        "/dbt-model --name fct_orders --type fact --materialization incremental",
        OptionSpec(
            "name", "model name, e.g. stg_orders, dim_customers, fct_orders", required=True, metavar="NAME"
        ),
        OptionSpec("type", "layer of the model", kind="choice", required=True, choices=MODEL_TYPES),
        OptionSpec(
            "materialization",
            "how dbt builds it (default: what dbt_project.yml sets for the model's folder, else view for "
            "staging and intermediate, table for facts and dimensions)",
            kind="choice",
            choices=MATERIALIZATIONS,
        ),
        OptionSpec(
            "partition-by",
            "partition column (or 'date'/'month' of the main timestamp) for adapters "
            "that partition; DuckDB ignores it",
            metavar="COLUMN",
        ),
        OptionSpec(
            "source",
            "staging only: the source table (source_name.table) or seed it reads (default: the source "
            "table or seed named like the model, e.g. orders or raw_orders for stg_orders)",
            metavar="SOURCE.TABLE|SEED",
        ),
        OptionSpec(
            "from",
            "non-staging only: the model it is built on (default: from the name); a model declared only "
            "in YAML: its parent(s), comma-separated (default: the declaration's refs)",
            metavar="MODEL",
        ),
        OptionSpec(
            "description", "model description (default: written from what it is built of)", metavar="TEXT"
        ),
        notes=(
            "A model that exists is never replaced: its SQL file is refused (edit it with /model-edit or\n"
            "/incremental-model), a package's model is read-only, and a model declared only in YAML\n"
            "(columns, tests) gets just its SQL, each declared column selected by name from --from (or the\n"
            "declaration's refs), its declaration kept as written.\n"
            "Staging reads one source table or seed: explicit columns, renamed (id -> <entity>_id) and\n"
            "cast, no joins. Files go where the project keeps that layer, documented in the YAML file the\n"
            "folder already uses; a fact or dimension at the grain of an existing model is refused.\n"
            "Facts and dimensions read refs only: the base model, attributes of the models it references\n"
            "(foreign keys proven on the data) and aggregates of the models that reference it; of several\n"
            "models at one grain the most refined (fact, then intermediate, then staging), so staging does\n"
            "not fan out to every mart. Keys, incremental filters and tests are chosen from profiles of the\n"
            "data and the columns' meaning (no accepted_values on free text, no not_null on a left-joined\n"
            "first/last); the models it reads must be built first."
        ),
    ),
    _command(
        "incremental-model",
        "Create an incremental model, or make an existing one incremental in place",
        "/incremental-model --name fct_orders --unique-key order_id --strategy merge",
        OptionSpec("name", "model name, e.g. fct_orders", required=True, metavar="NAME"),
        OptionSpec(
            "unique-key",
            "column that identifies a row; must be unique in the data",
            required=True,
            metavar="COLUMN",
        ),
        OptionSpec(
            "strategy", "how new rows land", kind="choice", choices=INCREMENTAL_STRATEGIES, default="merge"
        ),
        OptionSpec(
            "partition", "partition column (or 'date'/'month') for adapters that partition", metavar="COLUMN"
        ),
        OptionSpec("from", "new models: the model it is built on (default: from the name)", metavar="MODEL"),
        OptionSpec("description", "new models: model description", metavar="TEXT"),
        notes=(
            "On a model that exists, the model is edited in place, never regenerated: only its config()\n"
            "and an is_incremental() filter on the relation its unique key comes from change (Jinja\n"
            "loops, CTEs and every column kept). The filter's time column is chosen from the data (the\n"
            "last-change time, else the event time, of that relation) and re-reads a lookback (var\n"
            "ae_incremental_lookback, default 1 day); merge or delete+insert only. What the edit affects\n"
            "downstream is listed before it is applied, and Verify proves the incremental result equals\n"
            "a full refresh."
        ),
    ),
    _command(
        "dbt-snapshot",
        "Create an SCD type 2 snapshot of a source table, seed or model",
        "/dbt-snapshot --source-table raw.customers --unique-key id --strategy timestamp "
        "--updated-at updated_at",
        OptionSpec(
            "source-table",
            "what to snapshot: a declared source table (source_name.table, or schema.table of its "
            "relation), or a seed or model (its name, or schema.table)",
            required=True,
            metavar="SCHEMA.TABLE",
        ),
        OptionSpec(
            "unique-key",
            "column that identifies a row (default: the key found in the data)",
            metavar="COLUMN",
        ),
        OptionSpec(
            "strategy",
            "timestamp when an updated_at-like column exists (default), else check",
            kind="choice",
            choices=SNAPSHOT_STRATEGIES,
        ),
        OptionSpec(
            "updated-at",
            "timestamp strategy: the last-change column (default: found in the data)",
            metavar="COLUMN",
        ),
        OptionSpec(
            "check-cols",
            "check strategy: columns to compare (default: every non-key column)",
            kind="list",
            metavar="A,B",
        ),
        OptionSpec(
            "name", "snapshot name (default: <table>_snapshot, without a stg_/fct_... prefix)", metavar="NAME"
        ),
        notes=(
            "A warehouse table the project does not declare is refused: declare it first with\n"
            "/dbt-source (a snapshot reads what dbt knows, never a hard-coded relation). It must be built.\n"
            "The YAML goes to snapshots/<name>.yml, its tests in the project's style (tests: or data_tests:)."
        ),
    ),
    _command(
        "dbt-seed",
        "Load a CSV in the project as a seed, with documented columns and key tests",
        "/dbt-seed --file seeds/country_codes.csv",
        OptionSpec("file", "CSV file inside the project's seed paths", required=True, metavar="PATH"),
    ),
    _command(
        "dbt-macro",
        "Create a documented macro skeleton with the given parameters",
        '/dbt-macro --name cents_to_dollars --parameters "column_name, scale"',
        OptionSpec("name", "macro name", required=True, metavar="NAME"),
        OptionSpec(
            "parameters", "comma-separated parameter names", kind="list", required=True, metavar='"A, B"'
        ),
        OptionSpec("description", "what the macro does", metavar="TEXT"),
    ),
    _command(
        "dbt-source",
        "Declare source tables (one, a list, or * for a whole schema) with freshness",
        '/dbt-source --schema raw --table "*" --freshness "warn_after: {count: 12, period: hour}"',
        OptionSpec("database", "warehouse database (default: the target's)", metavar="DATABASE"),
        OptionSpec("schema", "warehouse schema holding the tables", required=True, metavar="SCHEMA"),
        OptionSpec(
            "table",
            "table name, a comma-separated list, or * for every table of the schema",
            required=True,
            metavar="TABLE",
        ),
        OptionSpec(
            "freshness",
            'e.g. "warn_after: {count: 12, period: hour}, error_after: {count: 1, period: day}"',
            metavar="SPEC",
        ),
        OptionSpec(
            "loaded-at-field",
            "column holding each row's load/update time (default: found in the data)",
            metavar="COLUMN",
        ),
        OptionSpec(
            "source-name",
            "name of the source in dbt (default: the one declaring the schema, or the schema name)",
            metavar="NAME",
        ),
        notes="Freshness needs a timestamp column; tables without one are declared without freshness.",
    ),
    _command(
        "data-quality-test",
        "Add the data tests a built model's data supports",
        '/data-quality-test --model fct_orders --tests "not_null,unique,relationships,accepted_values"',
        OptionSpec("model", "a built model", required=True, metavar="MODEL"),
        OptionSpec(
            "tests",
            "which kinds to consider",
            kind="list",
            metavar=",".join(QUALITY_TESTS),
            default=list(QUALITY_TESTS),
        ),
        notes=(
            "unique only for id-like columns that are unique; accepted_values only for enum-like codes\n"
            "(short values that repeat; never names, descriptions or emails); relationships only where\n"
            "every value has a parent upstream; not_null where no value is null."
        ),
    ),
    _command(
        "dbt-compile",
        "Compile a selection to SQL without running it",
        "/dbt-compile --select fct_orders --show-compiled-sql",
        OptionSpec("select", "dbt node selection", kind="selector", required=True, metavar="SELECTION"),
        OptionSpec("show-compiled-sql", "include the compiled SQL in the answer", kind="bool"),
    ),
    _command(
        "dbt-debug",
        "Check the dbt installation, profile and warehouse connection",
        "/dbt-debug --target dev",
        OptionSpec("profile", "profile name; must be the one dbt_project.yml names", metavar="PROFILE"),
    ),
    _command(
        "model-lineage",
        "Show what a model (or one column) reads from and what reads from it",
        "/model-lineage --model fct_orders --upstream 2 --downstream 1",
        OptionSpec(
            "model", "model, seed, snapshot, exposure or source_name.table", required=True, metavar="NODE"
        ),
        OptionSpec("upstream", "levels of parents to show", kind="int", metavar="N", default=1),
        OptionSpec("downstream", "levels of children to show", kind="int", metavar="N", default=1),
        OptionSpec(
            "column",
            "a column of the node: every column it is computed from (to the seeds and sources) and "
            "every column, test and exposure that depends on it",
            metavar="COLUMN",
        ),
        notes=(
            "--column reads the compiled SQL (one read-only dbt compile of the node, what it reads and\n"
            "what reads it, instead of a parse) and follows the column through CTEs, joins, aggregates\n"
            "and renames with sqlglot; seeds' and sources' columns come from the warehouse."
        ),
    ),
    _command(
        "model-edit",
        "Edit a model in place: add or rename a column, its materialization, extract a CTE",
        "/model-edit --name orders --rename-column amount:amount_usd",
        OptionSpec("name", "the project's model to edit", required=True, metavar="NAME"),
        OptionSpec(
            "add-column",
            "add a column of a relation the model reads (a model, seed, snapshot or source.table)",
            metavar="PARENT.COLUMN",
        ),
        OptionSpec(
            "rename-column",
            "rename an output column in the model and everywhere downstream",
            metavar="OLD:NEW",
        ),
        OptionSpec(
            "materialized",
            "how dbt builds it; incremental needs --unique-key",
            kind="choice",
            choices=("view", "table", "incremental"),
        ),
        OptionSpec("extract", "a CTE to move into an intermediate model of its own", metavar="CTE"),
        OptionSpec("as", "the added column's name, or the extracted model's (int_NAME)", metavar="NAME"),
        OptionSpec(
            "unique-key",
            "with --materialized incremental: the column that identifies a row",
            metavar="COLUMN",
        ),
        notes=(
            "Exactly one of --add-column, --rename-column, --materialized, --extract. Edits are made on\n"
            "the model's syntax tree (the compiled SQL for meaning, the file for positions): every byte\n"
            "an edit does not change stays, Jinja loops included, and an edit that cannot be placed\n"
            "safely is refused with the reason. The answer lists the downstream models, columns, tests\n"
            "and exposures it affects before anything is applied.\n"
            "--add-column: added where the model names its output, brought through its CTEs, and added to\n"
            "its YAML entry, described and tested from the data as a new model's columns are.\n"
            "--rename-column: the model, every downstream model and singular test reading the column\n"
            "(they keep their own names: up.new as old), and every YAML entry and test naming it, in one\n"
            "change; exposures are listed to change by hand.\n"
            "--extract: the CTE keeps its name and selects from ref('<new model>'); the new model goes\n"
            "where the project keeps intermediate models, with a YAML entry.\n"
            "An incremental model whose columns change is rebuilt with --full-refresh. Models of\n"
            "installed packages are never edited."
        ),
    ),
    _command(
        "dbt-docs",
        "Generate the documentation site (target/index.html)",
        "/dbt-docs --generate",
        OptionSpec("generate", "generate the docs (the default)", kind="bool", default=True),
        OptionSpec(
            "serve", "ae does not run a web server; the answer says how to open the docs", kind="bool"
        ),
        OptionSpec(
            "port", "port for `dbt docs serve` if you serve them yourself", kind="int", metavar="PORT"
        ),
    ),
    _command(
        "exposure-define",
        "Declare a dashboard, notebook or application that uses models",
        '/exposure-define --name revenue_dashboard --type dashboard --depends-on "fct_orders,dim_customers"',
        OptionSpec("name", "exposure name", required=True, metavar="NAME"),
        OptionSpec("type", "kind of consumer", kind="choice", required=True, choices=EXPOSURE_TYPES),
        OptionSpec("depends-on", "models it reads", kind="list", required=True, metavar="A,B"),
        OptionSpec("owner-name", "owner's name (default: 'Analytics Engineering')", metavar="NAME"),
        OptionSpec("owner-email", "owner's email", metavar="EMAIL"),
        OptionSpec("url", "where it lives", metavar="URL"),
        OptionSpec("description", "what it shows", metavar="TEXT"),
        OptionSpec("maturity", "how settled it is", kind="choice", choices=MATURITIES),
        OptionSpec(
            "publish",
            "also make the models it reads public with an enforced contract (and rebuild them)",
            kind="bool",
        ),
        notes=(
            "Without --publish only the exposure's YAML is written: nothing is rebuilt, and the answer\n"
            "names the models it reads that are still private (dbt-project-evaluator's\n"
            "fct_exposures_dependent_on_private_models) with the command that publishes them.\n"
            "--publish sets access: public and an enforced contract (every column typed as the warehouse\n"
            "has it) on each model, and builds them, which is when dbt checks the contract."
        ),
    ),
    _command(
        "dbt-package",
        "Install local dbt packages: packages.yml (this machine is offline)",
        "/dbt-package --name dbt_utils --local vendor/dbt_utils",
        OptionSpec("name", "package name(s), comma-separated", kind="list", required=True, metavar="NAME"),
        OptionSpec(
            "version", "version wanted (checked against a local package's dbt_project.yml)", metavar="V"
        ),
        OptionSpec(
            "local",
            "path to each package's folder (relative to the project), in --name's order",
            kind="list",
            metavar="PATH",
        ),
        notes=(
            "Hub and git packages need the network, which this machine does not have. A local copy of a\n"
            "package the project lists from the Hub or git replaces that entry in place (packages.yml, or\n"
            "dependencies.yml when the project lists packages there); comments and other entries stay.\n"
            "dbt deps deletes dbt_packages/ before it installs, so a change that would leave any entry\n"
            "needing the network is refused, naming each package (those installed now would be lost) and\n"
            "the command that makes them all local: --name a,b --local path/a,path/b."
        ),
    ),
)

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in _SPECS}
