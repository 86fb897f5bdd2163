"""FunctionConfig survives the trip through its stored JSON."""

from __future__ import annotations

from nimbus.domain.functions import CodeRef, FunctionConfig
from nimbus.domain.states import FunctionState, UpdateStatus
from nimbus.store.codec import decode_config, encode_config

CODE = CodeRef(sha256_hex="ab" * 32, code_sha256="q83vEjRWeJA=", size=141)


def _config(**changes: object) -> FunctionConfig:
    base = FunctionConfig(
        name="f",
        runtime="python3.12",
        role="arn:aws:iam::000000000000:role/r",
        handler="app.handler",
        code=CODE,
        revision_id="rev",
        last_modified="2026-01-01T00:00:00.000+0000",
    )
    return base.replace(**changes)


def test_a_fresh_config_round_trips() -> None:
    config = _config()
    assert decode_config(encode_config(config)) == config


def test_every_field_round_trips() -> None:
    config = _config(
        version="3",
        description="d",
        timeout=30,
        memory_size=512,
        ephemeral_storage=1024,
        environment={"KEY": "value"},
        architectures=("arm64",),
        state=FunctionState.ACTIVE,
        state_reason=None,
        state_reason_code=None,
        last_update_status=UpdateStatus.IN_PROGRESS,
        last_update_reason="The function is being created.",
        last_update_reason_code="Creating",
        passthrough={"TracingConfig": {"Mode": "Active"}, "Layers": ["arn:aws:lambda:us-east-1:0:layer:l:1"]},
        tags={"team": "a"},
    )
    decoded = decode_config(encode_config(config))
    assert decoded == config
    assert decoded.architectures == ("arm64",)
    assert decoded.state is FunctionState.ACTIVE
    assert decoded.last_update_status is UpdateStatus.IN_PROGRESS


def test_an_empty_environment_stays_distinct_from_none() -> None:
    assert decode_config(encode_config(_config(environment={}))).environment == {}
    assert decode_config(encode_config(_config(environment=None))).environment is None
