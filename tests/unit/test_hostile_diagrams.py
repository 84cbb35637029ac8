"""Hostile XML in deployed diagrams, on every path that parses one: deploying and previewing
(engine/catalogue.py) and drawing a stored diagram (web/diagram_svg.py). A DOCTYPE, entity
expansion (billion laughs), external entities and DTDs (file:// and http://), parameter
entities and XInclude are refused with a clear message, nothing is deployed, no file is read
into the result and no connection is ever made. ``test_deploy.py`` and ``test_diagram_svg.py``
cover the first cases; these are the rest, with a listening socket to prove the network is
never touched."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine import InvalidDiagram, make_engine
from engine.catalogue import parse_xml
from engine.models import Deployment, DeploymentResource, ProcessDefinition
from tests.conftest import BPMN_DIR, FIXTURES
from web.diagram_svg import render_svg

APPROVAL = (FIXTURES / "approval.bpmn").read_text()
BODY = APPROVAL.split("?>", 1)[1]  # the document after its XML declaration
DMN = (BPMN_DIR / "service_level.dmn").read_text()
DMN_BODY = DMN.split("?>", 1)[1]
XINCLUDE = "http://www.w3.org/2001/XInclude"
DRAWABLE = (BPMN_DIR / "rectification.bpmn").read_text()


@pytest.fixture
def sa_engine(sqlite_url):
    """What the parser accepts does not depend on the database server: SQLite only."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


