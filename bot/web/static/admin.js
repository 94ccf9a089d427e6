// 督办 admin: sortable tables and confirmations. No inline script (CSP: script-src 'self').
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var v = cell.getAttribute("data-sort");
    return v !== null ? v : cell.textContent.trim();
  }

  function sortTable(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = !th.classList.contains("sorted-asc");
    var numeric = th.getAttribute("data-type") === "number";
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var r = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, "zh-Hans-CN");
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.querySelectorAll("th.sortable").forEach(function (h) {
      h.classList.remove("sorted-asc", "sorted-desc");
      h.removeAttribute("aria-sort");
    });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th.sortable").forEach(function (th) {
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, index, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, index, th); }
      });
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // Filter forms apply as soon as a select changes (the submit button stays for no-JS use).
  document.querySelectorAll("form.autosubmit select, form.autosubmit input[type=checkbox]")
    .forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });

  // A department tapped on the overview stays highlighted in the matrix (this tab only).
  var FOCUS = "duban-focus";
  document.querySelectorAll("a[data-focus]").forEach(function (a) {
    a.addEventListener("click", function () {
      try { sessionStorage.setItem(FOCUS, a.getAttribute("data-focus")); } catch (e) { /* private mode */ }
    });
  });
  var list = document.getElementById("matrix-list");
  if (list && !document.querySelector(".mrow.focus")) {
    var name = null;
    try { name = sessionStorage.getItem(FOCUS); } catch (e) { /* private mode */ }
    if (name) {
      document.querySelectorAll("#matrix-list details.mrow, #matrix tbody tr").forEach(function (el) {
        if (el.getAttribute("data-department") !== name) return;
        el.classList.add("focus");
        if (el.tagName === "DETAILS") el.open = true;
      });
    }
  }
  var focused = document.querySelector(".mlist .mrow.focus");
  if (focused && window.getComputedStyle(list).display !== "none") focused.scrollIntoView({ block: "start" });
  else if ((focused = document.querySelector("#matrix tr.focus"))) focused.scrollIntoView({ block: "center" });

  // 查验: say which photos are chosen (the file input itself is hidden behind its label).
  document.querySelectorAll("label.photo-pick input[type=file]").forEach(function (input) {
    input.addEventListener("change", function () {
      var out = input.closest("form").querySelector(".picked");
      if (!out) return;
      var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
      out.textContent = names.length ? "已选 " + names.length + " 张：" + names.join("、") + "（点下方按钮保存）" : "";
    });
  });
})();
