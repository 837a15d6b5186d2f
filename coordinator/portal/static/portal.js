// Ferry Portal: live pages. A page's #live element names a Server-Sent
// Events stream whose "status" events carry that part's HTML, rendered and
// escaped by the coordinator's templates; it replaces the part in place.
// Without JavaScript the page still works: reload it.
"use strict";

// localTimes shows each <time datetime> under root in the viewer's time
// zone; the server renders UTC, which stays in the title (on hover).
function localTimes(root) {
  var times = root.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var t = times[i], d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime()) || t.hasAttribute("data-local")) {
      continue;
    }
    t.setAttribute("data-local", "");
    t.title = t.textContent;
    t.textContent = d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
  }
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var events = new EventSource(live.getAttribute("data-live"));
  events.addEventListener("status", function (e) {
    live.innerHTML = e.data;
    localTimes(live);
    live.setAttribute("data-updated", String(Date.now()));
  });
  events.addEventListener("done", function () {
    // The part will not change again (a dataset that ended).
    events.close();
  });
  events.addEventListener("signedout", function () {
    events.close();
    window.location.assign("/portal/signin");
  });
  events.addEventListener("open", function () {
    live.classList.remove("stale");
  });
  events.addEventListener("error", function () {
    live.classList.add("stale");
    if (events.readyState === EventSource.CLOSED) {
      // Refused for good (signed out while away, company gone): the page
      // itself says why once reloaded.
      window.setTimeout(function () { window.location.reload(); }, 2000);
    }
  });
});
