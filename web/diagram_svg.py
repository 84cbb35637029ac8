"""Render a BPMN 2.0 diagram to a standalone SVG from its diagram interchange (DI), without a browser.

The case dossier (A-1) archives "the diagram as SVG": this draws what bpmn-js would show closely
enough to read side by side with the live viewer, with a case's marks (done, active, breached, taken)
and short notes (who, when, how long) on it. The output is self-contained: no scripts, no external
fonts or images, every text escaped. Each element's group carries ``id`` and ``data-element-id``.

Text widths are estimated (Helvetica's advance widths for ASCII, one em for CJK), and external labels
keep the line count of their DI bounds, so wrapping is close to, not exactly, the Modeler's.
"""

from __future__ import annotations

import functools
import itertools
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
XINCLUDE_TAGS = ("{http://www.w3.org/2001/XInclude}*", "{http://www.w3.org/2003/XInclude}*")
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
SVG_NS = "http://www.w3.org/2000/svg"

FONT_FAMILY = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"
INK = "#22242a"
PAPER = "#ffffff"
MARGIN = 20
LABEL_WIDTH = 90  # bpmn-js wraps a new external label at 90 px; saved DI label bounds refine it
NOTE_WIDTH = 220

TASKS = {"task", "userTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
         "manualTask", "callActivity"}
SUBPROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
EXTERNAL_LABELS = EVENTS | GATEWAYS | {"dataObjectReference", "dataStoreReference", "dataObject"}
THROWING = {"endEvent", "intermediateThrowEvent"}


@dataclass(frozen=True)
class _Style:
    stroke: str = INK
    fill: str = PAPER
    weight: float = 1.0  # multiplies the element's normal stroke width


PLAIN = _Style()
MARK_STYLES = {
    "done": _Style(stroke="#2e7d32"),
    "active": _Style(stroke="#1565c0", fill="#e3f2fd", weight=2.0),
    "breached": _Style(stroke="#c62828", fill="#fdecea", weight=1.5),
    "taken": _Style(stroke="#2e7d32", weight=1.5),
}


@dataclass(frozen=True)
class _Bounds:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class _Item:
    """One BPMNShape or BPMNEdge with the semantic element it shows."""

    id: str
    kind: str
    element: etree._Element
    di: etree._Element
    bounds: _Bounds  # the shape, or the box around an edge's waypoints
    label: _Bounds | None
    points: tuple[tuple[float, float], ...] = ()


def render_svg(bpmn_xml: bytes, *, process_id: str | None = None, marks: Mapping[str, str] | None = None,
               notes: Mapping[str, str] | None = None) -> str:
    """Draw the diagram showing ``process_id`` (default: the first collaboration or process diagram).

    ``marks`` maps element ids to "done", "active", "breached" or "taken"; ``notes`` maps element ids to
    a short text drawn in a box near the element. Ids that are not on the diagram are ignored.

    :raise ValueError: if the XML is malformed or declares a DOCTYPE, is not BPMN, has no diagram for
        ``process_id``, or a mark is not one of the four names.
    """
    marks = _checked_marks(marks or {})
    root = _parse(bpmn_xml)
    semantic = {el.get("id"): el for el in root.iter(f"{{{BPMN_NS}}}*") if el.get("id")}
    plane = _find_plane(root, semantic, process_id)
    canvas = _Canvas(marks, semantic)
    for item in _items(plane, semantic):
        canvas.draw(item)
    for element_id, text in (notes or {}).items():
        canvas.draw_note(element_id, str(text))
    return canvas.to_string()


def _checked_marks(marks: Mapping[str, str]) -> Mapping[str, str]:
    for element_id, value in marks.items():
        if value not in MARK_STYLES:
            names = ", ".join(MARK_STYLES)
            raise ValueError(f"unknown mark {value!r} for {element_id!r}: use one of {names}")
    return marks


