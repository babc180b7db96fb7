// Follows a running import: polls its progress and shows the report (a page reload) when it ends.
(function () {
  "use strict";
  var bar = document.getElementById("import-progress");
  if (!bar) return;
  var url = bar.getAttribute("data-progress-url");
  var filesDone = document.getElementById("files-done");
  var playsAdded = document.getElementById("plays-added");

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (progress) {
        if (!progress) { window.setTimeout(poll, 3000); return; }
        bar.max = progress.files_total || 1;
        bar.value = progress.files_done;
        filesDone.textContent = progress.files_done;
        playsAdded.textContent = progress.plays_added.toLocaleString("en-US");
        if (progress.status === "running") window.setTimeout(poll, 1000);
        else window.location.reload();
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
