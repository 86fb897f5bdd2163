"""The Lambda service model as botocore ships it: the single source of routes, shapes and constraints."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape


@cache
def lambda_model() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("lambda", "service-2"), service_name="lambda")


def operation(name: str) -> OperationModel:
    return lambda_model().operation_model(name)


@cache
def message_key(error_code: str) -> str:
    """The body member an error's message goes in: the model spells it `message` or `Message` per shape."""
    try:
        shape = lambda_model().shape_for(error_code)
    except Exception:
        return "message"
    members = getattr(shape, "members", {})
    return "Message" if "Message" in members else "message"


@cache
def is_modeled_error(error_code: str) -> bool:
    try:
        shape: Shape = lambda_model().shape_for(error_code)
    except Exception:
        return False
    return bool(shape.metadata.get("exception"))
