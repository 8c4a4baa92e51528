// The new meeting page's agenda picker (issue 14): the deals at the IC decision stage are not all
// listed; a box in the agenda searches as you type (company, project, pinyin or credit code) and
// lists the deals it finds as check boxes. Ticked deals stay when the list changes.
// Without JavaScript the page keeps its search form above.
(function () {
  "use strict";
  var fieldset = document.getElementById("agenda-deals");
  if (!fieldset || !fieldset.dataset.pickerUrl || !window.fetch) { return; }
  var url = fieldset.dataset.pickerUrl;
  var search = document.getElementById("deal-search");
  var more = document.getElementById("deal-more");
  var legend = fieldset.querySelector("legend");

  var label = document.createElement("label");
  label.textContent = fieldset.dataset.pickerLabel + " ";
  var box = document.createElement("input");
  box.type = "search";
  box.id = "agenda-q";
  box.autocomplete = "off";
  label.appendChild(box);
  var status = document.createElement("p");
  status.className = "muted";
  status.setAttribute("aria-live", "polite");
  legend.after(label, status);
  if (search) { search.hidden = true; }
  if (more) { more.hidden = true; status.textContent = fieldset.dataset.pickerMore; }

  var timer = null;
  var asked = 0;

  function show(data) {
    var items = data.items || [];
    var kept = {};
    fieldset.querySelectorAll("label.check").forEach(function (node) {
      var input = node.querySelector("input");
      if (input.checked) { kept[input.value] = true; } else { node.remove(); }
    });
    fieldset.querySelectorAll("p.muted:not([aria-live])").forEach(function (node) {
      if (node.id !== "deal-more" && !node.classList.contains("error")) { node.remove(); }
    });
    var after = status;
    fieldset.querySelectorAll("label.check").forEach(function (node) { after = node; });
    items.forEach(function (item) {
      if (kept[String(item.id)]) { return; }
      var row = document.createElement("label");
      row.className = "check";
      var input = document.createElement("input");
      input.type = "checkbox";
      input.name = "deal_ids";
      input.value = String(item.id);
      row.appendChild(input);
      row.appendChild(document.createTextNode(" " + item.label));
      after.after(row);
      after = row;
    });
    status.textContent = !items.length ? fieldset.dataset.pickerNone
      : (data.more ? fieldset.dataset.pickerMore : "");
  }

  function ask() {
    var mine = ++asked;
    fetch(url + "?q=" + encodeURIComponent(box.value), {credentials: "same-origin",
                                                         headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {items: []}; })
      .then(function (data) { if (mine === asked) { show(data); } })
      .catch(function () { /* the list stays as it was */ });
  }

  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); clearTimeout(timer); ask(); }
  });
})();
