// Search-as-you-type pickers (issue 14): a drop-down that cannot list every row (deals,
// companies) becomes a text box that asks the server as you type and lists what it finds.
// Every <select data-picker-url="..."> on the page is enhanced; its data attributes say:
//   data-picker-url       the JSON search: GET url?q=... -> {"items": [{"id", "label"}], "more"}
//   data-picker-none      the text when nothing matches
//   data-picker-more      the text when more match than are listed
//   data-picker-search    optional: the id of the no-JavaScript search form, hidden here
//   data-picker-more-id   optional: the id of that form's "more match" note, hidden here
//   data-picker-query     optional: the name the box posts what was typed under, so a refused
//                         form can show it again (the box starts with that search input's value)
// Keyboard: type, Down/Up to move through the list, Enter to choose, Escape to close.
// Without JavaScript the page keeps its search form and short drop-down.
(function () {
  "use strict";
  if (!window.fetch) { return; }

  function byId(id) { return id ? document.getElementById(id) : null; }

  function enhance(select) {
    var data = select.dataset;
    var search = byId(data.pickerSearch);
    var more = byId(data.pickerMoreId);
    var typed = search && data.pickerQuery ? search.querySelector("[name='" + data.pickerQuery + "']") : null;

    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = select.name;
    hidden.value = select.value;

    var box = document.createElement("input");
    box.type = "text";
    box.id = select.id;
    box.autocomplete = "off";
    box.required = select.required;
    if (data.pickerQuery) { box.name = data.pickerQuery; }
    if (data.pickerPlaceholder) { box.placeholder = data.pickerPlaceholder; }
    box.setAttribute("role", "combobox");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-expanded", "false");
    box.setAttribute("aria-controls", select.id + "-options");
    ["aria-invalid", "aria-describedby"].forEach(function (name) {
      if (select.hasAttribute(name)) { box.setAttribute(name, select.getAttribute(name)); }
    });
    var chosen = select.value ? select.options[select.selectedIndex] : null;
    box.value = chosen ? chosen.textContent : (typed ? typed.value : "");

    var list = document.createElement("ul");
    list.id = select.id + "-options";
    list.className = "picker-options";
    list.setAttribute("role", "listbox");
    list.hidden = true;

    var wrap = document.createElement("span");
    wrap.className = "picker";
    wrap.append(box, list);

    var status = document.createElement("p");
    status.className = "muted";
    status.setAttribute("aria-live", "polite");

    select.replaceWith(hidden, wrap, status);
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

    function show(answer) {
      items = answer.items || [];
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = select.id + "-option-" + item.id;
        li.setAttribute("role", "option");
        li.textContent = item.label;
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();  // keep the focus in the box
          choose(i);
        });
        list.appendChild(li);
      });
      status.textContent = !items.length ? data.pickerNone : (answer.more ? data.pickerMore : "");
      list.hidden = !items.length;
      box.setAttribute("aria-expanded", items.length ? "true" : "false");
      mark(-1);
    }

    function ask() {
      var mine = ++asked;
      var url = data.pickerUrl + (data.pickerUrl.indexOf("?") < 0 ? "?" : "&") + "q=" +
        encodeURIComponent(box.value);
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : {items: []}; })
        .then(function (answer) { if (mine === asked) { show(answer); } })
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
  }

  Array.prototype.forEach.call(document.querySelectorAll("select[data-picker-url]"), enhance);
})();