class Listener:
    """A TCP server on loopback that records every connection made to it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def secret(tmp_path):
    """A local file whose content must never appear anywhere."""
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-7f3a")
    return path


def attacks(url: str, secret_uri: str, body: str = BODY) -> dict[str, str]:
    """Each attack as a whole BPMN document made from ``body`` (a document without its XML
    declaration); ``url`` is a listening server."""
    inside = "<bpmn:documentation>&x;</bpmn:documentation>"
    with_doc = body.replace("<bpmn:userTask ", f'<bpmn:task id="Doc">{inside}</bpmn:task><bpmn:userTask ', 1)
    xinclude = body.replace(
        "<bpmn:userTask ",
        f'<bpmn:task id="Doc"><bpmn:documentation><xi:include xmlns:xi="{XINCLUDE}" '
        'href="{href}" parse="text"/></bpmn:documentation></bpmn:task><bpmn:userTask ', 1)
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    laughs = "".join(f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10))
    return {
        "plain doctype": f"{head}<!DOCTYPE definitions>{body}",
        "internal entity": f'{head}<!DOCTYPE d [<!ENTITY x "hello">]>{with_doc}',
        "billion laughs": f'{head}<!DOCTYPE d [<!ENTITY l0 "ha">{laughs}<!ENTITY x "&l9;">]>{with_doc}',
        "external entity, file": f'{head}<!DOCTYPE d [<!ENTITY x SYSTEM "{secret_uri}">]>{with_doc}',
        "external entity, http": f'{head}<!DOCTYPE d [<!ENTITY x SYSTEM "{url}/x">]>{with_doc}',
        "external DTD": f'{head}<!DOCTYPE definitions SYSTEM "{url}/evil.dtd">{body}',
        "public DTD": f'{head}<!DOCTYPE definitions PUBLIC "-//EVIL//DTD" "{url}/evil.dtd">{body}',
        "parameter entity": f'{head}<!DOCTYPE d [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>{body}',
        "parameter entity, file": f'{head}<!DOCTYPE d [<!ENTITY % p SYSTEM "{secret_uri}"> %p;]>{body}',
        "XInclude, file": f"{head}{xinclude.replace('{href}', secret_uri)}",
        "XInclude, http": f"{head}{xinclude.replace('{href}', url + '/inc')}",
        "XInclude, 2003 namespace": f"{head}{xinclude.replace('{href}', url).replace('2001', '2003')}",
        "doctype after a comment": f"{head}<!-- hello --><!DOCTYPE d [<!ENTITY x \"y\">]>{with_doc}",
        "UTF-16 doctype": "UTF-16",  # built below, encoded differently
        "deep nesting": head + body.replace("</bpmn:process>", "<bpmn:extensionElements>" + "<a>" * 5000
                                            + "</a>" * 5000 + "</bpmn:extensionElements></bpmn:process>", 1),
    }


def encoded(name: str, text: str, body: str = BODY) -> bytes:
    if name == "UTF-16 doctype":
        head = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x "y">]>'
        return (head + body).encode("utf-16")
    return text.encode()


ATTACKS = sorted(attacks("http://127.0.0.1:1", "file:///etc/passwd"))
REFUSALS = ("DOCTYPE declarations and entities are not allowed", "XInclude is not allowed",
            "not well-formed XML")


def _no_trace_anywhere(sa_engine, problems) -> None:
    with sa_engine.connect() as connection:
        for model in (Deployment, DeploymentResource, ProcessDefinition):
            assert connection.scalar(select(func.count()).select_from(model)) == 0
    assert all("TOP-SECRET" not in str(p) for p in problems)


@pytest.mark.parametrize("name", ATTACKS)
def test_hostile_xml_is_refused_at_deploy_and_nothing_is_fetched(engine, sa_engine, listener, secret, name):
    content = encoded(name, attacks(f"http://127.0.0.1:{listener.port}", secret.as_uri())[name])
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy({"approval.bpmn": content}, name="hostile")
    problems = caught.value.problems
    assert any(refusal in p.message for p in problems for refusal in REFUSALS), problems
    assert all(p.file == "approval.bpmn" for p in problems)
    _no_trace_anywhere(sa_engine, problems)
    preview = engine.preview_deployment({"approval.bpmn": content})  # the deploy page's first step
    assert not preview.deployable and not preview.processes
    assert listener.connections == 0


def test_hostile_xml_in_a_decision_table_is_refused(engine, sa_engine, listener, secret):
    url = f"http://127.0.0.1:{listener.port}"
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    for attack in (f'{head}<!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>{DMN_BODY}',
                   f'{head}<!DOCTYPE definitions SYSTEM "{url}/evil.dtd">{DMN_BODY}',
                   head + DMN_BODY.replace("<decision ", f'<xi:include xmlns:xi="{XINCLUDE}" '
                                                         f'href="{url}"/><decision ', 1)):
        with pytest.raises(InvalidDiagram) as caught:
            engine.deploy({"approval.bpmn": APPROVAL.encode(), "service_level.dmn": attack.encode()},
                          name="hostile")
        assert any(p.file == "service_level.dmn" for p in caught.value.problems)
        _no_trace_anywhere(sa_engine, caught.value.problems)
    assert listener.connections == 0


@pytest.mark.parametrize("name", ATTACKS)
def test_a_stored_diagram_is_drawn_only_when_it_is_plain_xml(listener, secret, name):
    """Drawing parses the stored file again: the same refusals, the same silence (on a
    diagram that draws when left alone)."""
    assert render_svg(DRAWABLE.encode()).startswith("<svg")
    body = DRAWABLE.split("?>", 1)[1]
    content = encoded(name, attacks(f"http://127.0.0.1:{listener.port}", secret.as_uri(), body)[name], body)
    with pytest.raises(ValueError, match="|".join(REFUSALS)) as caught:
        render_svg(content)
    assert "TOP-SECRET" not in str(caught.value)
    assert listener.connections == 0


# Fragments that could open a DOCTYPE, an entity, a PI or an include, placed anywhere
# before, inside or after the document: whatever parses is plain BPMN, nothing else.
_FRAGMENTS = st.sampled_from([
    "<!DOCTYPE d>", '<!DOCTYPE d [<!ENTITY x "y">]>', "&x;", "&amp;", "&#0;", "&#x10FFFF;", "<![CDATA[&x;]]>",
    '<?xml-stylesheet href="http://127.0.0.1:1/s"?>', "<!-- -->", "<!ENTITY x 'y'>", "%p;",
    '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>', "]]>", "\ufeff",
])


_DECLARATION_END = APPROVAL.index("?>") + 2
_ROOT_START = APPROVAL.index("<bpmn:definitions")
# Anywhere, but mostly where a DOCTYPE or an entity would take effect.
_POSITIONS = st.integers(0, len(APPROVAL)) | st.sampled_from([
    0, _DECLARATION_END, _ROOT_START, APPROVAL.index(">", _ROOT_START) + 1,
    APPROVAL.index("<bpmn:script>") + len("<bpmn:script>"), len(APPROVAL)])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_POSITIONS, _FRAGMENTS), min_size=1, max_size=3))
def test_fragments_anywhere_give_plain_bpmn_or_a_clear_refusal(insertions):
    text = APPROVAL
    for position, fragment in sorted(insertions, reverse=True):
        text = text[:position] + fragment + text[position:]
    tree, problem = parse_xml(text.encode(), "approval.bpmn")
    if problem is not None:
        assert problem.file == "approval.bpmn" and problem.message
        return
    info = tree.getroottree().docinfo
    assert info.doctype == "" and info.internalDTD is None
    assert not list(tree.iter("{http://www.w3.org/2001/XInclude}*"))


# Text the engine keeps in columns: longer text deployed on SQLite and failed on PostgreSQL
# with a 500 at the first instance that reached it (a task's name in the worklist, say).
TOO_LONG = {
    "task name": ('name="Approve"', f'name="{"长" * 256}"', "Approve", "name"),
    "task id": ('id="Approve"', f'id="{"A" * 256}"', "A" * 256, "id"),
    "process id": ('id="approval"', f'id="{"p" * 201}"', "p" * 201, "process id"),
    "process name": ('name="Approval"', f'name="{"n" * 256}"', "approval", "process name"),
    "deadline": ('value="approval"', f'value="{"d" * 65}"', "Reminder", "deadline"),
}


@pytest.mark.parametrize("case", sorted(TOO_LONG))
def test_text_too_long_for_its_column_is_refused_at_deploy(engine, sa_engine, case):
    old, new, element, what = TOO_LONG[case]
    assert old in APPROVAL
    with pytest.raises(InvalidDiagram) as caught:
        engine.deploy({"approval.bpmn": APPROVAL.replace(old, new, 1).encode()}, name="long")
    assert any(p.element_id == element and f"the {what} is longer than" in p.message
               for p in caught.value.problems), caught.value.problems
    _no_trace_anywhere(sa_engine, caught.value.problems)
