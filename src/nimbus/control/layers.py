"""Layers: PublishLayerVersion, Get(ByArn), ListLayers, ListLayerVersions, DeleteLayerVersion, the layer version
permissions, and what functions need of layers (resolving their Layers list, the combined 250 MB limit).

A layer's package goes into the content-addressed code store, extracted as function code is, so an environment reads
a layer's tree where it lies. DeleteLayerVersion removes the version's record only: the package stays, and functions
that use the version keep their reference to it (LayerRef), as on AWS. Messages are AWS's (domain/layers.py).
"""

from __future__ import annotations

import asyncio
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nimbus.control.packages import Boto3S3Fetcher, CodeSource, S3Fetcher, fetch_package
from nimbus.domain.arns import Identity
from nimbus.domain.clock import lambda_timestamp, utc_now
from nimbus.domain.functions import CodeRef, LayerRef
from nimbus.domain.layers import (
    MISSING_CONTENT,
    NO_POLICY,
    NO_SUCH_RESOURCE,
    LayerPolicy,
    LayerVersion,
    check_function_layers,
    check_revision,
    check_version_number,
    combined_size_error,
    layer_arn,
    layer_name_of,
    layer_statement,
    layer_version_arn,
    missing_layer_version,
    parse_layer_version_arn,
    with_statement,
    without_statement,
)
from nimbus.domain.paging import page_size
from nimbus.errors import InvalidParameterValue, ResourceNotFound
from nimbus.store.code import MAX_UNZIPPED_BYTES, CodeStore
from nimbus.store.layers import LayerStore


@dataclass(frozen=True)
class NewLayerVersion:
    """What PublishLayerVersion names besides the layer."""

    content: CodeSource
    description: str = ""
    compatible_runtimes: tuple[str, ...] | None = None
    compatible_architectures: tuple[str, ...] | None = None
    license_info: str | None = None


@dataclass(frozen=True)
class Grant:
    """AddLayerVersionPermission's statement members."""

    statement_id: str
    action: str
    principal: str
    organization_id: str | None = None


@dataclass(frozen=True)
class Filters:
    """ListLayers / ListLayerVersions: CompatibleRuntime and CompatibleArchitecture, None when not given."""

    runtime: str | None = None
    architecture: str | None = None


