"""FunctionConfig survives the trip through its stored JSON."""

from __future__ import annotations

import orjson

from nimbus.domain.functions import CodeRef, FunctionConfig, LayerRef
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
    )
    decoded = decode_config(encode_config(config))
    assert decoded == config
    assert decoded.architectures == ("arm64",)
    assert decoded.state is FunctionState.ACTIVE
    assert decoded.last_update_status is UpdateStatus.IN_PROGRESS


def test_an_empty_environment_stays_distinct_from_none() -> None:
    assert decode_config(encode_config(_config(environment={}))).environment == {}
    assert decode_config(encode_config(_config(environment=None))).environment is None


def test_a_row_written_when_tags_were_part_of_the_configuration_still_decodes() -> None:
    data = orjson.loads(encode_config(_config()))
    data["tags"] = {"team": "a"}
    assert decode_config(orjson.dumps(data).decode()) == _config()


def test_layers_round_trip() -> None:
    layers = (LayerRef("arn:aws:lambda:us-east-1:000000000000:layer:l:1", CodeRef("cd" * 32, "zz", 7)),)
    config = _config(layers=layers)
    assert decode_config(encode_config(config)).layers == layers


def test_rows_written_before_layers_existed_decode_without_layers() -> None:
    data = orjson.loads(encode_config(_config()))
    del data["layers"]
    assert decode_config(orjson.dumps(data).decode()).layers == ()
