/* The playlists page, better with JavaScript: "Save to Spotify" posts JSON to
   /api/generate-playlist (CSRF token in X-CSRFToken), shows progress and puts the link in the page.
   Without JavaScript the same form posts normally. A file, not an inline script (CSP). */
(function () {
  "use strict";
  var form = document.getElementById("save-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var status = document.getElementById("save-status");
  var button = form.querySelector("button[type=submit]");
  var formOnly = ["csrf_token", "source", "playlist_name", "auto_refresh", "excluded_artists"];

  function link(href, text, id) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (id) { a.id = id; }
    return a;
  }

  function say(kind, parts) {
    status.className = "save-status " + kind;
    status.textContent = "";
    parts.forEach(function (part) {
      status.appendChild(typeof part === "string" ? document.createTextNode(part) : part);
    });
  }

  function body() {
    var data = new FormData(form);
    var rules = { excluded_artists: data.getAll("excluded_artists") };
    data.forEach(function (value, key) {
      if (formOnly.indexOf(key) < 0) { rules[key] = value; }
    });
    return {
      source: data.get("source"),
      playlist_name: data.get("playlist_name") || "",
      auto_refresh: data.get("auto_refresh") === "on",
      rules: rules
    };
  }

  function show(result) {
    var json = result.json || {};
    if (result.status === 201) {
      say("done", ["Saved “" + json.name + "” with " + json.track_count + " tracks: ",
        link(json.url, "open it in Spotify", "spotify-link"), " · ",
        link(json.page_url, "details, exports and refresh", "playlist-page")]);
      return;
    }
    var parts = [json.error || "Saving failed; nothing was changed."];
    if (result.retryAfter) { parts.push(" (try again in " + result.retryAfter + " s)"); }
    if (json.reconnect_url) { parts.push(" ", link(json.reconnect_url, "Connect Spotify", "reconnect-link")); }
    say("error", parts);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    say("busy", ["Saving to Spotify…"]);
    fetch(form.getAttribute("data-api"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": form.querySelector("input[name=csrf_token]").value
      },
      body: JSON.stringify(body())
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { status: response.status, json: json, retryAfter: response.headers.get("Retry-After") };
      });
    }).then(show, function () {
      say("error", ["The app could not be reached; nothing was saved."]);
    }).then(function () {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    });
  });
})();
