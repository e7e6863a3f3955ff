// The trainer dashboard: every action is a control API call (JSON, same origin).
// Data is written with textContent only, never as HTML.
(function () {
  "use strict";
  var api = "/_mock";

  function call(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(api + path, options).then(function (response) {
      if (response.status === 204) return {};
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.error_description || data.error || response.status);
        return data;
      });
    });
  }

  function item(text, list) {
    var li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
    return li;
  }

  function fill(list, entries, describe, empty) {
    list.replaceChildren();
    entries.forEach(function (entry) { item(describe(entry), list); });
    if (!entries.length) item(empty, list);
  }

  // --- search and a professional's page ---------------------------------------------
  var current = null;

  document.getElementById("recherche").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = new FormData(event.target);
    var query = new URLSearchParams();
    form.forEach(function (value, key) { if (value) query.set(key, value); });
    call("GET", "/directory?" + query.toString()).then(function (data) {
      var list = document.getElementById("resultats");
      list.replaceChildren();
      data.results.forEach(function (person) {
        var li = item(person.name + " — " + person.id_nat + " — " + person.professions.join(", ") +
          (person.departements.length ? " (" + person.departements.join(", ") + ")" : ""), list);
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = "Voir";
        button.setAttribute("aria-label", "Voir " + person.name);
        button.addEventListener("click", function () { show(person.id_nat); });
        li.appendChild(button);
      });
      if (!data.results.length) item("Personne ne correspond.", list);
    });
  });

  function show(idNat) {
    current = idNat;
    call("GET", "/directory/" + idNat + "/claims").then(function (data) {
      var panel = document.getElementById("personne");
      panel.hidden = false;
      document.getElementById("personne-nom").textContent =
        data.userinfo.given_name + " " + data.userinfo.family_name + " — " + idNat +
        (data.ecps.activated ? " — e-CPS activée" : " — e-CPS non activée") +
        (data.cards.length ? " — carte " + data.cards[0].serial : "");
      document.getElementById("politique").value = data.ecps.policy;
      document.getElementById("claims").textContent = JSON.stringify(data.userinfo, null, 2);
      panel.scrollIntoView();
    });
  }

  function said(text) { document.getElementById("personne-etat").textContent = text; }

  document.getElementById("appliquer").addEventListener("click", function () {
    var policy = document.getElementById("politique").value;
    call("PUT", "/scenarios/" + current, { policy: policy })
      .then(function () { said("Scénario « " + policy + " » appliqué."); })
      .catch(function (error) { said("Refusé : " + error.message); });
  });
  document.getElementById("effacer").addEventListener("click", function () {
    call("DELETE", "/scenarios/" + current).then(function () {
      said("Scénario effacé : retour aux fixtures.");
      show(current);
    });
  });

  // --- live panels ------------------------------------------------------------------
  function refresh() {
    call("GET", "/approvals").then(function (data) {
      fill(document.getElementById("demandes"), data.approvals, function (a) {
        return a.id_nat + " — " + a.client + " — " + a.channel + " — code " + a.code +
          " — " + a.expires_in + " s";
      }, "Aucune demande en attente.");
    });
    call("GET", "/sessions").then(function (data) {
      fill(document.getElementById("sessions"), data.sessions, function (s) {
        return s.id_nat + " — " + s.auth_mode + " — " + (s.clients.join(", ") || "aucun client") +
          " — inactive depuis " + s.idle_s + " s";
      }, "Aucune session ouverte.");
    });
    call("GET", "/requests").then(function (data) {
      var entries = (data.requests || data).slice(-20).reverse();
      fill(document.getElementById("journal"), entries, function (r) {
        return r.method + " " + r.path + " → " + r.status + (r.error ? " " + r.error : "") +
          (r.client_id ? " (" + r.client_id + ")" : "");
      }, "Aucune requête.");
    }).catch(function (error) {  // --workers: each process keeps its own log
      fill(document.getElementById("journal"), [], null, "Journal indisponible : " + error.message);
    });
    call("GET", "/clock").then(function (data) {
      document.getElementById("horloge").textContent =
        data.now_iso + (data.frozen ? " (figée)" : "") + (Math.abs(data.offset) > 1 ? " (décalée)" : "");
    });
    call("GET", "/keys").then(function (data) {
      document.getElementById("cles").textContent = data.keys.map(function (k) {
        return k.kid.slice(0, 10) + "…" + (k.current ? " (actuelle)" : "");
      }).join(", ");
    });
  }

  document.getElementById("rotation").addEventListener("click", function () {
    call("POST", "/keys/rotate", {}).then(refresh);
  });
  document.getElementById("avancer").addEventListener("submit", function (event) {
    event.preventDefault();
    call("POST", "/clock", { action: "advance", by: document.getElementById("duree").value })
      .then(refresh);
  });
  document.getElementById("remettre").addEventListener("click", function () {
    call("POST", "/clock", { action: "reset" }).then(refresh);
  });

  // --- training mode ----------------------------------------------------------------
  document.getElementById("formation").addEventListener("submit", function (event) {
    event.preventDefault();
    var count = parseInt(document.getElementById("nombre").value, 10);
    var status = document.getElementById("formation-etat");
    call("POST", "/training", { count: count })
      .then(function (data) {
        status.textContent = data.trainees.length + " identités attribuées aux stagiaires.";
      })
      .catch(function (error) { status.textContent = "Refusé : " + error.message; });
  });

  refresh();
  setInterval(refresh, 2000);
})();
