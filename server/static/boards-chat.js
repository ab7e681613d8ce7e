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
    // a message from elsewhere: its files stay on its server, linked as on the page, never shown
    (entry.remote_media || []).forEach(function (file) {
      var line = document.createElement("p");
      var link = document.createElement("a");
      var slash = file.media_type.indexOf("/");
      line.className = "remote-media";
      link.href = file.url;
      link.rel = "nofollow noopener noreferrer";
      link.textContent = (file.media_type.indexOf("image/") === 0 ? "image" : "file") +
        (slash >= 0 ? " (" + file.media_type.slice(slash + 1) + ")" : "") +
        (file.name ? " \u201c" + file.name + "\u201d" : "") + " from " + file.url.split("/")[2];
      line.appendChild(link);
      item.appendChild(line);
    });
    list.appendChild(item);
  });
})();
