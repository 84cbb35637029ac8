"""Hostile uploads: photos with requests and diagram files for deployment (the deploy page
and Camunda's POST /deployment/create). Files that are not what they claim are refused by
their content; one file over its limit, or a request over the whole limit, is a 413 (a page
for people, Camunda's JSON for the API); path tricks in file names never reach the disk —
photos are stored under the upload folder by a generated name, diagrams only in the
database — and a download cannot leave the folder. Nothing refused leaves a trace."""

from __future__ import annotations

import base64
import io
import re
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import FIXTURES
from tests.integration.hostile import examples, fingerprint
from tests.integration.test_web import PNG, REQUEST
from web.demo import DEMO_PASSWORD
from web.extensions import db
from web.models import Attachment

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
APPROVAL = (FIXTURES / "approval.bpmn").read_bytes()
STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg|webp)$")
PROBLEM = 'data-testid="request-problem"'
# Refusals made before anything reaches the database run on SQLite only; what is stored
# (photo and diagram file names in columns) is checked on both databases.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def files_under(folder: Path) -> set[Path]:
    """Every file below ``folder``, but the test databases."""
    return {p for p in folder.rglob("*") if p.is_file() and ".db" not in p.name}


@pytest.fixture
def owner(app, demo, browser):
    person = browser("owner_wang")
    person.get("/requests/new")
    return person


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart body with file names exactly as given: quotes and line breaks escaped as
    browsers do, backslashes escaped so the server reads them as sent. (Werkzeug's test
    client writes names into the header unescaped.)"""
    boundary = "----hostile" + uuid.uuid4().hex

    def quoted(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")

    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(k)}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts += [(f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(field)}"; '
               f'filename="{quoted(name)}"\r\nContent-Type: image/jpeg\r\n\r\n').encode() + content + b"\r\n"
              for field, name, content in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def submit(owner, photos: list[tuple[bytes, str]], **fields):
    """The request form with these photos, as a browser posts it."""
    body, kind = multipart({**REQUEST, **fields, "csrf_token": owner.token},
                           [("photos", name, content) for content, name in photos])
    response = owner.client.post("/requests/new", data=body, content_type=kind)
    response.get_data()
    response.close()
    return response


def attachments(app) -> list[Attachment]:
    with app.app_context():
        return list(db.session.scalars(select(Attachment)))


def _basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{DEMO_PASSWORD}".encode()).decode()}


def deploy_api(client, name: str, content: bytes, **fields):
    """Camunda's POST /deployment/create, as a process owner."""
    body, kind = multipart({"deployment-name": "hostile", **fields}, [("data", name, content)])
    response = client.post("/engine-rest/deployment/create", headers=_basic("po_zhou"), data=body,
                           content_type=kind)
    response.get_data()
    response.close()
    return response


# --- what is not an image -------------------------------------------------------------------

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
NOT_IMAGES = st.one_of(
    st.binary(min_size=0, max_size=2000).filter(
        lambda b: not b.startswith(_SIGNATURES) and not (b[:4] == b"RIFF" and b[8:12] == b"WEBP")),
    st.sampled_from([
        b"GIF89a\x01\x00\x01\x00", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"<html><script>alert(1)</script></html>", b"<?php system($_GET['c']); ?>", b"%PDF-1.7\n",
        b"MZ\x90\x00", b"PK\x03\x04", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"\xef\xbb\xbf\xff\xd8\xff",
        b" \x89PNG\r\n\x1a\n", b"\x00\x00\x01\x00"]),
)
# Any name but one with a NUL (refused before any form: below).
_NAME_TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=20)
IMAGE_NAMES = st.tuples(_NAME_TEXT.filter(bool),
                        st.sampled_from([".jpg", ".jpeg", ".png", ".webp", ".JPG", ".png.php", ".php.png"]))


