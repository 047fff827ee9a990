/* Template editor: field visibility by mode, sample data and a live, server-rendered preview.
 *
 * Every change (debounced) POSTs the fields being typed and the sample data to the admin's
 * preview endpoint, which renders them with the same service as the API. Only the newest
 * answer is shown. Nothing here is needed to save the form: without JavaScript every field
 * shows and the preview is simply absent.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;
  var DATA_FIELDS = [
    "body", "subject", "format", "sender", "origination_number", "external_ref", "media",
    "buttons", "language", "translations",
  ];

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function show(el, visible) {
    if (el) el.hidden = !visible;
  }

  function setText(id, text) {
    var el = byId(id);
    if (el) el.textContent = text;
  }

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  // WhatsApp's own markup: *bold*, _italic_, ~strike~, ```monospace```; on escaped text.
  function chatMarkup(text) {
    return escapeHtml(text)
      .replace(/```([\s\S]+?)```/g, "<code>$1</code>")
      .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,!?:;])/g, "$1<strong>$2</strong>")
      .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,!?:;])/g, "$1<em>$2</em>")
      .replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,!?:;])/g, "$1<s>$2</s>");
  }

  ready(function () {
    var root = byId("tpl-editor");
    if (!root) return;
    var form = root.closest("form");
    var modesScript = byId("tpl-field-modes");
    var fieldModes = modesScript ? JSON.parse(modesScript.textContent) : {};
    var modeInput = byId("id_mode");
    var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
    var sampleBox = byId("tpl-sample");
    var sampleRows = {}; // placeholder name → row element
    var sampleValues = {}; // placeholder name → typed value, kept while its row is gone
    var timer = null;
    var controller = null;
    var sequence = 0;

    root.classList.add("tpl-editor--live");

    // --- which fields the mode uses ------------------------------------------------------
    function currentMode() {
      return modeInput ? modeInput.value : "";
    }

    function applyMode() {
      var mode = currentMode();
      Object.keys(fieldModes).forEach(function (name) {
        var used = !mode || fieldModes[name].indexOf(mode) >= 0;
        form.querySelectorAll(".form-row.field-" + name).forEach(function (row) {
          row.classList.toggle("tpl-off", !used);
        });
      });
      root.querySelectorAll(".tpl-editor__form fieldset").forEach(function (fieldset) {
        var rows = fieldset.querySelectorAll(".form-row");
        var off = fieldset.querySelectorAll(".form-row.tpl-off");
        fieldset.classList.toggle("tpl-off", rows.length > 0 && rows.length === off.length);
      });
      root.dataset.mode = mode;
    }

    // --- sample data ----------------------------------------------------------------------
    function sampleData() {
      var data = {};
      Object.keys(sampleValues).forEach(function (name) {
        if (sampleValues[name] !== "") data[name] = sampleValues[name];
      });
      return data;
    }

    function makeSampleRow(name, fallback) {
      var row = document.createElement("div");
      row.className = "tpl-sample__row";
      row.dataset.name = name;
      var id = "tpl-sample-" + name.replace(/[^A-Za-z0-9_-]/g, "_");
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = name;
      var input = document.createElement("input");
      input.type = "text";
      input.id = id;
      input.autocomplete = "off";
      input.dataset.placeholder = name;
      input.placeholder = "sample value";
      input.value = name in sampleValues ? sampleValues[name] : fallback;
      sampleValues[name] = input.value;
      input.addEventListener("input", function () {
        sampleValues[name] = input.value;
        input.classList.remove("tpl-missing");
        schedule();
      });
      row.appendChild(label);
      row.appendChild(input);
      return row;
    }

    function updateSample(names, defaults) {
      var wanted = {};
      names.forEach(function (name) {
        wanted[name] = true;
      });
      Object.keys(sampleRows).forEach(function (name) {
        if (!wanted[name]) {
          sampleRows[name].remove();
          delete sampleRows[name];
        }
      });
      names.forEach(function (name, index) {
        if (!sampleRows[name]) {
          var fallback = name in defaults ? String(defaults[name]) : "";
          sampleRows[name] = makeSampleRow(name, fallback);
        }
        // Keep the rows in the order the placeholders appear, moving only what is out of place.
        if (sampleBox.children[index] !== sampleRows[name]) {
          sampleBox.insertBefore(sampleRows[name], sampleBox.children[index] || null);
        }
      });
      show(byId("tpl-sample-empty"), names.length === 0);
      show(byId("tpl-sample-note"), Object.keys(defaults).length > 0);
    }

    // --- errors shown on their field while typing -----------------------------------------
    function showFieldErrors(errors) {
      form.querySelectorAll(".tpl-live-error").forEach(function (el) {
        el.remove();
      });
      form.querySelectorAll(".form-row.tpl-has-error").forEach(function (row) {
        row.classList.remove("tpl-has-error");
      });
      errors.forEach(function (error) {
        if (!error.field) return;
        var row = form.querySelector(".form-row.field-" + error.field);
        if (!row) return;
        var already = Array.prototype.some.call(
          row.querySelectorAll(".errorlist li"),
          function (li) {
            return li.textContent === error.message;
          }
        );
        row.classList.add("tpl-has-error");
        if (already) return;
        var list = document.createElement("ul");
        list.className = "errorlist tpl-live-error";
        list.id = "tpl-error-" + error.field;
        var item = document.createElement("li");
        item.textContent = error.message;
        list.appendChild(item);
        row.insertBefore(list, row.firstChild);
      });
    }

    // --- the preview ----------------------------------------------------------------------
    function showPane(name) {
      ["sms", "email", "chat", "push"].forEach(function (pane) {
        show(byId("tpl-preview-" + pane), pane === name);
      });
    }

    function showProblem(message, kind) {
      var box = byId("tpl-problem");
      box.textContent = message;
      box.className = "tpl-problem" + (kind ? " tpl-problem--" + kind : "");
      show(box, !!message);
    }

    function renderSms(p, missing) {
      setText("tpl-sms-encoding", p.encoding);
      var chars = String(p.characters);
      if (p.units !== p.characters) {
        chars += " (" + p.units + (p.encoding === "GSM-7" ? " septets)" : " UTF-16 units)");
      }
      setText("tpl-sms-characters", chars);
      setText("tpl-sms-segments", String(p.segments));
      setText("tpl-sms-left", String(p.remainingInSegment));
      setText(
        "tpl-sms-note",
        p.segments > 1
          ? "Split in " + p.segments + " parts of up to " + p.perSegment +
              (p.encoding === "GSM-7" ? " characters" : " units") + "; each part is billed."
          : "Up to " + p.perSegment + (p.encoding === "GSM-7" ? " characters" : " units") +
              " fit in one part."
      );
      if (missing.length) {
        byId("tpl-sms-note").textContent +=
          " Counted with " + missing.map(function (name) {
            return "{{" + name + "}}";
          }).join(", ") + " as written.";
      }
      var nonGsm = p.nonGsm || [];
      show(byId("tpl-sms-nongsm"), nonGsm.length > 0);
      if (nonGsm.length) {
        setText(
          "tpl-sms-nongsm",
          "Not in the GSM-7 alphabet: " + nonGsm.join(" ") +
            " — so the whole message goes as UCS-2, 70 per part (67 when split)."
        );
      }
      var from = p.from || p.originationNumber || "";
      setText("tpl-sms-from", from);
      show(byId("tpl-sms-from"), !!from);
      var body = byId("tpl-sms-body");
      body.textContent = p.body;
      body.classList.toggle("tpl-bubble--empty", !p.body);
      if (!p.body) body.textContent = "Type the message body to see it here.";
      showPane("sms");
    }

    function renderEmail(p) {
      setText("tpl-email-subject", p.subject || "(no subject)");
      setText("tpl-email-from", p.from || "");
      show(byId("tpl-email-from-row"), !!p.from);
      var frame = byId("tpl-email-html");
      show(byId("tpl-email-html-wrap"), !!p.html);
      show(byId("tpl-email-plain-note"), !p.html);
      if (p.html) {
        if (frame.srcdoc !== p.html) frame.srcdoc = p.html;
      } else {
        frame.srcdoc = "";
      }
      setText("tpl-email-text", p.body);
      showPane("email");
    }

    function mediaElement(media) {
      var box = document.createElement("div");
      if (!media || typeof media !== "object" || Array.isArray(media)) return null;
      var url = media.url || media.link || "";
      var name = media.filename || media.name || media.caption || "";
      if (!name && url) name = decodeURIComponent(url.split("?")[0].split("/").pop() || "");
      if (!name) name = media.mediaId || media.id || "";
      var type = (media.type || "").toLowerCase();
      if (!type) {
        if (/\.(png|jpe?g|gif|webp)(\?|$)/i.test(url)) type = "image";
        else if (/\.(mp4|3gp|mov)(\?|$)/i.test(url)) type = "video";
        else type = "document";
      }
      if (type === "image" && /^https?:\/\//i.test(url)) {
        var img = document.createElement("img");
        img.src = url;
        img.alt = name || "image";
        img.loading = "lazy";
        img.referrerPolicy = "no-referrer";
        img.className = "tpl-chat__image";
        box.appendChild(img);
      } else {
        var file = document.createElement("div");
        file.className = "tpl-chat__file tpl-chat__file--" + type.replace(/[^a-z]/g, "");
        // The file's extension as its icon, like a chat app; no icon font needed.
        var extension = (name.match(/\.([A-Za-z0-9]{1,4})$/) || [])[1];
        var icon = (extension || { image: "img", video: "video", audio: "audio" }[type] || "doc")
          .toUpperCase();
        var iconEl = document.createElement("span");
        iconEl.className = "tpl-chat__file-icon";
        iconEl.textContent = icon;
        var nameEl = document.createElement("span");
        nameEl.className = "tpl-chat__file-name";
        nameEl.textContent = name || type;
        file.appendChild(iconEl);
        file.appendChild(nameEl);
        box.appendChild(file);
      }
      if (media.caption && media.caption !== name) {
        var caption = document.createElement("div");
        caption.className = "tpl-chat__caption";
        caption.textContent = media.caption;
        box.appendChild(caption);
      }
      return box;
    }

    function buttonLabel(button) {
      if (typeof button === "string") return { text: button, type: "" };
      if (!button || typeof button !== "object") return { text: String(button), type: "" };
      var reply = button.reply || {};
      var text = button.text || button.title || button.label || reply.title || button.payload;
      var type = (button.type || "").toLowerCase();
      return { text: text || "(button)", type: type };
    }

    function renderChat(p) {
      var names = { whatsapp: "WhatsApp", viber: "Viber", rcs: "RCS" };
      setText("tpl-chat-head", (names[p.mode] || p.mode) + (p.from ? " · " + p.from : ""));
      var mediaBox = byId("tpl-chat-media");
      mediaBox.textContent = "";
      var media = mediaElement(p.media);
      if (media) mediaBox.appendChild(media);
      show(mediaBox, !!media);
      var text = byId("tpl-chat-text");
      text.innerHTML = chatMarkup(p.body || "");
      var list = byId("tpl-chat-buttons");
      list.textContent = "";
      var buttons = Array.isArray(p.buttons) ? p.buttons : [];
      buttons.forEach(function (button) {
        var info = buttonLabel(button);
        var item = document.createElement("li");
        item.className = "tpl-chat__button";
        var icon = { url: "↗ ", phone_number: "✆ ", call: "✆ ", phone: "✆ " }[info.type] || "↩ ";
        item.textContent = icon + info.text;
        list.appendChild(item);
      });
      show(list, buttons.length > 0);
      showPane("chat");
    }

    // --- the locale previewed: the languages the fields give, and the one shown ------------
    function updateLocales(locales, shown) {
      var list = byId("tpl-locales");
      if (list) {
        list.textContent = "";
        (locales || []).forEach(function (tag) {
          var option = document.createElement("option");
          option.value = tag;
          list.appendChild(option);
        });
      }
      var asked = byId("tpl-locale") ? byId("tpl-locale").value.trim() : "";
      var note = "";
      if (asked || shown) {
        note = shown ? "Shown in " + shown + "." : "Shown in the default language.";
        if (asked && shown && asked.replace("_", "-").toLowerCase() !== shown.toLowerCase()) {
          note = "No " + asked + " translation: shown in " + shown + ".";
        } else if (asked && !shown) {
          note = "No " + asked + " translation: shown in the default language.";
        }
      }
      setText("tpl-locale-shown", note);
    }

    function render(result) {
      updateSample(result.placeholders || [], result.defaults || {});
      updateLocales(result.locales, result.preview ? result.preview.locale : null);
      showFieldErrors(result.errors || []);
      form.querySelectorAll(".tpl-sample__row input.tpl-missing").forEach(function (input) {
        input.classList.remove("tpl-missing");
      });
      var problem = result.problem;
      var missing = result.missing || [];
      missing.forEach(function (name) {
        var row = sampleRows[name];
        if (row) row.querySelector("input").classList.add("tpl-missing");
      });
      if (problem && !result.preview) {
        showPane(null);
        showProblem(problem.message, "error");
        return;
      }
      if (missing.length) {
        var quoted = missing.map(function (name) {
          return "‘" + name + "’";
        });
        showProblem(
          "No sample value for " + quoted.join(", ") + ": shown as written. Type " +
            (missing.length > 1 ? "values" : "one") + " under Sample data; a send " +
            "without a value fails.",
          "missing"
        );
      } else {
        showProblem("");
      }
      var p = result.preview;
      if (p.mode === "sms") renderSms(p, missing);
      else if (p.mode === "email") renderEmail(p);
      else if (p.mode === "push") {
        setText("tpl-push-text", p.body);
        showPane("push");
      } else renderChat(p);
    }

    function collect() {
      var fields = {};
      DATA_FIELDS.forEach(function (name) {
        var el = byId("id_" + name);
        if (el) fields[name] = el.value;
      });
      var tenantInput = byId("id_tenant");
      return {
        tenant: tenantInput ? tenantInput.value : root.dataset.tenant || "",
        mode: currentMode(),
        fields: fields,
        sample: sampleData(),
        locale: byId("tpl-locale") ? byId("tpl-locale").value.trim() : "",
      };
    }

    function refresh() {
      timer = null;
      if (!currentMode()) {
        showPane(null);
        showProblem("Choose a mode to see the preview.", "info");
        return;
      }
      if (controller) controller.abort();
      controller = typeof AbortController === "function" ? new AbortController() : null;
      var mine = ++sequence;
      root.dataset.state = "loading";
      setText("tpl-status", "updating…");
      fetch(root.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": csrfInput ? csrfInput.value : "",
          "X-Requested-With": "XMLHttpRequest",
        },
        body: JSON.stringify(collect()),
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          return response
            .json()
            .catch(function () {
              return { error: "The server answered " + response.status + "." };
            })
            .then(function (body) {
              return { ok: response.ok, body: body };
            });
        })
        .then(function (answer) {
          if (mine !== sequence) return;
          root.dataset.state = "idle";
          setText("tpl-status", "");
          if (!answer.ok) {
            showPane(null);
            showProblem(answer.body.error || "The preview is not available.", "error");
            return;
          }
          render(answer.body);
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return;
          if (mine !== sequence) return;
          root.dataset.state = "idle";
          setText("tpl-status", "");
          showPane(null);
          showProblem("The preview could not be loaded (" + error.message + ").", "error");
        });
    }

    function schedule() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    }

    form.addEventListener("input", function (event) {
      if (event.target.closest && event.target.closest("#tpl-sample")) return;
      schedule();
    });
    form.addEventListener("change", function (event) {
      if (event.target === modeInput) applyMode();
      if (event.target.closest && event.target.closest("#tpl-sample")) return;
      schedule();
    });

    applyMode();
    refresh();
  });
})();
