/* The pipeline board: drag a card to the next column. The move posts to the same operation as
   the card's button (POST /deals/<id>/move); a refusal is shown on the card. No dependencies. */
(function () {
  "use strict";
  var board = document.querySelector("[data-testid=board]");
  if (!board) { return; }
  var csrf = board.getAttribute("data-csrf");
  var dragged = null;

  function showError(card, message, details) {
    var box = card.querySelector(".card-error");
    box.textContent = message;
    // A refusal that waits on another person's step: who does it, and a link there (issue 12).
    if (details && details.next_step) {
      box.appendChild(document.createTextNode(" " + details.next_step));
      if (details.link) {
        var link = document.createElement("a");
        link.href = details.link;
        link.setAttribute("data-testid", "next-step-link");
        link.textContent = details.link_label || details.link;
        box.appendChild(document.createTextNode(" "));
        box.appendChild(link);
      }
    }
    box.hidden = false;
    card.classList.add("refused");
  }

  function updateCount(stage, delta) {
    var count = board.querySelector("[data-testid=count-" + stage + "]");
    if (count) { count.textContent = String(parseInt(count.textContent, 10) + delta); }
  }

  function move(card, target) {
    var body = new URLSearchParams();
    body.set("to_stage", target.getAttribute("data-stage"));
    body.set("expected_stage", card.getAttribute("data-stage"));
    card.classList.add("moving");
    fetch(card.getAttribute("data-move-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded"},
      body: body.toString()
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, data: data}; });
    }).then(function (result) {
      card.classList.remove("moving");
      if (!result.ok) {
        var error = result.data && result.data.error;
        showError(card, error ? error.message : "?", error && error.details);
        return;
      }
      var from = card.getAttribute("data-stage");
      card.classList.remove("refused");
      card.querySelector(".card-error").hidden = true;
      card.setAttribute("data-stage", result.data.stage);
      card.setAttribute("data-next", result.data.next_stage || "");
      // The card keeps its button: it now moves the card on to the stage after the new one.
      var form = card.querySelector("form.card-move");
      var next = result.data.next_stage;
      var nextColumn = next && board.querySelector(".board-column[data-stage=" + next + "] h2");
      if (form && nextColumn) {
        form.querySelector("input[name=to_stage]").value = next;
        form.querySelector("input[name=expected_stage]").value = result.data.stage;
        form.querySelector("button").textContent = board.getAttribute("data-move-label")
          .replace("{stage}", nextColumn.textContent) + " \u2192";
      } else if (form) { form.remove(); }
      if (!result.data.next_stage) { card.removeAttribute("draggable"); }
      target.querySelector("ol.cards").appendChild(card);
      updateCount(from, -1);
      updateCount(result.data.stage, 1);
    }).catch(function () {
      card.classList.remove("moving");
      showError(card, board.getAttribute("data-offline") || "Network error");
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal-card");
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal"));
  });
  board.addEventListener("dragend", function () {
    dragged = null;
    board.querySelectorAll(".drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("drop-target");
  });
  board.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (column && !column.contains(event.relatedTarget)) { column.classList.remove("drop-target"); }
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) { return; }
    event.preventDefault();
    column.classList.remove("drop-target");
    if (column.getAttribute("data-stage") === dragged.getAttribute("data-stage")) { return; }
    // Any column may be the target: the server names the rule when the move is not allowed.
    move(dragged, column);
  });
})();