@SQLITE_ONLY
def test_files_that_are_not_images_are_refused_whatever_their_name(app, owner, database_url, tmp_path):
    before, files = fingerprint(app), files_under(tmp_path.parent)

    @settings(max_examples=examples(database_url, 30), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(NOT_IMAGES, IMAGE_NAMES, st.booleans())
    def check(content, name, with_a_good_one):
        photos = [(PNG, "good.png")] * with_a_good_one + [(content, "".join(name))]
        response = submit(owner, photos)
        assert response.status_code == 422 and PROBLEM in response.get_data(as_text=True)

    check()
    assert fingerprint(app) == before and files_under(tmp_path.parent) == files


@SQLITE_ONLY
def test_a_photo_over_its_limit_and_too_many_photos_are_refused(app, owner, tmp_path):
    app.config["MAX_PHOTO_BYTES"] = 100 * 1024  # bodies stay small enough not to be spooled to disk
    before, files = fingerprint(app), files_under(tmp_path.parent)
    big = PNG + b"\x00" * (100 * 1024 + 1 - len(PNG))
    response = submit(owner, [(PNG, "a.png"), (big, "big.png")])
    assert response.status_code == 413 and PROBLEM in response.get_data(as_text=True)
    assert submit(owner, [(PNG, "a.png")] * (app.config["MAX_PHOTOS"] + 1)).status_code == 422
    assert fingerprint(app) == before and files_under(tmp_path.parent) == files
    exactly = PNG + b"\x00" * (100 * 1024 - len(PNG))
    assert submit(owner, [(exactly, "limit.png")]).status_code == 303  # the limit itself is allowed


@SQLITE_ONLY
def test_a_request_over_the_whole_limit_is_413_for_people_and_for_the_api(app, owner, client, tmp_path):
    app.config.update(MAX_PHOTO_BYTES=200 * 1024, MAX_CONTENT_LENGTH=300 * 1024)
    before, files = fingerprint(app), files_under(tmp_path.parent)
    photo = PNG + b"\x00" * (160 * 1024)
    page = submit(owner, [(photo, "one.png"), (photo, "two.png")])
    assert page.status_code == 413 and page.mimetype == "text/html"
    api = deploy_api(client, "approval.bpmn", APPROVAL + b" " * (310 * 1024))
    assert api.status_code == 413 and api.get_json()["type"] == "RestException"
    assert fingerprint(app) == before and files_under(tmp_path.parent) == files


# --- path tricks in file names --------------------------------------------------------------

# Every trick aims inside the test's own directory, so that even a broken protection could
# not write over anything that matters: absolute names start there, and the upload folder is
# nested deeper than the most ".." a name can hold.
_PARTS = st.sampled_from(["..", ".", "", "etc", "passwd", "~", "C:", "\\..", "..\\..", "%2e%2e", "․․",
                          "．．", "..%c0%af", "\u202e", "con", "uploads", "x" * 120])


def tricky_names(root: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(["", f"{root}/", "\\", "C:\\", f"/{root}/", f"file://{root}/"]),
                  st.lists(_PARTS, max_size=6), st.sampled_from(["/", "\\"]),
                  _NAME_TEXT, st.sampled_from([".png", ".jpg", ""])).map(
            lambda t: t[0] + t[2].join([*t[1], t[3] + t[4]])),
        st.sampled_from(["../../escape.png", f"{root}/escape.png", "..\\..\\windows\\win.ini",
                         "a/../../b.png", "<img src=x onerror=alert(1)>.png", "photo.png;.php", " .png",
                         ".png", "x" * 1000 + ".png"]),
    ).filter(lambda name: name.strip() != "" and _aims_inside(name, root))


def _aims_inside(name: str, root: str) -> bool:
    """Absolute only below ``root`` (and never up from it); relative with fewer ".." than
    the upload folder is deep."""
    ups = name.split("/").count("..")
    if name.startswith("/"):
        return name.startswith((f"{root}/", f"/{root}/")) and ups == 0
    return ups <= 12