def _parse(content: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in content:  # an entity the parser refused to expand: name the real cause
            raise ValueError("DOCTYPE declarations and entities are not allowed in diagrams") from exc
        raise ValueError(f"the diagram is not well-formed XML: {exc.msg}") from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise ValueError("DOCTYPE declarations and entities are not allowed in diagrams")
    if next(iter(root.iter(*XINCLUDE_TAGS)), None) is not None:
        raise ValueError("XInclude is not allowed in diagrams")
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise ValueError("the file is not a BPMN 2.0 definitions document")
    return root


def _find_plane(root: etree._Element, semantic: dict, process_id: str | None) -> etree._Element:
    planes = list(root.iter(f"{{{BPMNDI_NS}}}BPMNPlane"))
    for plane in planes:
        shown = semantic.get(plane.get("bpmnElement"))
        if shown is None:
            continue
        if process_id is None and _local(shown) in {"process", "collaboration"}:
            return plane
        if process_id is not None and process_id in _processes_shown(shown):
            return plane
    if process_id is None and planes:
        return planes[0]
    raise ValueError(f"the file has no diagram for process {process_id!r}" if process_id
                     else "the file has no diagram interchange (BPMNDiagram)")


def _processes_shown(element: etree._Element) -> set[str]:
    if _local(element) == "process":
        return {element.get("id")}
    return {p.get("processRef") for p in element.iter(f"{{{BPMN_NS}}}participant") if p.get("processRef")}


def _items(plane: etree._Element, semantic: dict) -> Iterable[_Item]:
    seen: set[str] = set()
    for di in plane:
        element = semantic.get(di.get("bpmnElement"))
        if element is None or element.get("id") in seen or di.tag not in _DI_TAGS:
            continue
        seen.add(element.get("id"))
        label = di.find(f"{{{BPMNDI_NS}}}BPMNLabel/{{{DC_NS}}}Bounds")
        label_bounds = _bounds(label) if label is not None else None
        if di.tag == f"{{{BPMNDI_NS}}}BPMNShape":
            shape = di.find(f"{{{DC_NS}}}Bounds")
            if shape is not None:
                yield _Item(element.get("id"), _local(element), element, di, _bounds(shape), label_bounds)
            continue
        points = tuple((_num(p, "x"), _num(p, "y")) for p in di.iter(f"{{{DI_NS}}}waypoint"))
        if len(points) >= 2:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            box = _Bounds(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            yield _Item(element.get("id"), _local(element), element, di, box, label_bounds, points)


_DI_TAGS = {f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"}


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _num(element: etree._Element, name: str) -> float:
    try:
        return float(element.get(name, "0"))
    except ValueError as exc:
        raise ValueError(f"bad number {element.get(name)!r} in the diagram's {name} coordinate") from exc


def _bounds(element: etree._Element) -> _Bounds:
    return _Bounds(_num(element, "x"), _num(element, "y"), _num(element, "width"), _num(element, "height"))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _d(*parts: object) -> str:
    """Path data from commands and numbers: _d("M", 1, 2.5, "h", 3) == "M 1 2.5 h 3"."""
    return " ".join(p if isinstance(p, str) else _fmt(float(p)) for p in parts)


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{_fmt(float(x))},{_fmt(float(y))}" for x, y in points)


def _sub(parent: etree._Element, tag: str, attrs: Mapping[str, object] | None = None,
         text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}", {k: _fmt(v) for k, v in (attrs or {}).items()})
    if text is not None:
        element.text = text
    return element


# --- text -------------------------------------------------------------------------------------------

# Advance widths of Helvetica/Arial (the Modeler's label font) for " " to "~", in thousandths of an em.
_ASCII_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,  # space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,  # 0 to ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,  # @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,  # P to _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,  # ` to o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,  # p to ~
)


@functools.lru_cache(maxsize=4096)
def _char_em(char: str) -> float:
    if " " <= char <= "~":
        return _ASCII_WIDTHS[ord(char) - 32] / 1000
    # Ambiguous-width characters (·, “, —) come from the CJK font first in FONT_FAMILY: full width.
    return 1.0 if unicodedata.east_asian_width(char) in {"W", "F", "A"} else 0.556


def _text_width(text: str, size: float) -> float:
    return size * sum(_char_em(c) for c in text)


def _wrap(text: str, width: float, size: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        lines.extend(_wrap_words(paragraph.split(), width, size))
    return lines


def _wrap_words(words: list[str], width: float, size: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if _text_width(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while len(line) > 1 and _text_width(line, size) > width:
            head = _longest_prefix(line, width, size)
            lines.append(head)
            line = line[len(head):]
    if line:
        lines.append(line)
    return lines


def _longest_prefix(word: str, width: float, size: float) -> str:
    end = 1
    while end < len(word) and _text_width(word[:end + 1], size) <= width:
        end += 1
    return word[:end]


def _label_lines(text: str, bounds: _Bounds | None, size: float) -> list[str]:
    """Wrap an external label as the Modeler did: its DI bounds give the width and the number of lines."""
    if bounds is None:
        return _wrap(text, LABEL_WIDTH, size)
    wanted = max(1, round(bounds.h / (size * 1.2)))
    width = bounds.w
    lines = _wrap(text, width, size)
    while len(lines) > wanted and width < 2 * LABEL_WIDTH:
        width += 4  # our widths are estimates: widen a little rather than add a line the Modeler had not
        lines = _wrap(text, width, size)
    return lines


def _text_block(parent: etree._Element, lines: list[str], x: float, top: float, size: float,
                anchor: str = "middle") -> etree._Element:
    """Lines as tspans, the first line's top at ``top``; baselines set explicitly for any renderer."""
    text = _sub(parent, "text", {"x": x, "font-size": size, "text-anchor": anchor, "fill": INK})
    for index, line in enumerate(lines):
        _sub(text, "tspan", {"x": x, "y": top + size * (0.9 + 1.2 * index)}, line)
    return text


def _block_height(lines: list[str], size: float) -> float:
    return len(lines) * size * 1.2


# --- the canvas ------------------------------------------------------------------------------------

class _Canvas:
    LAYERS = ("pools", "lanes", "subprocesses", "nodes", "boundary", "edges", "labels", "notes")

    def __init__(self, marks: Mapping[str, str], semantic: Mapping[str, etree._Element]):
        self.marks = marks
        self.semantic = semantic
        self.svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        self.defs = _sub(self.svg, "defs")
        self.layers = {name: _sub(self.svg, "g", {"class": f"layer-{name}"}) for name in self.LAYERS}
        self.markers: set[str] = set()
        self.drawn: dict[str, _Item] = {}
        self.extent = [math.inf, math.inf, -math.inf, -math.inf]

    def extend(self, x: float, y: float, w: float = 0.0, h: float = 0.0) -> None:
        ext = self.extent
        ext[0], ext[1] = min(ext[0], x), min(ext[1], y)
        ext[2], ext[3] = max(ext[2], x + w), max(ext[3], y + h)

    def draw(self, item: _Item) -> None:
        self.drawn[item.id] = item
        style = self.style(item.id)
        group = self.group(self.layers[_layer(item)], item)
        if item.points:
            self.draw_edge(group, item, style)
        else:
            self.extend(item.bounds.x, item.bounds.y, item.bounds.w, item.bounds.h)
            _SHAPES.get(_shape_family(item.kind), _draw_generic)(self, group, item, style)
        name = _name(item)
        if name and (item.points or item.kind in EXTERNAL_LABELS):
            self.external_label(item, name)

    def style(self, element_id: str) -> _Style:
        return MARK_STYLES[self.marks[element_id]] if element_id in self.marks else PLAIN

    def group(self, layer: etree._Element, item: _Item) -> etree._Element:
        attrs = {"id": item.id, "data-element-id": item.id, "data-kind": item.kind,
                 "class": f"bpmn-element {item.kind}"}
        mark = self.marks.get(item.id)
        if mark:
            attrs["data-mark"] = mark
        group = _sub(layer, "g", attrs)
        _sub(group, "title", None, _name(item) or item.id)
        return group

    def external_label(self, item: _Item, name: str) -> None:
        size = 11
        lines = _label_lines(name, item.label, size)
        width = max(_text_width(line, size) for line in lines) if lines else 0
        height = _block_height(lines, size)
        if item.label is not None:
            cx, top = item.label.cx, item.label.y
        elif item.points:
            cx, top = _edge_label_position(item.points, width, height)
        else:
            cx, top = item.bounds.cx, item.bounds.y + item.bounds.h + 5
        group = _sub(self.layers["labels"], "g", {"class": "label", "data-label-for": item.id})
        _text_block(group, lines, cx, top, size)
        self.extend(cx - width / 2, top, width, height)

    def marker(self, kind: str, colour: str) -> str:
        marker_id = f"marker-{kind}-{colour.lstrip('#')}"
        if marker_id not in self.markers:
            self.markers.add(marker_id)
            _MARKERS[kind](self.defs, marker_id, colour)
        return f"url(#{marker_id})"

    def draw_edge(self, group: etree._Element, item: _Item, style: _Style) -> None:
        for x, y in item.points:
            self.extend(x, y)
        attrs = {"points": _points(item.points), "fill": "none",
                 "stroke": style.stroke, "stroke-width": 1.5 * style.weight, "stroke-linejoin": "round"}
        attrs.update(_edge_decoration(self, item, style))
        _sub(group, "polyline", attrs)
        source = self.semantic.get(item.element.get("sourceRef"))
        if item.kind == "sequenceFlow" and source is not None and source.get("default") == item.id:
            _default_slash(group, item.points, style)

    def draw_note(self, element_id: str, text: str) -> None:
        item = self.drawn.get(element_id)
        if item is None or not text.strip():
            return
        size, pad = 10, 4
        lines = _wrap(text, NOTE_WIDTH - 2 * pad, size)
        width = max(_text_width(line, size) for line in lines) + 2 * pad
        height = _block_height(lines, size) + 2 * pad
        if item.points:
            cx, cy = _midpoint(item.points)
            x, y = cx - width / 2, cy + 6
        else:
            x, y = item.bounds.x, item.bounds.y - height - 4
        border = self.style(element_id).stroke if element_id in self.marks else "#b08800"
        group = _sub(self.layers["notes"], "g", {"class": "note", "data-note-for": element_id})
        _sub(group, "rect", {"x": x, "y": y, "width": width, "height": height, "rx": 3, "fill": "#fff8c5",
                             "stroke": border, "stroke-width": 1})
        _text_block(group, lines, x + pad, y + pad, size, anchor="start")
        self.extend(x, y, width, height)

    def to_string(self) -> str:
        x0, y0, x1, y1 = self.extent if self.extent[0] != math.inf else (0.0, 0.0, 100.0, 100.0)
        x0, y0, width, height = x0 - MARGIN, y0 - MARGIN, x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN
        self.svg.attrib.update({
            "viewBox": " ".join(_fmt(float(v)) for v in (x0, y0, width, height)),
            "width": _fmt(float(math.ceil(width))), "height": _fmt(float(math.ceil(height))),
            "font-family": FONT_FAMILY,
        })
        background = etree.Element(f"{{{SVG_NS}}}rect")
        background.attrib.update({"x": _fmt(float(x0)), "y": _fmt(float(y0)), "width": _fmt(float(width)),
                                  "height": _fmt(float(height)), "fill": PAPER})
        self.defs.addnext(background)
        return etree.tostring(self.svg, encoding="unicode")


def _layer(item: _Item) -> str:
    if item.points:
        return "edges"
    if item.kind == "participant":
        return "pools"
    if item.kind == "lane":
        return "lanes"
    if item.kind in SUBPROCESSES and item.di.get("isExpanded") == "true":
        return "subprocesses"
    return "boundary" if item.kind == "boundaryEvent" else "nodes"


def _shape_family(kind: str) -> str:
    for family, kinds in (("task", TASKS), ("subprocess", SUBPROCESSES), ("event", EVENTS),
                          ("gateway", GATEWAYS)):
        if kind in kinds:
            return family
    return kind


def _name(item: _Item) -> str:
    if item.kind == "textAnnotation":
        return item.element.findtext(f"{{{BPMN_NS}}}text") or ""
    return item.element.get("name") or ""


def _midpoint(points: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    return _halfway(points)[0]


def _halfway(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], bool]:
    """The point halfway along a polyline, and whether the segment there runs more up/down than across."""
    lengths = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    remaining = sum(lengths) / 2
    for (a, b), length in zip(itertools.pairwise(points), lengths, strict=True):
        if remaining <= length and length > 0:
            t = remaining / length
            vertical = abs(b[1] - a[1]) > abs(b[0] - a[0])
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t), vertical
        remaining -= length
    return points[0], False


def _edge_label_position(points, width: float, height: float) -> tuple[float, float]:
    """Centre and top of a label without DI bounds: beside a vertical segment, above a horizontal one."""
    (x, y), vertical = _halfway(points)
    if vertical:
        return x + 6 + width / 2, y - height / 2
    return x, y - height - 4


# --- shapes ----------------------------------------------------------------------------------------

def _draw_pool(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    _rect(group, b, style, 1.5)
    horizontal = item.di.get("isHorizontal", "true") != "false"
    if item.kind == "participant" and horizontal:
        _sub(group, "line", {"x1": b.x + 30, "y1": b.y, "x2": b.x + 30, "y2": b.y + b.h,
                             "stroke": style.stroke, "stroke-width": 1.5 * style.weight})
    elif item.kind == "participant":
        _sub(group, "line", {"x1": b.x, "y1": b.y + 30, "x2": b.x + b.w, "y2": b.y + 30,
                             "stroke": style.stroke, "stroke-width": 1.5 * style.weight})
    name = _name(item)
    if not name:
        return
    size = 12
    if horizontal:
        lines = _wrap(name, b.h - 10, size)
        cx, cy = b.x + 15, b.cy
        label = _text_block(group, lines, cx, cy - _block_height(lines, size) / 2, size)
        label.set("transform", f"rotate(-90 {_fmt(cx)} {_fmt(cy)})")
    else:
        lines = _wrap(name, b.w - 10, size)
        _text_block(group, lines, b.cx, b.y + 15 - _block_height(lines, size) / 2, size)


def _draw_task(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    _rect(group, b, style, 5 if item.kind == "callActivity" else 2, rx=10)
    icon = _TASK_ICONS.get(item.kind)
    if icon:
        icon(group, b.x + 6, b.y + 6, style.stroke)
    _activity_markers(group, item, style, collapsed=item.kind == "callActivity"
                      and not item.element.get("calledElement"))
    name = _name(item)
    if name:
        size = 12
        lines = _wrap(name, b.w - 10, size)
        _text_block(group, lines, b.cx, b.cy - _block_height(lines, size) / 2, size)


def _draw_subprocess(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    expanded = item.di.get("isExpanded") == "true"
    outline = _rect(group, b, style, 2, rx=10)
    if expanded:
        outline.set("fill-opacity", "0.95")  # lanes show through faintly, as in bpmn-js
    if item.element.get("triggeredByEvent") == "true":
        outline.set("stroke-dasharray", "1.5,3")
    if item.kind == "transaction":
        inner = _Bounds(b.x + 3, b.y + 3, b.w - 6, b.h - 6)
        _rect(group, inner, _Style(style.stroke, "none", style.weight), 1.5, rx=8)
    _activity_markers(group, item, style, collapsed=not expanded)
    name = _name(item)
    if not name:
        return
    size = 12
    lines = _wrap(name, b.w - 10, size)
    top = b.y + 5 if expanded else b.cy - _block_height(lines, size) / 2
    _text_block(group, lines, b.cx, top, size)


def _activity_markers(group: etree._Element, item: _Item, style: _Style, collapsed: bool) -> None:
    """Collapsed [+] and loop markers, centred along the bottom edge like bpmn-js."""
    loop = next((c for c in item.element if _local(c).endswith("LoopCharacteristics")), None)
    drawers = ([_collapsed_marker] if collapsed else []) + ([_loop_marker(loop)] if loop is not None else [])
    b = item.bounds
    left = b.cx - (len(drawers) * 18 - 4) / 2
    for index, drawer in enumerate(drawers):
        drawer(group, left + index * 18, b.y + b.h - 18, style.stroke)


def _collapsed_marker(group: etree._Element, x: float, y: float, colour: str) -> None:
    _sub(group, "rect", {"x": x, "y": y, "width": 14, "height": 14, "fill": "none", "stroke": colour,
                         "stroke-width": 1.5})
    _sub(group, "path", {"d": _d("M", x + 7, y + 3, "v", 8, "M", x + 3, y + 7, "h", 8),
                         "stroke": colour, "stroke-width": 1.5})


def _loop_marker(loop: etree._Element):
    def draw(group: etree._Element, x: float, y: float, colour: str) -> None:
        if _local(loop) == "standardLoopCharacteristics":
            d = _d("M", x + 4, y + 12, "A", 5.5, 5.5, 0, 1, 1, x + 10, y + 12, "l", 3, -1)
            _sub(group, "path", {"d": d, "fill": "none", "stroke": colour, "stroke-width": 1.5})
        elif loop.get("isSequential") == "true":
            d = " ".join(_d("M", x + 1, y + 3 + 4 * i, "h", 12) for i in range(3))
            _sub(group, "path", {"d": d, "stroke": colour, "stroke-width": 2})
        else:
            d = " ".join(_d("M", x + 3 + 4 * i, y + 1, "v", 12) for i in range(3))
            _sub(group, "path", {"d": d, "stroke": colour, "stroke-width": 2})
    return draw


def _draw_event(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    r = min(b.w, b.h) / 2
    width = {"startEvent": 2, "endEvent": 4}.get(item.kind, 1.5)
    circle = _sub(group, "circle", {"cx": b.cx, "cy": b.cy, "r": r, "fill": style.fill,
                                    "stroke": style.stroke, "stroke-width": width * style.weight})
    if item.element.get("cancelActivity") == "false" or item.element.get("isInterrupting") == "false":
        circle.set("stroke-dasharray", "5.5,3")
    if item.kind not in {"startEvent", "endEvent"}:
        inner = _sub(group, "circle", {"cx": b.cx, "cy": b.cy, "r": r - 3, "fill": "none",
                                       "stroke": style.stroke, "stroke-width": 1.5 * style.weight})
        if circle.get("stroke-dasharray"):
            inner.set("stroke-dasharray", "5.5,3")
    definition = next((c for c in item.element if _local(c).endswith("EventDefinition")), None)
    glyph = _EVENT_GLYPHS.get(_local(definition)) if definition is not None else None
    if glyph:
        glyph(group, b.cx, b.cy, r, style.stroke, item.kind in THROWING)


def _draw_gateway(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    points = [(b.cx, b.y), (b.x + b.w, b.cy), (b.cx, b.y + b.h), (b.x, b.cy)]
    _sub(group, "polygon", {"points": _points(points), "fill": style.fill, "stroke": style.stroke,
                            "stroke-width": 2 * style.weight, "stroke-linejoin": "round"})
    s, c = b.w * 0.17, style.stroke
    cx, cy = b.cx, b.cy
    kind = item.kind
    plus = _d("M", cx, cy - s * 1.2, "V", cy + s * 1.2, "M", cx - s * 1.2, cy, "H", cx + s * 1.2)
    cross = _d("M", cx - s, cy - s, "L", cx + s, cy + s, "M", cx + s, cy - s, "L", cx - s, cy + s)
    if kind == "exclusiveGateway" and item.di.get("isMarkerVisible") != "false":
        _sub(group, "path", {"d": cross, "stroke": c, "stroke-width": 4, "stroke-linecap": "square"})
    elif kind == "parallelGateway":
        _sub(group, "path", {"d": plus, "stroke": c, "stroke-width": 4})
    elif kind == "complexGateway":
        _sub(group, "path", {"d": plus + cross, "stroke": c, "stroke-width": 3})
    elif kind in {"inclusiveGateway", "eventBasedGateway"}:
        _sub(group, "circle", {"cx": cx, "cy": cy, "r": s * 1.4, "fill": "none", "stroke": c,
                               "stroke-width": 2.5 if kind == "inclusiveGateway" else 1})
    if kind == "eventBasedGateway":
        _pentagon(group, cx, cy, s * 0.9, c)


def _draw_annotation(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    _sub(group, "rect", {"x": b.x, "y": b.y, "width": b.w, "height": b.h, "fill": PAPER, "fill-opacity": 0.9,
                         "stroke": "none"})
    d = _d("M", b.x + 10, b.y, "H", b.x, "V", b.y + b.h, "H", b.x + 10)
    _sub(group, "path", {"d": d, "fill": "none", "stroke": style.stroke, "stroke-width": 1.5 * style.weight})
    text = _name(item)
    if text:
        _text_block(group, _wrap(text, b.w - 10, 12), b.x + 5, b.y + 5, 12, anchor="start")


def _draw_data_object(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    fold = min(b.w, b.h) * 0.3
    d = _d("M", b.x, b.y, "H", b.x + b.w - fold, "L", b.x + b.w, b.y + fold, "V", b.y + b.h, "H", b.x, "Z",
           "M", b.x + b.w - fold, b.y, "V", b.y + fold, "H", b.x + b.w)
    _sub(group, "path", {"d": d, "fill": style.fill, "stroke": style.stroke,
                         "stroke-width": 1.5 * style.weight, "stroke-linejoin": "round"})


def _draw_data_store(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    ry = b.h * 0.12
    rx = b.w / 2
    top, bottom = b.y + ry, b.y + b.h - ry
    d = _d("M", b.x, top, "A", rx, ry, 0, 0, 1, b.x + b.w, top, "V", bottom,
           "A", rx, ry, 0, 0, 1, b.x, bottom, "Z", "M", b.x, top, "A", rx, ry, 0, 0, 0, b.x + b.w, top)
    _sub(group, "path", {"d": d, "fill": style.fill, "stroke": style.stroke,
                         "stroke-width": 1.5 * style.weight})


def _draw_group_box(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    outline = _rect(group, item.bounds, _Style(style.stroke, "none", style.weight), 1, rx=10)
    outline.set("stroke-dasharray", "10,5,1,5")


def _draw_generic(canvas: _Canvas, group: etree._Element, item: _Item, style: _Style) -> None:
    b = item.bounds
    _rect(group, b, style, 1.5, rx=4)
    name = _name(item)
    if name:
        lines = _wrap(name, max(b.w - 10, LABEL_WIDTH), 11)
        _text_block(group, lines, b.cx, b.cy - _block_height(lines, 11) / 2, 11)


def _rect(group: etree._Element, b: _Bounds, style: _Style, width: float, rx: float = 0) -> etree._Element:
    return _sub(group, "rect", {"x": b.x, "y": b.y, "width": b.w, "height": b.h, "rx": rx, "ry": rx,
                                "fill": style.fill, "stroke": style.stroke,
                                "stroke-width": width * style.weight})


_SHAPES = {
    "participant": _draw_pool, "lane": _draw_pool, "task": _draw_task, "subprocess": _draw_subprocess,
    "event": _draw_event, "gateway": _draw_gateway, "textAnnotation": _draw_annotation,
    "dataObjectReference": _draw_data_object, "dataObject": _draw_data_object,
    "dataStoreReference": _draw_data_store, "group": _draw_group_box,
}


# --- small glyphs ----------------------------------------------------------------------------------

def _icon_user(group: etree._Element, x: float, y: float, colour: str) -> None:
    _sub(group, "circle", {"cx": x + 8, "cy": y + 5, "r": 3.5, "fill": "none", "stroke": colour})
    d = _d("M", x + 1, y + 17, "C", x + 1, y + 8, x + 15, y + 8, x + 15, y + 17, "Z")
    _sub(group, "path", {"d": d, "fill": "none", "stroke": colour})


def _spokes(cx: float, cy: float, inner: float, outer: float, count: int) -> str:
    angles = [2 * math.pi * i / count for i in range(count)]
    return " ".join(_d("M", cx + inner * math.cos(a), cy + inner * math.sin(a),
                       "L", cx + outer * math.cos(a), cy + outer * math.sin(a)) for a in angles)


def _icon_service(group: etree._Element, x: float, y: float, colour: str) -> None:
    cx, cy = x + 8, y + 8
    spokes = _spokes(cx, cy, 4.5, 7.5, 8)
    _sub(group, "path", {"d": spokes, "stroke": colour, "stroke-width": 2.5})
    _sub(group, "circle", {"cx": cx, "cy": cy, "r": 4.5, "fill": PAPER, "stroke": colour})
    _sub(group, "circle", {"cx": cx, "cy": cy, "r": 1.5, "fill": "none", "stroke": colour})


def _icon_script(group: etree._Element, x: float, y: float, colour: str) -> None:
    d = _d("M", x + 3, y, "H", x + 15, "C", x + 11, y + 4, x + 15, y + 12, x + 13, y + 16,
           "H", x + 1, "C", x + 3, y + 12, x - 1, y + 4, x + 3, y, "Z")
    lines = [_d("M", x + 4, y + 4 + 4 * i, "h", 7) for i in range(3)]
    _sub(group, "path", {"d": " ".join([d, *lines]), "fill": "none", "stroke": colour})


def _icon_rule(group: etree._Element, x: float, y: float, colour: str) -> None:
    _sub(group, "rect", {"x": x, "y": y + 2, "width": 17, "height": 12, "fill": "none", "stroke": colour})
    d = _d("M", x, y + 6, "h", 17, "M", x, y + 10, "h", 17, "M", x + 5, y + 6, "v", 8)
    _sub(group, "path", {"d": d, "stroke": colour})
    _sub(group, "rect", {"x": x, "y": y + 2, "width": 17, "height": 4, "fill": colour, "stroke": "none"})


def _envelope(group: etree._Element, x: float, y: float, w: float, h: float, colour: str,
              filled: bool) -> None:
    _sub(group, "rect", {"x": x, "y": y, "width": w, "height": h, "fill": colour if filled else PAPER,
                         "stroke": colour})
    d = _d("M", x, y, "L", x + w / 2, y + h * 0.55, "L", x + w, y)
    _sub(group, "path", {"d": d, "fill": "none", "stroke": PAPER if filled else colour})


_TASK_ICONS = {
    "userTask": _icon_user, "serviceTask": _icon_service, "scriptTask": _icon_script,
    "businessRuleTask": _icon_rule,
    "sendTask": lambda g, x, y, c: _envelope(g, x, y + 2, 18, 12, c, True),
    "receiveTask": lambda g, x, y, c: _envelope(g, x, y + 2, 18, 12, c, False),
}


def _glyph_timer(group, cx, cy, r, colour, filled) -> None:
    radius = r * 0.6
    _sub(group, "circle", {"cx": cx, "cy": cy, "r": radius, "fill": PAPER, "stroke": colour,
                           "stroke-width": 1.5})
    ticks = _spokes(cx, cy, radius * 0.75, radius, 12)
    hands = _d("M", cx, cy, "L", cx + radius * 0.45, cy - radius * 0.7, "M", cx, cy, "L", cx + radius * 0.6,
               cy + radius * 0.1)
    _sub(group, "path", {"d": f"{ticks} {hands}", "stroke": colour, "stroke-width": 1})


def _glyph_message(group, cx, cy, r, colour, filled) -> None:
    w, h = r * 1.0, r * 0.68
    _envelope(group, cx - w / 2, cy - h / 2, w, h, colour, filled)


def _glyph_polygon(points: list[tuple[float, float]]):
    def draw(group, cx, cy, r, colour, filled) -> None:
        _sub(group, "polygon", {"points": _points((cx + px * r, cy + py * r) for px, py in points),
                                "fill": colour if filled else "none", "stroke": colour, "stroke-width": 1.5,
                                "stroke-linejoin": "round"})
    return draw


def _glyph_terminate(group, cx, cy, r, colour, filled) -> None:
    _sub(group, "circle", {"cx": cx, "cy": cy, "r": r * 0.6, "fill": colour, "stroke": "none"})


def _glyph_conditional(group, cx, cy, r, colour, filled) -> None:
    s = r * 0.5
    lines = " ".join(_d("M", cx - s * 0.6, cy - s * 0.6 + i * s * 0.4, "h", s * 1.2) for i in range(4))
    _sub(group, "rect", {"x": cx - s, "y": cy - s, "width": 2 * s, "height": 2 * s, "fill": "none",
                         "stroke": colour})
    _sub(group, "path", {"d": lines, "stroke": colour})


def _pentagon(group: etree._Element, cx: float, cy: float, r: float, colour: str) -> None:
    angles = [2 * math.pi * i / 5 for i in range(5)]
    points = _points((cx + r * math.sin(a), cy - r * math.cos(a)) for a in angles)
    _sub(group, "polygon", {"points": points, "fill": "none",
                            "stroke": colour, "stroke-width": 1.5, "stroke-linejoin": "round"})


_EVENT_GLYPHS = {
    "timerEventDefinition": _glyph_timer,
    "messageEventDefinition": _glyph_message,
    "errorEventDefinition": _glyph_polygon([(-0.45, 0.45), (-0.15, -0.4), (0.12, 0.1), (0.45, -0.45),
                                            (0.15, 0.4), (-0.12, -0.1)]),
    "signalEventDefinition": _glyph_polygon([(0, -0.5), (0.47, 0.32), (-0.47, 0.32)]),
    "escalationEventDefinition": _glyph_polygon([(0, -0.5), (0.35, 0.45), (0, 0.1), (-0.35, 0.45)]),
    "compensateEventDefinition": _glyph_polygon([(-0.5, 0), (0, -0.35), (0, 0), (0.45, -0.35), (0.45, 0.35),
                                                 (0, 0), (0, 0.35)]),
    "linkEventDefinition": _glyph_polygon([(-0.45, -0.15), (0.1, -0.15), (0.1, -0.4), (0.5, 0), (0.1, 0.4),
                                           (0.1, 0.15), (-0.45, 0.15)]),
    "terminateEventDefinition": _glyph_terminate,
    "conditionalEventDefinition": _glyph_conditional,
}


# --- edges -----------------------------------------------------------------------------------------

def _edge_decoration(canvas: _Canvas, item: _Item, style: _Style) -> dict[str, str]:
    colour = style.stroke
    if item.kind == "sequenceFlow":
        attrs = {"marker-end": canvas.marker("arrow", colour)}
        source = canvas.semantic.get(item.element.get("sourceRef"))
        conditional = item.element.find(f"{{{BPMN_NS}}}conditionExpression") is not None
        if conditional and source is not None and _local(source) not in GATEWAYS:
            attrs["marker-start"] = canvas.marker("diamond", colour)
        return attrs
    if item.kind == "messageFlow":
        return {"stroke-dasharray": "10,11", "marker-start": canvas.marker("circle", colour),
                "marker-end": canvas.marker("open", colour)}
    attrs = {"stroke-dasharray": "0.5,5", "stroke-linecap": "round"}
    if item.kind in {"dataInputAssociation", "dataOutputAssociation"} or item.element.get(
            "associationDirection") in {"One", "Both"}:
        attrs["marker-end"] = canvas.marker("open", colour)
    return attrs


def _default_slash(group: etree._Element, points, style: _Style) -> None:
    (x0, y0), (x1, y1) = points[0], points[1]
    length = math.dist((x0, y0), (x1, y1)) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    cx, cy = x0 + ux * 10, y0 + uy * 10
    dx, dy = (ux - uy) * 0.71 * 6, (uy + ux) * 0.71 * 6  # the flow's direction turned 45 degrees
    _sub(group, "line", {"x1": cx - dx, "y1": cy - dy, "x2": cx + dx, "y2": cy + dy, "stroke": style.stroke,
                         "stroke-width": 1.5 * style.weight, "class": "default-marker"})


def _marker(defs: etree._Element, marker_id: str, ref_x: float, size: float) -> etree._Element:
    return _sub(defs, "marker", {"id": marker_id, "viewBox": "0 0 20 20", "refX": ref_x, "refY": 10,
                                 "markerWidth": size, "markerHeight": size, "markerUnits": "userSpaceOnUse",
                                 "orient": "auto"})


def _marker_arrow(defs, marker_id, colour) -> None:
    _sub(_marker(defs, marker_id, 11, 20), "path", {"d": "M1 5L11 10L1 15Z", "fill": colour, "stroke": colour,
                                                    "stroke-linejoin": "round"})


def _marker_open(defs, marker_id, colour) -> None:
    _sub(_marker(defs, marker_id, 11, 20), "path", {"d": "M1 5L11 10L1 15", "fill": "none", "stroke": colour,
                                                    "stroke-width": 1.5})


def _marker_circle(defs, marker_id, colour) -> None:
    _sub(_marker(defs, marker_id, 6, 14), "circle", {"cx": 6, "cy": 10, "r": 3.5, "fill": PAPER,
                                                     "stroke": colour, "stroke-width": 1})


def _marker_diamond(defs, marker_id, colour) -> None:
    _sub(_marker(defs, marker_id, -1, 20), "path", {"d": "M0 10L8 6L16 10L8 14Z", "fill": PAPER,
                                                    "stroke": colour})


_MARKERS = {"arrow": _marker_arrow, "open": _marker_open, "circle": _marker_circle,
            "diamond": _marker_diamond}
