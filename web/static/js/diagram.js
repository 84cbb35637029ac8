// Draws a process diagram with bpmn-js (NavigatedViewer) and puts on it what the page's
// JSON says: marker classes per element (done, active, breached, taken, late) and
// overlays (a case's notes, a version's counts). No inline script or style: the CSP
// forbids both, and the tables on the page carry the same information.
(function () {
  "use strict";
  var source = document.getElementById("review-data");
  var holder = document.getElementById("diagram");
  if (!source || !holder) { return; }
  var data = JSON.parse(source.textContent);

  function fail(message) {
    holder.setAttribute("data-state", "error");
    var line = document.createElement("p");
    line.className = "error";
    line.textContent = data.failed + " " + message;
    holder.appendChild(line);
  }

  if (typeof BpmnJS === "undefined") { fail("bpmn-js"); return; }

  function note(overlay) {
    var box = document.createElement("div");
    box.className = "diagram-note " + overlay.kind;
    box.textContent = overlay.text;
    box.title = overlay.text;
    return box;
  }

  function badges(overlay) {
    var box = document.createElement("div");
    box.className = "diagram-counts";
    overlay.badges.forEach(function (badge) {
      var item = document.createElement("span");
      item.className = "badge " + badge.kind;
      item.setAttribute("data-count", badge.kind);
      item.title = badge.title;
      item.textContent = String(badge.n);
      box.appendChild(item);
    });
    return box;
  }

  // As tall as the diagram needs at the page's width (within limits), then fitted.
  function size(canvas) {
    canvas.zoom("fit-viewport");
    var inner = canvas.viewbox().inner;
    var width = holder.clientWidth;
    if (inner.width > 0) {
      var wanted = Math.round(width * (inner.height + 60) / (inner.width + 60));
      holder.style.height = Math.max(280, Math.min(wanted, 720)) + "px";
      canvas.resized();
    }
    canvas.zoom("fit-viewport", "auto");
  }

  function tools(canvas) {
    var buttons = document.querySelectorAll("[data-zoom]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var how = button.getAttribute("data-zoom");
        if (how === "fit") { canvas.zoom("fit-viewport", "auto"); return; }
        canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
      });
    });
  }

  function decorate(viewer) {
    var canvas = viewer.get("canvas");
    var overlays = viewer.get("overlays");
    var registry = viewer.get("elementRegistry");
    size(canvas);
    tools(canvas);
    Object.keys(data.marks || {}).forEach(function (id) {
      if (!registry.get(id)) { return; }
      data.marks[id].forEach(function (marker) { canvas.addMarker(id, marker); });
    });
    (data.overlays || []).forEach(function (overlay) {
      if (!registry.get(overlay.element)) { return; }
      var counts = overlay.kind === "counts";
      overlays.add(overlay.element, counts ? "counts" : "note", {
        position: counts ? { top: -12, right: 12 } : { bottom: -4, left: 0 },
        html: counts ? badges(overlay) : note(overlay),
        // Notes keep their size relative to the shapes (so they overlap no more than the
        // shapes do); count badges stay legible when the whole diagram is shown.
        scale: counts ? { min: 0.8 } : true
      });
    });
    holder.setAttribute("data-state", "ready");
  }

  var viewer = new BpmnJS({ container: holder });
  fetch(data.diagram, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () { decorate(viewer); })
    .catch(function (error) { fail(error.message || String(error)); });
}());