class LayerService:
    def __init__(self, store: LayerStore, code: CodeStore, identity: Identity, s3: S3Fetcher | None = None) -> None:
        self._store = store
        self._code = code
        self._identity = identity
        self._s3 = s3 if s3 is not None else Boto3S3Fetcher()

    # -- layer versions --------------------------------------------------------------------------------------------
    async def publish(self, layer_name: str, new: NewLayerVersion) -> LayerVersion:
        name = layer_name_of(layer_name, self._identity)
        if name is None:
            raise ResourceNotFound(NO_SUCH_RESOURCE)
        if new.content.zip_file is None and not (new.content.s3_bucket and new.content.s3_key):
            raise InvalidParameterValue(MISSING_CONTENT)
        package = await fetch_package(new.content, self._s3)
        code = await asyncio.to_thread(self._code.put, package)
        draft = LayerVersion(
            name=name,
            version=0,  # numbered by the store
            code=code,
            created_date=lambda_timestamp(utc_now()),
            description=new.description,
            compatible_runtimes=new.compatible_runtimes,
            compatible_architectures=new.compatible_architectures,
            license_info=new.license_info,
        )
        return self._store.publish(draft)

    def get(self, layer_name: str, version: int) -> LayerVersion:
        check_version_number(version)
        found = self._find(layer_name, version)
        if found is None:
            raise ResourceNotFound(NO_SUCH_RESOURCE)
        return found

    def get_by_arn(self, arn: str) -> LayerVersion:
        parsed = parse_layer_version_arn(arn)
        if parsed is None:
            raise ResourceNotFound(NO_SUCH_RESOURCE)
        if (parsed.region, parsed.account) != (self._identity.region, self._identity.account_id):
            raise ResourceNotFound(NO_SUCH_RESOURCE)
        return self.get(parsed.name, parsed.version)

    def delete(self, layer_name: str, version: int) -> None:
        """AWS answers 204 whether or not the version exists."""
        check_version_number(version)
        name = layer_name_of(layer_name, self._identity)
        if name is not None:
            self._store.delete(name, version)

    def list_versions(
        self, layer_name: str, filters: Filters, marker: str | None, max_items: int | None
    ) -> tuple[list[LayerVersion], str | None]:
        """Newest first; the marker is the last version number listed. A layer that does not exist lists empty."""
        name = layer_name_of(layer_name, self._identity)
        if name is None:
            return [], None
        before = int(marker) if marker and marker.isdigit() else None
        matching = (v for v in self._store.versions(name, before) if v.matches(filters.runtime, filters.architecture))
        page, more = _page(matching, max_items)
        return page, str(page[-1].version) if more else None

    def list_layers(
        self, filters: Filters, marker: str | None, max_items: int | None
    ) -> tuple[list[LayerVersion], str | None]:
        """Each layer's newest version that matches the filters, by layer name; the marker is the last name listed."""
        page, more = _page(self._latest_matching(filters, marker or None), max_items)
        return page, page[-1].name if more else None

    def _latest_matching(self, filters: Filters, after: str | None) -> Iterator[LayerVersion]:
        done: str | None = None
        for layer in self._store.newest_first(after):
            if layer.name != done and layer.matches(filters.runtime, filters.architecture):
                done = layer.name
                yield layer

    # -- permissions -----------------------------------------------------------------------------------------------
    def add_permission(
        self, layer_name: str, version: int, grant: Grant, revision_id: str | None
    ) -> tuple[dict[str, object], str]:
        layer = self._existing(layer_name, version)
        check_revision(layer.policy, revision_id)
        resource = layer_version_arn(self._identity, layer.name, layer.version)
        statement = layer_statement(grant.statement_id, grant.action, grant.principal, resource,
                                    grant.organization_id)  # fmt: skip
        policy = LayerPolicy(with_statement(layer.policy, statement), str(uuid.uuid4()))
        self._store.save_policy(layer.name, layer.version, policy)
        return statement, policy.revision_id

    def policy(self, layer_name: str, version: int) -> LayerPolicy:
        layer = self._existing(layer_name, version)
        if layer.policy is None:
            raise ResourceNotFound(NO_POLICY)
        return layer.policy

    def remove_permission(self, layer_name: str, version: int, statement_id: str, revision_id: str | None) -> None:
        layer = self._existing(layer_name, version)
        check_revision(layer.policy, revision_id)
        remaining = without_statement(layer.policy, statement_id)
        self._store.save_policy(layer.name, layer.version, LayerPolicy(remaining, str(uuid.uuid4())))

    def _existing(self, layer_name: str, version: int) -> LayerVersion:
        """The version a policy operation names, or AWS's 404 naming its ARN."""
        check_version_number(version)
        found = self._find(layer_name, version)
        if found is None:
            given = layer_name if layer_name.startswith("arn:") else layer_arn(self._identity, layer_name)
            raise ResourceNotFound(missing_layer_version(f"{given}:{version}"))
        return found

    def _find(self, layer_name: str, version: int) -> LayerVersion | None:
        name = layer_name_of(layer_name, self._identity)
        if name is None:
            return None
        return self._store.get_many([(name, version)]).get((name, version))

    # -- for functions ---------------------------------------------------------------------------------------------
    def resolve(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        """A function's Layers as references to their packages, or AWS's InvalidParameterValueException."""
        ids = check_function_layers(arns, self._identity)
        keys = [(parsed.name, parsed.version) for parsed in ids if parsed.account == self._identity.account_id]
        found = self._store.get_many(keys)
        refs: list[LayerRef] = []
        for arn, parsed in zip(arns, ids, strict=True):
            layer = found.get((parsed.name, parsed.version)) if parsed.account == self._identity.account_id else None
            if layer is None:
                raise InvalidParameterValue(missing_layer_version(arn))
            refs.append(LayerRef(layer_version_arn(self._identity, layer.name, layer.version), layer.code))
        return tuple(refs)

    def check_combined_size(self, code: CodeRef, layers: Sequence[LayerRef]) -> None:
        """AWS: the function's code and all its layers unzip to at most 250 MB."""
        if not layers:
            return
        total = sum(self._unzipped_size(ref) for ref in (code, *(layer.code for layer in layers)))
        error = combined_size_error(total, MAX_UNZIPPED_BYTES)
        if error is not None:
            raise error

    def _unzipped_size(self, code: CodeRef) -> int:
        # The central directory alone says it: no need to read the members.
        with zipfile.ZipFile(self._code.zip_path(code)) as archive:
            return sum(info.file_size for info in archive.infolist())

    def total_code_size(self) -> int:
        """Bytes of every layer version's package (AWS counts them in AccountUsage.TotalCodeSize)."""
        return self._store.total_code_size()


def _page(items: Iterator[LayerVersion], max_items: int | None) -> tuple[list[LayerVersion], bool]:
    limit = page_size(max_items)
    page: list[LayerVersion] = []
    for item in items:
        if len(page) == limit:
            return page, True
        page.append(item)
    return page, False
