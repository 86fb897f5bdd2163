"""The relational schema, one definition for SQLite and PostgreSQL (SQLAlchemy Core, no ORM)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

function_versions = sa.Table(
    "function_versions",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    # "$LATEST" or a published version number, as text.
    sa.Column("version", sa.String(32), primary_key=True),
    # The FunctionConfig, encoded by store.codec; its columns are what queries filter or sort on.
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

log_events = sa.Table(
    "log_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("log_group", sa.String(512), nullable=False),
    sa.Column("log_stream", sa.String(512), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_log_events_group_id", "log_group", "id"),
)

# The durable queue of asynchronous invokes (store/event_queue.py). A claimed event's visible_at is its lease
# deadline; `leased` tells claimed events from waiting ones for recovery after a restart and for the stats.
async_events = sa.Table(
    "async_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("function_name", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("visible_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("throttles", sa.Integer, nullable=False, default=0),
    sa.Column("leased", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_async_events_visible_at", "visible_at"),
    sa.Index("ix_async_events_function_name", "function_name", "enqueued_at", "leased"),
)

# Put/UpdateFunctionEventInvokeConfig, per function and qualifier. NULL columns were not set (AWS echoes only what
# was set). A trigger (migration 0002) deletes a qualifier's row when its function version is deleted.
event_invoke_configs = sa.Table(
    "event_invoke_configs",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
    sa.Column("maximum_event_age", sa.Integer, nullable=True),
    sa.Column("on_success", sa.String(350), nullable=True),
    sa.Column("on_failure", sa.String(350), nullable=True),
    sa.Column("last_modified", sa.Float, nullable=False),
)

# Aliases of function versions (store/aliases.py). `weights` is RoutingConfig.AdditionalVersionWeights as JSON.
# Triggers (migration 0003) delete a function's aliases with its $LATEST row and an alias's event invoke config
# with the alias.
aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("function_version", sa.String(32), nullable=False),
    sa.Column("description", sa.String(256), nullable=False),
    sa.Column("weights", sa.Text, nullable=False),
    sa.Column("revision_id", sa.String(36), nullable=False),
)

# The last version number published per function: numbers are never reused, even after a version is deleted.
# The row goes with the function's $LATEST (trigger, migration 0003), so a re-created function starts at 1 again.
version_counters = sa.Table(
    "version_counters",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),
)

# PutFunctionConcurrency: one row per function with a reservation (store/concurrency.py). Triggers (migration 0007)
# delete it with the function.
function_concurrency = sa.Table(
    "function_concurrency",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("reserved", sa.Integer, nullable=False),
)

# PutProvisionedConcurrencyConfig, per function and qualifier (an alias or a version). Status and counts live in
# memory (the environments are started again after a restart). Triggers (migration 0007) delete a row with its
# function, version or alias.
provisioned_concurrency = sa.Table(
    "provisioned_concurrency",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("requested", sa.Integer, nullable=False),
    sa.Column("last_modified", sa.String(32), nullable=False),
)

# Function URLs (Create/Get/Update/Delete/ListFunctionUrlConfigs), one per function and qualifier ($LATEST or an
# alias). url_id is the URL's host label, looked up on every URL request. Cors is JSON text, NULL when not set.
# A trigger (migration 0006) deletes a function's URLs when the function is deleted.
function_url_configs = sa.Table(
    "function_url_configs",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("url_id", sa.String(32), nullable=False, unique=True),
    sa.Column("auth_type", sa.String(16), nullable=False),
    sa.Column("invoke_mode", sa.String(16), nullable=False),
    sa.Column("cors", sa.Text, nullable=True),
    sa.Column("creation_time", sa.String(32), nullable=False),
    sa.Column("last_modified_time", sa.String(32), nullable=False),
)

# Function resource policies (store/policies.py), one row per function and qualifier ("$LATEST" holds the policy
# of the unqualified function). `statements` is the policy's Statement list as JSON. Triggers (migration 0005)
# delete a version's policy with the version, an alias's with the alias and all of them with the function.
function_policies = sa.Table(
    "function_policies",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("statements", sa.Text, nullable=False),
    sa.Column("revision_id", sa.String(36), nullable=False),
)

# Tags, one row per tag, keyed by the resource's unqualified ARN (store/tags.py). A function's tags go with its
# $LATEST row (trigger, migration 0005).
resource_tags = sa.Table(
    "resource_tags",
    metadata,
    sa.Column("resource", sa.String(256), primary_key=True),
    sa.Column("tag_key", sa.String(128), primary_key=True),
    sa.Column("tag_value", sa.String(256), nullable=False),
)

# Settings tools read and write per function (recursion, under "$LATEST") or per version (runtime management), as
# JSON values (store/function_settings.py). They go with the version, or the function, like policies.
function_settings = sa.Table(
    "function_settings",
    metadata,
    sa.Column("function_name", sa.String(64), primary_key=True),
    sa.Column("qualifier", sa.String(128), primary_key=True),
    sa.Column("setting", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Layers (store/layers.py): the last version number published per layer, kept after its versions are deleted, since
# AWS never reuses a layer version number.
layers = sa.Table(
    "layers",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("last_version", sa.Integer, nullable=False),
)

# One row per layer version. The package is in the code store (code_*). Compatible lists are JSON, NULL when not
# given at publish. `policy` is the version's policy statements as JSON (NULL: no policy) with its RevisionId.
layer_versions = sa.Table(
    "layer_versions",
    metadata,
    sa.Column("layer_name", sa.String(140), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(256), nullable=False),
    sa.Column("created_date", sa.String(32), nullable=False),
    sa.Column("compatible_runtimes", sa.Text, nullable=True),
    sa.Column("compatible_architectures", sa.Text, nullable=True),
    sa.Column("license_info", sa.String(512), nullable=True),
    sa.Column("code_sha256_hex", sa.String(64), nullable=False),
    sa.Column("code_sha256", sa.String(44), nullable=False),
    sa.Column("code_size", sa.BigInteger, nullable=False),
    sa.Column("policy", sa.Text, nullable=True),
    sa.Column("policy_revision", sa.String(36), nullable=True),
)
