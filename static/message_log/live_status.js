// Follows a message's status live: polls the element's data-status-url (the message log's
// JSON status endpoint) every 1.5 s until the status is final, and shows the status, its
// error and the timeline. No inline script: the admin runs under a Content Security Policy.
(function () {
  "use strict";
  var POLL_MS = 1500;
  var MAX_POLLS = 400; // ten minutes, then the page stops asking

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  function badge(status, group) {
    var el = text("span", status, "msglog-status msglog-" + String(group || "unknown").toLowerCase());
    return el;
  }

  function render(box, data) {
    var badgeBox = box.querySelector("[data-live-badge]");
    badgeBox.replaceChildren(badge(data.status, data.group));
    badgeBox.title = data.description || "";
    box.querySelector("[data-live-state]").textContent = data.final
      ? "Final status."
      : "Following its status…";
    var error = box.querySelector("[data-live-error]");
    if (data.error) {
      error.replaceChildren(text("strong", data.error.code), document.createTextNode(": " + (data.error.description || "")));
      error.hidden = false;
    } else {
      error.hidden = true;
    }
    var list = box.querySelector("[data-live-timeline]");
    list.replaceChildren.apply(
      list,
      (data.timeline || []).map(function (e) {
        var li = document.createElement("li");
        li.append(text("time", e.at, "msglog-nowrap"), document.createTextNode(" "), badge(e.status, e.group));
        var more = [e.source, e.errorCode, e.description].filter(Boolean).join(" · ");
        if (more) li.append(document.createTextNode(" "), text("span", more, "msglog-quiet"));
        return li;
      })
    );
    box.dataset.status = data.status;
    box.dataset.settled = data.final ? "true" : "false";
  }

  function follow(box) {
    var polls = 0;
    function poll() {
      polls += 1;
      fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          render(box, data);
          if (!data.final && polls < MAX_POLLS) window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          box.querySelector("[data-live-state]").textContent = "Could not read its status; retrying…";
          if (polls < MAX_POLLS) window.setTimeout(poll, POLL_MS * 2);
        });
    }
    poll(); // once at once (shows the timeline), then until final
  }

  function start() {
    document.querySelectorAll("[data-status-url]").forEach(follow);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
