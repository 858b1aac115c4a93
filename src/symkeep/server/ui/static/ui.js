// symkeep web UI: drag-and-drop upload of a profile (the form also works without this script).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("profile-file");
  const err = document.getElementById("upload-error");
  const build = form.querySelector("input[name=build]");

  function fail(msg) {
    err.textContent = msg;  // text, never markup
    err.hidden = false;
  }

  async function send(file) {
    err.hidden = true;
    const q = new URLSearchParams({ name: file.name });
    if (build && build.value) q.set("build", build.value);
    zone.classList.add("busy");
    try {
      const r = await fetch("/ui/profiles?" + q.toString(), {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "Accept": "application/json" },
      });
      const text = await r.text();
      if (!r.ok) { fail(text.trim() || ("HTTP " + r.status)); return; }
      const ans = JSON.parse(text);
      window.location.assign(ans.url);
    } catch (e) {
      fail("upload failed: " + e);
    } finally {
      zone.classList.remove("busy");
    }
  }

  form.addEventListener("submit", (ev) => {
    if (!input.files || !input.files.length) return;
    ev.preventDefault();
    send(input.files[0]);
  });
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (ev) => {
    ev.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
    if (f) send(f);
  });
})();
