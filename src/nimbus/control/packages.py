"""Where a deployment package comes from: bytes uploaded with the request, or an object in an S3-compatible store.

S3 objects are read with boto3, which honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, so the same code reads from
moto, MinIO or AWS itself. Failures are reported as AWS reports them:

    Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from nimbus.errors import InvalidParameterValue, RequestEntityTooLarge
from nimbus.store.code import MAX_ZIPPED_BYTES

IMAGES_UNSUPPORTED = "nimbus runs .zip deployment packages; container images are not supported."


@dataclass(frozen=True)
class CodeSource:
    """The code members of CreateFunction's `Code` or of UpdateFunctionCode."""

    zip_file: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    image_uri: str | None = None


class S3Fetcher(Protocol):
    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        """The object's bytes. Raises PackageFetchError with S3's error code and message."""
        ...


class PackageFetchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Boto3S3Fetcher:
    """S3 through boto3; one client, made on first use (building a client costs tens of milliseconds)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def get_object(self, bucket: str, key: str, version: str | None) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"VersionId": version} if version else {}
        try:
            return bytes(self._s3().get_object(Bucket=bucket, Key=key, **extra)["Body"].read())
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise PackageFetchError(str(error.get("Code", "")), str(error.get("Message", ""))) from exc
        except BotoCoreError as exc:
            raise PackageFetchError(type(exc).__name__, str(exc)) from exc

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # the outbound AWS-compatible client; imported only when a package comes from S3

                self._client = boto3.session.Session().client("s3")
            return self._client


async def fetch_package(source: CodeSource, s3: S3Fetcher) -> bytes:
    """The package's bytes, or the InvalidParameterValueException / 413 AWS answers for the source given."""
    if source.image_uri:
        raise InvalidParameterValue(IMAGES_UNSUPPORTED)
    if source.zip_file is not None:
        if len(source.zip_file) > MAX_ZIPPED_BYTES:
            raise RequestEntityTooLarge(f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes")
        return source.zip_file
    if source.s3_bucket and source.s3_key:
        return await asyncio.to_thread(_from_s3, s3, source.s3_bucket, source.s3_key, source.s3_object_version)
    raise InvalidParameterValue("Please provide a source for function code.")


def _from_s3(s3: S3Fetcher, bucket: str, key: str, version: str | None) -> bytes:
    try:
        return s3.get_object(bucket, key, version)
    except PackageFetchError as exc:
        raise InvalidParameterValue(
            f"Error occurred while GetObject. S3 Error Code: {exc.code}. S3 Error Message: {exc.message}"
        ) from exc
