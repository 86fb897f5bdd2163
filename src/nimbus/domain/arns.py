"""Function names, qualifiers and ARNs as AWS builds and reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nimbus.errors import InvalidParameterValue

LATEST = "$LATEST"

_FUNCTION_REF = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9._-]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_$-]+))?$"
)


@dataclass(frozen=True)
class FunctionRef:
    """What a FunctionName parameter names: a function, and the qualifier the ARN carried, if any."""

    name: str
    qualifier: str | None


@dataclass(frozen=True)
class Identity:
    """The region and account every ARN of this server carries."""

    region: str
    account_id: str

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base


def parse_function_ref(value: str) -> FunctionRef:
    """Split a name, partial ARN or full ARN into name and qualifier (patterns are checked by validation)."""
    match = _FUNCTION_REF.match(value)
    if match is None:
        return FunctionRef(name=value, qualifier=None)
    return FunctionRef(name=match["name"], qualifier=match["qualifier"])


def resolve_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """Merge the qualifier from an ARN with the Qualifier parameter, refusing a contradiction as AWS does."""
    if ref.qualifier and qualifier and ref.qualifier != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return qualifier or ref.qualifier
