// The new grant page's deal picker (issue 14): the drop-down of deals becomes a text box that
// searches as you type (company, project, pinyin or credit code) and lists what it finds.
// Keyboard: type, Down/Up to move through the list, Enter to choose, Escape to close.
// Without JavaScript the page keeps its search form and drop-down.
(function () {
  "use strict";
  var select = document.getElementById("f-deal_id");
  if (!select || !select.dataset.pickerUrl || !window.fetch) { return; }
  var url = select.dataset.pickerUrl;
  var search = document.getElementById("deal-search");
  var more = document.getElementById("deal-more");

  var hidden = document.createElement("input");
  hidden.type = "hidden";
  hidden.name = select.name;
  hidden.value = select.value;

  var box = document.createElement("input");
  box.type = "text";
  box.id = select.id;
  box.autocomplete = "off";
  box.required = select.required;
  box.setAttribute("role", "combobox");
  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-expanded", "false");
  box.setAttribute("aria-controls", "deal-options");
  var chosen = select.selectedIndex > 0 ? select.options[select.selectedIndex] : null;
  box.value = chosen ? chosen.textContent : "";

  var list = document.createElement("ul");
  list.id = "deal-options";
  list.className = "picker-options";
  list.setAttribute("role", "listbox");
  list.hidden = true;

  var status = document.createElement("p");
  status.className = "muted";
  status.setAttribute("aria-live", "polite");

  select.replaceWith(hidden, box, list, status);
  if (search) { search.hidden = true; }
  if (more) { more.hidden = true; }

  var items = [];
  var active = -1;
  var timer = null;
  var asked = 0;

  function close() {
    list.hidden = true;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function mark(index) {
    var nodes = list.children;
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && nodes[index]) {
      box.setAttribute("aria-activedescendant", nodes[index].id);
      nodes[index].scrollIntoView({block: "nearest"});
    }
  }

  function choose(index) {
    var item = items[index];
    if (!item) { return; }
    hidden.value = String(item.id);
    box.value = item.label;
    close();
  }

  function show(data) {
    items = data.items || [];
    list.textContent = "";
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "deal-option-" + item.id;
      li.setAttribute("role", "option");
      li.textContent = item.label;
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();  // keep the focus in the box
        choose(i);
      });
      list.appendChild(li);
    });
    status.textContent = !items.length ? select.dataset.pickerNone
      : (data.more ? select.dataset.pickerMore : "");
    list.hidden = !items.length;
    box.setAttribute("aria-expanded", items.length ? "true" : "false");
    mark(-1);
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
    hidden.value = "";  // typing again un-chooses
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  box.addEventListener("focus", function () { if (!items.length) { ask(); } });
  box.addEventListener("blur", function () { setTimeout(close, 100); });
  box.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (list.hidden) { ask(); return; }
      mark(Math.min(active + 1, items.length - 1));
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      mark(Math.max(active - 1, 0));
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault();  // choose, do not submit
      choose(active);
    } else if (event.key === "Escape") {
      close();
    }
  });
})();