def test_path_tricks_in_photo_names_never_reach_the_disk(app, owner, database_url, tmp_path):
    folder = tmp_path.joinpath(*(f"d{i}" for i in range(16)), "uploads")
    app.config["UPLOAD_FOLDER"] = str(folder)
    outside = files_under(tmp_path.parent)

    @settings(max_examples=examples(database_url, 25), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(tricky_names(str(tmp_path)), st.sampled_from([PNG, JPEG, WEBP]))
    def check(name, content):
        response = submit(owner, [(content, name)])
        assert response.status_code == 303, response.status_code
        case_url = response.headers["Location"]
        [attachment] = [a for a in attachments(app) if a.instance_id == case_url.rsplit("/", 1)[1]]
        assert STORED_NAME.match(attachment.stored_name)
        assert (folder / attachment.stored_name).read_bytes() == content
        assert "/" not in attachment.filename and "\\" not in attachment.filename
        assert 0 < len(attachment.filename) <= 200
        page = owner.get(case_url).get_data(as_text=True)
        assert "<img src=x onerror" not in page
        download = owner.get(f"{case_url}/photos/{attachment.id}")
        assert download.status_code == 200 and download.data == content
        assert download.headers["X-Content-Type-Options"] == "nosniff"

    check()
    assert files_under(tmp_path.parent) - files_under(folder) == outside  # nothing written elsewhere
    assert owner.post("/requests/new", {**REQUEST, "photos": (io.BytesIO(PNG), "a\x00/../../x.png")},
                      content_type="multipart/form-data", page="/requests/new").status_code == 400


@SQLITE_ONLY
def test_downloads_cannot_leave_the_upload_folder(app, owner, tmp_path):
    response = submit(owner, [(PNG, "tap.png")])
    case_url = response.headers["Location"]
    [attachment] = attachments(app)
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    for trick in ("..%2f..%2fsecret.txt", "../../secret.txt", "%2e%2e%2f%2e%2e%2fsecret.txt",
                  "..%5c..%5csecret.txt", "/etc/passwd", "%2fetc%2fpasswd", attachment.stored_name,
                  f"{attachment.id}/../../secret.txt", "%00"):
        got = owner.get(f"{case_url}/photos/{trick}")
        assert got.status_code in (400, 404), (trick, got.status_code)
        assert b"TOP-SECRET" not in got.data and b"root:" not in got.data
    with app.app_context():  # even a row pointing outside is not served
        db.session.get(Attachment, attachment.id).stored_name = "../secret.txt"
        db.session.commit()
    got = owner.get(f"{case_url}/photos/{attachment.id}")
    assert got.status_code == 404 and b"TOP-SECRET" not in got.data


# --- diagram files --------------------------------------------------------------------------

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>'
BODY = APPROVAL.split(b"?>", 1)[1]
HOSTILE_DIAGRAMS = {
    "billion laughs": HEAD + b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                             b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                      + BODY.replace(b"Approve", b"&c;", 1),
    "external entity": HEAD + b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       + BODY.replace(b"Approve", b"&x;", 1),
    "external DTD": HEAD + b'<!DOCTYPE definitions SYSTEM "http://127.0.0.1:1/evil.dtd">' + BODY,
    "XInclude": HEAD + BODY.replace(
        b"<bpmn:process ", b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                           b'href="file:///etc/passwd" parse="text"/><bpmn:process ', 1),
    "not XML": b"\x89PNG\r\n\x1a\n not a diagram",
    "empty": b"",
    "a script escape": APPROVAL.replace(b'due = add_duration(started_at, "PT4H")',
                                        b"x = ().__class__.__mro__[1].__subclasses__()"),
    "a greedy script": APPROVAL.replace(b'due = add_duration(started_at, "PT4H")', b"x = f'{1:>99999999}'"),
}


def deploy_page(person, files: dict[str, bytes]):
    person.get("/deploy/")
    response = person.client.post("/deploy/check", data={
        "csrf_token": person.token, "name": "hostile",
        "files": [(io.BytesIO(content), name) for name, content in files.items()]},
        content_type="multipart/form-data")
    response.get_data()
    response.close()
    return response


@SQLITE_ONLY
def test_hostile_diagrams_are_refused_on_the_page_and_the_api(app, demo, browser, client, tmp_path):
    before, files = fingerprint(app), files_under(tmp_path.parent)
    owner = browser("po_zhou")
    for attack, content in HOSTILE_DIAGRAMS.items():
        page = deploy_page(owner, {"approval.bpmn": content})
        assert page.status_code == 422 and 'data-testid="problem"' in page.get_data(as_text=True), attack
        api = deploy_api(client, "approval.bpmn", content)
        assert api.status_code == 400, (attack, api.get_data(as_text=True))
        body = api.get_json()
        assert body["type"] == "ParseException" and "ENGINE-09005" in body["message"], attack
        assert "root:" not in api.get_data(as_text=True)
    assert fingerprint(app) == before and files_under(tmp_path.parent) == files


def test_diagram_file_names_and_sizes(app, demo, browser, client, tmp_path):
    """Path tricks stay names in the database; a name or a file too long is refused."""
    files = files_under(tmp_path.parent)
    owner = browser("po_zhou")
    app.config["DEPLOY_MAX_FILE_BYTES"] = 20 * 1024
    assert deploy_page(owner, {"big.bpmn": APPROVAL + b" " * (20 * 1024)}).status_code == 413
    page = deploy_page(owner, {"../../../tmp/evil.bpmn": APPROVAL}).get_data(as_text=True)
    assert re.findall(r'name="file_name" value="([^"]*)"', page) == ["evil.bpmn"]
    before = fingerprint(app)
    for name in ("x" * 300 + ".bpmn",):
        assert deploy_page(owner, {name: APPROVAL}).status_code == 422
    for field, value in (("deployment-name", "n" * 256), ("deployment-source", "s" * 256)):
        response = deploy_api(client, "approval.bpmn", APPROVAL, **{field: value})
        assert response.status_code == 400 and field in response.get_json()["message"]
    response = deploy_api(client, "y" * 300 + ".bpmn", APPROVAL)
    assert response.status_code == 400 and "longer than 255" in response.get_json()["message"]
    assert fingerprint(app) == before
    # Aimed inside this test's directory, from wherever a file could be written.
    tricks = (f"{tmp_path}/evil.bpmn", "../" * 12 + f"{str(tmp_path).lstrip('/')}/evil2.bpmn",
              "..\\..\\evil.bpmn")
    for trick in tricks:
        response = deploy_api(client, trick, APPROVAL, **{"deployment-name": trick})
        assert response.status_code == 200
        [definition] = response.get_json()["deployedProcessDefinitions"].values()
        assert definition["resource"] == trick  # a name, as Camunda keeps it: never a path on disk
    assert files_under(tmp_path.parent) == files
