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

  document.addEventListener("DOMContentLoaded", function () { run(document); });
  document.addEventListener("htmx:afterSettle", function (event) { run(event.target); });
})();
