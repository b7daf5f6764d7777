// Small enhancements; every page works without this file.
// Copy buttons next to commands and the raw record (hidden until this script shows them).
(function () {
  "use strict";

  function enhance(root) {
    if (!navigator.clipboard) {
      return;
    }
    root.querySelectorAll(".copyable button.copy[hidden]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var code = button.parentElement.querySelector("pre");
        navigator.clipboard.writeText(code.textContent).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
    });
  }

  // "Select all" for the alert list's bulk actions.
  function selectAll(root) {
    root.querySelectorAll("table.alerts th.select").forEach(function (cell) {
      if (cell.querySelector("input")) {
        return;
      }
      var box = document.createElement("input");
      box.type = "checkbox";
      box.setAttribute("aria-label", "Select all alerts on this page");
      box.addEventListener("change", function () {
        cell.closest("table").querySelectorAll("td.select input[type=checkbox]").forEach(function (row) {
          row.checked = box.checked;
        });
      });
      var rows = cell.closest("table").querySelectorAll("td.select input[type=checkbox]");
      box.checked = rows.length > 0 && Array.prototype.every.call(rows, function (row) { return row.checked; });
      cell.appendChild(box);
    });
  }

  // "N selected" beside the bulk actions (the server-side confirmation names the count without it).
  function countSelected(form) {
    var output = form.querySelector("output.bulk-count");
    if (!output) {
      return;
    }
    var count = form.querySelectorAll("td.select input[type=checkbox]:checked").length;
    output.textContent = count + " selected";
    output.hidden = false;
  }

  // Keyboard shortcuts on the alert list and the alert page (templates/triage/shortcuts.html
  // lists them; "?" shows that list). The current row carries aria-current and its link
  // holds the focus, so a screen reader names the alert the keys act on.
  var current = {id: null, index: -1};

  function shortcutsRoot() {
    return document.getElementById("shortcuts");
  }

  function say(text) {
    var status = document.querySelector("#shortcuts .shortcuts-status");
    if (status) {
      status.textContent = text;
    }
  }

  function typing(element) {
    if (element.isContentEditable || element.closest("[contenteditable]")) {
      return true;
    }
    var tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") {
      return true;
    }
    return tag === "INPUT" && !/^(checkbox|radio|button|submit|reset|image)$/.test(element.type);
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.alerts tbody tr"));
  }

  function rowId(row) {
    var box = row.querySelector("td.select input[type=checkbox]");
    return box ? box.value : null;
  }

  function currentRow() {
    return document.querySelector("table.alerts tbody tr[aria-current]");
  }

  function makeCurrent(row, focus) {
    rows().forEach(function (other) {
      if (other !== row) {
        other.removeAttribute("aria-current");
      }
    });
    row.setAttribute("aria-current", "true");
    current.id = rowId(row);
    current.index = rows().indexOf(row);
    if (focus) {
      var link = row.querySelector("td.alert-id a");
      if (link) {
        link.focus({preventScroll: true});
      }
      row.scrollIntoView({block: "nearest"});
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) {
      say("No alerts on this page.");
      return;
    }
    var index = all.indexOf(currentRow());
    if (index < 0) {
      index = step > 0 ? 0 : all.length - 1;
    } else if (index + step < 0 || index + step >= all.length) {
      say(step > 0 ? "Last alert on this page." : "First alert on this page.");
      index = Math.min(Math.max(index, 0), all.length - 1);
    } else {
      index += step;
    }
    makeCurrent(all[index], true);
    openPreview(all[index], 150, false);
  }

  // After a swap (a bulk action, a filter, new alerts shown) the same alert stays current,
  // or the one now in its place when it left the list.
  function restoreCurrent() {
    if (current.id === null || currentRow()) {
      return;
    }
    var all = rows();
    var row = all.filter(function (candidate) { return rowId(candidate) === current.id; })[0];
    if (!row && current.index >= 0 && all.length) {
      row = all[Math.min(current.index, all.length - 1)];
    }
    if (row) {
      makeCurrent(row, document.activeElement === document.body || !document.activeElement);
    }
  }

  function needRow() {
    var row = currentRow();
    if (!row) {
      say("No alert chosen: j and k move through the list.");
    }
    return row;
  }

  // The bulk actions act on the ticked alerts; with none ticked, on the current one.
  function tickedOrCurrent() {
    var form = document.querySelector("form.bulk");
    if (!form) {
      return null;
    }
    if (form.querySelector("td.select input[type=checkbox]:checked")) {
      return form;
    }
    var row = needRow();
    if (!row) {
      return null;
    }
    row.querySelector("td.select input[type=checkbox]").click();
    return form;
  }

  // Allowlist admins add an exclusion from the alert; anyone else who triages proposes one
  // for an admin to approve (triage/requests).
  function startExclusion(alertId) {
    var root = shortcutsRoot();
    var link = document.getElementById("add-exclusion") || document.getElementById("propose-exclusion");
    var start = root.dataset.exclusionUrl || root.dataset.requestUrl;
    if (link) {
      link.click();
    } else if (start && alertId) {
      window.location.assign(start + "?alert=" + encodeURIComponent(alertId));
    } else if (root.dataset.requestUrl) {
      say("An exclusion for this alert is waiting for an allowlist admin already.");
    } else {
      say("Exclusions are added by allowlist admins (the allowlist-admin role).");
    }
  }

  // The alert preview (templates/triage/alert_preview_panel.html): a row clicked, j / k,
  // or a row's "preview" link shows that alert beside the list (over it on a narrow
  // screen). Esc or "Close preview" empties the panel, which then takes no room.
  var previewTimer = null;

  function previewPanel() {
    return document.getElementById("alert-preview");
  }

  function previewed() {
    var panel = previewPanel();
    return panel ? panel.querySelector("article.preview") : null;
  }

  function rowFor(id) {
    return rows().filter(function (row) { return rowId(row) === id; })[0] || null;
  }

  function loadPreview(url, delay, focusTitle) {
    var panel = previewPanel();
    if (!panel || !window.htmx) {
      return;
    }
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      window.htmx.ajax("GET", url, {target: panel, swap: "innerHTML"}).then(function () {
        var title = focusTitle && panel.querySelector("#preview-title");
        if (title) {
          title.focus();
        }
      });
    }, delay);
  }

  function openPreview(row, delay, focusTitle) {
    var link = row && row.querySelector("a.preview-link");
    if (link) {
      loadPreview(link.getAttribute("href"), delay, focusTitle);
    }
  }

  function closePreview() {
    var article = previewed();
    if (!article) {
      return false;
    }
    clearTimeout(previewTimer);
    previewPanel().replaceChildren();
    markPreviewed();
    var row = rowFor(article.dataset.alert);
    if (row) {
      makeCurrent(row, true);
    }
    return true;
  }

  function markPreviewed() {
    var article = previewed();
    rows().forEach(function (row) {
      row.classList.toggle("is-previewed", Boolean(article) && rowId(row) === article.dataset.alert);
    });
  }

  // An action taken in the preview shows at once in the alert's row.
  function syncPreviewedRow() {
    var workflow = document.querySelector("#alert-preview #alert-workflow");
    var row = workflow && rowFor(workflow.dataset.alert);
    if (!row) {
      return;
    }
    var state = workflow.dataset;
    var status = document.createElement("span");
    status.className = "status status-" + state.status;
    status.textContent = state.statusLabel;
    var cell = row.querySelector("td.status-cell");
    cell.replaceChildren(status);
    if (state.closeReason) {
      var reason = document.createElement("span");
      reason.className = "sub";
      reason.textContent = state.closeReason;
      cell.appendChild(reason);
    }
    var assignee = row.querySelector("td.assignee");
    if (state.assignee) {
      assignee.textContent = state.assignee;
    } else {
      var nobody = document.createElement("span");
      nobody.className = "subtle";
      nobody.textContent = "—";
      assignee.replaceChildren(nobody);
    }
  }

  var listKeys = {
    j: function () { move(1); },
    k: function () { move(-1); },
    o: function () {
      var row = needRow();
      if (row) {
        row.querySelector("td.alert-id a").click();
      }
    },
    x: function () {
      var row = needRow();
      if (row) {
        row.querySelector("td.select input[type=checkbox]").click();
      }
    },
    a: function () {
      var form = tickedOrCurrent();
      if (form) {
        form.querySelector("button[value=acknowledge]").click();
      }
    },
    c: function () {
      var form = tickedOrCurrent();
      if (form) {
        form.querySelector("select[name=reason]").focus();
      }
    },
    e: function () {
      var row = needRow();
      if (row) {
        startExclusion(rowId(row));
      }
    },
    "/": function () {
      var search = document.querySelector("form[role=search] input[type=search]");
      if (search) {
        search.focus();
        search.select();
      }
    }
  };
  listKeys.Enter = listKeys.o;

  var alertKeys = {
    a: function () {
      var button = document.querySelector("#alert-workflow form[action$='/acknowledge/'] button");
      if (button) {
        button.click();
      } else {
        say("Acknowledge is not offered for this alert in its current status.");
      }
    },
    c: function () {
      var reason = document.getElementById("close-reason");
      if (reason) {
        reason.scrollIntoView({block: "nearest"});
        reason.focus();
      } else {
        say("This alert is closed already.");
      }
    },
    e: function () { startExclusion(null); }
  };

  function showShortcuts() {
    var dialog = document.getElementById("shortcuts-dialog");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }

  function enableShortcuts() {
    var open = document.querySelector("#shortcuts button.shortcuts-open[hidden]");
    if (open) {
      open.hidden = false;
      open.addEventListener("click", showShortcuts);
    }
  }

  document.addEventListener("keydown", function (event) {
    var root = shortcutsRoot();
    if (!root || event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    if (typing(event.target) || document.getElementById("shortcuts-dialog").open) {
      return;  // Esc closes the dialog by itself
    }
    // Enter on a link or button keeps its own meaning; it opens the current alert otherwise.
    if (event.key === "Enter" && event.target.closest("a, button, summary")) {
      return;
    }
    if (event.key === "Escape" && root.dataset.page === "list") {
      if (closePreview()) {
        event.preventDefault();
      }
      return;
    }
    var action = event.key === "?" ? showShortcuts : (root.dataset.page === "list" ? listKeys : alertKeys)[event.key];
    if (action) {
      event.preventDefault();
      say("");
      action();
    }
  });

  document.addEventListener("focusin", function (event) {
    var row = event.target.closest && event.target.closest("table.alerts tbody tr");
    if (row && !row.hasAttribute("aria-current")) {
      makeCurrent(row, false);
    }
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest) {
      return;
    }
    if (event.target.closest("#alert-preview button.preview-close")) {
      closePreview();
      return;
    }
    var row = event.target.closest("table.alerts tbody tr");
    var link = event.target.closest("a, button, input, select, textarea, label");
    if (!row || (link && !link.matches("a.preview-link")) || !previewPanel()) {
      return;
    }
    // Without this script (or with a modifier key) "preview" is a page of its own.
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
      return;
    }
    event.preventDefault();
    makeCurrent(row, false);
    openPreview(row, 0, true);
  });

  function run(root) {
    enhance(root);
    selectAll(root);
    root.querySelectorAll("form.bulk").forEach(countSelected);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.bulk");
    if (form) {
      countSelected(form);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    run(document);
    enableShortcuts();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    run(event.target);
    restoreCurrent();
    var article = previewed();
    if (article && event.target.id === "alert-results") {
      // A bulk action may have changed the previewed alert: show it as it is now.
      loadPreview(article.dataset.url, 0, false);
    }
    if (article) {
      article.querySelector("button.preview-close").hidden = false;
      syncPreviewedRow();
    }
    markPreviewed();
  });
})();
