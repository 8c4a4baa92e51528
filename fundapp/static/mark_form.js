// The holding page's mark form: the DCF inputs are shown only when the method is DCF, and the
// typed value per unit only for the other methods. Without JavaScript both stay visible.
(function () {
  "use strict";
  var method = document.getElementById("mark-method");
  var dcf = document.getElementById("dcf-fields");
  var perUnit = document.getElementById("mark-value-per-unit");
  if (!method || !dcf) { return; }
  function show() {
    var isDcf = method.value === "dcf";
    dcf.hidden = !isDcf;
    if (perUnit) {
      perUnit.hidden = isDcf;
      var input = perUnit.querySelector("input");
      if (input) { input.disabled = isDcf; }  // a DCF's value per unit is computed
    }
  }
  method.addEventListener("change", show);
  show();
})();
