// Ferry Portal: live pages. A page's #live element names a Server-Sent
// Events stream whose "status" events carry that part's HTML, rendered and
// escaped by the coordinator's templates; it replaces the part in place.
// Without JavaScript the page still works: reload it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var events = new EventSource(live.getAttribute("data-live"));
  events.addEventListener("status", function (e) {
    live.innerHTML = e.data;
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
