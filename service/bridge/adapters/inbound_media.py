"""A customer's WhatsApp media, staged in the media bucket and read back in chunks.

`GetWhatsAppMessageMedia` writes the file straight into our bucket (EUM names the object
`<prefix><media id>.<ext>`); the bridge never holds it whole. Readers take it back from S3
one chunk at a time, or into a temporary file when a conversion needs a seekable input.
The key depends only on the media id, so a replayed delivery overwrites the same object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import structlog

from service.aws_errors import translated
from service.errors import DependencyUnavailableError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_socialmessaging import EndUserMessagingSocialClient

log = structlog.get_logger(__name__)

CHUNK_BYTES: Final = 1024 * 1024
_PREFIX: Final = "inbound/"


@dataclass(frozen=True, slots=True)
class StagedMedia:
    key: str
    mime_type: str | None
    size: int


class InboundMediaStore:
    def __init__(
        self,
        *,
        social: EndUserMessagingSocialClient,
        s3: S3Client,
        bucket: str,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._social = social
        self._s3 = s3
        self._bucket = bucket
        self._chunk = chunk_bytes

    async def stage(self, *, origination_id: str, media_id: str) -> StagedMedia:
        """Copy the media into the bucket; its key, type and size."""
        prefix = f"{_PREFIX}{media_id}/"
        with translated("socialmessaging", "GetWhatsAppMessageMedia"):
            answer = await self._social.get_whatsapp_message_media(
                mediaId=media_id,
                originationPhoneNumberId=origination_id,
                destinationS3File={"bucketName": self._bucket, "key": prefix},
            )
        # EUM appends the media id and an extension of its choosing: find the object.
        with translated("s3", "ListObjectsV2"):
            listed = await self._s3.list_objects_v2(Bucket=self._bucket, Prefix=prefix, MaxKeys=2)
        objects = listed.get("Contents", [])
        if not objects:
            raise DependencyUnavailableError("staged media not found in the media bucket")
        found = objects[0]
        # The object's own size: the upload declares it and must send exactly that many bytes.
        size = found.get("Size", answer.get("fileSize", 0))
        log.info("inbound_media_staged", size=size)
        return StagedMedia(key=found["Key"], mime_type=answer.get("mimeType"), size=int(size))

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The object, `chunk_bytes` at a time (memory stays at one chunk)."""
        with translated("s3", "GetObject"):
            response = await self._s3.get_object(Bucket=self._bucket, Key=key)
        async with response["Body"] as body:
            while True:
                chunk = await body.read(self._chunk)
                if not chunk:
                    return
                yield chunk

    async def download(self, key: str, path: Path, *, limit_bytes: int) -> int:
        """Write the object to `path` (at most `limit_bytes`); bytes written."""
        written = 0
        with path.open("wb") as out:
            async for chunk in self.chunks(key):
                written += len(chunk)
                if written > limit_bytes:
                    raise ValueError("staged media larger than the conversion input limit")
                await asyncio.to_thread(out.write, chunk)
        return written
