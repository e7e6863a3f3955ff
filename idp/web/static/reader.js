// The card reader's PIN keypad: its keys type into the PIN field (which works without it).
(function () {
  document.querySelectorAll(".keypad").forEach(function (pad) {
    var field = document.getElementById(pad.getAttribute("data-target"));
    if (!field) return;
    pad.hidden = false;
    pad.addEventListener("click", function (event) {
      var key = event.target.getAttribute("data-key");
      if (!key) return;
      if (key === "clear") field.value = field.value.slice(0, -1);
      else if (field.value.length < field.maxLength || field.maxLength < 0) field.value += key;
      field.focus();
    });
  });
})();
