"""Photos sent with a request: checked by content, stored by a random name, served only
through an authorisation check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from .models import Attachment

# Content, not the file name, decides the type.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


class UploadError(ValueError):
    """A photo was refused; the message says why in the user's terms."""

    status = 422


class TooLarge(UploadError):
    """A photo over the size limit: the request is answered 413, like one over the whole
    request's limit."""

    status = 413


@dataclass(frozen=True)
class CheckedPhoto:
    filename: str
    content: bytes
    content_type: str
    extension: str


def check_photos(files: list[FileStorage], *, max_count: int, max_bytes: int) -> list[CheckedPhoto]:
    chosen = [f for f in files if f and f.filename]
    if len(chosen) > max_count:
        raise UploadError(_("At most %(n)d photos.", n=max_count))
    checked = []
    for upload in chosen:
        content = upload.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise TooLarge(_("%(name)s: larger than %(size)s.", name=upload.filename, size=_size(max_bytes)))
        kind = _kind(content)
        if kind is None:
            raise UploadError(_("%(name)s: not a JPEG, PNG or WebP image.", name=upload.filename))
        name = Path(upload.filename.replace("\\", "/")).name[:200] or "photo"
        checked.append(CheckedPhoto(name, content, *kind))
    return checked


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def _kind(content: bytes) -> tuple[str, str] | None:
    for signature, content_type, extension in _SIGNATURES:
        if content.startswith(signature):
            return content_type, extension
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def store(photos: list[CheckedPhoto]) -> list[tuple[CheckedPhoto, str]]:
    """Write the files; returns (photo, stored name). On any failure nothing stays written.

    :raise OSError: the disk refused (full, read-only); the caller reports it.
    """
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[CheckedPhoto, str]] = []
    try:
        for photo in photos:
            stored = f"{uuid.uuid4().hex}{photo.extension}"
            written.append((photo, stored))  # first: a write that fails half-way leaves a part
            (folder / stored).write_bytes(photo.content)
    except OSError:
        discard(stored for _, stored in written)
        raise
    return written


def discard(stored_names) -> None:
    folder = upload_folder()
    for stored in stored_names:
        (folder / stored).unlink(missing_ok=True)


def attachment_rows(written, instance_id: str, user: str, now: datetime) -> list[Attachment]:
    return [Attachment(id=str(uuid.uuid4()), instance_id=instance_id, filename=photo.filename,
                       stored_name=stored, content_type=photo.content_type, size=len(photo.content),
                       uploaded_by=user, uploaded_at=now)
            for photo, stored in written]
