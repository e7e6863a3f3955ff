// Poll the approval's status once a second; continue as soon as the phone has answered.
(function () {
  var box = document.getElementById("attente");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var remaining = parseInt(box.getAttribute("data-remaining"), 10);
  var counter = document.getElementById("restant");
  setInterval(function () {
    remaining = Math.max(0, remaining - 1);
    if (counter) counter.textContent = String(remaining);
  }, 1000);
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === "pending") { setTimeout(poll, 1000); }
        else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
