/* Provider admin: reload the add form when the type changes, copy webhook URLs, and show
   the subject of a test message only for email. Everything works without it too. */
"use strict";
(function () {
  function copy(input, button) {
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    var fallback = function () {
      input.focus();
      input.select();
      try {
        if (document.execCommand("copy")) done();
      } catch (e) { /* left selected: copy it by hand */ }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  function toggleSubject(select) {
    var row = document.querySelector(".form-row.field-subject");
    if (row) row.hidden = select.value !== "email";
    var recipient = document.getElementById("id_recipient");
    if (recipient) {
      recipient.type = select.value === "email" ? "email" : "tel";
      recipient.placeholder = select.value === "email" ? "name@example.com" : "+14155550100";
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = button.parentElement.querySelector("[data-copy-source]");
    if (input) copy(input, button);
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-provider-type]") && target.value) {
      var chooser = target.parentElement.querySelector("[data-choose-type]");
      if (chooser) chooser.click();
    } else if (target.matches("[data-test-channel]")) {
      toggleSubject(target);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var channel = document.querySelector("[data-test-channel]");
    if (channel) toggleSubject(channel);
    // With the script on, the type's own button is not needed: the select reloads.
    document.querySelectorAll("[data-choose-type]").forEach(function (b) {
      b.classList.add("js-hidden");
    });
  });
})();
