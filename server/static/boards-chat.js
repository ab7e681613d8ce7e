// A chat room follows new messages over Server-Sent Events; without this script the page is
// complete as it is (newest last) and a reload shows what is new. The HTML of a message was
// sanitised by the server (models/markdown.py) before it was sent.
(function () {
  "use strict";
  var list = document.getElementById("entries");
  if (!list || !window.EventSource) { return; }
  var url = list.getAttribute("data-events") + "?after=" + encodeURIComponent(list.getAttribute("data-last") || "");
  var source = new EventSource(url);
  source.addEventListener("entry", function (event) {
    var entry = JSON.parse(event.data);
    if (document.getElementById("entry-" + entry.id)) { return; }
    var empty = list.querySelector("li.empty");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    item.id = "entry-" + entry.id;
    item.className = "entry";
    var meta = document.createElement("p");
    meta.className = "meta";
    meta.textContent = (entry.author || "Deleted") + " · " + entry.created_at;
    var body = document.createElement("div");
    body.className = "markdown";
    body.innerHTML = entry.html;
    item.appendChild(meta);
    item.appendChild(body);
    list.appendChild(item);
  });
})();
