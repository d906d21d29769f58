"""One S3 multipart upload at one key: the requests the direct writer and a staged commit send.

`create` starts it, `upload_part` and `copy_part` add a part and return the entry that
`complete` lists, `abort` gives it up. An incomplete multipart upload is invisible (no GET,
HEAD or listing sees it); `abort` is best effort, because it runs while another error is being
raised: one it could not remove is left to the bucket's abort rule (docs/configuration.md).
"""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError


class MultipartUpload:
    def __init__(self, client: BaseClient, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id: str | None = None

    @classmethod
    def resume(cls, client: BaseClient, bucket: str, key: str, upload_id: str) -> MultipartUpload:
        """The upload `upload_id` at `key`, created earlier (by any process)."""
        upload = cls(client, bucket, key)
        upload._upload_id = upload_id
        return upload

    @property
    def key(self) -> str:
        return self._key

    @property
    def upload_id(self) -> str | None:
        return self._upload_id

    @property
    def started(self) -> bool:
        return self._upload_id is not None

    def create(self) -> None:
        answer = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
        self._upload_id = str(answer["UploadId"])

    def upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        sent = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"PartNumber": number, "ETag": sent["ETag"]}

    def copy_part(
        self, number: int, source: str, span: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        """The object `source` (same bucket), or its bytes [first, last) given as `span`, as
        part `number`, copied by the store."""
        ranged = {"CopySourceRange": f"bytes={span[0]}-{span[1] - 1}"} if span else {}
        copied = self._client.upload_part_copy(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            CopySource={"Bucket": self._bucket, "Key": source},
            **ranged,
        )
        return {"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]}

    def complete(self, parts: list[dict[str, Any]]) -> None:
        """Make the object visible at the key; `parts` in PartNumber order."""
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
        )

    def abort(self) -> None:
        if self._upload_id is None:
            return
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )
